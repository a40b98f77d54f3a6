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
