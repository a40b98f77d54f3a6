package forwarding

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

const (
	callerA = "+447700900001"
	callerB = "07700900002"
)

// feed sends keys to d one by one and returns the last Action.
func feed(t *testing.T, d *Dialogue, keys string) Action {
	t.Helper()
	var a Action
	for _, c := range keys {
		if d.Done() {
			t.Fatalf("dialogue ended before %q of %q", c, keys)
		}
		a = d.Digit(c)
	}
	return a
}

func says(a Action) string {
	var s []string
	for _, p := range a.Say {
		s = append(s, string(p))
	}
	return strings.Join(s, " ")
}

// expect checks what an Action says and whether it hangs up.
func expect(t *testing.T, a Action, say string, hangup bool) {
	t.Helper()
	if says(a) != say || a.Hangup != hangup {
		t.Fatalf("action says %q hangup %v (%+v), want %q hangup %v", says(a), a.Hangup, a, say, hangup)
	}
	if !hangup && !a.Lodge && a.Wait <= 0 {
		t.Fatalf("action %+v asks for no wait", a)
	}
}

func service(caller string) Call { return Call{Caller: caller, Entry: EntryService} }

func TestRemoteHappyPath(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	e.net.started(t)
	d := m.NewDialogue(service(callerA))
	a := d.Start()
	expect(t, a, "welcome enter-extension", false)
	if a.Tone != TonePrompt || a.Wait != DefaultDigitTimeout || d.Stage() != StageExtension {
		t.Fatalf("%+v %s", a, d.Stage())
	}
	// The extension is taken as soon as it is complete; the "#" staff
	// press after it, as the prompt says, is not an empty PIN.
	expect(t, feed(t, d, "27000"), "", false)
	expect(t, feed(t, d, "1"), "enter-pin", false)
	if d.Stage() != StagePIN || d.Port() != 1 {
		t.Fatal(d.Stage(), d.Port())
	}
	expect(t, feed(t, d, "#"), "", false)
	a = feed(t, d, pin1+"#")
	expect(t, a, "forwarding-off menu", false)
	if a.Tone != ToneConfirm || d.Stage() != StageMenu {
		t.Fatal(a, d.Stage())
	}
	expect(t, feed(t, d, "1"), "enter-number", false)
	// The number is read back digit by digit before anything changes.
	expect(t, feed(t, d, "07700900123#"), "forwarding-to 0 7 7 0 0 9 0 0 1 2 3 confirm", false)
	if s, _ := m.Get(1); s.Active() {
		t.Fatal("forwarding set before it was confirmed")
	}
	a = feed(t, d, "1")
	expect(t, a, "forwarding-to 0 7 7 0 0 9 0 0 1 2 3 is-on goodbye", true)
	if a.Tone != ToneConfirm || !d.Done() {
		t.Fatal(a)
	}
	s, _ := m.Get(1)
	if s.Unconditional != "07700900123" || s.By != "remote:"+callerA {
		t.Fatalf("%+v", s)
	}
	if got := m.metric(t, "critline_forward_changes_total", "via", "remote"); got != 1 {
		t.Errorf("changes{remote} = %v", got)
	}
	if got := m.metric(t, "critline_remote_calls_total", "entry", EntryService); got != 1 {
		t.Errorf("remote calls = %v", got)
	}
	if got := m.metric(t, "critline_remote_attempts_total", "result", ResultAccepted); got != 1 {
		t.Errorf("accepted = %v", got)
	}
	if got := m.metric(t, "critline_pin_failures_total"); got != 0 {
		t.Errorf("pin failures = %v", got)
	}
	if strings.Contains(m.log.String(), pin1) {
		t.Fatal("the PIN was logged")
	}
	// Digits after the end do nothing.
	if a := d.Digit('1'); !a.Hangup {
		t.Fatal(a)
	}
	if a := d.Timeout(); !a.Hangup {
		t.Fatal(a)
	}
	e.net.wait(t, "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")

	// The next call hears what is set now, and cancels it.
	d = m.NewDialogue(service(callerA))
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "all-forwarded-to 0 7 7 0 0 9 0 0 1 2 3 menu", false)
	expect(t, feed(t, d, "0"), "forwarding-off goodbye", true)
	if s, _ := m.Get(1); s.Active() {
		t.Fatalf("cancel left %+v", s)
	}
}

