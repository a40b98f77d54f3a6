package fxs_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
)

// simRouter answers every call at once and remembers what was dialled.
type simRouter struct {
	mu   sync.Mutex
	reqs []fxs.RouteRequest
}

type simCall struct{}

func (simCall) Hangup() error { return nil }

func (r *simRouter) Route(ctx context.Context, req fxs.RouteRequest, p fxs.Progress) (fxs.Call, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	p.Update(fxs.CallUpdate{State: fxs.CallAlerting})
	return simCall{}, nil
}

func (r *simRouter) last() (fxs.RouteRequest, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return fxs.RouteRequest{}, 0
	}
	return r.reqs[len(r.reqs)-1], len(r.reqs)
}

type inCall struct{}

func (inCall) Hangup() error              { return nil }
func (inCall) Answer() (fxs.Media, error) { return nil, nil }

// TestOnSimBoard runs a port on the simulated board (what `critlinectl
// sim` drives) under a manual clock: DTMF keyed as real audio into the
// handset, pulses as timed loop breaks with the board's own debounce and
// timestamps, and caller ID recorded from the earpiece.
func TestOnSimBoard(t *testing.T) {
	clock := hal.NewManualClock(time.Hour)
	board, err := sim.New(sim.Options{Ports: []int{1}, Debounce: 5 * time.Millisecond, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	hw := board.Ports()[0]
	if err := hw.Relay.SetBypass(false); err != nil {
		t.Fatal(err)
	}
	prof, err := profile.Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	router := &simRouter{}
	port, err := fxs.New(fxs.Config{Line: hw.Line, Audio: hw.Audio, Clock: clock, Profile: prof, Router: router,
		Emergency: []string{"999", "112"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- port.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// run lets d of board time pass in small steps, giving the port's
	// goroutines a chance to keep up.
	run := func(d time.Duration) {
		for end := clock.Now() + d; clock.Now() < end; {
			clock.Advance(2 * time.Millisecond)
			runtime.Gosched()
			time.Sleep(20 * time.Microsecond)
		}
	}
	waitState := func(s fxs.State) {
		t.Helper()
		for i := 0; i < 500 && port.Snapshot().State != s; i++ {
			run(20 * time.Millisecond)
		}
		if got := port.Snapshot(); got.State != s {
			t.Fatalf("state %s (%+v), want %s", got.State, got, s)
		}
	}
	waitRoute := func(n int) fxs.RouteRequest {
		t.Helper()
		for i := 0; i < 500; i++ {
			if r, k := router.last(); k == n {
				return r
			}
			run(20 * time.Millisecond)
		}
		t.Fatalf("router not asked a %dth time", n)
		return fxs.RouteRequest{}
	}
	waitState(fxs.StateIdle)

	// Lift: dial tone in the earpiece.
	if err := board.Hook(1, true); err != nil {
		t.Fatal(err)
	}
	waitState(fxs.StateDialTone)
	rec, err := board.Listen(1, 1600)
	if err != nil {
		t.Fatal(err)
	}
	run(300 * time.Millisecond)
	tone := <-rec
	if l := dsp.ToneLevelDBm0(tone, 350); l < -16 {
		t.Errorf("dial tone 350 Hz at %.1f dBm0 in the earpiece", l)
	}
	// Key 999 as DTMF audio into the handset.
	keys, err := dsp.AppendDTMF(nil, "999", 70*time.Millisecond, 70*time.Millisecond, -8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := board.Play(1, keys); err != nil {
		t.Fatal(err)
	}
	if r := waitRoute(1); r.Number != "999" || !r.Emergency {
		t.Errorf("DTMF call routed %+v", r)
	}
	waitState(fxs.StateRingback)
	board.Hook(1, false)
	waitState(fxs.StateIdle)

	// Pulse 112 on a slow dial.
	board.Hook(1, true)
	waitState(fxs.StateDialTone)
	if _, err := board.Pulse(1, "112", sim.PulseTiming{PPS: 7.5, BreakRatio: 0.7, InterDigit: 600 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if r := waitRoute(2); r.Number != "112" || !r.Emergency {
		t.Errorf("pulsed call routed %+v", r)
	}
	board.Hook(1, false)
	waitState(fxs.StateIdle)

	// The fast corner: 13 pps at 72 % break (21 ms makes).
	board.Hook(1, true)
	waitState(fxs.StateDialTone)
	if _, err := board.Pulse(1, "999", sim.PulseTiming{PPS: 13, BreakRatio: 0.72, InterDigit: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if r := waitRoute(3); r.Number != "999" {
		t.Errorf("fast pulsed call routed %+v", r)
	}
	board.Hook(1, false)
	waitState(fxs.StateIdle)

	// Inbound: polarity reversal, caller ID, then ringing.
	watch := board.Watch()
	defer watch.Close()
	rec, _ = board.Listen(1, 2*hal.SampleRate)
	if _, err := port.Offer(inCall{}, dsp.CallerID{Number: "01223334455", Name: "Lodge"}); err != nil {
		t.Fatal(err)
	}
	run(2 * time.Second)
	audio := <-rec
	var got []byte
	dsp.NewCallerIDReceiver(dsp.V23, func(m []byte) { got = append([]byte(nil), m...) }).Process(audio)
	cid, err := dsp.ParseCallerID(got)
	if err != nil || cid.Number != "01223334455" || cid.Name != "Lodge" {
		t.Errorf("caller ID from the earpiece: %+v, %v", cid, err)
	}
	var seq []string
	for len(watch.C) > 0 {
		c := <-watch.C
		if c.What == "ring" || c.What == "polarity" {
			v := "off"
			if c.Value {
				v = "on"
			}
			seq = append(seq, c.What+" "+v)
		}
	}
	if len(seq) < 3 || seq[0] != "polarity on" || seq[1] != "polarity off" || seq[2] != "ring on" {
		t.Errorf("board outputs %v, want polarity on, polarity off, ring on, ...", seq)
	}
	// Answer.
	board.Hook(1, true)
	waitState(fxs.StateConnected)
	if port.Snapshot().Ringing {
		t.Error("still ringing after the answer")
	}
}
