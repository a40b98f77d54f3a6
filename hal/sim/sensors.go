package sim

import (
	"sync"

	"github.com/critline/critline/hal"
)

// Relay is a simulated lifeline relay; it starts in bypass. The simulated
// board senses line-in-use on the PSTN side (hal.LineInUse): loop current
// from the exchange through the handset, so only where a copper line is
// wired behind the relay (Options.Copper); without one, a handset in
// bypass is on nothing and no current flows.
type Relay struct {
	port   int
	clock  hal.Clock
	watch  *broadcaster
	line   *Line
	copper bool

	mu     sync.Mutex
	bypass bool
}

// SetBypass moves the relay.
func (r *Relay) SetBypass(bypass bool) error {
	r.mu.Lock()
	changed := r.bypass != bypass
	r.bypass = bypass
	r.mu.Unlock()
	if changed {
		now := r.clock.Now()
		r.watch.publish(Change{At: now, Port: r.port, What: "relay", Value: bypass})
		r.line.attach(!bypass, now)
	}
	return nil
}

// LineInUse reports a handset off-hook on the PSTN line (in bypass).
func (r *Relay) LineInUse() (bool, error) { return r.copper && r.line.lineInUse(), nil }

// Copper reports whether a copper line is wired behind the relay.
func (r *Relay) Copper() bool { return r.copper }

// Bypass reports whether the handset is on the PSTN line.
func (r *Relay) Bypass() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bypass
}

// PowerSensor is the simulated UPS.
type PowerSensor struct {
	clock  hal.Clock
	watch  *broadcaster
	events chan hal.PowerState

	mu    sync.Mutex
	state hal.PowerState
}

// Power returns the current supply state.
func (s *PowerSensor) Power() (hal.PowerState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, nil
}

// Events delivers supply changes.
func (s *PowerSensor) Events() <-chan hal.PowerState { return s.events }

func (s *PowerSensor) set(mains, low bool) {
	s.mu.Lock()
	old := s.state
	if old.Mains == mains && old.BatteryLow == low {
		s.mu.Unlock()
		return
	}
	s.state = hal.PowerState{Mains: mains, BatteryLow: low, At: s.clock.Now()}
	st := s.state
	sendLatest(s.events, st)
	s.mu.Unlock()
	if old.Mains != mains {
		s.watch.publish(Change{At: st.At, What: "mains", Value: mains})
	}
	if old.BatteryLow != low {
		s.watch.publish(Change{At: st.At, What: "battery_low", Value: low})
	}
}

// LinkSensor is the simulated LAN cable.
type LinkSensor struct {
	clock  hal.Clock
	watch  *broadcaster
	events chan hal.LinkState

	mu    sync.Mutex
	state hal.LinkState
}

// Link returns the current link state.
func (s *LinkSensor) Link() (hal.LinkState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, nil
}

// Events delivers link changes.
func (s *LinkSensor) Events() <-chan hal.LinkState { return s.events }

func (s *LinkSensor) set(up bool) {
	s.mu.Lock()
	if s.state.Up == up {
		s.mu.Unlock()
		return
	}
	s.state = hal.LinkState{Up: up, At: s.clock.Now()}
	st := s.state
	sendLatest(s.events, st)
	s.mu.Unlock()
	s.watch.publish(Change{At: st.At, What: "link", Value: up})
}

// sendLatest delivers v without blocking; when the consumer is behind, the
// oldest queued state is dropped so the newest is never lost.
func sendLatest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}
