package sim

import (
	"sync"
	"sync/atomic"
	"time"
)

// Change is one thing the board did or sensed, for `critlinectl sim watch`.
type Change struct {
	At    time.Duration `json:"at_ns"` // board (monotonic) time
	Port  int           `json:"port,omitempty"`
	What  string        `json:"what"` // hook, ring, polarity, relay, mains, battery_low, link, copper (the line behind the relay live)
	Value bool          `json:"value"`
}

// Subscription receives Changes.
type Subscription struct {
	C       <-chan Change
	c       chan Change
	b       *broadcaster
	dropped atomic.Uint64
}

// Dropped counts changes lost because the subscriber was slow.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Subscription) Close() { s.b.unsubscribe(s) }

type broadcaster struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[*Subscription]struct{}{}} }

func (b *broadcaster) subscribe() *Subscription {
	c := make(chan Change, 256)
	s := &Subscription{C: c, c: c, b: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(c)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

func (b *broadcaster) unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

func (b *broadcaster) publish(c Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- c:
		default:
			s.dropped.Add(1)
		}
	}
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.c)
		delete(b.subs, s)
	}
}
