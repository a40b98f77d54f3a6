package fxs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

const ms = time.Millisecond

// fakeLine is an in-memory hal.Line that records every output with the
// manual clock's reading.
type fakeLine struct {
	mu    sync.Mutex
	clock hal.Clock
	drive hal.RingDrive
	ev    chan hal.HookEvent
	off   bool
	calls []lineCall
	fail  error
}

type lineCall struct {
	At   time.Duration
	What string // "ring" or "reverse"
	On   bool
}

func (c lineCall) String() string { return fmt.Sprintf("%v %s=%v", c.At, c.What, c.On) }

func newFakeLine(c hal.Clock, d hal.RingDrive) *fakeLine {
	return &fakeLine{clock: c, drive: d, ev: make(chan hal.HookEvent, 64)}
}

func (l *fakeLine) Port() int                      { return 1 }
func (l *fakeLine) Events() <-chan hal.HookEvent   { return l.ev }
func (l *fakeLine) RingDrive() hal.RingDrive       { return l.drive }
func (l *fakeLine) SetRing(on bool) error          { return l.record("ring", on) }
func (l *fakeLine) SetReverse(reversed bool) error { return l.record("reverse", reversed) }

func (l *fakeLine) OffHook() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.off, nil
}

func (l *fakeLine) record(what string, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, lineCall{l.clock.Now(), what, on})
	return l.fail
}

// take returns and forgets the recorded outputs.
func (l *fakeLine) take() []lineCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// fakePCM is a device the test clocks frame by frame.
type fakePCM struct {
	in     chan hal.Frame
	out    chan hal.Frame
	closed chan struct{}
	once   sync.Once
}

func newFakePCM() *fakePCM {
	return &fakePCM{in: make(chan hal.Frame), out: make(chan hal.Frame), closed: make(chan struct{})}
}

func (d *fakePCM) ReadFrame(f *hal.Frame) error {
	select {
	case x := <-d.in:
		*f = x
		return nil
	case <-d.closed:
		return hal.ErrClosed
	}
}

func (d *fakePCM) WriteFrame(f *hal.Frame) error {
	select {
	case d.out <- *f:
		return nil
	case <-d.closed:
		return hal.ErrClosed
	}
}

func (d *fakePCM) Close() error { d.once.Do(func() { close(d.closed) }); return nil }

// fakeMedia is a call's media stream: it records what the handset sent
// and plays a constant frame.
type fakeMedia struct {
	mu     sync.Mutex
	got    int
	last   hal.Frame
	val    int16
	failRd bool
}

func (m *fakeMedia) WriteFrame(f *hal.Frame) error {
	m.mu.Lock()
	m.got++
	m.last = *f
	m.mu.Unlock()
	return nil
}

func (m *fakeMedia) ReadFrame(f *hal.Frame) error {
	if m.failRd {
		return errors.New("no audio")
	}
	for i := range f {
		f[i] = m.val
	}
	return nil
}

func (m *fakeMedia) frames() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got
}

// fakeCall is an outbound or inbound call handle.
type fakeCall struct {
	mu       sync.Mutex
	hangups  int
	flashes  int
	digits   []rune
	answered int
	media    Media
	answerEr error
}

func (c *fakeCall) Hangup() error { c.mu.Lock(); c.hangups++; c.mu.Unlock(); return nil }
func (c *fakeCall) Flash() error  { c.mu.Lock(); c.flashes++; c.mu.Unlock(); return nil }
func (c *fakeCall) SendDigit(d rune) error {
	c.mu.Lock()
	c.digits = append(c.digits, d)
	c.mu.Unlock()
	return nil
}
func (c *fakeCall) Answer() (Media, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered++
	return c.media, c.answerEr
}

func (c *fakeCall) counts() (hangups, flashes, answered int, digits string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hangups, c.flashes, c.answered, string(c.digits)
}

// fakeRouter hands each request to the test.
type fakeRouter struct {
	reqs      chan routed
	ignoreCtx bool // a slow router that returns a call after the porter gave up
}

type routed struct {
	req      RouteRequest
	progress Progress
	reply    chan routeReply
	ctx      context.Context
}

type routeReply struct {
	call Call
	err  error
}

func (r *fakeRouter) Route(ctx context.Context, req RouteRequest, p Progress) (Call, error) {
	reply := make(chan routeReply, 1)
	r.reqs <- routed{req, p, reply, ctx}
	select {
	case rep := <-reply:
		return rep.call, rep.err
	case <-ctxDone(ctx, r.ignoreCtx):
		return nil, ctx.Err()
	case <-time.After(10 * time.Second):
		return nil, errors.New("test router: no reply")
	}
}

// harness runs one port on a manual clock.
type harness struct {
	t      *testing.T
	clock  *hal.ManualClock
	line   *fakeLine
	pcm    *fakePCM
	router *fakeRouter
	p      *Port
	events <-chan Event
	log    []Event
	cancel context.CancelFunc
	done   chan error
	seq    uint32
}

type harnessOpt func(*Config)

