package survivability

// Calls between the ports and to the groups' extensions, dialled on a port
// (issue 14 point 1). They connect inside the appliance whatever the mode:
// with local_calls = "pbx-first" (the default) through the PBX while it is
// healthy and both lines are registered with it, so it keeps its records
// and features, and inside the appliance when it is not (or when the PBX
// attempt fails in a way another route may not: a timeout, a 5xx);
// with "local" always inside. The called port rings with the calling
// port's extension and name as caller ID; the caller hears the profile's
// ringback; answered, the two ports' audio is joined by a bridge.Pair.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/bridge"
	"github.com/critline/critline/fxs/dsp"
)

// RungLocal is the rung that connects a call inside the appliance.
const RungLocal = "local"

// localRingLimit bounds how long a local call rings a port nobody answers
// (as the SIP side bounds an unanswered INVITE); then the caller hears
// congestion.
const localRingLimit = 3 * time.Minute

// localTarget finds what a dialled number reaches inside the appliance: a
// port's extension or a group's.
func (a *Appliance) localTarget(number string) (p *port, g *group) {
	if g = a.gs.byExt[number]; g != nil {
		return nil, g
	}
	return a.portByExtension(number), nil
}

// localExtensions lists the extensions a port can dial inside the
// appliance (every port's and group's), for its dial plan.
func (a *Appliance) localExtensions(o Options) []string {
	var out []string
	for _, p := range o.Ports {
		if p.Extension != "" {
			out = append(out, p.Extension)
		}
	}
	for _, g := range o.Groups {
		out = append(out, g.Extension)
	}
	return out
}

// withExtensions adds the local extensions to a dial plan, so a port can
// dial them whatever its plan allows.
func withExtensions(plan string, exts []string) string {
	var digits []string
	for _, e := range exts {
		if strings.Trim(e, "0123456789") == "" {
			digits = append(digits, e)
		}
	}
	if len(digits) == 0 || strings.TrimSpace(plan) == "" {
		return plan
	}
	return plan + "|" + strings.Join(digits, "|")
}

// localLadder is the ladder of a call to a local extension: the PBX first
// while it is healthy and both ends are registered with it (pbx-first),
// then the appliance itself. ok is false for any other number.
func (a *Appliance) localLadder(portID int, number string, emergency bool) (rungs []rung, ok bool) {
	if emergency {
		return nil, false
	}
	tp, tg := a.localTarget(number)
	if tp == nil && tg == nil {
		return nil, false
	}
	if a.gs.local == LocalCallsPBXFirst && a.sip != nil && (tp == nil || tp.opt.ID != portID) {
		now := a.o.Clock.Now()
		a.mu.Lock()
		caller := a.ports[portID]
		for _, ro := range a.o.Registrars {
			r := a.regs[ro.Name]
			if !a.usableLocked(r, now) || caller == nil || !caller.regs[ro.Name].registered {
				continue
			}
			if (tp != nil && tp.regs[ro.Name].registered) || (tg != nil && tg.lineBound(ro.Name)) {
				rungs = append(rungs, &sipRung{a: a, registrar: ro.Name})
			}
		}
		a.mu.Unlock()
	}
	return append(rungs, &localRung{a: a, port: tp, group: tg}), true
}

// localRung connects a call inside the appliance: to a port, or to a
// group's hunt.
type localRung struct {
	a     *Appliance
	port  *port
	group *group
}

func (r *localRung) name() string   { return RungLocal }
func (r *localRung) kind() RungKind { return RungLocal }

func (r *localRung) place(ctx context.Context, portID int, number string, at *attempt) (fxs.Call, error) {
	a := r.a
	c := &portCaller{a: a, port: portID, at: at}
	if r.group != nil {
		h := a.newHunt(r.group, c)
		go h.run()
		return h, nil
	}
	p := r.port
	if p.opt.ID == portID {
		return nil, &attemptError{reason: fxs.FailBusy, err: fmt.Errorf("port %d dialled its own extension %s", portID, number)}
	}
	if ok, why := a.canRing(p); !ok {
		return nil, &attemptError{reason: fxs.FailBusy, err: fmt.Errorf("port %d (%s) cannot ring: %s", p.opt.ID, number, why)}
	}
	h := a.newHunt(nil, c)
	l := &portLeg{h: h, id: p.opt.ID}
	h.ringing(l)
	pr, err := c.offerPort(h, l)
	if err != nil {
		h.end()
		return nil, &attemptError{reason: fxs.FailBusy, err: fmt.Errorf("port %d (%s): %w", p.opt.ID, number, err)}
	}
	l.mu.Lock()
	l.pr = pr
	l.mu.Unlock()
	a.log.Info("local call", "from", portID, "to", p.opt.ID, "extension", number)
	c.alerting()
	go func() {
		if h.wait(a.o.Clock.Now()+localRingLimit) == outTimeout {
			h.stopRinging("not answered")
			if !h.settled() {
				c.fail(h, groupUnanswered)
				h.end()
			}
		}
	}()
	return h, nil
}

// portCaller is a port that dialled a group's or a port's extension.
type portCaller struct {
	a    *Appliance
	port int
	at   *attempt
}

func (c *portCaller) describe() string { return fmt.Sprintf("port %d", c.port) }

func (c *portCaller) cid() dsp.CallerID {
	id := dsp.CallerID{Time: time.Now()}
	if p := c.a.ports[c.port]; p != nil {
		id.Number, id.Name = p.opt.Extension, p.opt.Name
	}
	if id.Number == "" {
		id.NumberAbsence = dsp.Unavailable
	}
	return id
}

func (c *portCaller) offerPort(h *hunt, l *portLeg) (fxs.Progress, error) {
	return c.a.ports[l.id].fx.Offer(l, c.cid())
}

// answerPort joins the two ports: each pumps its end of a pair.
func (c *portCaller) answerPort(h *hunt, l *portLeg) (fxs.Media, error) {
	pair := bridge.NewPair()
	h.mu.Lock()
	h.pair = pair
	h.mu.Unlock()
	c.a.setRoute(l.id, RungLocal)
	c.at.update(fxs.CallUpdate{State: fxs.CallAnswered, Media: pair.A(), Detail: fmt.Sprintf("answered by port %d", l.id)})
	return pair.B(), nil
}

func (c *portCaller) outside() reach { return reachLadder }

// connectOutside gives the port the outside leg's media to pump.
func (c *portCaller) connectOutside(_ context.Context, _ *hunt, m fxs.Media) error {
	c.at.update(fxs.CallUpdate{State: fxs.CallAnswered, Media: m, Detail: "answered by an outside member"})
	return nil
}

func (c *portCaller) alerting() {
	c.at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "ringing inside the appliance"})
}

func (c *portCaller) fail(_ *hunt, result string) {
	reason := fxs.FailCongestion
	if result == groupNoMember {
		reason = fxs.FailBusy
	}
	c.at.fail(false, reason, "nobody answered: "+result)
}

func (c *portCaller) release() {
	c.at.update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "far end cleared"})
}