// Staff may key the port number instead of the extension, ended by "#",
// as long as no extension is written the same: then the extension wins.
func TestEntryByPortNumberWithoutAmbiguity(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(service(callerA))
	d.Start()
	expect(t, feed(t, d, "2"), "", false) // could be the start of 270001
	expect(t, feed(t, d, "#"), "enter-pin", false)
	if d.Port() != 2 {
		t.Fatal(d.Port())
	}

	cfg := baseConfig(t)
	cfg.Ports[1].Extension = "1" // port 2 answers to "1": port 1 is then only 270001
	e2 := newEnv(t)
	m2 := e2.manager(cfg)
	d = m2.NewDialogue(service(callerA))
	d.Start()
	expect(t, feed(t, d, "1"), "enter-pin", false) // a complete extension
	if d.Port() != 2 {
		t.Fatalf("\"1\" went to port %d, want the port whose extension it is", d.Port())
	}
	// An extension that another continues waits for "#".
	cfg = baseConfig(t)
	cfg.Ports[1].Extension = "2700011"
	m3 := newEnv(t).manager(cfg)
	d = m3.NewDialogue(service(callerA))
	d.Start()
	expect(t, feed(t, d, "270001"), "", false)
	expect(t, feed(t, d, "#"), "enter-pin", false)
	if d.Port() != 1 {
		t.Fatal(d.Port())
	}
}

// Issue 16, point 1: a mistyped extension costs one wrong entry and a
// short wait, not a lockout.
func TestUnknownExtensionIsOneMistake(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(service(callerA))
	d.Start()
	a := feed(t, d, "270009#")
	expect(t, a, "unknown-extension", false)
	if d.Stage() != StageWait || a.Wait != DefaultFailureDelay || a.Tone != ToneError {
		t.Fatalf("%+v %s", a, d.Stage())
	}
	// Keys during the wait are ignored.
	expect(t, feed(t, d, "270001"), "", false)
	if d.Stage() != StageWait {
		t.Fatal(d.Stage())
	}
	e.advance(DefaultFailureDelay)
	expect(t, d.Timeout(), "enter-extension", false)
	expect(t, feed(t, d, "270001"), "enter-pin", false)
	expect(t, feed(t, d, pin1+"#"), "forwarding-off menu", false)
	if len(m.Lockouts()) != 0 {
		t.Fatal(m.Lockouts())
	}
	if got := m.metric(t, "critline_remote_attempts_total", "result", ResultUnknownExt); got != 1 {
		t.Errorf("unknown-extension attempts = %v", got)
	}
	if !strings.Contains(m.log.String(), "entered=270009") {
		t.Errorf("the wrong extension is not in the log:\n%s", m.log)
	}
}

