package main

import (
	"errors"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
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

	g.rest(true)
	want("both devices run until their first pause")
	_ = p1.Pause()
	g.rest(true)
	want("one device still runs")
	_ = p2.Pause()
	g.rest(true)
	want("every device paused", 1)
	g.rest(true)
	want("resting again changes nothing", 1)

	_ = p2.Resume() // off-hook on port 2
	want("audio resumes on every CPU", 1, 4)
	g.rest(true)
	want("no rest while port 2 plays", 1, 4)
	_ = p2.Pause()
	g.rest(true)
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
	g.rest(true)
	want("a device that could not pause", 1, 4, 1, 4)
}

func TestCPUGovernorPlainAudio(t *testing.T) {
	var procs []int
	g := testGovernor(&procs)
	b := governBoard(portsBoard{ports: []hal.Port{{ID: 1, Audio: plainAudio{}}}}, g)
	if _, ok := b.Ports()[0].Audio.(hal.Pausable); ok {
		t.Fatal("a device that cannot pause was made pausable")
	}
	g.rest(true)
	if len(procs) != 0 {
		t.Fatalf("a board whose audio never pauses rested: GOMAXPROCS %v", procs)
	}
}

// Without a governor (GOMAXPROCS in the environment, or one CPU) the
// board is untouched and every call is a no-op.
func TestNoCPUGovernor(t *testing.T) {
	// Not t.Setenv: with cgo (the spandsp tag) setenv races C's getenv.
	env := func(k string) string { return map[string]string{"GOMAXPROCS": "2", "GOGC": "100"}[k] }
	g := newCPUGovernor(slog.New(slog.DiscardHandler), env)
	if g != nil {
		t.Fatal("a governor despite GOMAXPROCS and GOGC in the environment")
	}
	b := portsBoard{ports: []hal.Port{{ID: 1, Audio: &fakeAudio{}}}}
	if got := governBoard(b, g); got.Ports()[0].Audio != b.ports[0].Audio {
		t.Fatal("the board was wrapped without a governor")
	}
	g.rest(true)
	g.restGC()
	g.busy()
	g.streamStarted()
	g.streamStopped()
}

// gcLog records what a governor's collector part was told.
type gcLog struct {
	mu      sync.Mutex
	percent []int
	limit   []int64
}

func (l *gcLog) setPercent(p int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.percent = append(l.percent, p)
	return 0
}

func (l *gcLog) setLimit(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = append(l.limit, n)
	return 0
}

func (l *gcLog) last() (int, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.percent[len(l.percent)-1], l.limit[len(l.limit)-1]
}

// testGCGovernor is a governor with only its collector part (as on a
// one-CPU board), recording the settings instead of applying them. The
// sentinels' cleanups are ignored (the test binary collects whenever it
// likes); a test tells the governor of a collection itself.
func testGCGovernor(l *gcLog) *cpuGovernor {
	g := &cpuGovernor{log: slog.New(slog.DiscardHandler), gc: &gcRest{setPercent: l.setPercent, setLimit: l.setLimit,
		inUse: func() uint64 { return 12 << 20 }, percent: idleGCPercent, limit: memoryLimit, headroom: gcRestHeadroom}}
	g.gc.onCollected = func(uint64) {}
	return g
}

// The collector rests after a memory rest, with a limit the headroom above
// what is in use, and goes back to work on any wake; a collection the
// memory rest makes itself does not wake it.
func TestGCRestFollowsTheGovernor(t *testing.T) {
	var l gcLog
	g := testGCGovernor(&l)
	a := &fakeAudio{}
	p := governBoard(portsBoard{ports: []hal.Port{{ID: 1, Audio: a}}}, g).Ports()[0].Audio.(hal.Pausable)
	g.rest(true)
	g.restGC()
	if len(l.percent) != 0 {
		t.Fatalf("the collector rested while a device ran: %v", l.percent)
	}
	_ = p.Pause()
	g.rest(true)
	g.restGC()
	if pc, lim := l.last(); pc != -1 || lim != 12<<20+gcRestHeadroom {
		t.Fatalf("resting: GOGC %d, limit %d; want off and %d", pc, lim, 12<<20+gcRestHeadroom)
	}
	// The next memory rest: its collection kills the sentinel, whose
	// cleanup may come before or after the collector rests again.
	old := g.gc.gen
	g.rest(true)
	g.collected(old)
	g.restGC()
	g.collected(old)
	if pc, _ := l.last(); pc != -1 {
		t.Fatalf("a memory rest's own collection woke the collector: GOGC %d", pc)
	}
	_ = p.Resume() // off-hook
	if pc, lim := l.last(); pc != idleGCPercent || lim != memoryLimit {
		t.Fatalf("after an off-hook: GOGC %d, limit %d; want %d and %d", pc, lim, idleGCPercent, memoryLimit)
	}
	_ = p.Pause()
	g.rest(true)
	g.restGC()
	g.busy() // a trunk call
	if pc, _ := l.last(); pc != idleGCPercent {
		t.Fatalf("after a call: GOGC %d", pc)
	}
	n := len(l.percent)
	g.collected(g.gc.gen)
	if len(l.percent) != n {
		t.Fatal("a collection while working changed the collector's settings")
	}
}

