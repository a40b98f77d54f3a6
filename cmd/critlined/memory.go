// The Go runtime's settings for an appliance that idles for weeks.
//
// updatemaxprocs=0: Go 1.25+ re-reads the CPU affinity and cgroup quota
// every second to adjust GOMAXPROCS, a wake-up an idle appliance does not
// need: the board's cores do not change while it runs.
//
//go:debug updatemaxprocs=0

package main

import (
	"os"
	"runtime/debug"
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
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(idleGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// releaseStartup collects start-up's garbage and returns the freed pages to
// the OS once the daemon is ready, instead of letting them sit resident
// until the heap grows enough to trigger a collection.
func releaseStartup() { debug.FreeOSMemory() }
