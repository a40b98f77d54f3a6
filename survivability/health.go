package survivability

import (
	"fmt"
	"slices"
	"strings"

	"github.com/critline/critline/sip"
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
	Registrars map[string]bool // name -> usable (absent = not monitored)
	// RegistrarPaths: name -> the network path the registrar is reached
	// by (sip.PathLAN, sip.PathWWAN); absent or "" is the LAN. A registrar
	// reached over the LAN is no route while the LAN is down; "any" is one
	// leaving the LAN for another path this instant (not gated by it).
	RegistrarPaths map[string]string
	// Trunks: name -> can place an ordinary call (modem up and
	// registered). A trunk that cannot is no route for the mode.
	Trunks map[string]bool
	// EmergencyTrunks: name -> can place an emergency call (registered, or
	// limited service).
	EmergencyTrunks map[string]bool
	// Copper: every port has a copper PSTN line behind its relay, so on a
	// low battery every handset can move to it.
	Copper bool
	Forced Mode // set by an operator; "" = automatic
}

// decide maps health to a mode and a reason a person can read. Lifeline
// means no route is left for an ordinary call (or the battery is low and
// every handset has a copper line to go to); handsets move to the copper
// line only where there is one (the appliance does that per port).
func decide(h Health) (Mode, string) {
	if h.Forced != "" {
		return h.Forced, "forced by operator"
	}
	if h.BatteryLow && h.Copper {
		return Lifeline, "battery low: handsets to the copper lines"
	}
	power := ""
	switch {
	case h.BatteryLow:
		power = "; battery low: serving calls on the board (not every port has a copper line)"
	case !h.Mains:
		power = "; on battery"
	}
	var regUp []string // "cloud", or "cloud over wwan" off the LAN
	for _, n := range upNames(h.Registrars) {
		switch p := h.RegistrarPaths[n]; {
		case p == "" || p == sip.PathLAN:
			if h.LANUp {
				regUp = append(regUp, n)
			}
		case p == "any":
			regUp = append(regUp, n)
		default:
			regUp = append(regUp, n+" over "+p)
		}
	}
	trunkUp := upNames(h.Trunks)
	if len(regUp) > 0 {
		why := "registrar " + strings.Join(regUp, ", ") + " reachable"
		if !h.LANUp {
			why = "LAN down; " + why
		}
		return Normal, why + power
	}
	why := "no registrar reachable"
	if !h.LANUp {
		why = "LAN down"
	}
	if len(trunkUp) > 0 {
		return Survivable, fmt.Sprintf("%s; trunk %s up%s", why, strings.Join(trunkUp, ", "), power)
	}
	var limited []string
	for _, n := range upNames(h.EmergencyTrunks) {
		if !h.Trunks[n] {
			limited = append(limited, n)
		}
	}
	why += "; no trunk can call: no route left"
	if len(limited) > 0 {
		why += fmt.Sprintf(" (trunk %s: emergency calls only)", strings.Join(limited, ", "))
	}
	return Lifeline, why + power
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
