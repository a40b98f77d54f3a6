package fxs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// TestPumpZeroAllocs: in steady state the audio pump allocates nothing per
// frame, whatever it plays (tones with DTMF detection, caller ID, a call's
// media).
func TestPumpZeroAllocs(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	var mic hal.Frame
	step := func() {
		h.pcm.in <- mic
		<-h.pcm.out
	}
	check := func(what string) {
		t.Helper()
		for i := 0; i < 20; i++ {
			step()
		}
		if a := testing.AllocsPerRun(200, step); a != 0 {
			t.Errorf("%s: %v allocations per frame", what, a)
		}
	}
	h.offHook()
	h.waitState(StateDialTone)
	check("dial tone with DTMF detection")
	r := h.dialToRouteNoLift("21234")
	r.reply <- routeReply{call: &fakeCall{}}
	r.progress.Update(CallUpdate{State: CallAlerting})
	h.waitState(StateRingback)
	check("ringback")
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{val: 1}})
	h.waitState(StateConnected)
	check("connected call with DTMF detection")
	h.p.mu.Lock()
	h.p.sv.held, h.p.sv.conf = &leg{call: &fakeCall{}, media: &fakeMedia{val: 2}, gen: h.p.nextGen()}, true
	h.p.mu.Unlock()
	check("three-way call")
}

func (h *harness) dialToRouteNoLift(digits string) routed {
	h.dtmf(digits)
	return h.route()
}

// BenchmarkPumpFrame measures the engine's cost per 20 ms frame (ns/op is
// per frame) in a call: mic to the call, call to the earpiece, DTMF
// detection on the mic; three-way: the porter and two calls mixed so that
// each hears the other two (services.go, bridge.Mixer).
func BenchmarkPumpFrame(b *testing.B) {
	for _, st := range []string{"dialtone", "connected", "three-way"} {
		b.Run(st, func(b *testing.B) {
			prof, _ := profile.Load("uk", nil)
			clock := hal.NewManualClock(0)
			line := newFakeLine(clock, hal.RingEnable)
			pcm := &loopPCM{n: b.N + 1000}
			rt := &fakeRouter{}
			p, err := New(Config{Line: line, Audio: pcm, Clock: clock, Profile: prof, Router: rt, DialPlan: "2",
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			p.mu.Lock()
			p.running = true
			p.dec = nil
			p.offHook = true
			p.enterLocked(StateDialTone, "")
			if st != "dialtone" {
				p.media = &fakeMedia{val: 1}
				p.enterLocked(StateConnected, "")
				p.media = &fakeMedia{val: 1}
			}
			if st == "three-way" {
				p.sv.held, p.sv.conf = &leg{call: &fakeCall{}, media: &fakeMedia{val: 2}, gen: p.nextGen()}, true
			}
			p.mu.Unlock()
			pcm.b, pcm.warm = b, 1000
			b.ReportAllocs()
			p.pump() // runs b.N+1000 frames, the first 1000 as warm-up
			b.StopTimer()
		})
	}
}

// loopPCM feeds frames as fast as the pump takes them, n in all, and
// restarts the benchmark timer after warm frames.
type loopPCM struct {
	n, warm int
	i       int
	b       *testing.B
}

func (d *loopPCM) ReadFrame(f *hal.Frame) error {
	if d.i >= d.n {
		return hal.ErrClosed
	}
	if d.i == d.warm {
		d.b.ResetTimer()
	}
	d.i++
	return nil
}
func (d *loopPCM) WriteFrame(f *hal.Frame) error { return nil }
func (d *loopPCM) Close() error                  { return nil }

// pacedPCM is a device paced by the real clock, like a sound card: one
// frame every 20 ms. It reports when the first non-silent frame is written.
type pacedPCM struct {
	tick   *time.Ticker
	closed chan struct{}
	once   sync.Once
	clock  hal.Clock
	mu     sync.Mutex
	want   bool
	sound  chan time.Duration
}

func (d *pacedPCM) ReadFrame(f *hal.Frame) error {
	select {
	case <-d.tick.C:
		return nil
	case <-d.closed:
		return hal.ErrClosed
	}
}

func (d *pacedPCM) WriteFrame(f *hal.Frame) error {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.want && firstNonZero(f[:]) >= 0 {
		d.want = false
		d.sound <- now
	}
	return nil
}

func (d *pacedPCM) Close() error { d.once.Do(func() { close(d.closed); d.tick.Stop() }); return nil }

// pausablePCM is a pacedPCM whose clock stops while paused, like a
// sound card's: Resume restarts it, the first frame one period later.
type pausablePCM struct{ *pacedPCM }

func (d pausablePCM) Pause() error  { d.tick.Stop(); return nil }
func (d pausablePCM) Resume() error { d.tick.Reset(hal.FrameDuration); return nil }

func (d *pacedPCM) arm() {
	d.mu.Lock()
	d.want = true
	d.mu.Unlock()
}

func percentiles(v []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*99)/100]
}

// fastClear shortens the clear time so the latency benchmark can lift and
// replace the handset many times quickly; the seize time (what the
// porter waits for) is the real one.
var fastClear = []byte(`
[hook]
pulse_break_max = "40ms"
flash_min = "45ms"
flash_max = "50ms"
clear = "60ms"
`)

