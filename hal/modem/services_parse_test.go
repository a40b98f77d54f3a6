package modem

import (
	"strings"
	"testing"

	"github.com/critline/critline/hal"
)

func TestParseCCWA(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Waiting
	}{
		// 27.007 7.12 with the caller's name and CLI validity (SIM7600, EC25).
		{`+CCWA: "07700900222",129,1,"Bursar",0`, Waiting{Number: "07700900222", Type: 129, Class: 1, Name: "Bursar"}},
		{`+CCWA: "+447700900222",145,1`, Waiting{Number: "+447700900222", Type: 145, Class: 1}},
		{`+CCWA: "",128,1,,1`, Waiting{Type: 128, Class: 1, Presentation: hal.PresentationWithheld}},
		{`+CCWA: "",128,1,"",2`, Waiting{Type: 128, Class: 1, Presentation: hal.PresentationUnavailable}},
		{`+CCWA: "",129,1`, Waiting{Type: 129, Class: 1, Presentation: hal.PresentationUnavailable}},
		// A withheld number the network passed anyway is not shown.
		{`+CCWA: "0123",129,1,"",1`, Waiting{Type: 129, Class: 1, Presentation: hal.PresentationWithheld}},
		// Trailing subaddress and priority fields.
		{`+CCWA: "0123",129,1,"x",0,"",128,0`, Waiting{Number: "0123", Type: 129, Class: 1, Name: "x"}},
	} {
		got, err := parseCCWA(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"+CCWA: 1,1",               // a query answer
		`+CCWA: "0123",129`,        // no class
		`+CCWA: "01x3",129,1`,      // not a number
		`+CCWA: "0123",129,0`,      // class 0
		`+CCWA: "0123",129,1,"",9`, // validity out of range
		`+CCWA: "0123`,
		`+CLIP: "0123",129,1`,
	} {
		if w, err := parseCCWA(bad); err == nil {
			t.Errorf("%s accepted as %+v", bad, w)
		}
	}
}

