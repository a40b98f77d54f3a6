package survivability

// The mobile network's own services on trunk calls (issue 11 points 5, 6):
// diverts and forwarding of calls that arrive on the trunk, by call
// deflection (a ringing call is sent on unanswered) or, when deflection is
// refused, by answering and explicit call transfer; and a second caller
// during a trunk call (call waiting), rung on another idle port or
// announced to the porter in the call with the call-waiting tone and caller
// ID, and taken, swapped or refused with the profile's recall codes.
//
// One voice channel, two calls. The modem carries the audio of one call at
// a time; the network keeps the other held or waiting. So:
//   - A waiting call rung on another port (B) and answered there puts the
//     first porter's (A's) caller on hold (AT+CHLD=2): A hears the
//     call-waiting tone as a hold indication while B talks. When B hangs up,
//     A's caller comes back (AT+CHLD=1). If A hangs up meanwhile, A's
//     caller is released; A's recall codes do nothing while held.
//   - A waiting call announced to A is A's to take (R2: hold and take,
//     again to swap; R1: end this call and take the other; R0: refuse it,
//     the caller hears busy; R4 where the profile has it: join the two and
//     leave). The port keeps one audio stream: the network swaps which call
//     it carries. If A hangs up with a caller still held, that caller rings
//     A back.
//   - A third caller gets whatever the network gives (busy, or its own
//     forward on busy): the trunk keeps two calls at most.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// Reasons a trunk call was missed (critline_missed_calls_total).
const (
	missedNoPort       = "no-port"       // no port could ring and no divert took it
	missedUnanswered   = "unanswered"    // it rang (or waited) and the caller gave up
	missedRejected     = "rejected"      // the porter refused the waiting call (R0)
	missedDivertFailed = "divert-failed" // it could go nowhere: the divert was refused
)

// How long a service request on the trunk may take.
const trunkServiceTimeout = 30 * time.Second

// recentMissed is how many missed calls status lists.
const recentMissed = 10

// trunkSvc is what a trunk line keeps for its second call and its
// network's services. second is guarded by trunkLine.mu, the rest by mu.
type trunkSvc struct {
	svc    hal.TrunkServices // nil: the trunk offers none
	second *trunkCall        // the call beside tl.cur: waiting, or one of two

	mu     sync.Mutex
	missed uint64
	recent []control.MissedCall
}

// callExtra is what a trunk call carries for the services; guarded by
// trunkCall.mu.
type callExtra struct {
	waiting  bool // a second call, not yet taken
	held     bool // on hold
	cid      dsp.CallerID
	cwPort   int       // the port hearing the call-waiting tone for it
	diverted bool      // sent elsewhere (deflected or transferred): not missed
	seat     *seat     // the porter in it, or whose call it is while held
	timer    hal.Timer // the no-answer divert
	missed   bool      // counted as missed
}

// svcMetrics are the series of this file.
type svcMetrics struct {
	missed  *prometheus.CounterVec // trunk, reason
	diverts *prometheus.CounterVec // trunk, method, result
}

func newSvcMetrics(reg prometheus.Registerer) (*svcMetrics, error) {
	m := &svcMetrics{
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_missed_calls_total",
			Help: "Calls that arrived on a trunk and reached nobody, by reason: no-port (no port could ring and no divert took it), unanswered (the caller gave up ringing or waiting), rejected (the porter refused a waiting call), divert-failed (it could only be diverted and the network refused).",
		}, []string{"trunk", "reason"}),
		diverts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_trunk_diverts_total",
			Help: "Trunk calls sent on by the mobile network, by method (deflection, transfer) and result (ok, refused, failed).",
		}, []string{"trunk", "method", "result"}),
	}
	for _, c := range []prometheus.Collector{m.missed, m.diverts} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// initServices sets up every trunk's services and their series.
func (a *Appliance) initServices() error {
	m, err := newSvcMetrics(a.o.Registerer)
	if err != nil {
		return err
	}
	a.sm = m
	for _, tl := range a.trunks {
		tl.sv = &trunkSvc{}
		tl.sv.svc, _ = tl.t.(hal.TrunkServices)
		for _, r := range []string{missedNoPort, missedUnanswered, missedRejected, missedDivertFailed} {
			m.missed.WithLabelValues(tl.nm, r)
		}
		for _, meth := range []string{"deflection", "transfer"} {
			for _, res := range []string{"ok", "refused", "failed"} {
				m.diverts.WithLabelValues(tl.nm, meth, res)
			}
		}
	}
	return nil
}

// ---- missed calls ----

