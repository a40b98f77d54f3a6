package fxs_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
)

// simRig is one port on the simulated board under a manual clock, its
// audio device the sim board's (a hal.Pausable).
type simRig struct {
	t      *testing.T
	clock  *hal.ManualClock
	board  *sim.Board
	pcm    *sim.PCM
	port   *fxs.Port
	router *simRouter
	events <-chan fxs.Event
}

func newSimRig(t *testing.T, country string) *simRig {
	t.Helper()
	clock := hal.NewManualClock(time.Hour)
	board, err := sim.New(sim.Options{Ports: []int{1}, Debounce: 5 * time.Millisecond, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { board.Close() })
	hw := board.Ports()[0]
	if err := hw.Relay.SetBypass(false); err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Load(country, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &simRig{t: t, clock: clock, board: board, pcm: hw.Audio.(*sim.PCM), router: &simRouter{}}
	r.port, err = fxs.New(fxs.Config{Line: hw.Line, Audio: hw.Audio, Clock: clock, Profile: prof, Router: r.router,
		DialPlan: "0[1-9]xxxxxxxxx|2xxxxx", Emergency: []string{"999", "112"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return time.Date(2026, 11, 27, 9, 41, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	r.events, _ = r.port.Subscribe(4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.port.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	r.waitState(fxs.StateIdle)
	r.waitRest()
	return r
}

// run lets d of board time pass in small steps, giving the port's
// goroutines a chance to keep up.
func (r *simRig) run(d time.Duration) { r.runStep(d, 2*time.Millisecond) }

func (r *simRig) runStep(d, step time.Duration) {
	for end := r.clock.Now() + d; r.clock.Now() < end; {
		r.clock.Advance(step)
		runtime.Gosched()
		time.Sleep(20 * time.Microsecond)
	}
}

func (r *simRig) waitState(s fxs.State) {
	r.t.Helper()
	for i := 0; i < 500 && r.port.Snapshot().State != s; i++ {
		r.run(20 * time.Millisecond)
	}
	if got := r.port.Snapshot(); got.State != s {
		r.t.Fatalf("state %s (%+v), want %s", got.State, got, s)
	}
}

// waitRest waits until the pump has paused the device (it does so at the
// end of the frame in progress).
func (r *simRig) waitRest() {
	r.t.Helper()
	for i := 0; i < 500 && !r.pcm.Paused(); i++ {
		r.run(2 * time.Millisecond)
	}
	if !r.pcm.Paused() {
		r.t.Fatalf("the idle port's audio device is still running (%+v)", r.port.Snapshot())
	}
}

// assertResting checks that a resting port's device captures nothing and
// that nothing at all is scheduled on the board clock while it rests.
func (r *simRig) assertResting(what string) {
	r.t.Helper()
	r.waitRest()
	before, _ := r.pcm.Frames()
	pumped := r.port.Snapshot().Counters.Frames
	if n := r.clock.Pending(); n != 0 {
		r.t.Errorf("%s: %d timers pending on an idle port", what, n)
	}
	r.run(2 * time.Second)
	after, _ := r.pcm.Frames()
	if after != before || r.port.Snapshot().Counters.Frames != pumped {
		r.t.Errorf("%s: the idle port's device captured %d frames in 2 s of rest", what, after-before)
	}
	if !r.pcm.Paused() {
		r.t.Errorf("%s: the device woke with nothing to do", what)
	}
}

func (r *simRig) nextDigit() string {
	r.t.Helper()
	for i := 0; i < 100; i++ {
		for len(r.events) > 0 {
			if e := <-r.events; e.Kind == fxs.EventDigit {
				return e.Digit
			}
		}
		r.run(20 * time.Millisecond)
	}
	r.t.Fatal("no digit detected")
	return ""
}

func (r *simRig) drain() {
	for len(r.events) > 0 {
		<-r.events
	}
}

// TestIdlePortRests: an idle on-hook port stops its audio device (no frames
// captured, no timer scheduled) and starts it for an off-hook, for dial
// tone, and stops it again when the handset goes back.
func TestIdlePortRests(t *testing.T) {
	r := newSimRig(t, "uk")
	r.assertResting("after start")

	if err := r.board.Hook(1, true); err != nil {
		t.Fatal(err)
	}
	r.waitState(fxs.StateDialTone)
	if r.pcm.Paused() {
		t.Fatal("dial tone state with the device paused")
	}
	rec, _ := r.board.Listen(1, 1600)
	r.run(300 * time.Millisecond)
	if l := dsp.ToneLevelDBm0(<-rec, 350); l < -16 {
		t.Errorf("dial tone 350 Hz at %.1f dBm0 after waking", l)
	}
	r.board.Hook(1, false)
	r.waitState(fxs.StateIdle)
	r.assertResting("after on-hook")
	if c := r.port.Snapshot().Counters; c.AudioRests != 2 || c.AudioErrors != 0 {
		t.Errorf("counters %+v: want 2 rests, no audio errors", c)
	}
}

// TestFirstDigitAfterWaking: the first DTMF digit keyed as soon as dial
// tone starts is detected, every time the port wakes from rest.
func TestFirstDigitAfterWaking(t *testing.T) {
	r := newSimRig(t, "uk")
	for i := 0; i < 20; i++ {
		r.drain()
		r.board.Hook(1, true)
		r.waitState(fxs.StateDialTone)
		d := string("0123456789"[i%10])
		keys, err := dsp.AppendDTMF(nil, d, 50*time.Millisecond, 50*time.Millisecond, -12)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.board.Play(1, keys); err != nil {
			t.Fatal(err)
		}
		if got := r.nextDigit(); got != d {
			t.Fatalf("wake %d: first digit %q, want %q", i, got, d)
		}
		r.board.Hook(1, false)
		r.waitState(fxs.StateIdle)
		r.waitRest()
	}
}

// TestOfferWakesForCallerID: an offered call wakes the port before the
// polarity reversal, the caller ID in the earpiece decodes exactly, and the
// port rests again when the caller gives up; answering keeps the device
// running for the call and its call-waiting tone.
func TestOfferWakesForCallerID(t *testing.T) {
	r := newSimRig(t, "uk")
	cid := dsp.CallerID{Number: "01223334455", Name: "Lodge"}
	for i := 0; i < 5; i++ {
		rec, _ := r.board.Listen(1, 2*hal.SampleRate)
		prog, err := r.port.Offer(inCall{}, cid)
		if err != nil {
			t.Fatal(err)
		}
		r.run(2 * time.Second)
		var got []byte
		dsp.NewCallerIDReceiver(dsp.V23, func(m []byte) { got = append([]byte(nil), m...) }).Process(<-rec)
		if c, err := dsp.ParseCallerID(got); err != nil || c.Number != cid.Number || c.Name != cid.Name {
			t.Fatalf("offer %d: caller ID from the earpiece %+v, %v", i, c, err)
		}
		prog.Update(fxs.CallUpdate{State: fxs.CallEnded})
		r.waitState(fxs.StateIdle)
		r.assertResting("after the caller gave up")
	}

	// Answered: the call's audio and call waiting need the device.
	if _, err := r.port.Offer(inCall{}, cid); err != nil {
		t.Fatal(err)
	}
	r.run(500 * time.Millisecond)
	r.board.Hook(1, true)
	r.waitState(fxs.StateConnected)
	if err := r.port.SetCallWaiting(true); err != nil {
		t.Fatal(err)
	}
	rec, _ := r.board.Listen(1, 4000)
	r.run(600 * time.Millisecond)
	if r.pcm.Paused() {
		t.Fatal("device paused during a call")
	}
	if l := dsp.ToneLevelDBm0(<-rec, 400); l < -40 { // 100 ms of -20 dBm0 in the 500 ms recorded
		t.Errorf("call-waiting tone at %.1f dBm0 in the earpiece", l)
	}
	r.board.Hook(1, false)
	r.waitState(fxs.StateIdle)
	r.assertResting("after the call")
}

// TestParkedPortRests: a handset left off-hook ends parked and silent; the
// device rests there too, and wakes for dial tone after the handset is put
// back and lifted again.
func TestParkedPortRests(t *testing.T) {
	r := newSimRig(t, "uk")
	r.board.Hook(1, true)
	r.waitState(fxs.StateDialTone)
	prof, _ := profile.Load("uk", nil)
	r.runStep(prof.Dialling.DialToneTimeout+prof.Dialling.UnobtainableTimeout+time.Second, 20*time.Millisecond)
	r.waitState(fxs.StateParked)
	r.waitRest()
	before, _ := r.pcm.Frames()
	r.run(time.Second)
	if after, _ := r.pcm.Frames(); after != before {
		t.Errorf("parked port captured %d frames", after-before)
	}
	r.board.Hook(1, false)
	r.waitState(fxs.StateIdle)
	r.board.Hook(1, true)
	r.waitState(fxs.StateDialTone)
	if r.pcm.Paused() {
		t.Error("no audio for dial tone after parking")
	}
}
