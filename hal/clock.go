package hal

import (
	"sort"
	"sync"
	"time"
)

// Clock is the source of time for everything above the backends. Now is a
// monotonic reading on the same base as hook event timestamps (on Linux,
// CLOCK_MONOTONIC, the base of the GPIO character device's edge timestamps),
// so the interval between an edge and "now" is meaningful.
type Clock interface {
	// Now returns the current monotonic time.
	Now() time.Duration
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not happened yet and reports whether
	// it did so.
	Stop() bool
}

// SystemClock is the real monotonic clock.
type SystemClock struct{}

// Now returns CLOCK_MONOTONIC (see monotonic_*.go).
func (SystemClock) Now() time.Duration { return monotonicNow() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a Clock that moves only when told to, for unit tests of the
// logic above the hal and for running the simulated board faster than real
// time. Timers fire synchronously, in deadline order, inside Advance; a
// callback may itself schedule further timers, which fire in the same Advance
// if they fall due.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Duration
	seq    uint64
	timers []*manualTimer
}

type manualTimer struct {
	c    *ManualClock
	at   time.Duration
	seq  uint64
	f    func()
	done bool
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start time.Duration) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock has been advanced by d. Unlike
// SystemClock, f runs on the goroutine calling Advance.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		d = 0
	}
	c.seq++
	t := &manualTimer{c: c, at: c.now + d, seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels the timer.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// Advance moves the clock forward by d, firing every timer that falls due,
// each with the clock reading its own deadline.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool {
			if c.timers[i].at != c.timers[j].at {
				return c.timers[i].at < c.timers[j].at
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		if len(c.timers) == 0 || c.timers[0].at > end {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.done = true
		if t.at > c.now {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}

// Pending reports how many timers are waiting.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