// missedCall counts a call that reached nobody, once.
func (a *Appliance) missedCall(c *trunkCall, reason string) {
	c.mu.Lock()
	if c.x.missed || c.x.diverted {
		c.mu.Unlock()
		return
	}
	c.x.missed = true
	cid := c.x.cid
	c.mu.Unlock()
	caller := cid.Number
	switch {
	case caller != "":
	case cid.NumberAbsence == dsp.Private:
		caller = "withheld"
	default:
		caller = "unavailable"
	}
	tl := c.tl
	tl.sv.mu.Lock()
	tl.sv.missed++
	tl.sv.recent = append(tl.sv.recent, control.MissedCall{At: time.Now(), Caller: caller, Reason: reason})
	if len(tl.sv.recent) > recentMissed {
		tl.sv.recent = tl.sv.recent[len(tl.sv.recent)-recentMissed:]
	}
	tl.sv.mu.Unlock()
	a.sm.missed.WithLabelValues(tl.nm, reason).Inc()
	a.log.Warn("missed call on the trunk", "trunk", tl.nm, "caller", caller, "reason", reason)
}

// inboundOver is told an inbound trunk call is over: unanswered, it is a
// missed call, unless the network sent it on (then it reports true: the
// call was counted as diverted).
func (a *Appliance) inboundOver(c *trunkCall, answered bool) (diverted bool) {
	c.mu.Lock()
	diverted = c.x.diverted
	c.mu.Unlock()
	if !diverted && !answered {
		a.missedCall(c, missedUnanswered)
	}
	return diverted
}

// trunkServicesStatus adds the services and missed calls to a trunk's
// status.
func (a *Appliance) trunkServicesStatus(tl *trunkLine, ct *control.Trunk) {
	if tl.sv.svc != nil {
		for _, s := range tl.sv.svc.Services() {
			ct.Services = append(ct.Services, control.TrunkService{Name: string(s.Service), Support: string(s.Support), Detail: s.Detail, Since: s.Since})
		}
	}
	tl.sv.mu.Lock()
	ct.MissedCalls = tl.sv.missed
	ct.RecentMissed = append([]control.MissedCall(nil), tl.sv.recent...)
	tl.sv.mu.Unlock()
	tl.mu.Lock()
	w := tl.sv.second
	tl.mu.Unlock()
	if w != nil {
		w.mu.Lock()
		if w.x.waiting {
			ct.Waiting = w.x.cid.Number
			if ct.Waiting == "" {
				ct.Waiting = "withheld or unavailable"
			}
		}
		w.mu.Unlock()
	}
}

// usable says whether a service is worth trying on the trunk.
func (tl *trunkLine) usable(n hal.TrunkService) bool {
	if tl.sv.svc == nil {
		return false
	}
	for _, s := range tl.sv.svc.Services() {
		if s.Service == n {
			return s.Usable()
		}
	}
	return false
}

// ---- inbound calls: forwarding and diverts ----

// target is where a divert or forward sends a call, and why.
type target struct {
	number string
	why    string // the reason label of critline_diverts_total
	port   int    // the port whose setting it is
	key    string // the setting, for error messages
}

// inboundPlan is how an inbound trunk call is handled.
type inboundPlan struct {
	ring     []int   // ports to ring
	fallback []int   // ports forwarded unconditionally that could ring: rung if the forward fails
	now      *target // divert at once when no port rings
	noAnswer *target // divert after after when it rings unanswered
	after    time.Duration
}

// planInbound decides for an inbound trunk call, port by port in order: a
// port forwarded unconditionally does not ring (its forward is the call's
// divert when no port rings); one whose handset cannot be reached does not
// ring (its divert_to is); a busy one does not ring (its forward on busy
// is); the others ring, and the earliest no-answer forward or divert_after
// among them sends the call on if nobody answers.
func (a *Appliance) planInbound(ports []int) inboundPlan {
	if len(ports) == 0 {
		ports = a.order
	}
	var pl inboundPlan
	var uncond, unreach, busy *target
	for _, id := range ports {
		p := a.ports[id]
		if p == nil {
			continue
		}
		fw := a.forwardingOf(id)
		ok, why := a.canRing(p)
		sn := p.fx.Snapshot()
		idle := ok && sn.State == fxs.StateIdle && !sn.OffHook
		if fw.Unconditional != "" {
			if uncond == nil {
				uncond = &target{fw.Unconditional, "forward-unconditional", id, fmt.Sprintf("port %d forwarding (unconditional)", id)}
			}
			if idle {
				pl.fallback = append(pl.fallback, id)
			}
			continue
		}
		if !ok {
			if unreach == nil && p.opt.DivertTo != "" {
				unreach = &target{p.opt.DivertTo, why, id, fmt.Sprintf("port %d divert_to", id)}
			}
			continue
		}
		if !idle {
			if busy == nil && fw.Busy != "" {
				busy = &target{fw.Busy, "forward-busy", id, fmt.Sprintf("port %d forwarding (busy)", id)}
			}
			continue
		}
		pl.ring = append(pl.ring, id)
		cand := func(t *target, d time.Duration) {
			if d > 0 && (pl.noAnswer == nil || d < pl.after) {
				pl.noAnswer, pl.after = t, d
			}
		}
		if fw.NoAnswer != "" {
			cand(&target{fw.NoAnswer, "forward-no-answer", id, fmt.Sprintf("port %d forwarding (no answer)", id)}, fw.NoAnswerAfter)
		}
		if d := a.divertAfter(p); d > 0 {
			cand(&target{p.opt.DivertTo, "no-answer", id, fmt.Sprintf("port %d divert_after", id)}, d)
		}
	}
	for _, t := range []*target{uncond, unreach, busy} {
		if t != nil {
			pl.now = t
			break
		}
	}
	return pl
}