// Issue 16, point 2: wrong PINs make the caller wait longer each time and
// then lock out that caller, never the port; each further lockout lasts
// twice as long; the operator lifts it.
func TestWrongPINsGrowingDelaysThenCallerLockout(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(service(callerA))
	d.Start()
	feed(t, d, "270001")
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		a := feed(t, d, fmt.Sprintf("11122%d#", i))
		if d.Stage() != StageWait || a.Wait != want {
			t.Fatalf("wrong PIN %d: %+v %s, want a wait of %v", i+1, a, d.Stage(), want)
		}
		if i >= 2 && !slices.Contains(a.Say, SayPleaseWait) {
			t.Errorf("a wait of %v without \"please wait\": %q", want, says(a))
		}
		// The right PIN typed during the wait is not even looked at.
		feed(t, d, pin1+"#")
		if d.Stage() != StageWait {
			t.Fatalf("keys taken during the wait: %s", d.Stage())
		}
		e.advance(want)
		if i%2 == 0 {
			expect(t, d.Timeout(), "enter-pin", false)
		} // else: the caller types before the prompt comes
	}
	expect(t, feed(t, d, "111999#"), "wrong-pin locked-out goodbye", true)
	if got := m.metric(t, "critline_pin_failures_total"); got != 5 {
		t.Errorf("pin failures = %v", got)
	}
	locks := m.Lockouts()
	if len(locks) != 1 || locks[0].Kind != LockCaller || locks[0].Key != callerA || locks[0].Remaining != DefaultLockout || locks[0].Strikes != 1 {
		t.Fatalf("lockouts %+v", locks)
	}
	if got := m.metric(t, "critline_remote_lockouts_total", "kind", "caller"); got != 1 {
		t.Errorf("lockouts = %v", got)
	}
	if got := m.metric(t, "critline_remote_locked_callers"); got != 1 {
		t.Errorf("locked callers = %v", got)
	}
	if !strings.Contains(m.log.String(), "caller locked out") || !strings.Contains(m.log.String(), "caller="+callerA) {
		t.Errorf("lockout not logged:\n%s", m.log)
	}
	// The caller is refused at once; anyone else can still use port 1.
	expect(t, m.NewDialogue(service(callerA)).Start(), "locked-out goodbye", true)
	d = m.NewDialogue(service(callerB))
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "forwarding-off menu", false)

	// After the lockout, five more wrong PINs lock the caller out for
	// twice as long.
	e.advance(DefaultLockout)
	if len(m.Lockouts()) != 0 {
		t.Fatal("the lockout outlived its time")
	}
	d = m.NewDialogue(service(callerA))
	d.Start()
	feed(t, d, "270002")
	for i := range 5 {
		feed(t, d, fmt.Sprintf("99988%d#", i))
		e.advance(20 * time.Second)
		if !d.Done() {
			d.Timeout()
		}
	}
	if locks := m.Lockouts(); len(locks) != 1 || locks[0].Strikes != 2 || locks[0].Remaining != 2*DefaultLockout-20*time.Second {
		t.Fatalf("second lockout %+v, want %v", locks, 2*DefaultLockout)
	}
	// The operator lifts it; ports are not lockable.
	if _, err := m.Unlock(LockPort, "1", "eng"); err == nil || !strings.Contains(err.Error(), "never locked out") {
		t.Errorf("unlock port: %v", err)
	}
	if n, err := m.Unlock(LockCaller, "07700 900001", "eng"); n != 0 || err != nil {
		t.Errorf("unlock of a number in another form lifted %d: %v", n, err)
	}
	if n, err := m.Unlock(LockCaller, callerA, "eng"); n != 1 || err != nil {
		t.Fatalf("unlock lifted %d: %v", n, err)
	}
	d = m.NewDialogue(service(callerA))
	expect(t, d.Start(), "welcome enter-extension", false)
	if got := m.metric(t, "critline_remote_locked_callers"); got != 0 {
		t.Errorf("locked callers = %v after unlock", got)
	}
}

