// The Go runtime's settings for an appliance that idles for weeks.
//
// updatemaxprocs=0: Go 1.25+ re-reads the CPU affinity and cgroup quota
// every second to adjust GOMAXPROCS, a wake-up an idle appliance does not
// need: the board's cores do not change while it runs.
//
//go:debug updatemaxprocs=0

package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
)

// idleGCPercent keeps the heap near what is live. Idle, the daemon holds
// about 1 MB; with Go's default (100) the first collection waits for 4 MB
// of heap, so start-up's garbage (configuration, protobuf descriptors,
// metric registration) would stay resident for good. At 25 the heap goal
// is 1 MB or 1.25 x live: a collection of a heap this small costs well
// under a millisecond, and an idle appliance allocates only for its probes.
const idleGCPercent = 25

// memoryLimit is a soft ceiling: near it the collector works harder; it
// never fails an allocation. Far above any normal use (two ports' calls
// need a few MB), it bounds a burst (a flood of SIP requests) on a
// 512 MB board that also runs the OS.
const memoryLimit = 48 << 20

// tuneMemory applies the appliance's runtime settings unless the
// environment sets its own (GOGC, GOMEMLIMIT).
func tuneMemory() {
	// No heap profiling from here on: nothing in the daemon reads the
	// profile, so sampling allocations for it is wasted work. (Package
	// initialisation has made its bucket table by now; that costs about
	// 70 kB resident, not worth a GODEBUG setting to avoid.)
	runtime.MemProfileRate = 0
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(idleGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// Resting: when the appliance has been quiet for a while, the memory that
// start-up or the last calls used and that rest does not need is handed
// back: the heap's free pages to the OS, and the executable's pages out of
// the process's page tables (unmapIdleCode). Start-up and a call touch
// most of the 12 MB binary, and the kernel keeps a mapped page mapped
// until memory runs short, so without this the idle resident set is
// whatever the busiest moment since start touched.
const (
	// restSettle is how long after start-up the first rest waits: the
	// first registrations, probes and collections are over by then.
	restSettle = 30 * time.Second
	// restEvery is how often a quiet appliance rests again, so that the
	// pages of a call made since are released too. Each rest costs a
	// collection of a heap of about 1 MB and, afterwards, some hundred
	// minor page faults (no disk reads: the pages stay in the page cache).
	restEvery = 5 * time.Minute
)

// restMemory calls rest after settle and then every period while quiet()
// says nothing is going on (no port off hook, no call), and busy when it
// says something is, until ctx ends. A busy appliance is not rested: it
// would fault the pages straight back in.
func restMemory(ctx context.Context, settle, period time.Duration, quiet func() bool, rest, busy func()) {
	t := time.NewTimer(settle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet() {
			rest()
		} else {
			busy()
		}
		t.Reset(period)
	}
}

// quiet is whether nothing is going on: every port on hook and idle, or
// parked, or stopped (their audio rests then too), and no trunk in a call
// (one that reaches no port: a divert, remote activation).
func quiet(st control.Status) bool {
	for _, p := range st.Ports {
		switch fxs.State(p.State) {
		case fxs.StateIdle, fxs.StateParked, fxs.StateStopped:
		default:
			return false
		}
	}
	for _, t := range st.Trunks {
		if t.InCall {
			return false
		}
	}
	return true
}

// restNow collects the garbage, returns the free heap to the OS and
// releases the executable's pages (see unmapIdleCode).
func restNow(log *slog.Logger) {
	debug.FreeOSMemory()
	n, err := unmapIdleCode()
	if err != nil {
		log.Warn("could not release the executable's idle pages", "err", err)
		return
	}
	log.Debug("memory rested", "code_bytes_released", n)
}

// releaseStartup collects start-up's garbage and returns the freed pages to
// the OS once the daemon is ready, instead of letting them sit resident
// until the heap grows enough to trigger a collection.
func releaseStartup() { debug.FreeOSMemory() }

// gcRest lets the collector rest between memory rests. Every collection
// walks every goroutine's stack, and the runtime's function tables and code
// it reads to do so (about 1.2 MB of the executable, measured) come back
// into the process's page tables with the first collection after a rest:
// with Go's defaults a quiet appliance still collects at least every two
// minutes. Resting, the appliance allocates only a little, so the
// collector is switched off (GOGC=-1, which also stops the runtime's
// two-minute collection) and the memory rests collect instead; a memory
// limit a few MB above what the rest left is the backstop: should anything
// allocate that much while resting (a flood of requests, a leak), the
// runtime collects at the limit, and that first collection puts the
// collector back to its working settings (a cleanup attached to a sentinel
// object runs after it). Any wake (an audio device resuming, a call) does
// too, before the call runs.
type gcRest struct {
	log         *slog.Logger
	setPercent  func(int) int     // debug.SetGCPercent
	setLimit    func(int64) int64 // debug.SetMemoryLimit
	inUse       func() uint64     // the runtime's memory as its limit counts it
	percent     int               // GOGC when working
	limit       int64             // the memory limit when working
	headroom    int64             // the limit while resting: inUse + headroom
	gen         uint64            // which rest a sentinel belongs to
	resting     bool
	onCollected func(gen uint64) // the sentinel's cleanup (set by the governor)
}

// gcRestHeadroom is how much the appliance may allocate while resting
// before the runtime collects (and the collector goes back to work). A
// quiet appliance allocates a few kB a second, so a rest period (5 min) is
// well within it; a burst reaches it in a moment.
const gcRestHeadroom = 8 << 20

// newGCRest returns nil when the environment sets GOGC or GOMEMLIMIT: the
// operator's settings then stand.
func newGCRest(log *slog.Logger, getenv func(string) string) *gcRest {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return &gcRest{log: log, setPercent: debug.SetGCPercent, setLimit: debug.SetMemoryLimit, inUse: runtimeInUse,
		percent: idleGCPercent, limit: memoryLimit, headroom: gcRestHeadroom}
}

// enter switches the collector off with a limit headroom above what is in
// use now (never above the working limit), and arms a sentinel whose
// cleanup tells onCollected when the next collection has run.
func (r *gcRest) enter() {
	r.gen++
	r.resting = true
	r.setLimit(min(int64(r.inUse())+r.headroom, r.limit))
	r.setPercent(-1)
	runtime.AddCleanup(new(gcSentinel), r.onCollected, r.gen)
}

// disarm makes the sentinel armed now not count: a collection the daemon
// makes itself (a memory rest's) is not the backstop's.
func (r *gcRest) disarm() { r.gen++ }

// leave puts the collector back to work.
func (r *gcRest) leave() {
	r.resting = false
	r.disarm() // a sentinel still armed no longer counts
	r.setPercent(r.percent)
	r.setLimit(r.limit)
}

// gcSentinel is a heap object of its own (it holds a pointer, so the
// allocator does not pack it with others) whose only use is to die at the
// next collection.
type gcSentinel struct{ p *int }

// runtimeInUse is the memory the runtime's limit counts: everything it has
// mapped less what it has returned to the OS.
func runtimeInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
