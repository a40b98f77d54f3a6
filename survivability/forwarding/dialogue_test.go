package forwarding

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/guard"
)

const callerA = "+447700900001"

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

func expect(t *testing.T, a Action, tone Tone, hangup bool) {
	t.Helper()
	if a.Tone != tone || a.Hangup != hangup {
		t.Fatalf("action %+v, want tone %q hangup %v", a, tone, hangup)
	}
	if !hangup && a.Wait <= 0 {
		t.Fatalf("action %+v asks for no wait", a)
	}
}

func TestRemoteHappyPath(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 0)
	a := d.Start()
	expect(t, a, TonePrompt, false)
	if a.Wait != DefaultDigitTimeout || d.Stage() != StagePort {
		t.Fatalf("%+v %s", a, d.Stage())
	}
	expect(t, feed(t, d, "1"), ToneNone, false)
	expect(t, feed(t, d, "#"), TonePrompt, false)
	if d.Stage() != StagePIN || d.Port() != 1 {
		t.Fatal(d.Stage())
	}
	expect(t, feed(t, d, pin1+"#"), ToneConfirm, false)
	if d.Stage() != StageMenu {
		t.Fatal(d.Stage())
	}
	expect(t, feed(t, d, "1"), TonePrompt, false)
	expect(t, feed(t, d, "07700900123#"), ToneConfirm, true)
	if !d.Done() {
		t.Fatal("not done")
	}
	s, _ := m.Get(1)
	if s.Unconditional != "07700900123" || s.By != "remote:"+callerA {
		t.Fatalf("%+v", s)
	}
	if got := m.metric(t, "critline_forward_changes_total", "via", "remote"); got != 1 {
		t.Errorf("changes{remote} = %v", got)
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
	e.net.wait(t, "set unconditional 07700900123")
}

func TestRemoteFixedPortNoAnswerAndCancel(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue("07700 900002", 2)
	expect(t, d.Start(), TonePrompt, false)
	if d.Stage() != StagePIN {
		t.Fatal(d.Stage())
	}
	feed(t, d, pin2+"#3")
	expect(t, feed(t, d, "01865999000#"), ToneConfirm, true)
	s, _ := m.Get(2)
	if s.NoAnswer != "01865999000" || s.NoAnswerAfter != DefaultNoAnswerAfter {
		t.Fatalf("%+v", s)
	}
	m.Set(context.Background(), 2, Busy, "07700900123", 0, ViaCtl, "eng")
	d = m.NewDialogue("07700900002", 2)
	d.Start()
	feed(t, d, pin2+"#")
	expect(t, feed(t, d, "0"), ToneConfirm, true)
	if s, _ := m.Get(2); s.Active() {
		t.Fatalf("cancel left %+v", s)
	}
	// "#" at the menu ends the call without a change.
	d = m.NewDialogue("07700900002", 2)
	d.Start()
	feed(t, d, pin2+"#")
	expect(t, feed(t, d, "#"), ToneConfirm, true)
}

func TestRemoteRefusedNumberReturnsToMenu(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 1)
	d.Start()
	feed(t, d, pin1+"#")
	for _, bad := range []string{"09001234567", "999", "0033123456789", "01865270000", "12"} {
		feed(t, d, "1")
		expect(t, feed(t, d, bad+"#"), ToneError, false)
		if d.Stage() != StageMenu {
			t.Fatalf("after refused %s: %s", bad, d.Stage())
		}
	}
	expect(t, feed(t, d, "7"), ToneError, false) // not a menu key
	feed(t, d, "2")
	expect(t, feed(t, d, "0770090*"), TonePrompt, false) // * in the number: back to the menu
	if d.Stage() != StageMenu {
		t.Fatal(d.Stage())
	}
	feed(t, d, "2")
	expect(t, feed(t, d, "012345678901234567890"), ToneError, false) // too long
	feed(t, d, "2")
	expect(t, feed(t, d, "07700900123#"), ToneConfirm, true)
	if s, _ := m.Get(1); s.Busy != "07700900123" || s.Unconditional != "" {
		t.Fatalf("%+v", s)
	}
	if got := m.metric(t, "critline_pin_failures_total"); got != 0 {
		t.Errorf("refused numbers counted as PIN failures: %v", got)
	}
}