// Lockouts, waits and earlier lockouts survive a restart (a new monotonic
// clock), but never last longer than they could have, whatever the wall
// clock says.
func TestLockoutsSurviveRestart(t *testing.T) {
	e := newEnv(t)
	cfg := baseConfig(t)
	cfg.MaxFailures = 2
	cfg.FailureDelay = time.Millisecond
	m := e.manager(cfg)
	for _, caller := range []string{callerA, "", "07700900003"} {
		d := m.NewDialogue(service(caller))
		d.Start()
		feed(t, d, "270001")
		feed(t, d, "111222#")
		e.advance(time.Millisecond)
		d.Timeout()
		if caller != "07700900003" {
			feed(t, d, "333444#")
		}
	}
	want := []string{"+447700900001", Withheld}
	got := []string{}
	for _, l := range m.Lockouts() {
		got = append(got, l.Key)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("lockouts %v, want %v", got, want)
	}
	m.Close()

	e.clock = hal.NewManualClock(0)
	e.advance(5 * time.Minute)
	m = e.manager(cfg)
	locks := m.Lockouts()
	if len(locks) != 2 {
		t.Fatalf("after restart: %+v", locks)
	}
	for _, l := range locks {
		if l.Remaining > DefaultLockout-5*time.Minute || l.Remaining < DefaultLockout-5*time.Minute-time.Second {
			t.Errorf("after a restart 5 minutes on, %s has %v left", l.Key, l.Remaining)
		}
	}
	// The third caller's one wrong PIN still counts: one more locks it.
	d := m.NewDialogue(service("07700900003"))
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, "555666#"), "wrong-pin locked-out goodbye", true)
	m.Close()

	// A board that boots with its wall clock a year behind.
	e.clock = hal.NewManualClock(0)
	e.wall = e.wall.AddDate(-1, 0, 0)
	m = e.manager(cfg)
	for _, l := range m.Lockouts() {
		if l.Remaining > cfg.withDefaults().LockoutMax {
			t.Fatalf("lockout of %v after the clock went back: %+v", l.Remaining, l)
		}
	}
	if len(m.Lockouts()) != 3 {
		t.Fatalf("lockouts lost when the clock went back: %+v", m.Lockouts())
	}
}

// An older state file's caller lockouts carry over; its port lockouts are
// gone for good.
func TestOldStateFileLockouts(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	m.Close()
	until := e.Now().Add(20 * time.Minute)
	old := persisted{Ports: map[string]Settings{}, Lockouts: []savedMark{
		{Kind: LockCaller, Key: "07700900009", Until: until}, {Kind: LockPort, Key: "1", Until: until}}}
	if err := m.store.Save(old); err != nil {
		t.Fatal(err)
	}
	m = e.manager(baseConfig(t))
	if l := m.Lockouts(); len(l) != 1 || l[0].Key != "07700900009" || l[0].Remaining != 20*time.Minute {
		t.Fatalf("%+v", l)
	}
}

// Issue 16, point 2, the brute-force run: 200 wrong PINs from 10 numbers,
// as fast as the dialogue lets them in, lock out those 10 numbers and no
// one else; the right PIN from another number still works, at once.
func TestBruteForce200WrongPINsFrom10Numbers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	var attackers []string
	for i := range 10 {
		attackers = append(attackers, fmt.Sprintf("+4477009009%02d", 10+i))
	}
	calls := map[string]*Dialogue{}
	tried, checked := 0, 0
	for tried < 200 {
		for _, who := range attackers {
			if tried == 200 {
				break
			}
			d := calls[who]
			if d == nil || d.Done() {
				d = m.NewDialogue(service(who))
				calls[who] = d
				if a := d.Start(); a.Hangup {
					tried++ // refused before a PIN could be entered
					continue
				}
				feed(t, d, "270001")
			}
			if d.Stage() == StageWait {
				d.Timeout()
			}
			if d.Stage() != StagePIN {
				continue
			}
			tried++
			checked++
			feed(t, d, fmt.Sprintf("%06d#", 100000+tried*7919%900000))
		}
		e.advance(500 * time.Millisecond) // every attacker tries again twice a second
	}
	locked := map[string]bool{}
	for _, l := range m.Lockouts() {
		locked[l.Key] = true
	}
	for _, a := range attackers {
		if !locked[a] {
			t.Errorf("attacker %s is not locked out", a)
		}
	}
	if len(locked) != len(attackers) {
		t.Errorf("lockouts %v: someone else was locked out", m.Lockouts())
	}
	pinFails := m.metric(t, "critline_pin_failures_total")
	refused := m.metric(t, "critline_remote_attempts_total", "result", ResultLockedOut)
	t.Logf("200 tries: %d PINs checked (%v wrong), %v refused as locked out, in %v", checked, pinFails, refused, e.clock.Now()-time.Hour)
	if pinFails != float64(10*DefaultMaxFailures) {
		t.Errorf("%v PINs checked, want %d: each attacker gets exactly max_failures tries", pinFails, 10*DefaultMaxFailures)
	}
	// The legitimate member of staff, from another number, at once.
	d := m.NewDialogue(service("07700900555"))
	expect(t, d.Start(), "welcome enter-extension", false)
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "forwarding-off menu", false)
	feed(t, d, "1")
	feed(t, d, "07700900444#")
	expect(t, feed(t, d, "1"), "forwarding-to 0 7 7 0 0 9 0 0 4 4 4 is-on goodbye", true)
	if s, _ := m.Get(1); s.Unconditional != "07700900444" {
		t.Fatalf("%+v", s)
	}
}