// A light rest (no collection of its own) leaves the backstop armed: a
// collection after it is the backstop's, and wakes the collector.
func TestGCRestLightRestKeepsTheBackstop(t *testing.T) {
	var l gcLog
	g := testGCGovernor(&l)
	governBoard(portsBoard{}, g)
	g.rest(true)
	g.restGC()
	armed := g.gc.gen
	g.rest(false)
	g.rest(false)
	g.collected(armed)
	if pc, lim := l.last(); pc != idleGCPercent || lim != memoryLimit {
		t.Fatalf("a collection after light rests: GOGC %d, limit %d; want the collector back at %d and %d", pc, lim, idleGCPercent, memoryLimit)
	}
}

// Something allocates the headroom while the appliance rests: the runtime
// collects at the limit, and after that collection (a real one here, with
// the real sentinel and cleanup) the collector is back at work while the
// scheduler stays as it was.
func TestGCRestBackstop(t *testing.T) {
	var l gcLog
	g := testGCGovernor(&l)
	woke := make(chan struct{})
	var once sync.Once
	g.gc.onCollected = func(gen uint64) {
		g.collected(gen)
		once.Do(func() { close(woke) })
	}
	governBoard(portsBoard{}, g)
	g.rest(true)
	g.restGC()
	runtime.GC() // the collection the limit would force
	select {
	case <-woke:
	case <-time.After(30 * time.Second): // a hang guard: the cleanup runs soon after the collection
		t.Fatal("the sentinel's cleanup never ran after a collection")
	}
	if pc, lim := l.last(); pc != idleGCPercent || lim != memoryLimit {
		t.Fatalf("after the backstop's collection: GOGC %d, limit %d; want %d and %d", pc, lim, idleGCPercent, memoryLimit)
	}
	g.mu.Lock()
	low := g.low
	g.mu.Unlock()
	if !low {
		t.Fatal("the backstop's collection took the governor out of rest")
	}
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
		g.rest(true)
		start := time.Now()
		g.streamStarted()
		wake += time.Since(start)
		g.streamStopped()
	}
	b.ReportMetric(float64(wake.Nanoseconds())/1e3/float64(b.N), "µs/wake")
}

// The backstop with the real runtime: the collector off and a limit a few
// MB above what is in use, garbage beyond that headroom makes the runtime
// collect, and the collector is back at its working settings after it.
func TestGCRestBackstopRealRuntime(t *testing.T) {
	origPercent := debug.SetGCPercent(100)
	origLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(origPercent)
		debug.SetMemoryLimit(origLimit)
	})
	runtime.GC()
	r := &gcRest{setPercent: debug.SetGCPercent, setLimit: debug.SetMemoryLimit, inUse: runtimeInUse,
		percent: 77, limit: 1 << 40, headroom: 4 << 20}
	g := &cpuGovernor{log: slog.New(slog.DiscardHandler), gc: r}
	woke := make(chan struct{})
	var once sync.Once
	r.onCollected = func(gen uint64) {
		g.collected(gen)
		once.Do(func() { close(woke) })
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g.rest(true)
	g.restGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("resting: GOGC %d, want off", p)
	}
	var sink [][]byte
	for i := 0; ; i++ {
		select {
		case <-woke:
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if after.NumGC == before.NumGC {
				t.Fatal("woken without a collection")
			}
			if p := debug.SetGCPercent(77); p != 77 {
				t.Fatalf("after the backstop's collection: GOGC %d, want the working 77", p)
			}
			t.Logf("the limit forced a collection after %d MB of garbage", i/16)
			return
		default:
		}
		if i == 16*256 { // 256 MB: far beyond the 4 MB headroom
			t.Fatal("no collection brought the collector back after 256 MB allocated at rest")
		}
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) == 16 {
			sink = sink[:0] // garbage, 1 MB at a time
		}
		if i%16 == 0 {
			runtime.Gosched() // let the cleanup goroutine run
		}
	}
}
