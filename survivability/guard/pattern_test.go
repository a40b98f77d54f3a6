package guard

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		nomatch []string
	}{
		{"999", []string{"999"}, []string{"99", "9999", "112", ""}},
		{"0[1-9]xxxxxxxxx", []string{"01865270001", "07700900123", "09001234567"}, []string{"00441865270001", "0186527000", "018652700011", "00865270001"}},
		{"09*", []string{"09", "0900", "09001234567"}, []string{"0", "0190", "190"}},
		{"+*", []string{"+44", "+1"}, []string{"44"}},
		{"00*", []string{"0033123"}, []string{"01865"}},
		{"118*", []string{"118118", "118"}, []string{"1181x", "11"}},
		{"[135]x", []string{"10", "39", "55"}, []string{"20", "1", "100"}},
		{"[1-35]", []string{"1", "2", "3", "5"}, []string{"4", "6"}},
		{"*xx", []string{"*67"}, []string{"#67", "67"}},
		{"[*#]1", []string{"*1", "#1"}, []string{"11"}},
		{"*", []string{"", "1", "+44"}, nil},
		{"XX", []string{"12"}, []string{"1*"}},
		{" 112 ", []string{"112"}, nil},
		{"[x]9", []string{"09", "99"}, []string{"*9"}},
	}
	for _, tc := range cases {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, n := range tc.match {
			if !p.Match(n) {
				t.Errorf("%q should match %q", tc.pattern, n)
			}
		}
		for _, n := range tc.nomatch {
			if p.Match(n) {
				t.Errorf("%q should not match %q", tc.pattern, n)
			}
		}
	}
}

func TestPatternErrors(t *testing.T) {
	cases := map[string]string{
		"":                                   "empty pattern",
		"   ":                                "empty pattern",
		"0[1-9":                              "not closed",
		"0]":                                 "has no '['",
		"0[]":                                "empty class",
		"[9-1]":                              "runs backwards",
		"[a-c]":                              "ranges are of digits",
		"[+]":                                "classes hold digits",
		"x.":                                 "'.' is not supported",
		"0a1":                                `'a' at position 2`,
		"0+1":                                "'+' may only start",
		"1234567890123456789012345678901234": "longer than 32",
	}
	for in, want := range cases {
		_, err := ParsePattern(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePattern(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestWithin(t *testing.T) {
	cat, _ := ParsePattern("087*")
	for p, want := range map[string]bool{
		"0870123456": true, "087xxxxxxx": true, "0871*": true, "08[7]x": true,
		"0[1-9]xxxxxxxxx": false, "08*": false, "0870": true, "*": false,
	} {
		pp, err := ParsePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := pp.within(cat); got != want {
			t.Errorf("%q within 087*: %v, want %v", p, got, want)
		}
	}
	exact, _ := ParsePattern("0870")
	pp, _ := ParsePattern("0870")
	if pp.within(exact) {
		t.Error("a non-prefix category should never be overridden")
	}
}

func TestNormalizeNumber(t *testing.T) {
	good := map[string]string{
		"01865 270001":       "01865270001",
		"+44 (1865) 270-001": "+441865270001",
		"*67#":               "*67#",
		"999":                "999",
		"0.1.2":              "012",
	}
	for in, want := range good {
		got, err := NormalizeNumber(in)
		if err != nil || got != want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "+", " - ", "12a", "1+2", "sip:999", strings.Repeat("1", 33), "\x00"} {
		if _, err := NormalizeNumber(in); err == nil {
			t.Errorf("NormalizeNumber(%q) accepted", in)
		}
	}
}

func TestRewrite(t *testing.T) {
	cases := []struct {
		rule, in, out string
		ok            bool
	}{
		{"2xxxxx -> 018652xxxxx", "270001", "01865270001", true},
		{"2xxxxx -> 018652xxxxx", "27000", "", false},
		{"2xxxxx->018652xxxxx", "299999", "01865299999", true},
		{"+44* -> 0*", "+441865270001", "01865270001", true},
		{"9* -> *", "901865270001", "01865270001", true},
		{"[2-4]xxxx -> 01865 7xxxxx", "31234", "01865731234", true},
		{"[2-4]xxxx -> 01865 7xxxxx", "51234", "", false},
		{"7xx -> 0800xx123", "712", "080012123", true},
		{"1[0-9]x* -> 44xx*", "1234567", "44234567", true},
		{"555 -> 01865270000", "555", "01865270000", true},
	}
	for _, tc := range cases {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatalf("%q: %v", tc.rule, err)
		}
		got, ok := r.Apply(tc.in)
		got = strings.ReplaceAll(got, " ", "")
		if ok != tc.ok || got != tc.out {
			t.Errorf("%q on %q = %q, %v; want %q, %v", tc.rule, tc.in, got, ok, tc.out, tc.ok)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	cases := map[string]string{
		"2xxxxx 018652xxxxx":  "PATTERN -> TEMPLATE",
		"2xxxxx -> 01865xxxx": "template has 4 x but the pattern captures 5",
		"2xxxxx -> ":          "empty",
		" -> 123":             "empty pattern",
		"+44* -> 0":           "must too",
		"2xx -> 0a":           "not a digit",
		"2xx -> 0+xx":         "'+' may only start",
		"2[x -> 1":            "not closed",
	}
	for in, want := range cases {
		_, err := ParseRule(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRule(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"999", "0[1-9]xxxxxxxxx", "09*", "+*", "[1-35]x", "*", "[", "]", "x.", "[9-1]", "0+1", "[*#]"} {
		f.Add(s, "0123456789")
	}
	f.Fuzz(func(t *testing.T, pat, number string) {
		p, err := ParsePattern(pat)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		m := p.Match(number)
		if m && len(number) < len(p.elems) {
			t.Fatalf("%q matched the shorter %q", pat, number)
		}
		lit := p.literalPrefix()
		if len(lit) > len(p.elems) {
			t.Fatalf("literal prefix %q longer than the pattern", lit)
		}
		if m && !strings.HasPrefix(number, lit) {
			t.Fatalf("%q matched %q without its literal prefix %q", pat, number, lit)
		}
	})
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"2xxxxx -> 018652xxxxx", "+44* -> 0*", "9* -> *", "[2-4]xxxx -> 017xxxx", "->", "x->x", "1->", "*->*"} {
		f.Add(s, "270001")
	}
	f.Fuzz(func(t *testing.T, rule, number string) {
		r, err := ParseRule(rule)
		if err != nil {
			return
		}
		out, ok := r.Apply(number)
		if ok != r.pattern.Match(number) {
			t.Fatal("Apply disagrees with Match")
		}
		if ok && strings.ContainsAny(out, "xX") {
			t.Fatalf("%q on %q left a placeholder: %q", rule, number, out)
		}
	})
}
