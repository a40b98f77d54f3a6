package main

import (
	"log/slog"
	"runtime"
	"sync"

	"github.com/critline/critline/hal"
)

// cpuGovernor sets how many CPUs the Go scheduler uses (GOMAXPROCS) by
// what the appliance is doing. Resting (every port on hook and silent, no
// trunk call), one: a probe's goroutines then hand work to each other on
// one thread instead of waking a second one to look for it, which was a
// third of an idle appliance's CPU, and the second processor's allocation
// caches (about 2 MB of spans) go back to the heap. Busy, all of them:
// the moment any port's audio starts (an off-hook, a ring with caller ID),
// before its first frame; when the appliance takes on a call that may reach
// no port (a trunk call, remote activation: survivability.Options.OnCall);
// and at any rest check that finds a call up.
//
// The collector rests with it (gcRest, memory.go): off between memory rests
// while the appliance rests, back at work on the same wakes.
//
// A GOMAXPROCS set in the environment is the operator's: the governor then
// leaves the scheduler alone (and GOGC or GOMEMLIMIT the collector).
type cpuGovernor struct {
	log *slog.Logger
	set func(int) int // runtime.GOMAXPROCS; nil: the scheduler is left alone
	all int           // the CPUs in use when busy
	gc  *gcRest       // nil: the collector is left alone

	mu      sync.Mutex
	streams int  // audio streams running
	low     bool // resting (on one CPU, if set)
}

// newCPUGovernor returns nil (a governor that does nothing) when the
// environment (getenv) sets GOMAXPROCS or there is one CPU anyway, and
// sets GOGC or GOMEMLIMIT.
func newCPUGovernor(log *slog.Logger, getenv func(string) string) *cpuGovernor {
	g := &cpuGovernor{log: log, gc: newGCRest(log, getenv)}
	if all := runtime.GOMAXPROCS(0); getenv("GOMAXPROCS") == "" && all > 1 {
		g.set, g.all = runtime.GOMAXPROCS, all
	}
	if g.set == nil && g.gc == nil {
		return nil
	}
	if g.gc != nil {
		g.gc.onCollected = g.collected
	}
	return g
}

// streamStarted books an audio stream starting (or resuming): every CPU
// is in use before it moves a frame.
func (g *cpuGovernor) streamStarted() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streams++
	g.raiseLocked("audio")
}

// streamStopped books an audio stream pausing or closing.
func (g *cpuGovernor) streamStopped() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streams = max(0, g.streams-1)
}

// busy puts every CPU in use: a call is starting that may reach no port,
// or a rest check found something going on. Cheap when already busy.
func (g *cpuGovernor) busy() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.raiseLocked("call")
}

// rest leaves the scheduler one CPU unless an audio stream runs; full says
// a full memory rest (with its collection) follows.
func (g *cpuGovernor) rest(full bool) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if full && g.gc != nil && g.gc.resting {
		g.gc.disarm() // the full memory rest's own collection is not the backstop's
	}
	if g.low || g.streams > 0 {
		return
	}
	g.low = true
	if g.set != nil {
		g.set(1)
		g.log.Debug("scheduler resting on one CPU")
	}
}

// restGC lets the collector rest, if the appliance still does: called
// after a memory rest has collected and returned the free heap, so the
// collector's backstop is measured from what rest left.
func (g *cpuGovernor) restGC() {
	if g == nil || g.gc == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.low {
		return
	}
	g.gc.enter()
	g.log.Debug("collector resting until the next memory rest")
}

// collected is told by gcRest's sentinel that a collection has run since
// the rest numbered gen: one the backstop forced, if the collector still
// rests from it. The collector goes back to work; the scheduler stays as
// it is (no call is known).
func (g *cpuGovernor) collected(gen uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.gc.resting || g.gc.gen != gen {
		return
	}
	g.gc.leave()
	g.log.Info("collector back at work: the appliance allocated its resting headroom while idle", "headroom_bytes", g.gc.headroom)
}

func (g *cpuGovernor) raiseLocked(why string) {
	if !g.low {
		return
	}
	g.low = false
	if g.gc != nil && g.gc.resting {
		g.gc.leave()
	}
	if g.set != nil {
		g.set(g.all)
		g.log.Debug("scheduler on every CPU", "cpus", g.all, "why", why)
	}
}

// governedBoard is a board whose ports' audio devices tell the governor
// when they run. Everything else is the board's own.
type governedBoard struct {
	hal.Board
	ports []hal.Port
}

// governBoard wraps b's audio devices for g; with no governor it returns b.
func governBoard(b hal.Board, g *cpuGovernor) hal.Board {
	if g == nil {
		return b
	}
	ports := b.Ports()
	out := make([]hal.Port, len(ports))
	for i, p := range ports {
		out[i] = p
		switch a := p.Audio.(type) {
		case nil:
		case hal.Pausable:
			out[i].Audio = governedPCM{Pausable: a, g: g}
			g.streamStarted() // a device runs until its first Pause
		default:
			g.streamStarted() // never pauses: the board is never at rest
		}
	}
	return governedBoard{Board: b, ports: out}
}

// Ports returns the board's ports with governed audio devices.
func (b governedBoard) Ports() []hal.Port { return b.ports }

// governedPCM is a pausable audio device that books its pauses and
// resumptions with the governor.
type governedPCM struct {
	hal.Pausable
	g *cpuGovernor
}

// Pause pauses the device; the stream stops counting once it has.
func (p governedPCM) Pause() error {
	err := p.Pausable.Pause()
	if err == nil {
		p.g.streamStopped()
	}
	return err
}

// Resume puts every CPU in use, then resumes the device.
func (p governedPCM) Resume() error {
	p.g.streamStarted()
	return p.Pausable.Resume()
}
