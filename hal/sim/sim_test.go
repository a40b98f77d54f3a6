package sim

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
)

// newTestBoard returns a board with its relays energised (handsets on the
// SLIC), as the daemon has them in normal operation.
func newTestBoard(t *testing.T) (*Board, *hal.ManualClock) {
	t.Helper()
	b, clk := newBypassBoard(t)
	for _, p := range b.Ports() {
		p.Relay.SetBypass(false)
	}
	return b, clk
}

// newBypassBoard returns a board as it powers up: every relay in bypass.
func newBypassBoard(t *testing.T) (*Board, *hal.ManualClock) {
	t.Helper()
	clk := hal.NewManualClock(time.Hour)
	b, err := New(Options{Ports: []int{1, 2}, Debounce: 5 * time.Millisecond, Clock: clk, Copper: map[int]bool{1: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, clk
}

func recv(t *testing.T, c <-chan hal.HookEvent) hal.HookEvent {
	t.Helper()
	select {
	case e := <-c:
		return e
	default:
		t.Fatal("no hook event")
	}
	return hal.HookEvent{}
}

func TestHookDebounceAndTimestamps(t *testing.T) {
	b, clk := newTestBoard(t)
	l := b.lines[1]
	start := clk.Now()
	if err := b.Hook(1, true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Millisecond)
	if len(l.Events()) != 0 {
		t.Fatal("event before the debounce period ended")
	}
	clk.Advance(time.Millisecond)
	e := recv(t, l.Events())
	if !e.OffHook || e.Seq != 1 || e.At != start+5*time.Millisecond || e.Port != 1 {
		t.Fatalf("event %+v", e)
	}
	if off, _ := l.OffHook(); !off {
		t.Fatal("OffHook false after event")
	}
	// A bounce shorter than the debounce period is invisible.
	b.Hook(1, false)
	clk.Advance(2 * time.Millisecond)
	b.Hook(1, true)
	clk.Advance(20 * time.Millisecond)
	if len(l.Events()) != 0 {
		t.Fatalf("bounce leaked: %+v", <-l.Events())
	}
	// Replace the handset.
	at := clk.Now()
	b.Hook(1, false)
	clk.Advance(10 * time.Millisecond)
	e = recv(t, l.Events())
	if e.OffHook || e.Seq != 2 || e.At != at+5*time.Millisecond {
		t.Fatalf("event %+v", e)
	}
	if err := b.Hook(9, true); err == nil {
		t.Fatal("unknown port accepted")
	}
}

func TestPulseEdgesAreExact(t *testing.T) {
	b, clk := newTestBoard(t)
	l := b.lines[1]
	b.Hook(1, true)
	clk.Advance(100 * time.Millisecond)
	recv(t, l.Events())
	if _, err := b.Pulse(1, "2*", DefaultPulse()); err == nil {
		t.Fatal("* accepted for pulse dialling")
	}
	start := clk.Now()
	dur, err := b.Pulse(1, "20", DefaultPulse())
	if err != nil {
		t.Fatal(err)
	}
	// 2 + 10 pulses, 100 ms period, 66 ms break, 700 ms inter-digit.
	want := 10*100*time.Millisecond + 2*66*time.Millisecond + 700*time.Millisecond
	if dur != want {
		t.Fatalf("duration %v want %v", dur, want)
	}
	// Advance in awkward steps: timestamps must not depend on them.
	for clk.Now() < start+dur+50*time.Millisecond {
		clk.Advance(7 * time.Millisecond)
	}
	var evs []hal.HookEvent
	for len(l.Events()) > 0 {
		evs = append(evs, <-l.Events())
	}
	if len(evs) != 24 {
		t.Fatalf("%d edges, want 24", len(evs))
	}
	for i, e := range evs {
		if e.OffHook != (i%2 == 1) {
			t.Fatalf("edge %d wrong level", i)
		}
		if e.Seq != uint32(i+2) {
			t.Fatalf("edge %d seq %d", i, e.Seq)
		}
	}
	if got := evs[1].At - evs[0].At; got != 66*time.Millisecond {
		t.Fatalf("break %v", got)
	}
	if got := evs[2].At - evs[1].At; got != 34*time.Millisecond {
		t.Fatalf("make %v", got)
	}
	if got := evs[4].At - evs[3].At; got != 700*time.Millisecond {
		t.Fatalf("inter-digit %v", got)
	}
	if evs[0].At != start+5*time.Millisecond {
		t.Fatalf("first edge at %v", evs[0].At-start)
	}
}

func TestFlash(t *testing.T) {
	b, clk := newTestBoard(t)
	if err := b.Flash(2, 100*time.Millisecond); err == nil {
		t.Fatal("flash on-hook accepted")
	}
	b.Hook(2, true)
	clk.Advance(10 * time.Millisecond)
	recv(t, b.lines[2].Events())
	b.Flash(2, 100*time.Millisecond)
	clk.Advance(200 * time.Millisecond)
	a, c := recv(t, b.lines[2].Events()), recv(t, b.lines[2].Events())
	if a.OffHook || !c.OffHook || c.At-a.At != 100*time.Millisecond {
		t.Fatalf("flash %+v %+v", a, c)
	}
}

// Replacing the handset during a recall (or a pulsed digit) puts it down
// for good: the rest of the recall does not lift it again.
func TestHookWinsOverARecallUnderWay(t *testing.T) {
	b, clk := newTestBoard(t)
	b.Hook(2, true)
	clk.Advance(10 * time.Millisecond)
	recv(t, b.lines[2].Events())
	b.Flash(2, 100*time.Millisecond)
	clk.Advance(20 * time.Millisecond) // the break under way
	b.Hook(2, false)
	clk.Advance(time.Second)
	if b.lines[2].drivenOffHook() {
		t.Fatal("the recall's end lifted the handset the porter had put down")
	}
	for len(b.lines[2].Events()) > 0 {
		if ev := <-b.lines[2].Events(); ev.OffHook {
			t.Fatalf("an off-hook edge after the handset was put down: %+v", ev)
		}
	}
}

func TestPCMPacingPlayAndListen(t *testing.T) {
	b, clk := newTestBoard(t)
	pcm := b.Ports()[0].Audio
	speech := make([]int16, 400)
	for i := range speech {
		speech[i] = int16(i + 1)
	}
	if d, _ := b.Play(1, speech); d != 50*time.Millisecond {
		t.Fatalf("play duration %v", d)
	}
	rec, err := b.Listen(1, 200)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan hal.Frame, 4)
	go func() {
		var f hal.Frame
		for range 3 {
			if err := pcm.ReadFrame(&f); err != nil {
				return
			}
			got <- f
		}
	}()
	var frames []hal.Frame
	deadline := time.Now().Add(5 * time.Second)
	for len(frames) < 3 && time.Now().Before(deadline) {
		select {
		case f := <-got:
			frames = append(frames, f)
		default:
			clk.Advance(time.Millisecond)
			time.Sleep(100 * time.Microsecond)
		}
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames", len(frames))
	}
	if frames[0][0] != 1 || frames[1][0] != 161 || frames[2][79] != 400 || frames[2][80] != 0 {
		t.Fatalf("mic audio wrong: %v %v %v %v", frames[0][0], frames[1][0], frames[2][79], frames[2][80])
	}
	var out hal.Frame
	for i := range out {
		out[i] = 7
	}
	pcm.WriteFrame(&out)
	pcm.WriteFrame(&out)
	r := <-rec
	if len(r) != 200 || r[199] != 7 {
		t.Fatalf("recording %d samples", len(r))
	}
}

func TestReadFrameUnblocksOnClose(t *testing.T) {
	b, clk := newTestBoard(t)
	done := make(chan error)
	go func() {
		var f hal.Frame
		done <- b.Ports()[0].Audio.ReadFrame(&f)
	}()
	// The read is blocked once it waits for its frame's time on the clock.
	testenv.Eventually(t, 5*time.Second, "ReadFrame waiting for its frame", func() bool { return clk.Pending() > 0 })
	b.Close()
	if err := <-done; err != hal.ErrClosed {
		t.Fatalf("got %v", err)
	}
}

func TestWatchAndRelaySafeState(t *testing.T) {
	b, clk := newBypassBoard(t)
	w := b.Watch()
	for _, p := range b.Ports() {
		if !p.Relay.Bypass() {
			t.Fatal("relay not in bypass at start")
		}
		p.Relay.SetBypass(false)
	}
	b.Ports()[0].Line.SetRing(true)
	b.Ports()[0].Line.SetReverse(true)
	b.SetPower(false, false)
	b.SetLink(false)
	b.Hook(2, true)
	clk.Advance(time.Second)
	b.Close()
	var whats []string
	for c := range w.C {
		whats = append(whats, c.What)
	}
	want := "relay relay ring polarity mains link hook relay relay"
	if got := join(whats); got != want {
		t.Fatalf("watch got %q want %q", got, want)
	}
	for _, p := range b.Ports() {
		if !p.Relay.Bypass() {
			t.Fatal("Close left a relay energised")
		}
	}
	ps, _ := b.Power().Power()
	if ps.Mains {
		t.Fatal("mains still on")
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestSensorKeepsNewestWhenConsumerIsSlow(t *testing.T) {
	b, _ := newTestBoard(t)
	for i := range 100 {
		b.SetPower(i%2 == 0, false)
	}
	var last hal.PowerState
	for len(b.Power().Events()) > 0 {
		last = <-b.Power().Events()
	}
	now, _ := b.Power().Power()
	if last.Mains != now.Mains {
		t.Fatal("newest power state lost")
	}
}

// In bypass the handset is on the PSTN line: the SLIC sees nothing, the
// relay senses line-in-use, and moving the relay moves the loop.
func TestBypassMovesTheHandset(t *testing.T) {
	b, clk := newBypassBoard(t)
	l, r := b.lines[1], b.relays[1]
	b.Hook(1, true)
	clk.Advance(50 * time.Millisecond)
	if len(l.Events()) != 0 {
		t.Fatal("SLIC saw a handset that is on the PSTN line")
	}
	if inUse, _ := r.LineInUse(); !inUse {
		t.Fatal("line-in-use not sensed in bypass")
	}
	r.SetBypass(false) // handset moves onto the board
	clk.Advance(50 * time.Millisecond)
	if e := recv(t, l.Events()); !e.OffHook {
		t.Fatalf("event %+v", e)
	}
	if inUse, _ := r.LineInUse(); inUse {
		t.Fatal("line-in-use while on the board")
	}
	r.SetBypass(true) // and back to the PSTN line: the SLIC loop opens
	clk.Advance(50 * time.Millisecond)
	if e := recv(t, l.Events()); e.OffHook {
		t.Fatalf("event %+v", e)
	}
}

// The handset answers the CPE alerting signal once it ends, and nothing else.
func TestHandsetAcknowledgesCallerIDOnCallWaiting(t *testing.T) {
	b, _ := newTestBoard(t)
	p := b.pcms[1]
	var f hal.Frame
	write := func(freqs ...float64) {
		for i := range f {
			v := 0.0
			for _, fr := range freqs {
				v += 5100 * math.Sin(2*math.Pi*fr*float64(i)/hal.SampleRate)
			}
			f[i] = int16(v)
		}
		if err := p.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		write(400) // a call-waiting tone, speech...
		write(2130)
		write(697, 1209)
	}
	if len(p.mic) != 0 || b.CallerDisplayAcks(1) != 0 {
		t.Fatal("the handset answered something that was not the alert")
	}
	// On the hook the dual tone is ordinary caller ID's alert: never answered.
	for range 4 {
		write(2130, 2750)
	}
	write()
	if len(p.mic) != 0 {
		t.Fatal("an on-hook handset answered the alert of ordinary caller ID")
	}
	if err := b.Hook(1, true); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		write(2130, 2750)
	}
	if len(p.mic) != 0 {
		t.Fatal("acknowledged before the alert ended")
	}
	write()
	if len(p.mic) != 480 || b.CallerDisplayAcks(1) != 1 {
		t.Fatalf("acknowledgement of %d samples, %d acks", len(p.mic), b.CallerDisplayAcks(1))
	}
	if lo, hi := toneAmp(p.mic[:160], 941), toneAmp(p.mic[:160], 1633); lo < 8000 || hi < 8000 {
		t.Fatalf("acknowledgement is not DTMF D: %v %v", lo, hi)
	}
	p.mic = nil
	if err := b.SetCallerDisplay(1, false); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		write(2130, 2750)
	}
	write()
	if len(p.mic) != 0 {
		t.Fatal("a telephone without caller display answered")
	}
}

// Without a copper line behind the relay a handset in bypass is on
// nothing: no loop current, nothing sensed.
func TestBypassWithoutCopper(t *testing.T) {
	b, clk := newBypassBoard(t)
	r := b.relays[2]
	if r.Copper() || !b.relays[1].Copper() {
		t.Fatal("copper: port 1 has it, port 2 has not")
	}
	b.Hook(2, true)
	clk.Advance(50 * time.Millisecond)
	if inUse, _ := r.LineInUse(); inUse {
		t.Fatal("line-in-use sensed with no line behind the relay")
	}
	if len(b.lines[2].Events()) != 0 {
		t.Fatal("SLIC saw a handset that is in bypass")
	}
}

// The line sensor reads the copper line only in bypass: its battery while
// the handset is on the hook, the loop voltage with it off, nothing once
// the line is cut or where there is none.
func TestLineVoltage(t *testing.T) {
	b, clk := newBypassBoard(t)
	var r hal.LineSense = b.relays[1]
	read := func(want float64) {
		t.Helper()
		v, err := r.LineVoltage()
		if err != nil || v != want {
			t.Fatalf("line voltage %v (err %v), want %v", v, err, want)
		}
	}
	read(simLineOnHookVolts)
	b.Hook(1, true)
	clk.Advance(50 * time.Millisecond)
	read(simLineOffHookVolts)
	b.Hook(1, false)
	if err := b.SetCopperLine(1, false); err != nil {
		t.Fatal(err)
	}
	read(0)
	b.Hook(1, true)
	if inUse, _ := b.relays[1].LineInUse(); inUse {
		t.Fatal("loop current sensed on a cut line")
	}
	b.Hook(1, false)
	if err := b.SetCopperLine(1, true); err != nil {
		t.Fatal(err)
	}
	read(simLineOnHookVolts)
	b.relays[1].SetBypass(false)
	if _, err := r.LineVoltage(); !errors.Is(err, hal.ErrNotInBypass) {
		t.Fatalf("on the board: %v, want ErrNotInBypass", err)
	}
	if v, _ := b.relays[2].LineVoltage(); v != 0 {
		t.Fatalf("port without copper reads %v V", v)
	}
	if err := b.SetCopperLine(2, false); err == nil {
		t.Fatal("cut a copper line that is not there")
	}
	if err := b.SetCopperLine(9, false); err == nil {
		t.Fatal("cut the line of a port that does not exist")
	}
}
