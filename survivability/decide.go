package survivability

// The brain's decisions as pure functions of what the appliance knows, so
// each is table-tested with a manual clock (decide_test.go): a registrar's
// usability across a fail-back period, a port's mode and its relay, and the
// order of the rungs of a call. The Appliance gathers the facts under its
// lock and acts on the answers; nothing here reads a clock, a device or
// the network.

import (
	"time"

	"github.com/critline/critline/hal"
)

// regFacts is what the appliance knows of one registrar. Times are the
// appliance's clock (hal.Clock.Now).
type regFacts struct {
	up       bool          // the last probes answered
	known    bool          // probed at least once since start
	everDown bool          // it has failed since start
	upSince  time.Duration // when it last came up
	// lanGated: reached over the LAN alone (via = "lan", or not set), so
	// the LAN link going down takes it down at once. One that may also be
	// reached over the modem's data path is not: the SIP user agent moves
	// it (or gives it up) on the same event.
	lanGated bool
	// holding: its network path lost its interface or data bearer and its
	// verdict is held while that comes back (sip's hold-down).
	holding bool
}

// regClass is where a registrar stands for new calls.
type regClass int

const (
	regUsable     regClass = iota // takes calls now
	regHeld                       // up, its path coming back: after the free trunks, but no mode flap
	regRecovering                 // up (or not yet probed) but still proving itself after a failure
	regDown                       // known down, or reached only over a LAN that is down
)

// registrarUsable says whether a registrar counts as a route for the mode:
// up, reachable (not only over a LAN that is down) and, if it failed since
// start, up for failbackAfter. A held registrar still counts, so the mode
// does not flap while its path comes back.
func registrarUsable(r regFacts, lanUp bool, now, failbackAfter time.Duration) bool {
	if !r.up || (r.lanGated && !lanUp) {
		return false
	}
	return !r.everDown || now-r.upSince >= failbackAfter
}

// classifyRegistrar says where a registrar stands for a new call: down while
// it is reached only over a LAN that is down; held while its path comes
// back; usable while up and, if it failed since start, up for
// failbackAfter; recovering while it proves itself (or before its first
// probe); down otherwise.
func classifyRegistrar(r regFacts, lanUp bool, now, failbackAfter time.Duration) regClass {
	switch {
	case r.lanGated && !lanUp:
		return regDown
	case r.holding && r.up:
		return regHeld
	case registrarUsable(r, lanUp, now, failbackAfter):
		return regUsable
	case r.up || !r.known:
		return regRecovering
	}
	return regDown
}

// failbackDue is how long until the first recovering registrar becomes
// usable (0: none is waiting). A registrar reached only over a LAN that is
// down waits for nothing.
func failbackDue(regs []regFacts, lanUp bool, now, failbackAfter time.Duration) time.Duration {
	var next time.Duration
	for _, r := range regs {
		if r.up && r.everDown && (lanUp || !r.lanGated) {
			if left := failbackAfter - (now - r.upSince); left > 0 && (next == 0 || left < next) {
				next = left
			}
		}
	}
	return next
}

// trunkClass is where a trunk stands for a new call.
type trunkClass int

const (
	trunkFree          trunkClass = iota // idle and registered: any call
	trunkFreeLimited                     // idle, limited service: emergency calls only
	trunkBusy                            // carrying an ordinary call (an emergency call may pre-empt it)
	trunkBusyEmergency                   // carrying an emergency call: never pre-empted, only waited for
	trunkNoNetwork                       // no network at all (tried last for an emergency call)
)

// classifyTrunk says where a trunk stands from its status and its current
// call (inCall; emergency when that call is to an emergency number).
func classifyTrunk(st hal.TrunkStatus, inCall, emergency bool) trunkClass {
	switch {
	case inCall && emergency:
		return trunkBusyEmergency
	case inCall:
		return trunkBusy
	case st.CanCall():
		return trunkFree
	case st.CanCallEmergency():
		return trunkFreeLimited
	}
	return trunkNoNetwork
}

