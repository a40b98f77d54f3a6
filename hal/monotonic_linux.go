//go:build linux

package hal

import (
	"time"

	"golang.org/x/sys/unix"
)

// monotonicAnchor pairs one CLOCK_MONOTONIC reading with Go's monotonic
// clock at the same instant. Go's monotonic clock is CLOCK_MONOTONIC read
// through the vDSO, so anchor + time.Since(at) is CLOCK_MONOTONIC without a
// system call per reading (the audio and hook paths read it many times a
// second). Set once at package load and never written again.
var monotonicAnchor = newAnchor()

type anchor struct {
	mono time.Duration
	at   time.Time
}

func newAnchor() anchor {
	var ts unix.Timespec
	at := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return anchor{mono: -1, at: at}
	}
	return anchor{mono: time.Duration(ts.Nano()), at: at}
}

// monotonicNow reads CLOCK_MONOTONIC, the clock the GPIO character device
// stamps edge events with by default.
func monotonicNow() time.Duration {
	a := monotonicAnchor
	if a.mono < 0 {
		return fallbackNow()
	}
	return a.mono + time.Since(a.at)
}
