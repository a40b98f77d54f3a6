package forwarding

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/guard"
)

// FuzzDialogue drives a remote-activation session with arbitrary keys and
// pauses: it must never panic, never change forwarding unless the right
// PIN was typed, only ever store numbers that pass every check, and always
// end within the session limit.
func FuzzDialogue(f *testing.F) {
	f.Add("270001" + pin1 + "#107700900123#1")
	f.Add("1#" + pin1 + "#0")
	f.Add("270002#" + pin2 + "#301865999000#*01865999001#1")
	f.Add("270001#111222#p333444#pp555666#pppp777888#pppppppp999000#")
	f.Add("9#t9#t9#")
	f.Add("1#" + pin1 + "#109001234567#1999#2*")
	f.Add("tttt")
	f.Add("*")
	f.Add("1t" + pin1 + "t107700900123t1")
	f.Add("##**AB\x00\xff")
	g, err := guard.New(guard.Config{Routes: []guard.Route{{Name: "forward"}}}, guard.Options{})
	if err != nil {
		f.Fatal(err)
	}
	cfg := Config{Remote: true, OwnNumbers: []string{"01865270000"},
		Ports: []Port{{ID: 1, Extension: "270001", PINHash: fastHash(f, pin1)}, {ID: 2, Extension: "270002", PINHash: fastHash(f, pin2)}}}
	f.Fuzz(func(t *testing.T, keys string) {
		if len(keys) > 200 {
			return
		}
		clock := hal.NewManualClock(0)
		m, err := New(cfg, Options{Guard: g, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		hungUp := false
		lodge := len(keys)%2 == 0 // offer the lodge to half the callers
		s := m.StartSession(Call{Caller: "07700900001", Entry: EntryStaff, Lodge: lodge}, func(a Action) time.Duration {
			if hungUp {
				t.Fatalf("action %+v after hangup", a)
			}
			if !a.Hangup && !a.Lodge && a.Wait <= 0 {
				t.Fatalf("action %+v without a wait", a)
			}
			if a.Lodge && !lodge {
				t.Fatalf("lodge without the option: %+v", a)
			}
			for _, p := range a.Say {
				if !slices.Contains(Prompts(), p) {
					t.Fatalf("unknown prompt %q", p)
				}
			}
			hungUp = a.Hangup || a.Lodge
			return time.Duration(len(a.Say)) * 700 * time.Millisecond
		})
		for _, c := range []byte(keys) {
			if c == 't' {
				clock.Advance(DefaultDigitTimeout)
				continue
			}
			if c == 'p' {
				clock.Advance(DefaultFailureDelay)
				continue
			}
			s.Digit(rune(c))
		}
		// Silence until the end: the session must hang up by itself.
		for i := 0; i < 40 && !hungUp; i++ {
			clock.Advance(DefaultDigitTimeout)
		}
		if !hungUp {
			t.Fatalf("session still open after %v", clock.Now())
		}
		if clock.Now() > DefaultSessionTimeout+time.Duration(len(keys)+2)*(DefaultDigitTimeout+MaxFailureDelay) {
			t.Fatalf("session outlived its limit: %v", clock.Now())
		}
		// What the dialogue could have taken as digits: keys other than
		// DTMF are ignored, short pauses ('p') split nothing.
		typed := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r == '*' || r == '#' || r == 't' {
				return r
			}
			return -1
		}, keys)
		for _, p := range m.Ports() {
			st, _ := m.Get(p)
			if !st.Active() {
				continue
			}
			if !strings.Contains(typed, map[int]string{1: pin1, 2: pin2}[p]) {
				t.Fatalf("port %d forwarding changed without its PIN: %+v", p, st)
			}
			for _, k := range Kinds() {
				if n := st.Number(k); n != "" {
					if _, err := m.checkDest(n); err != nil {
						t.Fatalf("stored a number that fails its checks: %q: %v", n, err)
					}
				}
			}
		}
	})
}

// FuzzSameNumber: matching a caller against a staff number is symmetric,
// reflexive for real numbers, and never matches a withheld caller.
func FuzzSameNumber(f *testing.F) {
	for _, s := range [][2]string{{"07700900123", "+447700900123"}, {"270001", "270001"}, {"", "+"}, {"withheld", "0"},
		{"+1 (555) 010-9999", "5550109999"}, {"0000000", "00000000"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if SameNumber(a, b) != SameNumber(b, a) {
			t.Fatalf("not symmetric: %q %q", a, b)
		}
		if n := normalizeCaller(a); n != "" && n != "+" && !SameNumber(a, a) {
			t.Fatalf("%q does not match itself", a)
		}
		if SameNumber(a, "") || SameNumber("withheld", b) {
			t.Fatal("a withheld caller matched")
		}
		if SameNumber(a, b) && len(normalizeCaller(a)) < 7 && normalizeCaller(a) != normalizeCaller(b) {
			t.Fatalf("short numbers %q %q matched loosely", a, b)
		}
	})
}