// routeInbound handles an inbound trunk call: divert it at once, ring the
// ports that can ring (sending it on if nobody answers), or, when nothing
// can take it, refuse it at once rather than leave the caller ringing.
func (a *Appliance) routeInbound(c *trunkCall, ports []int, cid dsp.CallerID) {
	c.mu.Lock()
	c.x.cid = cid
	c.mu.Unlock()
	pl := a.planInbound(ports)
	if len(pl.ring) > 0 && a.offerInbound(c, pl.ring, cid) {
		if pl.noAnswer != nil {
			a.armNoAnswer(c, *pl.noAnswer, pl.after)
		}
		return
	}
	if pl.now != nil {
		switch a.divertTrunkCall(c, *pl.now, true) {
		case divertDone:
			return
		case divertGone:
			a.missedCall(c, missedDivertFailed)
			return
		}
		if len(pl.fallback) > 0 && a.offerInbound(c, pl.fallback, cid) {
			a.log.Warn("inbound trunk call: forwarding failed; ringing the forwarded ports instead", "trunk", c.tl.nm, "ports", pl.fallback)
			return
		}
		a.log.Warn("inbound trunk call: the divert failed and no port can ring; refusing it", "trunk", c.tl.nm, "caller", cid.Number)
		a.missedCall(c, missedDivertFailed)
	} else {
		a.log.Warn("inbound trunk call: no port can ring and no divert is set; refusing it", "trunk", c.tl.nm, "caller", cid.Number)
		a.missedCall(c, missedNoPort)
	}
	_ = c.Hangup()
}

// armNoAnswer sends a ringing call on after d unless someone answers.
func (a *Appliance) armNoAnswer(c *trunkCall, t target, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x.timer != nil {
		c.x.timer.Stop()
	}
	c.x.timer = a.o.Clock.AfterFunc(d, func() {
		c.mu.Lock()
		ringing := !c.answer && !c.over
		c.mu.Unlock()
		if !ringing {
			return
		}
		a.log.Info("trunk call unanswered: sending it on", "trunk", c.tl.nm, "to", t.number, "after", d, "reason", t.why)
		if a.divertTrunkCall(c, t, false) != divertDone {
			a.log.Warn("trunk call unanswered and the divert failed: it keeps ringing the ports", "trunk", c.tl.nm)
		}
	})
}

// stopNoAnswer disarms a call's no-answer divert.
func (c *trunkCall) stopNoAnswer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x.timer != nil {
		c.x.timer.Stop()
		c.x.timer = nil
	}
}

type divertResult int

const (
	divertFallback divertResult = iota // nothing done: the call is as it was
	divertDone                         // the network took it elsewhere
	divertGone                         // answered for a transfer that failed, then cleared
)

// trunkNumber turns a divert or forward target into a number the trunk's
// network can send a call to: no sip: URI, and through the toll-fraud
// guard's rewriting and limits as a call out of the trunk would be.
func (a *Appliance) trunkNumber(tl *trunkLine, t target) (string, error) {
	n := strings.TrimSpace(t.number)
	if strings.HasPrefix(n, "sip:") {
		return "", fmt.Errorf("%s is %s, a SIP URI: a call on trunk %s can only be sent to a phone number; set a number there", t.key, n, tl.nm)
	}
	if a.guard == nil {
		return n, nil
	}
	d, err := a.guard.Check(tl.nm, n)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", t.key, n, err)
	}
	if !d.Allowed {
		return "", fmt.Errorf("%s %s is blocked on trunk %s by the toll-fraud guard: %s", t.key, d.Number, tl.nm, d.Reason)
	}
	return d.Number, nil
}

