package survivability

import (
	"fmt"
	"slices"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// setRelayNow commands a relay and records it.
func (a *Appliance) setRelayNow(p *port, bypass bool, reason string) {
	was := p.hw.Relay.Bypass()
	if err := p.hw.Relay.SetBypass(bypass); err != nil {
		a.log.Error("relay", "port", p.opt.ID, "bypass", bypass, "err", err)
		return
	}
	a.m.relayBypass.WithLabelValues(portLabel(p.opt.ID)).Set(b2f(bypass))
	a.updateDivertActive(p)
	if was != bypass {
		a.log.Warn("relay", "port", p.opt.ID, "bypass", bypass, "reason", reason)
	}
}

func (a *Appliance) isEmergency(number string) bool { return slices.Contains(a.o.Emergency, number) }

// Emergency routes: the order of an emergency call's rungs.
const (
	// EmergencyPBXFirst: while the PBX is healthy, emergency calls leave by
	// it, so the emergency operator gets the site's own number and
	// registered address; the trunks follow at once on any failure.
	EmergencyPBXFirst = "pbx-first"
	// EmergencyTrunkFirst: emergency calls leave by a trunk first (the
	// operator gets the SIM's number and a cell-level location).
	EmergencyTrunkFirst = "trunk-first"
)

// ladder lists the rungs a call tries, in order, or says why there are none.
//
// Ordinary calls: registrars that are healthy and trusted, then trunks that
// can call (registered) and are free, then registrars still proving
// themselves after a failure. A registrar whose network path is being
// re-established (its verdict held, see sip.Path.HoldDown) comes after the
// free trunks: the mode does not flap for it, but a call had better not
// wait on it.
//
// Emergency calls use every rung there is, best first, so they never give
// up while one is left: healthy registrars and free trunks (in the
// configured emergency route's order; trunks in limited service after
// registered ones), then recovering registrars, then busy trunks (their
// ordinary call is pre-empted: only when nothing else is left), then
// registrars known down and trunks reporting no network, which may still
// get through, and last a trunk carrying another emergency call (waited for
// a moment, never pre-empted).
func (a *Appliance) ladder(portID int, number string, emergency bool) ([]rung, string) {
	if rs, ok := a.localLadder(portID, number, emergency); ok {
		return rs, "" // a port's or a group's extension (local.go)
	}
	if !emergency && a.isVoicemail(portID, number) {
		rs, why := a.fullLadder(emergency)
		if rs = voicemailRungs(rs); len(rs) == 0 && why == "" {
			why = "the voicemail is reached through a registrar, and none is usable"
		}
		return rs, why
	}
	return a.fullLadder(emergency)
}

// fullLadder is ladder for any number not local: registrars and trunks.
func (a *Appliance) fullLadder(emergency bool) ([]rung, string) {
	now := a.o.Clock.Now()
	var regs []regClass
	a.mu.Lock()
	lanUp := a.lanUp
	if a.sip != nil {
		for _, ro := range a.o.Registrars {
			regs = append(regs, a.regClassLocked(a.regs[ro.Name], now))
		}
	}
	a.mu.Unlock()
	trunks := make([]trunkClass, len(a.trunks))
	for i, tl := range a.trunks {
		cur := tl.current()
		if cur != nil && cur.test != nil {
			cur = nil // a path test gives way to any call (testcall.go)
		}
		trunks[i] = classifyTrunk(tl.status(), cur != nil, cur != nil && cur.emerg)
	}
	plan := planLadder(regs, trunks, emergency, a.o.EmergencyRoute)
	if len(plan) == 0 {
		return nil, noRouteWhy(trunks, lanUp)
	}
	out := make([]rung, len(plan))
	for i, st := range plan {
		if st.kind == RungTrunk {
			out[i] = a.trunks[st.i]
		} else {
			out[i] = &sipRung{a: a, registrar: a.o.Registrars[st.i].Name}
		}
	}
	return out, ""
}

// after is a channel closed once d has passed on the appliance's clock,
// and a function that stops it early.
func (a *Appliance) after(d time.Duration) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	t := a.o.Clock.AfterFunc(d, func() { close(ch) })
	return ch, func() { t.Stop() }
}

// screen applies the toll-fraud guard to a call leaving by a trunk: it
// rewrites internal numbers to PSTN ones and refuses premium, international
// or capped calls. Emergency numbers are never screened; calls to a
// registrar are the PBX's to police.
func (a *Appliance) screen(rg rung, number string, emergency bool) (string, time.Duration, error) {
	if emergency || rg.kind() != RungTrunk || a.guard == nil {
		return number, 0, nil
	}
	d, err := a.guard.Check(rg.name(), number)
	if err != nil {
		return "", 0, err
	}
	if !d.Allowed {
		return "", 0, fmt.Errorf("%s to %s blocked: %s", d.Number, rg.name(), d.Reason)
	}
	return d.Number, d.MaxDuration, nil
}

// callStarted counts a trunk call's minutes from its answer and arms its
// duration cap.
func (a *Appliance) callStarted(at *attempt) {
	if !at.trunk || a.guard == nil {
		return
	}
	a.guard.CallStarted(at.rungName)
	if at.maxDur > 0 {
		lc := at.lc
		at.cap = a.o.Clock.AfterFunc(at.maxDur, func() {
			a.log.Warn("call reached its maximum duration; clearing it", "port", lc.port, "route", at.rungName, "max", at.maxDur)
			_ = lc.Hangup()
			lc.progress.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "maximum call duration reached"})
		})
	}
}

