package survivability

import (
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/sip"
)

// Why a port cannot ring (the reason labels of critline_diverts_total and
// of the log).
const (
	unreachableBypass     = "bypass"        // the handset is on the copper line
	unreachableOffHook    = "left-off-hook" // the handset is off the hook, the port parked
	unreachableNotRunning = "not-running"   // the port's engine is not running
)

// canRing says whether an inbound call may be offered to a port, and why
// not: a handset on the copper line behind the relay, one left off the
// hook (the port parked) or a port whose engine is not running would ring
// for nobody. A port that is merely busy (in a call, dialling) can ring
// later; Offer says so.
func (a *Appliance) canRing(p *port) (bool, string) {
	if p.hw.Relay.Bypass() && !p.checking.Load() { // a copper check gives the handset back for a call (copper.go)
		return false, unreachableBypass
	}
	sn := p.fx.Snapshot()
	switch {
	case sn.Condition == fxs.ConditionLeftOffHook || sn.State == fxs.StateParked:
		return false, unreachableOffHook
	case sn.State == fxs.StateStopped:
		return false, unreachableNotRunning
	}
	return true, ""
}

// unreachable answers an inbound SIP call for a port that cannot ring at
// once, with 480 Temporarily Unavailable: the PBX applies its own divert
// for an unreachable extension (call forward on no answer/not reachable,
// voicemail) straight away instead of ringing for a minute into a 408. 480
// rather than 486: the porter is not engaged in a call, and 486 would
// trigger forward-on-busy and play busy to the caller as if someone were
// talking. A divert configured on the appliance is applied before this
// (302, see divertTarget).
func (a *Appliance) unreachable(ic *sip.IncomingCall, p *port, why string) {
	a.log.Info("inbound SIP call for a port that cannot ring: 480", "port", p.opt.ID, "why", why, "from", ic.From, "registrar", ic.Registrar)
	_ = ic.Reject(480, "Temporarily Unavailable")
	a.callResult(p.opt.ID, "in", ic.Registrar, "unavailable", false)
}