// divertTrunkCall sends a ringing (or waiting) trunk call to t: by call
// deflection, or, when deflection is not to be had and nothing else can
// take the call (alone: no port rings it), by answering it and explicit
// call transfer.
func (a *Appliance) divertTrunkCall(c *trunkCall, t target, alone bool) divertResult {
	tl := c.tl
	number, err := a.trunkNumber(tl, t)
	if err != nil {
		a.log.Error("trunk call not diverted", "trunk", tl.nm, "err", err)
		return divertFallback
	}
	if tl.sv.svc == nil {
		a.log.Warn("trunk call not diverted: the trunk has no network services", "trunk", tl.nm, "to", number)
		return divertFallback
	}
	id := c.callID()
	if tl.usable(hal.ServiceDeflection) {
		ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
		start := a.o.Clock.Now()
		c.mu.Lock()
		c.x.diverted = true // its end is not a missed call
		c.mu.Unlock()
		err := tl.sv.svc.Deflect(ctx, id, number)
		cancel()
		if err == nil {
			a.diverted(c, t, "deflection", number, a.o.Clock.Now()-start)
			return divertDone
		}
		c.mu.Lock()
		c.x.diverted = false
		c.mu.Unlock()
		a.sm.diverts.WithLabelValues(tl.nm, "deflection", refusedOrFailed(err)).Inc()
		if errors.Is(err, hal.ErrBadTarget) {
			a.log.Error("the network refused the divert number: check it", "trunk", tl.nm, "setting", t.key, "number", number, "err", err)
			return divertFallback
		}
		a.log.Warn("call deflection failed", "trunk", tl.nm, "to", number, "err", err)
	}
	c.mu.Lock()
	waiting := c.x.waiting
	c.mu.Unlock()
	if !alone || waiting || !tl.usable(hal.ServiceTransfer) {
		return divertFallback
	}
	// Nothing else can take the call: answer it and hand it over.
	ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout+trunkDialTimeout)
	defer cancel()
	start := a.o.Clock.Now()
	if err := tl.t.Answer(ctx, id); err != nil {
		a.log.Warn("answering a trunk call to transfer it", "trunk", tl.nm, "err", err)
		return divertFallback
	}
	c.mu.Lock()
	c.x.diverted = true
	c.mu.Unlock()
	if err := tl.sv.svc.Transfer(ctx, id, number); err != nil {
		c.mu.Lock()
		c.x.diverted = false
		c.mu.Unlock()
		a.sm.diverts.WithLabelValues(tl.nm, "transfer", refusedOrFailed(err)).Inc()
		a.log.Warn("explicit call transfer failed; the call is cleared", "trunk", tl.nm, "to", number, "err", err)
		_ = c.Hangup()
		return divertGone
	}
	a.diverted(c, t, "transfer", number, a.o.Clock.Now()-start)
	return divertDone
}

func refusedOrFailed(err error) string {
	if errors.Is(err, hal.ErrServiceRefused) || errors.Is(err, hal.ErrServiceUnsupported) {
		return "refused"
	}
	return "failed"
}

// diverted books a trunk call the network sent on.
func (a *Appliance) diverted(c *trunkCall, t target, method, number string, took time.Duration) {
	c.stopNoAnswer()
	a.sm.diverts.WithLabelValues(c.tl.nm, method, "ok").Inc()
	if t.port != 0 { // 0: a group's outside member (groups_callers.go), no port's divert
		a.m.diverts.WithLabelValues(portLabel(t.port), t.why).Inc()
		a.callResult(t.port, "in", c.tl.nm, "diverted", false)
	}
	a.log.Info("trunk call diverted", "trunk", c.tl.nm, "to", number, "method", method, "reason", t.why, "port", t.port, "took", took)
}

// ---- the second call ----

// svcIncoming takes a TrunkIncoming for a call the line already has: a
// waiting call that now rings as an ordinary call because the call it
// waited behind ended. The ports ringing for it go on ringing; the others
// that can ring join in.
func (a *Appliance) svcIncoming(tl *trunkLine, ev hal.TrunkEvent) bool {
	tl.mu.Lock()
	var w *trunkCall
	for _, c := range []*trunkCall{tl.cur, tl.sv.second} {
		if c != nil && c.id == ev.Call {
			w = c
		}
	}
	tl.mu.Unlock()
	if w == nil {
		return false
	}
	w.mu.Lock()
	w.x.waiting = false
	port, cid := w.x.cwPort, w.x.cid
	w.x.cwPort = 0
	ringing := map[int]bool{}
	for p := range w.offers {
		ringing[p] = true
	}
	w.mu.Unlock()
	a.stopWaitingTone(port)
	var more []int
	for _, id := range tl.ringPorts() {
		if !ringing[id] {
			more = append(more, id)
		}
	}
	a.log.Info("the waiting call now rings as an ordinary call", "trunk", tl.nm, "caller", cid.Number)
	if len(more) > 0 && a.offerInbound(w, more, cid) || len(ringing) > 0 {
		return true
	}
	// The porter who was told of it has just hung up: their port is idle
	// again within the clear time. Give the ports a moment before refusing.
	go func() {
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			w.mu.Lock()
			over := w.over
			w.mu.Unlock()
			if over {
				return
			}
			if a.offerInbound(w, more, cid) {
				return
			}
		}
		a.missedCall(w, missedNoPort)
		_ = w.Hangup()
	}()
	return true
}

// ringPorts are the ports a trunk's inbound calls ring.
func (tl *trunkLine) ringPorts() []int {
	if g := tl.a.groupOf(tl.o.Group); g != nil {
		return g.portMembers()
	}
	if len(tl.o.Ports) > 0 {
		return tl.o.Ports
	}
	return tl.a.order
}

// otherLocked is the line's call that is not c (nil: none).
func (tl *trunkLine) otherLocked(c *trunkCall) *trunkCall {
	for _, o := range []*trunkCall{tl.cur, tl.sv.second} {
		if o != nil && o != c {
			return o
		}
	}
	return nil
}

func (tl *trunkLine) other(c *trunkCall) *trunkCall {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.otherLocked(c)
}

