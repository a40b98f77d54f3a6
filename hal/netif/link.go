package netif

import (
	"github.com/critline/critline/hal"
)

// LinkSensor serves one interface's carrier as the board's LAN link.
type LinkSensor struct {
	w     *Watcher
	name  string
	clock hal.Clock
	out   chan hal.LinkState
}

var _ hal.LinkSensor = (*LinkSensor)(nil)

// Link returns a hal.LinkSensor for the named interface: up while it is up
// with carrier (whatever its addresses).
func (w *Watcher) Link(name string, clock hal.Clock) *LinkSensor {
	if clock == nil {
		clock = hal.SystemClock{}
	}
	l := &LinkSensor{w: w, name: name, clock: clock, out: make(chan hal.LinkState, 16)}
	in := w.Subscribe(name)
	go func() {
		last := w.State(name).Up
		for s := range in {
			if s.Up == last {
				continue
			}
			last = s.Up
			select {
			case l.out <- hal.LinkState{Up: s.Up, At: clock.Now()}:
			default:
			}
		}
	}()
	return l
}

// Link reads the carrier now.
func (l *LinkSensor) Link() (hal.LinkState, error) {
	return hal.LinkState{Up: l.w.State(l.name).Up, At: l.clock.Now()}, nil
}

// Events delivers every change of the carrier.
func (l *LinkSensor) Events() <-chan hal.LinkState { return l.out }