// BenchmarkHookToDialTone measures, with the real clock and a device paced
// at 20 ms like a sound card, the time from a hook edge's timestamp to the
// first dial-tone frame handed to the device. It includes the profile's
// seize time (20 ms, a deliberate debounce), the hook-latency allowance
// (5 ms) and the wait for the device's next frame (0-20 ms). Run with
// -bench HookToDialTone -benchtime 200x.
//
// Sub-benchmark always-on is a device that cannot pause (the pump runs
// while idle, as before resting); resting is a hal.Pausable device that the
// idle port stops and the off-hook starts again.
func BenchmarkHookToDialTone(b *testing.B) {
	b.Run("always-on", func(b *testing.B) { benchHookToDialTone(b, false) })
	b.Run("resting", func(b *testing.B) { benchHookToDialTone(b, true) })
}

func benchHookToDialTone(b *testing.B, pausable bool) {
	prof, err := profile.Load("uk", fastClear)
	if err != nil {
		b.Fatal(err)
	}
	clock := hal.SystemClock{}
	line := newFakeLine(clock, hal.RingEnable)
	pcm := &pacedPCM{tick: time.NewTicker(hal.FrameDuration), closed: make(chan struct{}), clock: clock, sound: make(chan time.Duration, 1)}
	var audio hal.PCM = pcm
	if pausable {
		audio = pausablePCM{pcm}
	}
	p, err := New(Config{Line: line, Audio: audio, Clock: clock, Profile: prof, Router: &fakeRouter{reqs: make(chan routed, 1)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	events, _ := p.Subscribe(256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitIdle := func() {
		for e := range events {
			if e.Kind == EventState && e.State == StateIdle {
				return
			}
		}
	}
	waitIdle()
	var total, decide, late []time.Duration
	var seq uint32
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pcm.arm()
		seq++
		at := clock.Now()
		line.ev <- hal.HookEvent{Port: 1, OffHook: true, At: at, Seq: seq}
		heard := <-pcm.sound
		total = append(total, heard-at)
		for e := range events {
			if e.Kind == EventState && e.State == StateDialTone {
				decide = append(decide, heard-e.At)
				late = append(late, e.At-at-prof.Hook.Seize-p.latency)
				break
			}
		}
		seq++
		line.ev <- hal.HookEvent{Port: 1, OffHook: false, At: clock.Now(), Seq: seq}
		waitIdle()
	}
	b.StopTimer()
	cancel()
	<-done
	p50, p99 := percentiles(total)
	d50, d99 := percentiles(decide)
	l50, l99 := percentiles(late)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(d50.Microseconds())/1000, "decision-to-frame-p50-ms")
	b.ReportMetric(float64(d99.Microseconds())/1000, "decision-to-frame-p99-ms")
	b.ReportMetric(float64(l50.Microseconds())/1000, "timer-late-p50-ms")
	b.ReportMetric(float64(l99.Microseconds())/1000, "timer-late-p99-ms")
	b.Logf("edge to first dial-tone frame over %d events: p50 %v, p99 %v (seize %v + allowance %v included); seize decision late by p50 %v, p99 %v; decision to frame p50 %v, p99 %v; %d rests",
		len(total), p50, p99, prof.Hook.Seize, p.latency, l50, l99, d50, d99, p.Snapshot().Counters.AudioRests)
}

// BenchmarkOfferToSignal measures, with the real clock, the time from
// Offer to the first line action of the ringing sequence: the polarity
// reversal that starts UK caller ID, or the first ring in the US.
func BenchmarkOfferToSignal(b *testing.B) {
	for _, country := range []string{"uk", "us"} {
		b.Run(country, func(b *testing.B) {
			prof, err := profile.Load(country, nil)
			if err != nil {
				b.Fatal(err)
			}
			clock := hal.SystemClock{}
			line := newFakeLine(clock, hal.RingEnable)
			pcm := &pacedPCM{tick: time.NewTicker(hal.FrameDuration), closed: make(chan struct{}), clock: clock, sound: make(chan time.Duration, 1)}
			p, err := New(Config{Line: line, Audio: pcm, Clock: clock, Profile: prof, Router: &fakeRouter{reqs: make(chan routed, 1)},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			for p.Snapshot().State != StateIdle {
				time.Sleep(time.Millisecond)
			}
			line.take()
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				at := clock.Now()
				prog, err := p.Offer(&fakeCall{}, dsp.CallerID{Number: "01223334455"})
				if err != nil {
					b.Fatal(err)
				}
				calls := line.take()
				if len(calls) == 0 {
					b.Fatal("no line action")
				}
				lat = append(lat, calls[0].At-at)
				prog.Update(CallUpdate{State: CallEnded})
				line.take()
			}
			b.StopTimer()
			cancel()
			<-done
			p50, p99 := percentiles(lat)
			b.ReportMetric(float64(p50.Nanoseconds())/1000, "p50-us")
			b.ReportMetric(float64(p99.Nanoseconds())/1000, "p99-us")
			b.Logf("%s: Offer to first ring-sequence action (%s) over %d offers: p50 %v, p99 %v", country, fmt.Sprint(prof.CallerID.Method), len(lat), p50, p99)
		})
	}
}