// callFinished books a trunk call's minutes.
func (a *Appliance) callFinished(at *attempt) {
	if !at.trunk || a.guard == nil {
		return
	}
	at.mu.Lock()
	answeredAt := at.answeredAt
	if at.cap != nil {
		at.cap.Stop()
	}
	at.mu.Unlock()
	a.guard.CallEnded(at.rungName, a.o.Clock.Now()-answeredAt)
}

// noRoute is called when a call found no way out at all (an empty
// ladder).
func (a *Appliance) noRoute(portID int, number string, emergency bool, why string) {
	a.log.Error("no route for a call", "port", portID, "number", number, "emergency", emergency, "why", why)
	if emergency {
		a.emergencyFailed(portID, number, EmergencyNoRoute, why)
	}
}

// Why an emergency call failed (critline_emergency_calls_failed_total).
const (
	EmergencyNoRoute          = "no-route"           // no rung at all
	EmergencyEveryRouteFailed = "every-route-failed" // every rung was tried and failed
)

// emergencyFailed records an emergency call that could not be placed and
// gives the porter the last way out there is: where a copper line is
// behind the port's relay, the relay drops at once (the porter is off-hook
// but in no call), the handset lands on the PSTN line, hears the
// exchange's dial tone and can dial again. Without copper the handset
// stays on the board (bypass would leave it on nothing): the porter hears
// congestion and can dial again, and the NOC is alerted.
func (a *Appliance) emergencyFailed(portID int, number, reason, why string) {
	a.m.emergencyFailed.WithLabelValues(reason).Inc()
	p := a.ports[portID]
	copper := p != nil && p.copper
	a.log.Error("EMERGENCY CALL FAILED", "port", portID, "number", number, "reason", reason, "why", why, "copper_line", copper)
	if !copper {
		return
	}
	a.mu.Lock()
	p.sos = true
	a.mu.Unlock()
	a.setRelayNow(p, true, "emergency call with no route: handset to the copper line")
}

func (a *Appliance) callResult(portID int, dir, route, result string, emergency bool) {
	a.m.calls.WithLabelValues(portLabel(portID), dir, route, result).Inc()
	if emergency && dir == "out" && (result == "answered" || result == "abandoned" || result == "cancelled") {
		a.m.emergency.WithLabelValues(route).Inc()
	}
}

func (a *Appliance) callSetup(route string, d time.Duration) {
	a.m.setup.WithLabelValues(route).Observe(d.Seconds())
}

// onTrunkStatus records a trunk's health.
func (a *Appliance) onTrunkStatus(name string, st hal.TrunkStatus, changed bool) {
	if changed {
		a.log.Warn("trunk", "trunk", name, "modem_up", st.Up, "service", st.Service, "can_call", st.CanCall(),
			"emergency_calls", st.CanCallEmergency(), "detail", st.Detail)
		a.reevaluate("trunk " + name)
	}
}

// offerInbound rings the given ports (all when none given) for a call that
// came in on a trunk; it reports whether any port rings. A port that cannot
// ring (handset on the copper line, left off-hook, engine stopped) is never
// offered the call. While shedding load on a low battery, one port rings.
func (a *Appliance) offerInbound(c *trunkCall, ports []int, cid dsp.CallerID) bool {
	if len(ports) == 0 {
		ports = a.order
	}
	a.endCopperCheck() // a port rings only with its handset on the board
	a.mu.Lock()
	shed := a.shedding
	a.mu.Unlock()
	var rang []int
	for _, id := range ports {
		p := a.ports[id]
		if p == nil {
			continue
		}
		if ok, why := a.canRing(p); !ok {
			a.log.Info("port cannot ring: not offered the trunk call", "port", id, "why", why)
			continue
		}
		pc := &portCall{c: c, port: id}
		pr, err := p.fx.Offer(pc, cid)
		if err != nil {
			a.log.Info("port cannot ring", "port", id, "err", err)
			continue
		}
		c.mu.Lock()
		c.offers[id] = pr
		c.mu.Unlock()
		rang = append(rang, id)
		if shed {
			break
		}
	}
	if len(rang) > 0 {
		a.log.Info("inbound trunk call ringing", "trunk", c.tl.nm, "caller", cid.Number, "ports", rang)
	}
	return len(rang) > 0
}

func (a *Appliance) inboundAnswered(c *trunkCall, portID int) {
	a.setRoute(portID, c.tl.nm)
	a.log.Info("inbound trunk call answered", "trunk", c.tl.nm, "port", portID)
}

func (a *Appliance) inboundEnded(c *trunkCall, answered bool) {
	c.mu.Lock()
	port := c.port
	c.mu.Unlock()
	if a.inboundOver(c, answered) {
		return // sent on by the network: counted as diverted
	}
	result := "cancelled"
	if answered {
		result = "answered"
	}
	a.callResult(port, "in", c.tl.nm, result, false)
}

// inboundUnanswered counts an inbound trunk call nobody answered against
// each port it rang (none rang: it was no port's call), never against a
// port "0".
func (a *Appliance) inboundUnanswered(c *trunkCall, rang map[int]fxs.Progress) {
	for id := range rang {
		a.callResult(id, "in", c.tl.nm, "cancelled", false)
	}
}

func (a *Appliance) trunkDigit(c *trunkCall, d rune) {
	a.log.Debug("digit from trunk", "trunk", c.tl.nm, "digit", string(d))
}
