package main

import (
	"errors"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// fakeAudio is a pausable audio device whose Pause can be made to fail.
type fakeAudio struct {
	pauseErr error
}

func (*fakeAudio) ReadFrame(*hal.Frame) error  { return nil }
func (*fakeAudio) WriteFrame(*hal.Frame) error { return nil }
func (*fakeAudio) Close() error                { return nil }
func (a *fakeAudio) Pause() error              { return a.pauseErr }
func (*fakeAudio) Resume() error               { return nil }

// plainAudio cannot pause.
type plainAudio struct{}

func (plainAudio) ReadFrame(*hal.Frame) error  { return nil }
func (plainAudio) WriteFrame(*hal.Frame) error { return nil }
func (plainAudio) Close() error                { return nil }

type portsBoard struct {
	hal.Board
	ports []hal.Port
}

func (b portsBoard) Ports() []hal.Port { return b.ports }

func testGovernor(procs *[]int) *cpuGovernor {
	return &cpuGovernor{log: slog.New(slog.DiscardHandler), all: 4, set: func(n int) int {
		*procs = append(*procs, n)
		return 0
	}}
}

func TestCPUGovernor(t *testing.T) {
	var procs []int
	g := testGovernor(&procs)
	a1, a2 := &fakeAudio{}, &fakeAudio{}
	b := governBoard(portsBoard{ports: []hal.Port{{ID: 1, Audio: a1}, {ID: 2, Audio: a2}, {ID: 3}}}, g)
	ports := b.Ports()
	p1, ok1 := ports[0].Audio.(hal.Pausable)
	p2, ok2 := ports[1].Audio.(hal.Pausable)
	if !ok1 || !ok2 || ports[2].Audio != nil {
		t.Fatalf("governed ports: %+v", ports)
	}
	want := func(step string, w ...int) {
		t.Helper()
		if len(procs) != len(w) {
			t.Fatalf("%s: GOMAXPROCS set to %v, want %v", step, procs, w)
		}
		for i := range w {
			if procs[i] != w[i] {
				t.Fatalf("%s: GOMAXPROCS set to %v, want %v", step, procs, w)
			}
		}
	}

	g.rest()
	want("both devices run until their first pause")
	_ = p1.Pause()
	g.rest()
	want("one device still runs")
	_ = p2.Pause()
	g.rest()
	want("every device paused", 1)
	g.rest()
	want("resting again changes nothing", 1)

	_ = p2.Resume() // off-hook on port 2
	want("audio resumes on every CPU", 1, 4)
	g.rest()
	want("no rest while port 2 plays", 1, 4)
	_ = p2.Pause()
	g.rest()
	want("rest once it pauses", 1, 4, 1)

	g.busy() // a trunk call that reaches no port
	want("a call found at a rest check", 1, 4, 1, 4)
	g.busy()
	want("busy twice sets once", 1, 4, 1, 4)

	// A device that fails to pause keeps running, and keeps the board busy.
	a1.pauseErr = errors.New("stuck")
	_ = p1.Resume()
	if err := p1.Pause(); err == nil {
		t.Fatal("the failing pause did not fail")
	}
	g.rest()
	want("a device that could not pause", 1, 4, 1, 4)
}

func TestCPUGovernorPlainAudio(t *testing.T) {
	var procs []int
	g := testGovernor(&procs)
	b := governBoard(portsBoard{ports: []hal.Port{{ID: 1, Audio: plainAudio{}}}}, g)
	if _, ok := b.Ports()[0].Audio.(hal.Pausable); ok {
		t.Fatal("a device that cannot pause was made pausable")
	}
	g.rest()
	if len(procs) != 0 {
		t.Fatalf("a board whose audio never pauses rested: GOMAXPROCS %v", procs)
	}
}

// Without a governor (GOMAXPROCS in the environment, or one CPU) the
// board is untouched and every call is a no-op.
func TestNoCPUGovernor(t *testing.T) {
	// Not t.Setenv: with cgo (the spandsp tag) setenv races C's getenv.
	env := func(k string) string { return map[string]string{"GOMAXPROCS": "2"}[k] }
	g := newCPUGovernor(slog.New(slog.DiscardHandler), env)
	if g != nil {
		t.Fatal("a governor despite GOMAXPROCS in the environment")
	}
	b := portsBoard{ports: []hal.Port{{ID: 1, Audio: &fakeAudio{}}}}
	if got := governBoard(b, g); got.Ports()[0].Audio != b.ports[0].Audio {
		t.Fatal("the board was wrapped without a governor")
	}
	g.rest()
	g.busy()
	g.streamStarted()
	g.streamStopped()
}

// BenchmarkGovernorWake is what an off-hook at rest pays before its first
// frame: the governor taking every CPU back (a stop-the-world to resize
// the scheduler), then resting again.
func BenchmarkGovernorWake(b *testing.B) {
	all := runtime.GOMAXPROCS(0)
	if all < 2 {
		b.Skip("one CPU: the governor does nothing")
	}
	defer runtime.GOMAXPROCS(all)
	g := &cpuGovernor{log: slog.New(slog.DiscardHandler), set: runtime.GOMAXPROCS, all: all}
	var wake time.Duration
	for b.Loop() {
		g.rest()
		start := time.Now()
		g.streamStarted()
		wake += time.Since(start)
		g.streamStopped()
	}
	b.ReportMetric(float64(wake.Nanoseconds())/1e3/float64(b.N), "µs/wake")
}