// step is one rung of a planned ladder: registrar or trunk number i, in
// configured order.
type step struct {
	kind RungKind
	i    int
}

// planLadder orders the rungs of a call. An ordinary call takes the
// usable registrars, then the free trunks, then the held registrars (a
// call had better not wait on a path coming back), then the recovering
// ones, each in configured order. An emergency call takes every rung there is:
// the usable registrars and free trunks in emergency_route order (trunks
// in limited service after the registered ones), the held and recovering
// registrars, busy trunks (their call pre-empted), registrars known down,
// trunks with no network, and last a trunk carrying another emergency call
// (waited for, never pre-empted).
func planLadder(regs []regClass, trunks []trunkClass, emergency bool, route string) []step {
	usable := pick(RungRegistrar, regs, regUsable)
	held := pick(RungRegistrar, regs, regHeld)
	recovering := pick(RungRegistrar, regs, regRecovering)
	free := pick(RungTrunk, trunks, trunkFree)
	if !emergency {
		return concat(usable, free, held, recovering)
	}
	limited := pick(RungTrunk, trunks, trunkFreeLimited)
	var first []step
	if route == EmergencyTrunkFirst {
		first = concat(free, limited, usable)
	} else {
		first = concat(usable, free, limited)
	}
	return concat(first, held, recovering,
		pick(RungTrunk, trunks, trunkBusy),
		pick(RungRegistrar, regs, regDown),
		pick(RungTrunk, trunks, trunkNoNetwork),
		pick(RungTrunk, trunks, trunkBusyEmergency))
}

// pick lists the rungs of one kind whose class is c, in configured order.
func pick[C comparable](kind RungKind, classes []C, c C) []step {
	var out []step
	for i, x := range classes {
		if x == c {
			out = append(out, step{kind, i})
		}
	}
	return out
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// noRouteWhy says why an ordinary call found no rung.
func noRouteWhy(trunks []trunkClass, lanUp bool) string {
	busy, free := 0, 0
	for _, c := range trunks {
		switch c {
		case trunkBusy, trunkBusyEmergency:
			busy++
		case trunkFree:
			free++
		}
	}
	switch {
	case busy > 0 && free == 0:
		return "every trunk is busy and no registrar is reachable"
	case !lanUp && len(trunks) == 0:
		return "LAN down and no trunk configured"
	}
	return "no route left: no registrar reachable, no trunk can call"
}

// portFacts is what the appliance knows of one port for its mode and relay.
type portFacts struct {
	mode    Mode // its mode now ("" before the first evaluation)
	idle    bool // on-hook with no call: a better mode may apply
	lineOK  bool // its line is registered with some registrar (when SIP runs)
	copper  bool // a live copper line is behind its relay
	forced  bool // an engineer put it in bypass
	sos     bool // an emergency call found no route: handset to the copper line
	sipOn   bool // the appliance has SIP lines at all
	trunkOK bool // some trunk can place an ordinary call
}

// portMode is a port's mode given the appliance's: a port whose line is not
// registered is not normal even when the appliance is; on a low battery a
// port with copper goes to lifeline (its handset to the line before the
// power fails). A worse mode applies at once, a better one only to an idle
// port, so no call in progress is cut by a mode change.
func portMode(app Mode, p portFacts, batteryLow bool) Mode {
	want := app
	if want == Normal && p.sipOn && !p.lineOK {
		want = Survivable
		if !p.trunkOK {
			want = Lifeline
		}
	}
	if batteryLow && p.copper {
		want = Lifeline
	}
	if p.mode == "" || p.idle || worse(want, p.mode) {
		return want
	}
	return p.mode
}

// wantBypass says whether a port's relay should put the handset on the line
// behind it. Bypass is a way out only where that line is copper; elsewhere
// the handset stays on the board while it has power.
func wantBypass(p portFacts, mode Mode, batteryLow bool) bool {
	return p.copper && (p.forced || p.sos || mode == Lifeline || batteryLow)
}
