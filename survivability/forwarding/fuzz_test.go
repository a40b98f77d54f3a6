package forwarding

import (
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
	f.Add("1#" + pin1 + "#107700900123#")
	f.Add("1#" + pin1 + "#0")
	f.Add("2#" + pin2 + "#301865999000#")
	f.Add("1#111222#t333444#t555666#")
	f.Add("9#t9#t9#")
	f.Add("1#" + pin1 + "#109001234567#1999#2*")
	f.Add("tttt")
	f.Add("1t" + pin1 + "t107700900123t")
	f.Add("##**AB\x00\xff")
	g, err := guard.New(guard.Config{Routes: []guard.Route{{Name: "forward"}}}, guard.Options{})
	if err != nil {
		f.Fatal(err)
	}
	cfg := Config{Remote: true, AllowWithheld: true, OwnNumbers: []string{"01865270000"},
		Ports: []Port{{ID: 1, PINHash: fastHash(f, pin1)}, {ID: 2, PINHash: fastHash(f, pin2)}}}
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
		s := m.StartSession("07700900001", 0, func(a Action) {
			if hungUp {
				t.Fatalf("action %+v after hangup", a)
			}
			if !a.Hangup && a.Wait <= 0 {
				t.Fatalf("action %+v without a wait", a)
			}
			hungUp = a.Hangup
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
		for i := 0; i < 20 && !hungUp; i++ {
			clock.Advance(DefaultDigitTimeout)
		}
		if !hungUp {
			t.Fatalf("session still open after %v", clock.Now())
		}
		if clock.Now() > DefaultSessionTimeout+time.Duration(len(keys)+2)*DefaultDigitTimeout {
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
