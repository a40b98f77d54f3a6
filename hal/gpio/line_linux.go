//go:build linux

package gpio

import (
	"errors"
	"fmt"
	"sync"

	"github.com/critline/critline/hal"
	"github.com/warthog618/go-gpiocdev"
)

// ErrNotWired is returned when asking for a function the profile does not
// wire (reversal without a polarity line, bypass without a relay).
var ErrNotWired = errors.New("not wired on this board")

// portLine is one FXS port's signalling lines.
type portLine struct {
	b        *Board
	id       int
	drive    hal.RingDrive
	hook     *input
	ring     *output
	polarity *output
	events   chan hal.HookEvent
}

var _ hal.Line = (*portLine)(nil)

func (p *portLine) Port() int                    { return p.id }
func (p *portLine) Events() <-chan hal.HookEvent { return p.events }
func (p *portLine) RingDrive() hal.RingDrive     { return p.drive }
func (p *portLine) OffHook() (bool, error)       { return p.hook.value() }
func (p *portLine) SetRing(on bool) error        { return p.ring.set(on) }
func (p *portLine) String() string               { return fmt.Sprintf("gpio port %d", p.id) }
func (p *portLine) deliver(e gpiocdev.LineEvent) { p.send(e) }

// SetReverse sets line polarity. Without a polarity line, forward is a no-op
// and reversed is ErrNotWired.
func (p *portLine) SetReverse(reversed bool) error {
	if p.polarity == nil {
		if reversed {
			return fmt.Errorf("gpio: port %d polarity: %w", p.id, ErrNotWired)
		}
		return nil
	}
	return p.polarity.set(reversed)
}

// send hands the edge on unchanged: the kernel's timestamp and the line's
// sequence number. The line is asserted when off-hook, so a rising (logical)
// edge means the loop closed.
func (p *portLine) send(e gpiocdev.LineEvent) {
	ev := hal.HookEvent{
		Port:    p.id,
		OffHook: e.Type == gpiocdev.LineEventRisingEdge,
		At:      e.Timestamp,
		Seq:     e.LineSeqno,
	}
	select {
	case p.events <- ev:
	default:
		p.b.drop(fmt.Sprintf("port %d hook", p.id))
	}
}

// relay is a port's lifeline relay: the line asserted energises it (handset
// on the board); released or deasserted it is in bypass.
type relay struct{ out *output }

var _ hal.Relay = (*relay)(nil)

// SetBypass de-energises (true) or energises (false) the relay. Without a
// relay line, bypass is ErrNotWired and on-board is a no-op.
func (r *relay) SetBypass(bypass bool) error {
	if r.out == nil {
		if bypass {
			return fmt.Errorf("gpio: relay: %w", ErrNotWired)
		}
		return nil
	}
	return r.out.set(!bypass)
}

// Bypass reports the commanded state; a port without a relay is never in
// bypass.
func (r *relay) Bypass() bool {
	if r.out == nil {
		return false
	}
	return !r.out.get()
}

// power is the UPS's mains and battery-low inputs. A signal that is not wired
// reads as mains present and battery not low.
type power struct {
	mains, batteryLow *input
	mu                sync.Mutex
	state             hal.PowerState
	events            chan hal.PowerState
	closed            bool
}

var _ hal.PowerSensor = (*power)(nil)

func (p *power) init() error {
	st, err := p.Power()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.state = st
	p.mu.Unlock()
	return nil
}

// Power reads both inputs now.
func (p *power) Power() (hal.PowerState, error) {
	st := hal.PowerState{Mains: true, At: hal.SystemClock{}.Now()}
	if p.mains != nil {
		v, err := p.mains.value()
		if err != nil {
			return st, err
		}
		st.Mains = v
	}
	if p.batteryLow != nil {
		v, err := p.batteryLow.value()
		if err != nil {
			return st, err
		}
		st.BatteryLow = v
	}
	return st, nil
}

func (p *power) Events() <-chan hal.PowerState { return p.events }

func (p *power) edge(r role) func(gpiocdev.LineEvent) {
	return func(e gpiocdev.LineEvent) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		v := e.Type == gpiocdev.LineEventRisingEdge
		if r == roleMains {
			p.state.Mains = v
		} else {
			p.state.BatteryLow = v
		}
		p.state.At = e.Timestamp
		select {
		case p.events <- p.state:
		default:
			if p.mains != nil {
				p.mains.b.drop("power")
			}
		}
	}
}

// close is called after both inputs are released, so no handler runs.
func (p *power) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.events)
	}
}
