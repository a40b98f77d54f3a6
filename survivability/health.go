package survivability

import (
	"fmt"
	"slices"
	"strings"
)

// Mode is what the appliance (or one port) can do right now.
type Mode string

const (
	// Normal: calls go to a SIP registrar.
	Normal Mode = "normal"
	// Survivable: the PBX or LAN is gone; calls go out on a trunk.
	Survivable Mode = "survivable"
	// Lifeline: no route is left (or power is failing); the relay puts the
	// handset straight onto the PSTN line.
	Lifeline Mode = "lifeline"
)

// Modes lists every mode, for metrics.
func Modes() []Mode { return []Mode{Normal, Survivable, Lifeline} }

// Health is every signal the mode depends on.
type Health struct {
	Mains      bool
	BatteryLow bool
	LANUp      bool
	Registrars map[string]bool // name -> up (absent = not monitored)
	Trunks     map[string]bool // name -> up
	Forced     Mode            // set by an operator; "" = automatic
}

// decide maps health to a mode and a reason a person can read.
func decide(h Health) (Mode, string) {
	if h.Forced != "" {
		return h.Forced, "forced by operator"
	}
	if h.BatteryLow {
		return Lifeline, "battery low"
	}
	regUp := upNames(h.Registrars)
	trunkUp := upNames(h.Trunks)
	if h.LANUp && len(regUp) > 0 {
		r := "registrar " + strings.Join(regUp, ", ") + " reachable"
		if !h.Mains {
			r += "; on battery"
		}
		return Normal, r
	}
	why := "no registrar reachable"
	if !h.LANUp {
		why = "LAN down"
	}
	if len(trunkUp) > 0 {
		return Survivable, fmt.Sprintf("%s; trunk %s up", why, strings.Join(trunkUp, ", "))
	}
	return Lifeline, why + "; no trunk up: no route left"
}

func upNames(m map[string]bool) []string {
	var out []string
	for k, up := range m {
		if up {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
