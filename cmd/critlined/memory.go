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
	// restCheck is how often a quiet appliance's executable pages are
	// released again (a light rest: unmapIdleCode only). What rest itself
	// runs (probes, the modem's liveness probe) faults its few pages back
	// within a second; what runs now and then (a registration refresh
	// every minute: sipgo's transaction and parser, digest, stack growth)
	// would otherwise keep its ~1.5 MB mapped until the next full rest. A
	// light rest costs one madvise and then some 30-100 minor faults,
	// about a millisecond of CPU.
	restCheck = 15 * time.Second
	// fullRestEvery is how many quiet checks pass between full rests
	// (collection, free heap to the OS, executable pages): 5 minutes. A
	// check that finds the appliance busy makes the next quiet one full,
	// so the pages and heap a call used are released after it.
	fullRestEvery = 20
)

// restMemory rests after settle and then at every period while quiet()
// says nothing is going on (no port off hook, no call), and calls busy
// when it says something is, until ctx ends. rest is told whether to rest
// fully: the first time, after a busy check, and every fullEvery-th rest;
// the others are light. A busy appliance is not rested: it would fault
// the pages straight back in.
func restMemory(ctx context.Context, settle, period time.Duration, fullEvery int, quiet func() bool, rest func(full bool), busy func()) {
	t := time.NewTimer(settle)
	defer t.Stop()
	sinceFull := -1 // -1: rest fully next time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet() {
			full := sinceFull < 0 || sinceFull+1 >= fullEvery
			rest(full)
			sinceFull++
			if full {
				sinceFull = 0
			}
		} else {
			busy()
			sinceFull = -1
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

// restNow collects the garbage and returns the free heap to the OS (a
// full rest only) and releases the executable's pages (see unmapIdleCode).
func restNow(log *slog.Logger, full bool) {
	if full {
		debug.FreeOSMemory()
	}
	n, err := unmapIdleCode()
	if err != nil {
		log.Warn("could not release the executable's idle pages", "err", err)
		return
	}
	log.Debug("memory rested", "full", full, "code_bytes_released", n)
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
type gcSentinel struct{ _ *int }

// runtimeInUse is the memory the runtime's limit counts: everything it has
// mapped less what it has returned to the OS.
func runtimeInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