func TestParseCCWAStatus(t *testing.T) {
	for line, want := range map[string]bool{"+CCWA: 1,1": true, "+CCWA: 1,7": true, "+CCWA: 0,7": false, "+CCWA: 1,4": false, "+CCWA: 1": true} {
		got, err := parseCCWAStatus(line)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", line, got, err)
		}
	}
	for _, bad := range []string{`+CCWA: "0123",129,1`, "+CCWA: 2,1", "+CCWA: x", "+CCWA:"} {
		if _, err := parseCCWAStatus(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCHLDTest(t *testing.T) {
	for _, tc := range []struct {
		line string
		has  []string
		not  []string
	}{
		{"+CHLD: (0,1,1x,2,2x,3,4)", []string{"0", "1", "1x", "2", "2x", "3", "4"}, []string{"5"}}, // SIM7600, EC25
		{"+CHLD: (0,1,2,3)", []string{"0", "1", "2", "3"}, []string{"4", "1x"}},
		{"+CHLD: 0,1,1x,2,2x", []string{"0", "2", "2x"}, []string{"4"}}, // no parentheses
		{"+CHLD: (0-4)", []string{"0", "1", "2", "3", "4"}, []string{"1x"}},
		{"+CHLD: ( 0 , 1X , 2 )", []string{"0", "1x", "2"}, []string{"1"}},
	} {
		h, err := parseCHLDTest(tc.line)
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		for _, op := range tc.has {
			if !h.has(op) {
				t.Errorf("%s: %s missing", tc.line, op)
			}
		}
		for _, op := range tc.not {
			if h.has(op) {
				t.Errorf("%s: %s present", tc.line, op)
			}
		}
	}
	for _, bad := range []string{"+CHLD: ()", "+CHLD: (0,1", "+CHLD: (a)", "+CHLD: (12)", "+CHLD: (4-0)", "+CHLD: (0-x)", "+CLCC: (0)"} {
		if h, err := parseCHLDTest(bad); err == nil {
			t.Errorf("%s accepted as %v", bad, h.ops)
		}
	}
}

func TestClassifyServiceFinal(t *testing.T) {
	for _, tc := range []struct {
		final string
		want  serviceOutcome
		code  int
	}{
		{"+CME ERROR: 3", outcomeRefused, 3},
		{"+CME ERROR: operation not allowed", outcomeRefused, 3},
		{"+CME ERROR: 4", outcomeRefused, 4},
		{"+CME ERROR: 257", outcomeRefused, 257},
		{"+CME ERROR: network rejected request", outcomeRefused, 257},
		{"+CME ERROR: 262", outcomeRefused, 262},
		{"+CME ERROR: Service not available", outcomeRefused, 262},
		{"+CME ERROR: 30", outcomeTransient, 30},
		{"+CME ERROR: no network service", outcomeTransient, 30},
		{"+CME ERROR: 31", outcomeTransient, 31},
		{"+CME ERROR: 258", outcomeTransient, 258},
		{"+CME ERROR: 259", outcomeBadTarget, 259},
		{"+CME ERROR: deflected to own number", outcomeBadTarget, 260},
		{"+CME ERROR: 261", outcomeBadTarget, 261},
		{"ERROR", outcomeRefused, 0},
		{"NO CARRIER", outcomeNotNow, 0},
		{"+CME ERROR: something the vendor made up", outcomeRefused, -1},
		{"+CME ERROR:", outcomeRefused, 0},
	} {
		o, code, text := classifyServiceFinal(tc.final)
		if o != tc.want || code != tc.code {
			t.Errorf("%q: %s %d %q, want %s %d", tc.final, o, code, text, tc.want, tc.code)
		}
	}
}

func FuzzParseCCWA(f *testing.F) {
	fuzzParser(f, []string{`+CCWA: "07700900222",129,1,"Bursar",0`, `+CCWA: "",128,1,,1`, "+CCWA: 1,7", `+CCWA: "+44",145,1,"",0,"",128,0`},
		func(t *testing.T, line string) {
			w, err := parseCCWA(line)
			if err == nil && (!validNumber(w.Number, true) || w.Class < 1 || (w.Presentation != hal.PresentationAllowed && w.Number != "")) {
				t.Fatalf("accepted %q as %+v", line, w)
			}
			if _, err := parseCCWAStatus(line); err == nil && strings.Contains(line, `"`) && strings.Index(line, `"`) < strings.Index(line+",", ",") {
				t.Fatalf("a report %q was taken as a status", line)
			}
		})
}

func FuzzParseCHLDTest(f *testing.F) {
	fuzzParser(f, []string{"+CHLD: (0,1,1x,2,2x,3,4)", "+CHLD: 0,1,2", "+CHLD: (0-4)", "+CHLD: (", "+CHLD: (9-0)"},
		func(t *testing.T, line string) {
			h, err := parseCHLDTest(line)
			if err != nil {
				return
			}
			if len(h.ops) == 0 {
				t.Fatalf("%q accepted with no operations", line)
			}
			for op := range h.ops {
				n := strings.TrimSuffix(op, "x")
				if len(n) != 1 || n[0] < '0' || n[0] > '9' {
					t.Fatalf("%q gave operation %q", line, op)
				}
			}
		})
}

func FuzzClassifyServiceFinal(f *testing.F) {
	fuzzParser(f, []string{"+CME ERROR: 3", "+CME ERROR: network rejected request", "ERROR", "NO CARRIER", "+CME ERROR: 259", "+CME ERROR: 99999999"},
		func(t *testing.T, line string) {
			o, code, _ := classifyServiceFinal(line)
			if o < outcomeRefused || o > outcomeNotNow || code < -1 || code > 65535 {
				t.Fatalf("%q: outcome %d code %d", line, o, code)
			}
		})
}
