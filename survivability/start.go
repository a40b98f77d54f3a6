package survivability

import (
	"log/slog"
	"sync"
	"time"

	"github.com/critline/critline/sip"
)

// startHold bounds how long the first mode decision waits for the first
// health reports. Until the decision the relays stay in bypass, as the
// board opened them, and status reports lifeline with a "starting" reason;
// READY is not held up by it.
const startHold = 10 * time.Second

// startingReason is the mode reason status gives until the first decision.
const startingReason = "starting: waiting for the first registrar probes and trunk checks (handsets on the line behind the relays until then)"

// readyToDecideLocked reports whether the appliance may make its first mode
// decision: once every registrar has been probed (up or down) and a route is
// up, or there is no trunk to wait for; otherwise startHold after Run
// began. Deciding earlier logged and recorded lifeline at every start
// ("no route left"), a few milliseconds before the trunk or the PBX
// answered. a.mu must be held.
func (a *Appliance) readyToDecideLocked(now time.Time) bool {
	if a.decided {
		return true
	}
	if now.Sub(a.runSince) < startHold {
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
	a.decided = true
	return true
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
	last    map[int]string
	repeats map[int]int
}

func (l *lineLog) log(log *slog.Logger, e sip.LineStatus) {
	key := e.Registrar
	if e.Registered {
		key += " registered"
	}
	if e.Err != nil {
		key += " " + e.Err.Error()
	}
	l.mu.Lock()
	if l.last == nil {
		l.last, l.repeats = map[int]string{}, map[int]int{}
	}
	same := l.last[e.Port] == key
	if same {
		l.repeats[e.Port]++
	} else {
		l.last[e.Port], l.repeats[e.Port] = key, 0
	}
	n := l.repeats[e.Port]
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
