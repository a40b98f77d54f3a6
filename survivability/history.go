package survivability

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/survivability/store"
)

// maxHistory is how many mode changes are kept.
const maxHistory = 200

// saved is the appliance's state that survives restarts and power cuts: the
// mode history and the ports an operator put on the lifeline.
type saved struct {
	History []control.ModeChange `json:"history"`
	Forced  []int                `json:"forced_lifeline"`
}

// loadState reads the saved state; a missing or corrupt file starts afresh
// (a corrupt one is set aside and reported), never fails the appliance.
func (a *Appliance) loadState() {
	if a.store == nil {
		return
	}
	var s saved
	err := a.store.Load(&s)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		a.log.Error("saved appliance state unusable; starting afresh", "err", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.history = s.History
	for _, id := range s.Forced {
		if p := a.ports[id]; p != nil {
			p.forced = true
		}
	}
}

// saveStateLocked writes the state; failures are logged, never fatal.
func (a *Appliance) saveStateLocked() {
	if a.store == nil {
		return
	}
	s := saved{History: a.history}
	for _, id := range a.order {
		if a.ports[id].forced {
			s.Forced = append(s.Forced, id)
		}
	}
	if err := a.store.Save(s); err != nil {
		a.log.Error("saving appliance state", "err", err)
	}
}

// recordModeLocked appends a mode change to the history.
func (a *Appliance) recordModeLocked(at time.Time, from, to Mode, reason string) {
	a.history = append(a.history, control.ModeChange{At: at, From: string(from), To: string(to), Reason: reason})
	if len(a.history) > maxHistory {
		a.history = slices.Clone(a.history[len(a.history)-maxHistory:])
	}
	a.saveStateLocked()
}

// SetLifeline puts a port on the PSTN line (on) or gives it back to the
// automatic modes (off), as an operator asks. The relay moves when no call
// can be cut. The choice survives restarts.
func (a *Appliance) SetLifeline(id int, on bool) error {
	p := a.ports[id]
	if p == nil {
		return errors.New("no such port")
	}
	if on && !p.copper {
		return fmt.Errorf("no copper line behind its relay (behind_relay = \"none\"): bypass would leave the handset on nothing; if a live PSTN line is wired there, set behind_relay = \"copper\" and restart")
	}
	a.mu.Lock()
	p.forced = on
	a.saveStateLocked()
	a.mu.Unlock()
	a.log.Warn("operator lifeline", "port", id, "on", on)
	a.reevaluate("operator")
	return nil
}