// seat is a porter's place in the calls of a trunk: their port, the port's
// progress and handle, and the call they are connected to now. With two
// calls, the porter's seat moves between them (R2); the one they left is
// held for them.
type seat struct {
	port     int
	progress fxs.Progress
	pc       *portCall   // an inbound call's handle on the port
	lc       *ladderCall // an outbound call's handle on the port
	at       *attempt
	call     *trunkCall // guarded by trunkLine.mu
}

// seatOf is the seat of the porter in call c, nil when no porter is in it.
func (a *Appliance) seatOf(c *trunkCall) *seat {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x.seat != nil {
		return c.x.seat
	}
	if c.at == nil || !c.answer {
		return nil
	}
	c.x.seat = &seat{port: c.port, progress: c.at.lc.progress, lc: c.at.lc, at: c.at, call: c}
	return c.x.seat
}

// seatCall is the call the porter is in now.
func (tl *trunkLine) seatCall(s *seat) *trunkCall {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return s.call
}

// point moves the porter's seat to call to: their hang-up, recall codes
// and digits act on it from now on, and its end is theirs to hear.
func (tl *trunkLine) point(s *seat, to *trunkCall) {
	to.stopNoAnswer()
	to.mu.Lock()
	to.x.seat, to.port, to.answer, to.x.waiting = s, s.port, true, false
	to.mu.Unlock()
	tl.mu.Lock()
	s.call = to
	if s.pc != nil {
		s.pc.c = to
	}
	tl.mu.Unlock()
	if s.lc != nil {
		s.lc.mu.Lock()
		if !s.lc.done {
			s.lc.call = to
		}
		s.lc.mu.Unlock()
	}
}

// svcEvent takes the events of the second call and the hold events of
// either; it reports whether it took ev.
func (a *Appliance) svcEvent(tl *trunkLine, ev hal.TrunkEvent) bool {
	if ev.Kind == hal.TrunkWaiting {
		a.waiting(tl, ev)
		return true
	}
	tl.mu.Lock()
	var c *trunkCall
	second := false
	switch {
	case tl.sv.second != nil && tl.sv.second.id == ev.Call:
		c, second = tl.sv.second, true
	case tl.cur != nil && tl.cur.id == ev.Call:
		c = tl.cur
	}
	tl.mu.Unlock()
	if c == nil {
		return false
	}
	switch ev.Kind {
	case hal.TrunkHeld:
		a.callHeld(c)
		return true
	case hal.TrunkAnswered:
		c.mu.Lock()
		wasHeld, wasWaiting := c.x.held, c.x.waiting
		c.x.held = false
		c.answer = true
		c.mu.Unlock()
		if wasHeld {
			a.callBack(c)
			return true
		}
		return second || wasWaiting
	case hal.TrunkEnded:
		if !second {
			return false // the line's own path ends it
		}
		c.mu.Lock()
		waiting, port := c.x.waiting, c.x.cwPort
		c.mu.Unlock()
		a.stopWaitingTone(port)
		if waiting {
			a.missedCall(c, missedUnanswered)
		}
		c.end(ev.Reason)
		a.retrieveHeld(tl)
		return true
	}
	return second
}

// waiting handles a second caller during a trunk call: forwarded at once
// where the ports say so; else rung on another port that can ring; else
// announced to the porter in the call.
func (a *Appliance) waiting(tl *trunkLine, ev hal.TrunkEvent) {
	cid := dsp.CallerID{Time: time.Now(), Number: ev.CallerID, Name: ev.CallerName}
	switch ev.Presentation {
	case hal.PresentationWithheld:
		cid.Number, cid.NumberAbsence = "", dsp.Private
	case hal.PresentationUnavailable:
		cid.Number, cid.NumberAbsence = "", dsp.Unavailable
	}
	if cid.Number == "" && cid.NumberAbsence == dsp.Present {
		cid.NumberAbsence = dsp.Unavailable
	}
	w := &trunkCall{tl: tl, id: ev.Call, dir: "in", number: ev.CallerID, offers: map[int]fxs.Progress{}}
	w.x.waiting, w.x.cid = true, cid
	tl.mu.Lock()
	first := tl.cur
	if tl.sv.second != nil || first == nil {
		tl.mu.Unlock()
		a.log.Warn("a waiting call with no call to wait behind, or a third call: left to the network", "trunk", tl.nm, "caller", ev.CallerID)
		return
	}
	tl.sv.second = w
	tl.mu.Unlock()
	a.log.Info("a second call is waiting on the trunk", "trunk", tl.nm, "caller", cid.Number)

	pl := a.planInbound(tl.ringPorts())
	if pl.now != nil && pl.now.why == "forward-unconditional" {
		if a.divertTrunkCall(w, *pl.now, false) == divertDone {
			return
		}
	}
	if len(pl.ring) > 0 && a.offerInbound(w, pl.ring, cid) {
		if pl.noAnswer != nil {
			a.armNoAnswer(w, *pl.noAnswer, pl.after)
		}
		return
	}
	if pl.now != nil && pl.now.why == "forward-busy" {
		if a.divertTrunkCall(w, *pl.now, false) == divertDone {
			return
		}
	}
	// Tell the porter in the call.
	s := a.seatOf(first)
	if s == nil {
		a.log.Info("waiting call: no porter in the call to tell; it waits until the caller gives up", "trunk", tl.nm)
		return
	}
	p := a.ports[s.port]
	if err := p.fx.OfferWaiting(cid); err != nil {
		a.log.Info("waiting call: the porter's port cannot take the call-waiting tone", "port", s.port, "err", err)
		return
	}
	w.mu.Lock()
	w.x.cwPort = s.port
	w.mu.Unlock()
	fw := a.forwardingOf(s.port)
	switch {
	case fw.NoAnswer != "":
		a.armNoAnswer(w, target{fw.NoAnswer, "forward-no-answer", s.port, fmt.Sprintf("port %d forwarding (no answer)", s.port)}, fw.NoAnswerAfter)
	case a.divertAfter(p) > 0:
		a.armNoAnswer(w, target{p.opt.DivertTo, "no-answer", s.port, fmt.Sprintf("port %d divert_after", s.port)}, a.divertAfter(p))
	}
}

