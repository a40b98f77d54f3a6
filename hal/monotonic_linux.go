//go:build linux

package hal

import (
	"time"

	"golang.org/x/sys/unix"
)

// monotonicNow reads CLOCK_MONOTONIC, the clock the GPIO character device
// stamps edge events with by default.
func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fallbackNow()
	}
	return time.Duration(ts.Nano())
}