// TestWrongPINThreeTimesThenLockout is issue 8's scenario: three wrong PINs
// lock out the caller and the port, across restarts, until the lockout
// time has passed; then the right PIN works.
func TestWrongPINThreeTimesThenLockout(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 0)
	d.Start()
	feed(t, d, "1#")
	expect(t, feed(t, d, "111222#"), ToneError, false)
	if d.Stage() != StagePIN {
		t.Fatal(d.Stage())
	}
	// Digits during the failure delay are ignored: the right PIN typed
	// at once does not count.
	if a := feed(t, d, pin1+"#"); a.Tone != ToneNone || d.Stage() != StagePIN {
		t.Fatalf("digits during the failure delay were taken: %+v %s", a, d.Stage())
	}
	e.advance(DefaultFailureDelay)
	expect(t, feed(t, d, "333444#"), ToneError, false)
	e.advance(DefaultFailureDelay)
	expect(t, feed(t, d, "555666#"), ToneError, true)
	if got := m.metric(t, "critline_pin_failures_total"); got != 3 {
		t.Errorf("pin failures = %v", got)
	}
	if got := m.metric(t, "critline_remote_lockouts_total", "kind", "port"); got != 1 {
		t.Errorf("port lockouts = %v", got)
	}
	locks := m.Lockouts()
	if len(locks) != 2 || locks[0].Kind != LockCaller || locks[0].Key != callerA || locks[1].Kind != LockPort || locks[1].Key != "1" || locks[1].Remaining != DefaultLockout {
		t.Fatalf("lockouts %+v", locks)
	}
	logs := m.log.String()
	if !strings.Contains(logs, "caller and port locked out") || !strings.Contains(logs, "caller="+callerA) {
		t.Errorf("lockout not logged:\n%s", logs)
	}

	// The caller is refused at once; another caller cannot use port 1,
	// even with the right PIN, but can use port 2.
	expect(t, m.NewDialogue(callerA, 0).Start(), ToneError, true)
	d = m.NewDialogue("+447700900002", 0)
	d.Start()
	expect(t, feed(t, d, "1#"), ToneError, true)
	d = m.NewDialogue("+447700900002", 1)
	expect(t, d.Start(), ToneError, true)
	d = m.NewDialogue("+447700900002", 0)
	d.Start()
	feed(t, d, "2#")
	expect(t, feed(t, d, pin2+"#"), ToneConfirm, false)

	// Restart: a new process with a new monotonic clock, 10 minutes later.
	m.Close()
	e.clock.Advance(10 * time.Minute)
	e.wall = e.wall.Add(10 * time.Minute)
	m = e.manager(baseConfig(t))
	locks = m.Lockouts()
	if len(locks) != 2 || locks[0].Remaining != DefaultLockout-10*time.Minute {
		t.Fatalf("lockouts after restart: %+v", locks)
	}
	expect(t, m.NewDialogue(callerA, 0).Start(), ToneError, true)
	expect(t, m.NewDialogue("+447700900003", 1).Start(), ToneError, true)

	// Once the lockout has passed, the right PIN works.
	e.advance(DefaultLockout - 10*time.Minute)
	if l := m.Lockouts(); len(l) != 0 {
		t.Fatalf("lockouts after expiry: %+v", l)
	}
	d = m.NewDialogue(callerA, 0)
	expect(t, d.Start(), TonePrompt, false)
	feed(t, d, "1#")
	expect(t, feed(t, d, pin1+"#"), ToneConfirm, false)
	feed(t, d, "1")
	expect(t, feed(t, d, "07700900123#"), ToneConfirm, true)
}

func TestLockoutCappedWhenWallClockIsBehind(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	for range 3 {
		d := m.NewDialogue(callerA, 1)
		d.Start()
		feed(t, d, "111222#")
	}
	m.Close()
	// The board boots with its clock a year behind: the lockout must not
	// last a year.
	e.wall = e.wall.AddDate(-1, 0, 0)
	m = e.manager(baseConfig(t))
	for _, l := range m.Lockouts() {
		if l.Remaining > DefaultLockout {
			t.Fatalf("lockout restored for %v", l.Remaining)
		}
	}
	if len(m.Lockouts()) != 2 {
		t.Fatal("lockouts lost")
	}
}

