package sim

import (
	"sync"

	"github.com/critline/critline/hal"
)

// Relay is a simulated lifeline relay; it starts in bypass. The simulated
// board senses line-in-use on the PSTN side (hal.LineInUse): loop current
// from the exchange through the handset, so only where a copper line is
// wired behind the relay (Options.Copper); without one, a handset in
// bypass is on nothing and no current flows. It also measures the line's
// voltage in bypass (hal.LineSense): a live copper line reads its battery,
// a cut one (Board.SetCopperLine) or none at all reads 0 V.
type Relay struct {
	port   int
	clock  hal.Clock
	watch  *broadcaster
	line   *Line
	copper bool

	mu     sync.Mutex
	bypass bool
	dead   bool // the copper line behind the relay is cut (no battery, no dial tone)
}

// Line voltages the simulated sensor reads on a live copper line: the
// exchange's on-hook battery, and the loop voltage with a handset off-hook.
const (
	simLineOnHookVolts  = 50.0
	simLineOffHookVolts = 8.0
)

// LineVoltage reads the copper line behind the relay; the sensor sees it
// only in bypass (hal.ErrNotInBypass otherwise).
func (r *Relay) LineVoltage() (float64, error) {
	r.mu.Lock()
	bypass, dead := r.bypass, r.dead
	r.mu.Unlock()
	switch {
	case !bypass:
		return 0, hal.ErrNotInBypass
	case !r.copper || dead:
		return 0, nil
	case r.line.lineInUse():
		return simLineOffHookVolts, nil
	}
	return simLineOnHookVolts, nil
}

// setDead cuts (true) or restores the copper line behind the relay.
func (r *Relay) setDead(dead bool) {
	r.mu.Lock()
	r.dead = dead
	r.mu.Unlock()
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

// LineInUse reports a handset off-hook on the PSTN line (in bypass): loop
// current flows only from a live copper line.
func (r *Relay) LineInUse() (bool, error) {
	r.mu.Lock()
	dead := r.dead
	r.mu.Unlock()
	return r.copper && !dead && r.line.lineInUse(), nil
}

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