// stopWaitingTone ends the call-waiting tone on a port (0: none).
func (a *Appliance) stopWaitingTone(port int) {
	if p := a.ports[port]; p != nil {
		_ = p.fx.SetCallWaiting(false)
	}
}

// callHeld: the network holds call c. A porter still in it hears the hold
// indication instead of the trunk's audio (which carries the other call).
func (a *Appliance) callHeld(c *trunkCall) {
	c.mu.Lock()
	c.x.held = true
	c.mu.Unlock()
	s := a.seatOf(c)
	if s == nil || c.tl.seatCall(s) != c {
		return // no porter, or they went to the other call (R2)
	}
	s.progress.Update(fxs.CallUpdate{State: fxs.CallAnswered, Media: a.holdMedia(), Detail: "held: the other call has the trunk"})
	a.log.Info("trunk call held", "trunk", c.tl.nm, "port", s.port)
}

// callBack: a held call is connected again; its porter gets the trunk's
// audio back.
func (a *Appliance) callBack(c *trunkCall) {
	s := a.seatOf(c)
	if s == nil || c.tl.seatCall(s) != c {
		return
	}
	if au := c.tl.t.Audio(); au != nil {
		s.progress.Update(fxs.CallUpdate{State: fxs.CallAnswered, Media: au, Detail: "back from hold"})
	}
	a.log.Info("trunk call back from hold", "trunk", c.tl.nm, "port", s.port)
}

// retrieveHeld connects again a call left alone on hold.
func (a *Appliance) retrieveHeld(tl *trunkLine) {
	tl.mu.Lock()
	var held *trunkCall
	n := 0
	for _, c := range []*trunkCall{tl.cur, tl.sv.second} {
		if c == nil {
			continue
		}
		n++
		c.mu.Lock()
		if c.x.held && !c.over {
			held = c
		}
		c.mu.Unlock()
	}
	tl.mu.Unlock()
	if held == nil || n != 1 || tl.sv.svc == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
		defer cancel()
		if err := tl.sv.svc.Hold(ctx, hal.HoldSwap); err != nil {
			a.log.Warn("retrieving a held trunk call", "trunk", tl.nm, "err", err)
		}
	}()
}

// svcReleased: call c has left the line. The second call, if any, becomes
// the line's call.
func (a *Appliance) svcReleased(tl *trunkLine, c *trunkCall) {
	c.stopNoAnswer()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.sv.second == c {
		tl.sv.second = nil
	}
	if tl.cur == nil && tl.sv.second != nil {
		tl.cur, tl.sv.second = tl.sv.second, nil
	}
}

// svcPreempt clears the second call before an emergency call takes the
// trunk.
func (a *Appliance) svcPreempt(tl *trunkLine) {
	tl.mu.Lock()
	w := tl.sv.second
	tl.mu.Unlock()
	if w != nil {
		w.mu.Lock()
		port := w.x.cwPort
		w.mu.Unlock()
		a.stopWaitingTone(port)
		w.clear(errPreempted)
	}
}

// svcNotify takes the end of a call that a porter's seat has left or
// moved into; it reports whether it did (else the line tells whoever the
// call was offered to).
func (a *Appliance) svcNotify(c *trunkCall, reason error) bool {
	c.mu.Lock()
	s := c.x.seat
	c.x.held = false
	c.mu.Unlock()
	if s == nil {
		return false
	}
	tl := c.tl
	if tl.seatCall(s) != c {
		return true // the porter is in the other call: this one ends quietly
	}
	if o := tl.other(c); o != nil {
		o.mu.Lock()
		back := o.x.seat == s && o.x.held
		o.mu.Unlock()
		if back {
			// The far end left; the porter's held caller comes back.
			tl.point(s, o)
			a.retrieveHeld(tl)
			return true
		}
	}
	c.mu.Lock()
	own := c.at != nil || c.offers[s.port] != nil
	c.mu.Unlock()
	if own {
		return false
	}
	detail := "trunk " + tl.nm + ": far end cleared"
	if reason != nil {
		detail = "trunk " + tl.nm + ": " + reason.Error()
	}
	if s.lc != nil {
		s.lc.ended(s.at, true, detail)
	} else {
		s.progress.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: detail})
		a.inboundEnded(c, true)
	}
	return true
}

