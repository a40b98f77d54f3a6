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

// saveState writes the state as it is now. It is called without a.mu held
// (the disk may be slow: nothing else waits for it); saves are serialised
// and each takes its snapshot under saveMu, so the newest state is written
// last.
func (a *Appliance) saveState() error {
	if a.store == nil {
		return nil
	}
	a.saveMu.Lock()
	defer a.saveMu.Unlock()
	a.mu.Lock()
	s := saved{History: slices.Clone(a.history)}
	for _, id := range a.order {
		if a.ports[id].forced {
			s.Forced = append(s.Forced, id)
		}
	}
	a.mu.Unlock()
	return a.store.Save(s)
}

// recordModeLocked appends a mode change to the history and saves it in
// the background; a failure is logged (the history is a record, not a
// setting).
func (a *Appliance) recordModeLocked(at time.Time, from, to Mode, reason string) {
	a.history = append(a.history, control.ModeChange{At: at, From: string(from), To: string(to), Reason: reason})
	if len(a.history) > maxHistory {
		a.history = slices.Clone(a.history[len(a.history)-maxHistory:])
	}
	if a.store != nil {
		go func() {
			if err := a.saveState(); err != nil {
				a.log.Error("saving the mode history", "err", err)
			}
		}()
	}
}

// ErrNotSaved is wrapped by the error of an operator's change that could
// not be written to the state directory; such a change is not made.
var ErrNotSaved = errors.New("the change could not be saved, so it was not made")

// SetLifeline puts a port on the PSTN line (on) or gives it back to the
// automatic modes (off), as an operator asks. The relay moves when no call
// can be cut. The choice survives restarts: it is saved first, and one that
// cannot be saved is refused (an error wrapping ErrNotSaved), so a restart
// never undoes or brings back what the operator was told.
func (a *Appliance) SetLifeline(id int, on bool) error {
	p := a.ports[id]
	if p == nil {
		return fmt.Errorf("no such port: %w", control.ErrNotFound)
	}
	if on && !p.copper {
		return fmt.Errorf("no copper line behind its relay (behind_relay = \"none\"): bypass would leave the handset on nothing; if a live PSTN line is wired there, set behind_relay = \"copper\" and restart")
	}
	a.mu.Lock()
	was := p.forced
	p.forced = on
	a.mu.Unlock()
	if was != on {
		if err := a.saveState(); err != nil {
			a.mu.Lock()
			p.forced = was
			a.mu.Unlock()
			a.log.Error("operator lifeline refused: it could not be saved", "port", id, "on", on, "err", err)
			return fmt.Errorf("lifeline NOT changed: %w: %w", ErrNotSaved, err)
		}
	}
	a.log.Warn("operator lifeline", "port", id, "on", on)
	a.reevaluate("operator")
	return nil
}
