package digitmap

import (
	"math/rand"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	m, err := Parse("999|112|0[1-9]xxxxxxxxx|2xxxx|*xx|00x.|[2-46-9]11")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		digits string
		r      Result
		more   bool
	}{
		{"", Partial, true},
		{"9", Partial, true},
		{"99", Partial, true},
		{"999", Full, false},
		{"9999", NoMatch, false},
		{"112", Full, false},
		{"0", Partial, true},
		{"00", Full, true}, // 00x.: x. may repeat zero times
		{"0044", Full, true},
		{"01", Partial, true},
		{"01223", Partial, true},
		{"01223333444", Full, false},
		{"012233334445", NoMatch, false},
		{"05", Partial, true},
		{"2", Partial, true},
		{"21234", Full, false},
		{"*", Partial, true},
		{"*72", Full, false},
		{"*7", Partial, true},
		{"411", Full, false},
		{"511", NoMatch, false},
		{"5", NoMatch, false},
		{"A", NoMatch, false},
		{"#", NoMatch, false},
		{"9a", NoMatch, false},
	} {
		r, more := m.Match(c.digits)
		if r != c.r || more != c.more {
			t.Errorf("Match(%q) = %v, %v; want %v, %v", c.digits, r, more, c.r, c.more)
		}
	}
}

func TestOverlap(t *testing.T) {
	m, err := Parse("(2xxx | 2xxxx)")
	if err != nil {
		t.Fatal(err)
	}
	if r, more := m.Match("2000"); r != Full || !more {
		t.Errorf("2000: %v %v, want full with more (short timer)", r, more)
	}
	if r, more := m.Match("20000"); r != Full || more {
		t.Errorf("20000: %v %v, want full", r, more)
	}
}

func TestLetters(t *testing.T) {
	m, err := Parse("*[abcD]x|[*0]B")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"*A1", "*d9", "*B0", "0B", "*B"} {
		if r, _ := m.Match(d); r != Full {
			t.Errorf("%q: %v", d, r)
		}
	}
	if got := m.String(); got != "*[ABCD]x|[0*]B" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"()", "empty"},
		{"(999", "does not end"},
		{"999||112", "pattern 2 \"\": empty"},
		{"999|", "empty pattern"},
		{"99#", "\"#\" cannot be part"},
		{"9T", "timer"},
		{".9", "repeats nothing"},
		{"9..", "repeats nothing"},
		{"[1-", "not closed"},
		{"[]", "empty set"},
		{"[5-1]", "in order"},
		{"[a-z]", "two digits"},
		{"[!]", "not a key"},
		{"9 9", "space"},
		{"9e", "not a key"},
		{strings.Repeat("x", 64), "more than 63"},
		{strings.Repeat("1|", 128) + "1", "at most 128"},
		{strings.Repeat("1", 5000), "at most 4096"},
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

// A reference matcher by brute force: expand the pattern into a regular
// expression-like recursive check.
func refMatch(elems []element, digits string) bool {
	if len(elems) == 0 {
		return digits == ""
	}
	e := elems[0]
	if e.repeat {
		if refMatch(elems[1:], digits) {
			return true
		}
		if digits != "" {
			b, ok := keyBit(digits[0])
			return ok && e.set&b != 0 && refMatch(elems, digits[1:])
		}
		return false
	}
	if digits == "" {
		return false
	}
	b, ok := keyBit(digits[0])
	return ok && e.set&b != 0 && refMatch(elems[1:], digits[1:])
}

func TestMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	maps := []string{"999|112|0[1-9]xxxxxxxxx|2xxxx|*xx", "1x.2|[13]x.[24]|*x.*x.", "x.x.1|00x.|9"}
	for _, s := range maps {
		m, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 5000; n++ {
			d := make([]byte, rng.Intn(12))
			for i := range d {
				d[i] = "0123456789*"[rng.Intn(11)]
			}
			want := false
			for _, p := range m.patterns {
				want = want || refMatch(p.elems, string(d))
			}
			if r, _ := m.Match(string(d)); (r == Full) != want {
				t.Fatalf("map %q digits %q: Match %v, reference full=%v", s, d, r, want)
			}
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m, _ := Parse("999|112|0[1-9]xxxxxxxxx|2xxxx|*xx|00x.")
	if a := testing.AllocsPerRun(100, func() { m.Match("0122333") }); a != 0 {
		t.Errorf("Match allocates %v times", a)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"999|112|0[1-9]xxxxxxxxx|2xxxx|*xx", "(x.)", "[1-5A*]x.", "00x.|*x.*x.", "[", "9..", "#", "1-2"} {
		f.Add(s, "0123")
	}
	f.Fuzz(func(t *testing.T, s, digits string) {
		m, err := Parse(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		r1, more1 := m.Match(digits)
		// The canonical form must parse to an equivalent map.
		m2, err := Parse(m.String())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", m.String(), s, err)
		}
		if r2, more2 := m2.Match(digits); r1 != r2 || more1 != more2 {
			t.Fatalf("%q and its canonical %q disagree on %q", s, m.String(), digits)
		}
		// A full match with no continuation cannot grow into another match.
		if r1 == Full && !more1 {
			if r, _ := m.Match(digits + "1"); r != NoMatch {
				t.Fatalf("%q: %q is final but %q still matches", s, digits, digits+"1")
			}
		}
	})
}
