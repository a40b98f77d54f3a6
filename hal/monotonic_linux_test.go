//go:build linux

package hal

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMonotonicIsClockMonotonic: SystemClock.Now, read without a system
// call, stays on CLOCK_MONOTONIC (the base of the kernel's GPIO edge
// timestamps) to within a millisecond (a generous bound: the readings are
// taken microseconds apart).
func TestMonotonicIsClockMonotonic(t *testing.T) {
	for i := 0; i < 100; i++ {
		var a, b unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		now := SystemClock{}.Now()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		lo, hi := time.Duration(a.Nano())-time.Millisecond, time.Duration(b.Nano())+time.Millisecond
		if now < lo || now > hi {
			t.Fatalf("SystemClock.Now %v outside CLOCK_MONOTONIC [%v, %v]", now, lo, hi)
		}
		time.Sleep(time.Millisecond)
	}
}