func TestFailuresAddUpAcrossCallsAndCallers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	// One caller, one wrong PIN per call on different ports: the caller is
	// locked on the third.
	for i, port := range []int{1, 2, 1} {
		d := m.NewDialogue(callerA, port)
		d.Start()
		a := feed(t, d, "111222#")
		if want := i == 2; a.Hangup != want {
			t.Fatalf("call %d: %+v", i, a)
		}
	}
	if l := m.Lockouts(); len(l) != 2 || l[0].Key != callerA || l[1].Key != "1" {
		t.Fatalf("%+v", l)
	}
	// Three callers, one wrong PIN each on port 2: the port is locked.
	if n, _ := m.Unlock("", "", "engineer"); n != 2 {
		t.Fatalf("Unlock lifted %d", n)
	}
	for i, c := range []string{"01", "02", "03"} {
		d := m.NewDialogue("0770090000"+c, 2)
		d.Start()
		a := feed(t, d, "111222#")
		if want := i == 2; a.Hangup != want {
			t.Fatalf("caller %d: %+v", i, a)
		}
	}
	expect(t, m.NewDialogue("07700900009", 2).Start(), ToneError, true)
	// Failures are forgotten after the lockout time.
	e.advance(DefaultLockout)
	for range 2 {
		d := m.NewDialogue("07700900010", 2)
		d.Start()
		feed(t, d, "111222#")
	}
	e.advance(DefaultLockout)
	d := m.NewDialogue("07700900010", 2)
	d.Start()
	expect(t, feed(t, d, "111222#"), ToneError, false)
	if n, _ := m.Unlock(LockCaller, callerA, "engineer"); n != 0 {
		t.Fatal("callerA is not locked any more")
	}
	if !strings.Contains(m.log.String(), "lockouts lifted") {
		t.Error("unlock not logged")
	}
}

func TestUnknownPortsLockTheCaller(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 0)
	d.Start()
	expect(t, feed(t, d, "9#"), ToneError, false)
	e.advance(DefaultFailureDelay)
	expect(t, feed(t, d, "1234"), ToneError, false) // 4 digits: no such port
	e.advance(DefaultFailureDelay)
	expect(t, feed(t, d, "#"), ToneError, true) // empty entry
	if l := m.Lockouts(); len(l) != 1 || l[0].Kind != LockCaller {
		t.Fatalf("%+v", l)
	}
	if got := m.metric(t, "critline_pin_failures_total"); got != 3 {
		t.Errorf("failures %v", got)
	}
	if n, _ := m.Unlock(LockCaller, "+44 7700 900001", "engineer"); n != 1 {
		t.Fatal("Unlock by caller number")
	}
	expect(t, m.NewDialogue(callerA, 0).Start(), TonePrompt, false)
}

func TestRemoteOffAndPortsWithoutPIN(t *testing.T) {
	e := newEnv(t)
	m := e.manager(Config{Ports: []Port{{ID: 1, PINHash: fastHash(t, pin1)}, {ID: 3}}})
	expect(t, m.NewDialogue(callerA, 1).Start(), ToneError, true) // remote off
	d := m.NewDialogue(callerA, 0)
	expect(t, d.Start(), ToneError, true)

	// With remote on, Validate insists on PINs; a port without one (as
	// with remote off) still never takes remote activation.
	m.cfg.Remote = true
	d = m.NewDialogue(callerA, 0)
	expect(t, d.Start(), TonePrompt, false)
	expect(t, feed(t, d, "3#"), ToneError, false)
	expect(t, m.NewDialogue("07700900555", 3).Start(), ToneError, true)
	if err := m.Set(context.Background(), 3, Busy, "07700900123", 0, ViaCtl, "eng"); err != nil {
		t.Fatalf("the field tool cannot set a port without a PIN: %v", err)
	}
}

func TestWithheldCallers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	for _, id := range []string{"", "anonymous", "+"} {
		expect(t, m.NewDialogue(id, 1).Start(), ToneError, true)
	}
	cfg := baseConfig(t)
	cfg.AllowWithheld = true
	e2 := newEnv(t)
	m2 := e2.manager(cfg)
	for range 3 {
		d := m2.NewDialogue("", 1)
		d.Start()
		feed(t, d, "111222#")
	}
	if l := m2.Lockouts(); len(l) != 2 || l[0].Key != Withheld {
		t.Fatalf("%+v", l)
	}
	expect(t, m2.NewDialogue("anonymous", 2).Start(), ToneError, true)
	if n, _ := m2.Unlock(LockCaller, Withheld, "eng"); n != 1 {
		t.Fatal("unlock withheld")
	}
}

func TestGlobalRateLimit(t *testing.T) {
	e := newEnv(t)
	cfg := baseConfig(t)
	cfg.MaxAttempts = 4
	cfg.MaxFailures = 10
	m := e.manager(cfg)
	for i := range 4 {
		d := m.NewDialogue("0770090010"+string(rune('0'+i)), 1)
		d.Start()
		expect(t, feed(t, d, "111222#"), ToneError, false)
	}
	// The fifth attempt, even with the right PIN, is refused unchecked.
	d := m.NewDialogue("07700900200", 1)
	d.Start()
	expect(t, feed(t, d, pin1+"#"), ToneError, true)
	if !strings.Contains(m.log.String(), "too many PIN attempts") {
		t.Error("rate limit not logged")
	}
	e.advance(DefaultAttemptWindow)
	d = m.NewDialogue("07700900200", 1)
	d.Start()
	expect(t, feed(t, d, pin1+"#"), ToneConfirm, false)
}