// svcAnswer answers a trunk call offered to a port: ATA, or, when the
// call waits behind another, AT+CHLD=2: the other call is held and its
// porter hears the hold indication.
func (a *Appliance) svcAnswer(pc *portCall) error {
	c, tl := pc.c, pc.c.tl
	c.stopNoAnswer()
	c.mu.Lock()
	pr := c.offers[pc.port]
	c.x.seat = &seat{port: pc.port, progress: pr, pc: pc, call: c}
	waiting := c.x.waiting
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
	defer cancel()
	if !waiting {
		return tl.t.Answer(ctx, c.callID())
	}
	other := tl.other(c)
	if other != nil {
		a.callHeld(other) // before the swap: one port pumps the trunk's audio at a time
	}
	if tl.sv.svc == nil {
		return errors.New("the trunk cannot hold a call")
	}
	if err := tl.sv.svc.Hold(ctx, hal.HoldSwap); err != nil {
		if other != nil {
			other.mu.Lock()
			other.x.held = false
			other.mu.Unlock()
			a.callBack(other)
		}
		return fmt.Errorf("taking the waiting call: %w", err)
	}
	c.mu.Lock()
	c.x.waiting = false
	c.mu.Unlock()
	return nil
}

// svcHangup clears call c for its porter when the trunk has two calls. If
// the porter's own other caller is held, it rings them back with it (as an
// exchange does); if another porter's caller is held, AT+CHLD=1 ends this
// call and connects that one in one step. It reports whether it handled
// the hang-up.
func (a *Appliance) svcHangup(c *trunkCall) (bool, error) {
	tl := c.tl
	if tl.sv.svc == nil {
		return false, nil
	}
	other := tl.other(c)
	if other == nil {
		return false, nil
	}
	c.mu.Lock()
	s, mine := c.x.seat, !c.x.held && !c.x.waiting
	c.mu.Unlock()
	other.mu.Lock()
	otherHeld, ownHeld := other.x.held, other.x.seat != nil && other.x.seat == s
	other.mu.Unlock()
	if !mine || !otherHeld {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
	defer cancel()
	if ownHeld {
		if err := tl.t.Hangup(ctx, c.callID()); err != nil {
			return true, err
		}
		go a.ringBack(other, s)
		return true, nil
	}
	if err := tl.sv.svc.Hold(ctx, hal.HoldReleaseActive); err != nil {
		a.log.Warn("ending one of two trunk calls", "trunk", tl.nm, "err", err)
		return false, nil // the plain hang-up clears it
	}
	return true, nil
}

// ringBack rings a porter who hung up with a caller held; answering takes
// the call back.
func (a *Appliance) ringBack(c *trunkCall, old *seat) {
	p := a.ports[old.port]
	if p == nil {
		return
	}
	// Let the port see the on-hook before it is offered the call.
	for i := 0; i < 100; i++ {
		if sn := p.fx.Snapshot(); sn.State == fxs.StateIdle && !sn.OffHook {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	cid := c.x.cid
	c.x.seat, c.answer = nil, false
	c.mu.Unlock()
	pc := &portCall{c: c, port: old.port}
	pr, err := p.fx.Offer(&ringBackCall{pc: pc}, cid)
	if err != nil {
		a.log.Warn("ringing the porter back with their held caller failed; releasing the caller", "port", old.port, "err", err)
		_ = c.Hangup()
		return
	}
	c.mu.Lock()
	c.offers[old.port] = pr
	c.mu.Unlock()
	a.log.Info("ringing the porter back with their held caller", "trunk", c.tl.nm, "port", old.port)
}

// ringBackCall is a held call offered back to its porter.
type ringBackCall struct{ pc *portCall }

// Answer retrieves the held call.
func (r *ringBackCall) Answer() (fxs.Media, error) {
	c, tl := r.pc.c, r.pc.c.tl
	if tl.sv.svc == nil {
		return nil, errors.New("the trunk cannot retrieve a held call")
	}
	c.mu.Lock()
	c.x.seat = &seat{port: r.pc.port, progress: c.offers[r.pc.port], pc: r.pc, call: c}
	c.port, c.answer = r.pc.port, true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
	defer cancel()
	if err := tl.sv.svc.Hold(ctx, hal.HoldSwap); err != nil {
		c.end(err)
		return nil, err
	}
	if au := tl.t.Audio(); au != nil {
		return au, nil
	}
	return nil, nil
}

func (r *ringBackCall) Hangup() error                     { return r.pc.Hangup() }
func (r *ringBackCall) SendDigit(d rune) error            { return r.pc.SendDigit(d) }
func (r *ringBackCall) TakesRecallCodes() bool            { return r.pc.TakesRecallCodes() }
func (r *ringBackCall) Recall(act fxs.RecallAction) error { return r.pc.Recall(act) }

// TakesRecallCodes implements fxs.Recaller: a trunk with call hold takes
// the profile's recall codes while it has a second call of its own
// (waiting or held by the network); otherwise R is the port's (an enquiry
// call, services.go).
func (pc *portCall) TakesRecallCodes() bool { return pc.c.tl.networkSecond() }

// networkSecond says whether the trunk has a call beside its current one
// and the services to act on it.
func (tl *trunkLine) networkSecond() bool {
	if tl.sv.svc == nil {
		return false
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.sv.second != nil
}

// Recall implements fxs.Recaller.
func (pc *portCall) Recall(act fxs.RecallAction) error { return pc.c.tl.a.recall(pc.c, act) }

// TakesRecallCodes implements fxs.Recaller: an outbound call on a trunk
// with call hold takes the profile's recall codes.
func (lc *ladderCall) TakesRecallCodes() bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	c, ok := lc.call.(*trunkCall)
	return ok && c.tl.networkSecond()
}

// Recall implements fxs.Recaller.
func (lc *ladderCall) Recall(act fxs.RecallAction) error {
	lc.mu.Lock()
	c, ok := lc.call.(*trunkCall)
	lc.mu.Unlock()
	if !ok {
		return fmt.Errorf("this call's route has no call hold: %w", fxs.ErrNoRecall)
	}
	return lc.r.a.recall(c, act)
}

// recall carries out a porter's recall code on the trunk's two calls
// through the network's call hold (AT+CHLD). c is the call the porter's
// handle points at.
func (a *Appliance) recall(c *trunkCall, act fxs.RecallAction) error {
	tl := c.tl
	op, ok := map[fxs.RecallAction]hal.HoldOp{
		profile.RecallReleaseOther: hal.HoldReleaseOther, profile.RecallReleaseActive: hal.HoldReleaseActive,
		profile.RecallSwap: hal.HoldSwap, profile.RecallConference: hal.HoldConference, profile.RecallTransfer: hal.HoldTransfer,
	}[act]
	if !ok {
		return fmt.Errorf("recall action %q: %w", act, fxs.ErrNoRecall)
	}
	if tl.sv.svc == nil {
		return fmt.Errorf("trunk %s has no call hold: %w", tl.nm, fxs.ErrNoRecall)
	}
	s := a.seatOf(c)
	if s == nil {
		return fmt.Errorf("the call is not answered: %w", fxs.ErrNoRecall)
	}
	cur := tl.seatCall(s)
	cur.mu.Lock()
	held := cur.x.held
	cur.mu.Unlock()
	other := tl.other(cur)
	if other == nil || held {
		return fmt.Errorf("no other call for this porter (or their call is held for another port): %w", fxs.ErrNoRecall)
	}
	other.mu.Lock()
	oWaiting, oHeld, oCW, oSeat := other.x.waiting, other.x.held, other.x.cwPort, other.x.seat
	other.mu.Unlock()
	if !(oWaiting && oCW == s.port) && !(oHeld && oSeat == s) {
		return fmt.Errorf("the other call is another porter's: %w", fxs.ErrNoRecall)
	}
	ctx, cancel := context.WithTimeout(context.Background(), trunkServiceTimeout)
	defer cancel()
	if op == hal.HoldReleaseOther && oWaiting {
		a.missedCall(other, missedRejected)
	}
	move := op == hal.HoldReleaseActive || op == hal.HoldSwap
	if move {
		// The porter goes to the other call: move the seat first, so the
		// events of the swap land on the right call.
		tl.point(s, other)
	}
	if err := tl.sv.svc.Hold(ctx, op); err != nil {
		if move {
			tl.point(s, cur)
			other.mu.Lock()
			other.x.waiting = oWaiting
			other.mu.Unlock()
		}
		return fmt.Errorf("recall %s: %w", act, err)
	}
	if oCW != 0 {
		a.stopWaitingTone(oCW)
		other.mu.Lock()
		other.x.cwPort = 0
		other.mu.Unlock()
	}
	a.log.Info("recall code", "trunk", tl.nm, "port", s.port, "action", act)
	return nil
}

// ---- hold indication ----

// holdMedia is what a porter hears while their caller is held for another
// port: the profile's call-waiting tone at its cadence. What they say goes
// nowhere.
func (a *Appliance) holdMedia() fxs.Media {
	t, err := a.o.Profile.Tones.CallWaiting.Parse("call_waiting")
	if err != nil {
		return silentMedia{}
	}
	return &toneMedia{gen: dsp.NewToneGen(fxs.DSPTone(t))}
}

type toneMedia struct {
	mu  sync.Mutex
	gen *dsp.ToneGen
}

func (m *toneMedia) ReadFrame(f *hal.Frame) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen.Fill(f)
	return nil
}

func (m *toneMedia) WriteFrame(*hal.Frame) error { return nil }

type silentMedia struct{}

func (silentMedia) ReadFrame(f *hal.Frame) error { clear(f[:]); return nil }
func (silentMedia) WriteFrame(*hal.Frame) error  { return nil }
