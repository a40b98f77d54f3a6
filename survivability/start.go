package survivability

import (
	"log/slog"
	"sync"
	"time"

	"github.com/critline/critline/sip"
)

// startHold bounds how long the appliance's mode stays provisional at
// start, waiting for the first health reports. READY is not held up by it.
const startHold = 10 * time.Second

// startingReason is the mode reason status gives before the first
// evaluation, while every relay is still in bypass as the board opened.
const startingReason = "starting: the first health checks are not in yet (handsets on the line behind the relays)"

// readyToDecideLocked reports whether the first health reports are in:
// every registrar probed (up or down) and a route up, or no trunk to wait
// for; or startHold has passed since Run began. a.mu must be held.
func (a *Appliance) readyToDecideLocked(now time.Duration) bool {
	if a.settled {
		return true
	}
	if now-a.runSince < startHold {
		if a.sip != nil {
			for _, r := range a.regs {
				if !r.known {
					return false
				}
			}
		}
		route := false
		for _, r := range a.regs {
			route = route || a.usableLocked(r, now)
		}
		for _, tl := range a.trunks {
			route = route || tl.status().Up
		}
		if !route && len(a.trunks) > 0 {
			return false
		}
	}
	a.settled = true
	return true
}

// settleLocked says what a mode evaluation at this moment means for the
// record (history, log, mode_changes). Until the first health reports are
// in, the mode is provisional: it drives the ports and relays as ever (a
// trunk that answers in milliseconds puts the handsets on the board at
// once) but is not logged, recorded or counted, and its reason says so.
// Recording it used to log and keep "lifeline: no route left" at every
// start, a few milliseconds before the trunk or the PBX answered. The
// first settled mode is recorded once, as the change from "" (start); later
// changes as themselves. a.mu must be held.
func (a *Appliance) settleLocked(now time.Duration, prev Mode, changed bool, reason string) (record bool, from Mode, why string) {
	wasSettled := a.settled
	if !a.readyToDecideLocked(now) {
		return false, "", "starting, first health checks not in yet: " + reason
	}
	if !wasSettled {
		return true, "", reason
	}
	return changed, prev, reason
}

// modeLevel is the level a mode change is logged at: the first decision
// at start is news only when it is lifeline.
func modeLevel(prev, mode Mode) slog.Level {
	if prev == "" && mode != Lifeline {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// lineLog logs each port's line registration when it changes (registered,
// registrar or error); the SIP layer reports every failed retry, which
// repeats at DEBUG level with a count.
type lineLog struct {
	mu      sync.Mutex
	last    map[lineKey]string
	repeats map[lineKey]int
}

// lineKey is one line's binding with one registrar.
type lineKey struct {
	port      int
	registrar string
}

func (l *lineLog) log(log *slog.Logger, e sip.LineStatus) {
	what := "unregistered"
	if e.Registered {
		what = "registered"
	}
	if e.Err != nil {
		what += " " + e.Err.Error()
	}
	k := lineKey{e.Port, e.Registrar}
	l.mu.Lock()
	if l.last == nil {
		l.last, l.repeats = map[lineKey]string{}, map[lineKey]int{}
	}
	same := l.last[k] == what
	if same {
		l.repeats[k]++
	} else {
		l.last[k], l.repeats[k] = what, 0
	}
	n := l.repeats[k]
	l.mu.Unlock()
	switch {
	case same:
		log.Debug("line registration unchanged", "port", e.Port, "registrar", e.Registrar, "registered", e.Registered, "repeats", n, "err", e.Err)
	case e.Err != nil:
		log.Warn("line registration", "port", e.Port, "registrar", e.Registrar, "registered", e.Registered, "err", e.Err)
	default:
		log.Info("line registration", "port", e.Port, "registrar", e.Registrar, "registered", e.Registered)
	}
}