func TestEntryEditingAndLimits(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 0)
	d.Start()
	expect(t, feed(t, d, "7*"), TonePrompt, false) // * clears the port entry
	feed(t, d, "1#")
	expect(t, feed(t, d, "2468*"), TonePrompt, false) // and the PIN entry
	expect(t, feed(t, d, pin1+"#"), ToneConfirm, false)
	// Keys that are not DTMF digits are ignored.
	if a := d.Digit('A'); a.Tone != ToneNone || a.Hangup {
		t.Fatal(a)
	}
	// An over-long PIN is submitted (and fails) as soon as it overflows.
	d = m.NewDialogue("07700900300", 2)
	d.Start()
	expect(t, feed(t, d, strings.Repeat("7", MaxPINLen+1)), ToneError, false)
}

func TestTimeouts(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	d := m.NewDialogue(callerA, 0)
	a := d.Start()
	// A stale timer (fired early) changes nothing.
	e.advance(5 * time.Second)
	if b := d.Timeout(); b.Tone != ToneNone || b.Wait != a.Wait-5*time.Second || d.Stage() != StagePort {
		t.Fatalf("early timeout: %+v", b)
	}
	e.advance(a.Wait - 5*time.Second)
	expect(t, d.Timeout(), TonePrompt, false) // re-prompt once
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), ToneError, true) // then give up

	// A timeout after some digits ends the entry, like '#'.
	d = m.NewDialogue(callerA, 0)
	d.Start()
	feed(t, d, "1")
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), TonePrompt, false)
	feed(t, d, pin1)
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), ToneConfirm, false)
	feed(t, d, "1"+"07700900123")
	e.advance(DefaultDigitTimeout)
	expect(t, d.Timeout(), ToneConfirm, true)

	// The whole call is bounded, however busy the caller keeps it.
	d = m.NewDialogue("07700900400", 0)
	d.Start()
	var last Action
	for i := 0; i < 100 && !d.Done(); i++ {
		e.advance(10 * time.Second)
		last = d.Digit('*')
	}
	expect(t, last, ToneError, true)
	if d.Stage() != StageDone {
		t.Fatal(d.Stage())
	}
}

func TestSessionArmsTimers(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	var got []Action
	s := m.StartSession(callerA, 1, func(a Action) { got = append(got, a) })
	if len(got) != 1 || got[0].Tone != TonePrompt || e.clock.Pending() != 1 {
		t.Fatalf("%+v pending %d", got, e.clock.Pending())
	}
	for _, c := range pin1 + "#" {
		s.Digit(c)
	}
	if got[len(got)-1].Tone != ToneConfirm || s.Stage() != StageMenu || e.clock.Pending() != 1 {
		t.Fatalf("%+v %s pending %d", got[len(got)-1], s.Stage(), e.clock.Pending())
	}
	// Silence: the timer re-prompts, then hangs up, by itself.
	e.advance(DefaultDigitTimeout)
	if got[len(got)-1].Tone != TonePrompt {
		t.Fatalf("%+v", got[len(got)-1])
	}
	e.advance(DefaultDigitTimeout)
	if a := got[len(got)-1]; a.Tone != ToneError || !a.Hangup {
		t.Fatalf("%+v", a)
	}
	if e.clock.Pending() != 0 {
		t.Fatal("timer left after hangup")
	}
	n := len(got)
	s.Digit('1')
	if len(got) != n {
		t.Fatal("digits delivered after hangup")
	}

	// The caller hangs up mid-dialogue: Close stops the timer.
	s = m.StartSession(callerA, 1, func(a Action) { got = append(got, a) })
	s.Close()
	if e.clock.Pending() != 0 {
		t.Fatal("Close left a timer")
	}
	s.Digit('1')

	// out may call Close from inside (e.g. on Hangup).
	var s2 *Session
	s2 = m.StartSession("", 1, func(a Action) {
		if a.Hangup && s2 != nil {
			s2.Close()
		}
	})
	s2.Close()
}

func BenchmarkDialogueDigit(b *testing.B) {
	g, err := guard.New(guard.Config{}, guard.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(Config{Remote: true, Ports: []Port{{ID: 1, PINHash: fastHash(b, pin1)}}}, Options{Guard: g, Clock: hal.NewManualClock(0)})
	if err != nil {
		b.Fatal(err)
	}
	d := m.NewDialogue(callerA, 1)
	d.Start()
	b.ReportAllocs()
	for b.Loop() {
		d.Digit('1')
		d.Digit('*')
	}
}