func withDrive(d hal.RingDrive) harnessOpt { return func(c *Config) { c.Line.(*fakeLine).drive = d } }
func withPlan(s string) harnessOpt         { return func(c *Config) { c.DialPlan = s } }
func withoutAudio() harnessOpt             { return func(c *Config) { c.Audio = nil } }

func newHarness(t *testing.T, country string, opts ...harnessOpt) *harness {
	t.Helper()
	prof, err := profile.Load(country, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: hal.NewManualClock(time.Hour), pcm: newFakePCM(), router: &fakeRouter{reqs: make(chan routed, 4)}}
	h.line = newFakeLine(h.clock, hal.RingEnable)
	cfg := Config{
		Line: h.line, Audio: h.pcm, Clock: h.clock, Profile: prof, Router: h.router,
		Emergency: []string{"999", "112"},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:       func() time.Time { return time.Date(2026, 11, 27, 9, 41, 0, 0, time.UTC) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Audio == nil {
		h.pcm = nil
	}
	h.p, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.events, _ = h.p.Subscribe(4096)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.p.Run(ctx) }()
	h.waitState(StateIdle)
	h.line.take()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return")
	}
}

// hook feeds an edge stamped now straight into the port (as Run would).
func (h *harness) hook(off bool) {
	h.seq++
	h.line.mu.Lock()
	h.line.off = off
	h.line.mu.Unlock()
	h.p.hookEvent(hal.HookEvent{Port: 1, OffHook: off, At: h.clock.Now(), Seq: h.seq})
}

func (h *harness) advance(d time.Duration) { h.clock.Advance(d) }

// offHook lifts the handset and waits out the seize time.
func (h *harness) offHook() {
	h.hook(true)
	h.advance(50 * ms)
}

// onHook replaces the handset and waits out the clear time.
func (h *harness) onHook() {
	h.hook(false)
	h.advance(h.p.prof.Hook.Clear + 50*ms)
}

// pulse dials digits on a 10 pps 2:1 dial with 500 ms between digits.
func (h *harness) pulse(digits string) {
	for _, c := range digits {
		n := int(c - '0')
		if n == 0 {
			n = 10
		}
		for i := 0; i < n; i++ {
			h.hook(false)
			h.advance(66 * ms)
			h.hook(true)
			h.advance(34 * ms)
		}
		h.advance(500 * ms)
	}
}

// frame clocks one frame through the device: mic in, earpiece out.
func (h *harness) frame(mic *hal.Frame) hal.Frame {
	h.t.Helper()
	h.advance(hal.FrameDuration)
	var in hal.Frame
	if mic != nil {
		in = *mic
	}
	select {
	case h.pcm.in <- in:
	case <-time.After(5 * time.Second):
		h.t.Fatal("pump did not read a frame")
	}
	select {
	case out := <-h.pcm.out:
		return out
	case <-time.After(5 * time.Second):
		h.t.Fatal("pump did not write a frame")
	}
	return hal.Frame{}
}

// frames clocks n silent frames and returns what the earpiece got.
func (h *harness) frames(n int) []int16 {
	var out []int16
	for i := 0; i < n; i++ {
		f := h.frame(nil)
		out = append(out, f[:]...)
	}
	return out
}

// speak plays samples into the microphone (padded to whole frames) and
// returns the earpiece audio.
func (h *harness) speak(s []int16) []int16 {
	var out []int16
	for len(s) > 0 {
		var f hal.Frame
		n := copy(f[:], s)
		s = s[n:]
		o := h.frame(&f)
		out = append(out, o[:]...)
	}
	return out
}

// dtmf keys digits into the microphone as real DTMF audio.
func (h *harness) dtmf(digits string) {
	h.t.Helper()
	s, err := dsp.AppendDTMF(nil, digits, 60*ms, 60*ms, -10)
	if err != nil {
		h.t.Fatal(err)
	}
	h.speak(s)
	h.frames(3)
}

// next returns the next event, waiting in real time for asynchronous ones.
func (h *harness) next() Event {
	h.t.Helper()
	select {
	case e := <-h.events:
		h.log = append(h.log, e)
		return e
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no event; so far: %v", h.log)
	}
	return Event{}
}

// waitState reads events until the port enters s.
func (h *harness) waitState(s State) Event {
	h.t.Helper()
	for {
		e := h.next()
		if e.Kind == EventState && e.State == s {
			return e
		}
	}
}

// waitKind reads events until one of kind k.
func (h *harness) waitKind(k EventKind) Event {
	h.t.Helper()
	for {
		e := h.next()
		if e.Kind == k {
			return e
		}
	}
}

// state is the current state.
func (h *harness) state() State { return h.p.Snapshot().State }

// route waits for the router to be asked.
func (h *harness) route() routed {
	h.t.Helper()
	select {
	case r := <-h.router.reqs:
		return r
	case <-time.After(5 * time.Second):
		h.t.Fatalf("router not asked; events: %v", h.log)
	}
	return routed{}
}

// toneLevel measures a frequency in audio, dBm0.
func toneLevel(s []int16, f float64) float64 { return dsp.ToneLevelDBm0(s, f) }

func ctxDone(ctx context.Context, ignore bool) <-chan struct{} {
	if ignore {
		return nil
	}
	return ctx.Done()
}
