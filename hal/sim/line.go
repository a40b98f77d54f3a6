package sim

import (
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// Line is a simulated FXS line. Hook edges are debounced the way the kernel's
// GPIO character device does it: an edge (re)starts the debounce period, and
// only a level still different from the last reported one when the period
// ends becomes an event, stamped with the end of the period and the next
// sequence number. A bounce shorter than the debounce period never shows.
type Line struct {
	port     int
	ringMode hal.RingDrive
	debounce time.Duration
	clock    hal.Clock
	watch    *broadcaster
	events   chan hal.HookEvent

	mu       sync.Mutex
	handset  bool // the handset's loop (true = off-hook), wherever it is wired
	attached bool // the relay puts the handset on the SLIC (not bypass)
	level    bool // loop state the SLIC sees: handset && attached
	pending  bool
	reported bool
	edgeAt   time.Duration
	gen      uint64
	seq      uint32
	timer    hal.Timer
	sched    []hal.Timer
	ring     bool
	reverse  bool
}

type edge struct {
	off   bool
	after time.Duration
}

func newLine(port int, rd hal.RingDrive, debounce time.Duration, clock hal.Clock, w *broadcaster) *Line {
	l := &Line{port: port, ringMode: rd, debounce: debounce, clock: clock, watch: w, events: make(chan hal.HookEvent, 64)}
	return l
}

// Port is the port id.
func (l *Line) Port() int { return l.port }

// Events delivers debounced hook edges.
func (l *Line) Events() <-chan hal.HookEvent { return l.events }

// OffHook is the debounced loop state.
func (l *Line) OffHook() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reported, nil
}

// RingDrive is the simulated SLIC's ring style.
func (l *Line) RingDrive() hal.RingDrive { return l.ringMode }

// SetRing drives the ring output.
func (l *Line) SetRing(on bool) error {
	l.mu.Lock()
	changed := l.ring != on
	l.ring = on
	l.mu.Unlock()
	if changed {
		l.watch.publish(Change{At: l.clock.Now(), Port: l.port, What: "ring", Value: on})
	}
	return nil
}

// SetReverse drives line polarity.
func (l *Line) SetReverse(rev bool) error {
	l.mu.Lock()
	changed := l.reverse != rev
	l.reverse = rev
	l.mu.Unlock()
	if changed {
		l.watch.publish(Change{At: l.clock.Now(), Port: l.port, What: "polarity", Value: rev})
	}
	return nil
}

// Ringing reports the ring output, for tests and status.
func (l *Line) Ringing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ring
}

// Reversed reports the polarity output.
func (l *Line) Reversed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reverse
}

func (l *Line) drivenOffHook() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handset
}

// lineInUse reports the handset off-hook while the relay has it on the PSTN
// line.
func (l *Line) lineInUse() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handset && !l.attached
}

// attach moves the handset between the SLIC (true) and the PSTN line: the
// SLIC sees the loop close or open as if the handset moved.
func (l *Line) attach(on bool, at time.Duration) {
	l.mu.Lock()
	l.attached = on
	l.mu.Unlock()
	l.driveAt(l.drivenOffHook(), at)
}

// driveAt sets the handset's loop as of time at (which may be slightly in
// the past when a scheduled edge's timer fires late: the timestamp stays
// exact).
func (l *Line) driveAt(off bool, at time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handset = off
	off = off && l.attached
	if off == l.level {
		return
	}
	l.level = off
	l.pending = off
	l.edgeAt = at
	l.gen++
	gen := l.gen
	if l.timer != nil {
		l.timer.Stop()
	}
	wait := at + l.debounce - l.clock.Now()
	l.timer = l.clock.AfterFunc(wait, func() { l.settle(gen) })
}

// settle ends a debounce period.
func (l *Line) settle(gen uint64) {
	l.mu.Lock()
	if gen != l.gen || l.pending == l.reported {
		l.mu.Unlock()
		return
	}
	l.reported = l.pending
	l.seq++
	ev := hal.HookEvent{Port: l.port, OffHook: l.reported, At: l.edgeAt + l.debounce, Seq: l.seq}
	select {
	case l.events <- ev:
	default: // like the kernel's full FIFO: lost, visible as a Seq gap
	}
	l.mu.Unlock()
	l.watch.publish(Change{At: ev.At, Port: l.port, What: "hook", Value: ev.OffHook})
}

// schedule drives a sequence of edges, each at an offset from now, with
// exact timestamps. A new schedule cancels what is left of an older one.
// cancelSchedule drops the edges a dial or a recall still has to make.
func (l *Line) cancelSchedule() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range l.sched {
		t.Stop()
	}
	l.sched = l.sched[:0]
}

func (l *Line) schedule(edges []edge) {
	start := l.clock.Now()
	l.mu.Lock()
	for _, t := range l.sched {
		t.Stop()
	}
	l.sched = l.sched[:0]
	for _, e := range edges {
		at := start + e.after
		l.sched = append(l.sched, l.clock.AfterFunc(e.after, func() { l.driveAt(e.off, at) }))
	}
	l.mu.Unlock()
}