// The global limit bounds PIN checks from callers spread over many
// numbers (spoofed caller IDs); configured staff numbers are exempt from
// it (they still have their own lockout).
func TestGlobalRateLimit(t *testing.T) {
	e := newEnv(t)
	cfg := baseConfig(t)
	cfg.MaxAttempts = 4
	cfg.StaffNumbers = []string{"07700 900 777"}
	m := e.manager(cfg)
	for i := range 4 {
		d := m.NewDialogue(service(fmt.Sprintf("0770090080%d", i)))
		d.Start()
		feed(t, d, "270001")
		feed(t, d, "111222#")
	}
	d := m.NewDialogue(service("07700900899"))
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "try-later goodbye", true)
	if got := m.metric(t, "critline_remote_attempts_total", "result", ResultRateLimited); got != 1 {
		t.Errorf("rate-limited = %v", got)
	}
	// A staff number, written in another form, is not held up.
	d = m.NewDialogue(Call{Caller: "+447700900777", Entry: EntryStaff})
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "forwarding-off menu", false)
	// An hour on, the window has moved.
	e.advance(DefaultAttemptWindow)
	d = m.NewDialogue(service("07700900899"))
	d.Start()
	feed(t, d, "270001")
	expect(t, feed(t, d, pin1+"#"), "forwarding-off menu", false)
}

// Callers who withhold their number share one record: they are throttled
// together and never hold up a caller who shows a number.
func TestWithheldCallersAreThrottledTogether(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	for i := range DefaultMaxFailures {
		d := m.NewDialogue(service(""))
		if a := d.Start(); a.Hangup {
			t.Fatalf("withheld caller %d refused: %q", i, says(a))
		}
		feed(t, d, "270001")
		if d.Stage() == StageWait {
			e.advance(time.Minute)
			d.Timeout()
		}
		feed(t, d, "000111#")
		e.advance(time.Minute)
	}
	expect(t, m.NewDialogue(service("")).Start(), "locked-out goodbye", true)
	expect(t, m.NewDialogue(service("anonymous")).Start(), "locked-out goodbye", true)
	expect(t, m.NewDialogue(service(callerB)).Start(), "welcome enter-extension", false)

	no := false
	cfg := baseConfig(t)
	cfg.AllowWithheld = &no
	m2 := newEnv(t).manager(cfg)
	expect(t, m2.NewDialogue(service("")).Start(), "not-available goodbye", true)
	if got := m2.metric(t, "critline_remote_attempts_total", "result", ResultWithheld); got != 1 {
		t.Errorf("withheld refusals = %v", got)
	}
}

func TestRemoteOffAndPortsWithoutPIN(t *testing.T) {
	e := newEnv(t)
	cfg := baseConfig(t)
	cfg.Remote = false
	m := e.manager(cfg)
	expect(t, m.NewDialogue(service(callerA)).Start(), "not-available goodbye", true)
	if got := m.metric(t, "critline_remote_attempts_total", "result", ResultDisabled); got != 1 {
		t.Errorf("disabled = %v", got)
	}

	// Remote activation with a port that has no PIN is refused; a port
	// that is not configured cannot be chosen.
	if _, err := New(Config{Remote: true, Ports: []Port{{ID: 1, Extension: "270001"}, {ID: 2, Extension: "270002", PINHash: fastHash(t, pin2)}}},
		Options{Guard: e.guard, Clock: e.clock}); err == nil {
		t.Fatal("remote activation on with a port without a PIN was accepted")
	}
	m2, err := New(Config{Remote: true, Ports: []Port{{ID: 2, Extension: "270002", PINHash: fastHash(t, pin2)}}}, Options{Guard: e.guard, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	d := m2.NewDialogue(service(callerA))
	d.Start()
	expect(t, feed(t, d, "270001#"), "unknown-extension", false)
	expect(t, m2.NewDialogue(Call{Caller: callerA, Port: 1}).Start(), "not-available goodbye", true)
	d = m2.NewDialogue(Call{Caller: callerB, Port: 2})
	expect(t, d.Start(), "welcome enter-pin", false)
}

func TestMenuNumberAndConfirm(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(Call{Caller: callerA, Port: 2})
	d.Start()
	feed(t, d, pin2+"#")
	for _, bad := range []string{"09001234567", "999", "0033123456789", "01865270000", "12"} {
		feed(t, d, "1")
		a := feed(t, d, bad+"#")
		expect(t, a, "number-refused enter-number", false)
		if d.Stage() != StageNumber || a.Tone != ToneError {
			t.Fatalf("after refused %s: %s", bad, d.Stage())
		}
		feed(t, d, "*") // back to the menu
	}
	a := feed(t, d, "7") // not a menu key
	expect(t, a, "menu", false)
	feed(t, d, "2")
	expect(t, feed(t, d, "0770090*"), "enter-number", false) // * in the number: start it again
	expect(t, feed(t, d, "07700900999#"), "forwarding-to 0 7 7 0 0 9 0 0 9 9 9 confirm", false)
	expect(t, feed(t, d, "*"), "enter-number", false) // change it
	expect(t, feed(t, d, "07700900123#"), "forwarding-to 0 7 7 0 0 9 0 0 1 2 3 confirm", false)
	expect(t, feed(t, d, "5"), "", false) // only 1 or * at the read-back
	expect(t, feed(t, d, "1"), "forwarding-to 0 7 7 0 0 9 0 0 1 2 3 is-on goodbye", true)
	if s, _ := m.Get(2); s.Busy != "07700900123" || s.Unconditional != "" {
		t.Fatalf("%+v", s)
	}
	if got := m.metric(t, "critline_pin_failures_total"); got != 0 {
		t.Errorf("refused numbers counted as PIN failures: %v", got)
	}
	// No answer, then what is set is read out.
	d = m.NewDialogue(Call{Caller: callerA, Port: 2})
	d.Start()
	feed(t, d, pin2+"#3")
	feed(t, d, "01865999000#")
	feed(t, d, "1")
	d = m.NewDialogue(Call{Caller: callerA, Port: 2})
	d.Start()
	expect(t, feed(t, d, pin2+"#"), "busy-forwarded-to 0 7 7 0 0 9 0 0 1 2 3 no-answer-forwarded-to 0 1 8 6 5 9 9 9 0 0 0 menu", false)
	expect(t, feed(t, d, "#"), "goodbye", true)
}

// Issue 16, point 3: a staff member on the trunk can always reach the
// lodge: star at once, or no key at all.
func TestLodgeFromTheDialogue(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(Call{Caller: callerA, Entry: EntryStaff, Lodge: true})
	expect(t, d.Start(), "welcome enter-extension lodge", false)
	a := feed(t, d, "*")
	if !a.Lodge || a.Hangup || !d.Done() || d.Stage() != StageLodge {
		t.Fatalf("%+v %s", a, d.Stage())
	}
	d = m.NewDialogue(Call{Caller: callerA, Entry: EntryStaff, Lodge: true})
	d.Start()
	e.advance(DefaultDigitTimeout)
	if a := d.Timeout(); !a.Lodge {
		t.Fatalf("silence did not reach the lodge: %+v", a)
	}
	// Once keys are typed, star only starts the entry again.
	d = m.NewDialogue(Call{Caller: callerA, Entry: EntryStaff, Lodge: true})
	d.Start()
	expect(t, feed(t, d, "27*"), "enter-extension", false)
	// Without the option, star is only editing.
	d = m.NewDialogue(service(callerA))
	d.Start()
	if a := feed(t, d, "*"); a.Lodge {
		t.Fatal("lodge offered on the service extension")
	}
}

func TestTimeouts(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(service(callerA))
	d.Start()
	// Silence: one reminder, then goodbye.
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), "enter-extension", false)
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), "goodbye", true)

	// A pause after some digits submits them.
	d = m.NewDialogue(service(callerA))
	d.Start()
	feed(t, d, "2")
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), "enter-pin", false)
	feed(t, d, pin2)
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), "forwarding-off menu", false)

	// A stale timeout (a digit came in meanwhile) waits on.
	e.advance(DefaultDigitTimeout - time.Second)
	feed(t, d, "1")
	e.advance(time.Second)
	if a := d.Timeout(); a.Hangup || a.Wait != DefaultDigitTimeout-time.Second || len(a.Say) != 0 {
		t.Fatalf("stale timeout: %+v", a)
	}

	// The whole call is bounded.
	d = m.NewDialogue(service(callerA))
	d.Start()
	for range 20 {
		e.advance(10 * time.Second)
		if d.Digit('*'); d.Done() {
			break
		}
	}
	if !d.Done() {
		t.Fatal("session outlived its limit")
	}
}

// The session waits for digits only once the prompts have been played.
func TestSessionArmsTimersAfterThePrompts(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	var got []Action
	const speech = 4 * time.Second
	s := m.StartSession(service(callerA), func(a Action) time.Duration {
		got = append(got, a)
		return speech
	})
	if len(got) != 1 || s.Stage() != StageExtension {
		t.Fatal(got)
	}
	e.advance(DefaultDigitTimeout)
	if len(got) != 1 {
		t.Fatalf("timed out while the prompt played: %q", says(got[1]))
	}
	e.advance(speech)
	if len(got) != 2 || says(got[1]) != "enter-extension" {
		t.Fatalf("%+v", got)
	}
	s.Digit('2')
	s.Digit('#')
	s.Digit('1')
	s.Digit('*')
	if s.Stage() != StagePIN {
		t.Fatal(s.Stage())
	}
	for _, c := range pin2 + "#" {
		s.Digit(c)
	}
	if s.Stage() != StageMenu {
		t.Fatal(s.Stage())
	}
	s.Close()
	n := len(got)
	e.advance(time.Hour)
	s.Digit('1')
	if len(got) != n {
		t.Fatal("actions after Close")
	}
}

func TestSameNumber(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"07700900123", "+447700900123", true},
		{"07700 900 123", "447700900123", true},
		{"+447700900123", "+447700900123", true},
		{"07700900123", "07700900124", false},
		{"07700900123", "+337700900123", true}, // the same national number: no country to tell them apart
		{"+447700900123", "+337700900123", false},
		{"+447700900123", "00447700900123", true},
		{"123", "0123", false},
		{"270001", "270001", true},
		{"", "", false},
		{"withheld", "07700900123", false},
		{"7700900123", "99997700900123", false},
	} {
		if got := SameNumber(tc.a, tc.b); got != tc.same {
			t.Errorf("SameNumber(%q, %q) = %v", tc.a, tc.b, got)
		}
		if SameNumber(tc.a, tc.b) != SameNumber(tc.b, tc.a) {
			t.Errorf("SameNumber(%q, %q) is not symmetric", tc.a, tc.b)
		}
	}
}

func BenchmarkDialogueDigit(b *testing.B) {
	g := newEnv(&testing.T{}).guard
	m, err := New(Config{Remote: true, Ports: []Port{{ID: 1, Extension: "270001", PINHash: fastHash(b, pin1)}}},
		Options{Guard: g, Clock: hal.NewManualClock(0)})
	if err != nil {
		b.Fatal(err)
	}
	d := m.NewDialogue(service(callerA))
	d.Start()
	b.ReportAllocs()
	for b.Loop() {
		d.Digit('2')
		d.Digit('*')
	}
	_ = context.Background
}
