package survivability

// Who calls a group, and how an outside member is reached: the callers on
// a trunk and on the group's own SIP line, and the outside legs (a second
// SIP call relayed to the caller, a call from the calling port along its
// ladder, or the mobile network's deflection or transfer).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/bridge"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/sip"
)

// usableRegistrars lists the registrars that may carry a new call now, in
// order of preference.
func (a *Appliance) usableRegistrars() []string {
	if a.sip == nil {
		return nil
	}
	now := a.o.Clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ro := range a.o.Registrars {
		if a.usableLocked(a.regs[ro.Name], now) {
			out = append(out, ro.Name)
		}
	}
	return out
}

// outsideLine is the SIP line a group's outside legs are placed from: the
// group's own line, else its first port member's, else the first port's.
func (a *Appliance) outsideLine(g *group) int {
	if g != nil && g.line != 0 {
		return g.line
	}
	if g != nil {
		if ps := g.portMembers(); len(ps) > 0 {
			return ps[0]
		}
	}
	if len(a.order) > 0 {
		return a.order[0]
	}
	return 0
}

// ---- outside members ----

// outsideLeg is an outside member being called: a SIP call through a
// registrar, or (for a port caller) a call from that port along its ladder.
type outsideLeg struct {
	h      *hunt
	number string
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	call *sip.Call // the SIP path
	lc   fxs.Call  // the ladder path
}

func (l *outsideLeg) key() string { return "number:" + l.number }

func (l *outsideLeg) stop(detail string) {
	l.cancel()
	l.mu.Lock()
	call, lc := l.call, l.lc
	l.mu.Unlock()
	if call != nil {
		_ = call.Hangup()
	}
	if lc != nil {
		_ = lc.Hangup()
	}
}

// ringOutside starts calling an outside member; false: it cannot be
// reached now (skipped).
func (h *hunt) ringOutside(m member) bool {
	ctx, cancel := context.WithCancel(h.ctx)
	l := &outsideLeg{h: h, number: m.number, ctx: ctx, cancel: cancel}
	switch h.c.outside() {
	case reachSIP:
		regs := h.a.usableRegistrars()
		if len(regs) == 0 {
			cancel()
			h.a.log.Info("group member cannot be reached: no registrar usable", "member", l.key())
			return false
		}
		if !h.ringing(l) {
			cancel()
			return false
		}
		go l.dialSIP(regs, h.a.outsideLine(h.g))
		return true
	case reachLadder:
		pc, ok := h.c.(*portCaller)
		if !ok || !h.ringing(l) {
			cancel()
			return false
		}
		r := &router{a: h.a, port: pc.port}
		lc, err := r.Route(ctx, fxs.RouteRequest{Port: pc.port, Number: m.number}, l)
		if err != nil {
			h.legFailed(l)
			cancel()
			return false
		}
		l.mu.Lock()
		l.lc = lc
		l.mu.Unlock()
		if ctx.Err() != nil {
			_ = lc.Hangup()
		}
		return true
	}
	cancel()
	return false
}

// dialSIP calls the member through the usable registrars in order (a
// timeout or a 5xx moves on to the next; a refusal is the member's answer).
func (l *outsideLeg) dialSIP(regs []string, line int) {
	h := l.h
	h.a.callStarting()
	for _, reg := range regs {
		call, err := h.a.sip.Dial(l.ctx, line, l.number, sip.DialOptions{Registrar: reg})
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			retry, _ := classifySIPErr(err)
			h.a.log.Info("group member over SIP: attempt failed", "member", l.key(), "registrar", reg, "err", err, "next_registrar", retry)
			if retry {
				continue
			}
			break
		}
		l.mu.Lock()
		l.call = call
		l.mu.Unlock()
		if l.ctx.Err() != nil {
			_ = call.Hangup()
			return
		}
		l.follow(call)
		return
	}
	h.legFailed(l)
}

// follow waits for the member's answer and joins it to the caller.
func (l *outsideLeg) follow(call *sip.Call) {
	h := l.h
	select {
	case <-call.Answered():
	case <-call.Done():
		select {
		case <-call.Answered():
		default:
			h.legFailed(l)
			return
		}
	case <-l.ctx.Done():
		_ = call.Hangup()
		return
	}
	if !h.claim(l) {
		_ = call.Hangup()
		return
	}
	if err := h.c.connectOutside(h.ctx, h, call.Media()); err != nil {
		h.a.log.Warn("group call: joining the caller to the outside member failed", "member", l.key(), "err", err)
		_ = call.Hangup()
		h.c.release()
		h.end()
		return
	}
	select {
	case <-call.Done():
		h.memberLeft(l)
	case <-l.ctx.Done():
		_ = call.Hangup()
	}
}

// Update implements fxs.Progress for the ladder path: the calling port's
// call to the member reports here.
func (l *outsideLeg) Update(u fxs.CallUpdate) {
	h := l.h
	switch u.State {
	case fxs.CallAnswered:
		if h.isWinner(l) {
			if u.Media != nil {
				_ = h.c.connectOutside(h.ctx, h, u.Media) // the far side moved
			}
			return
		}
		if !h.claim(l) {
			l.mu.Lock()
			lc := l.lc
			l.mu.Unlock()
			if lc != nil {
				_ = lc.Hangup()
			}
			return
		}
		_ = h.c.connectOutside(h.ctx, h, u.Media)
	case fxs.CallFailed:
		h.legFailed(l)
	case fxs.CallEnded:
		if h.isWinner(l) {
			h.memberLeft(l)
			return
		}
		h.legFailed(l)
	}
}

// handOver asks the mobile network to take a trunk caller to an outside
// member (deflection, else answer and explicit call transfer). The call
// then leaves the appliance; false: the network would not (skipped).
func (h *hunt) handOver(m member) bool {
	tc, ok := h.c.(*trunkCaller)
	if !ok {
		return false
	}
	h.stopRinging("handed to " + m.number)
	name := ""
	if h.g != nil {
		name = h.g.o.Name
	}
	t := target{number: m.number, why: "group", key: fmt.Sprintf("group %s member %s", name, m.number)}
	h.mu.Lock()
	h.handing = true
	h.mu.Unlock()
	res := h.a.divertTrunkCall(tc.c, t, true)
	h.mu.Lock()
	h.handing = false
	h.mu.Unlock()
	switch res {
	case divertDone:
		h.book(groupDiverted)
		h.a.log.Info("group call handed to an outside member by the network", "group", name, "member", m.number)
		h.end()
		return true
	case divertGone:
		h.book(groupUnanswered)
		h.a.missedCall(tc.c, missedDivertFailed)
		h.end()
		return true
	}
	if h.settled() { // the caller gave up meanwhile
		h.book(groupAbandoned)
		return true
	}
	h.a.log.Info("group member cannot be reached by the network: skipped", "group", name, "member", m.number)
	return false
}

// ---- a caller on a trunk ----

// groupTrunkCall takes an inbound call on a trunk that names a group; it
// reports whether it did.
func (a *Appliance) groupTrunkCall(c *trunkCall, cid dsp.CallerID) bool {
	g := a.groupOf(c.tl.o.Group)
	if g == nil {
		return false
	}
	c.mu.Lock()
	c.x.cid = cid
	c.mu.Unlock()
	h := a.newHunt(g, &trunkCaller{a: a, c: c})
	c.mu.Lock()
	c.grp = h
	c.mu.Unlock()
	go h.run()
	return true
}

// trunkOver is told, first, that the group's trunk call is over. It
// reports whether it took care of everything (an outside member had the
// call); otherwise the trunk tells the ports as for any trunk call.
func (h *hunt) trunkOver() bool {
	h.mu.Lock()
	w := h.winner
	h.mu.Unlock()
	if _, port := w.(*portLeg); port {
		h.end() // the trunk tells the porter
		return false
	}
	h.callerGone()
	return w != nil
}

// trunkCaller is a call ringing on a trunk that names the group.
type trunkCaller struct {
	a *Appliance
	c *trunkCall
}

func (tc *trunkCaller) describe() string {
	return fmt.Sprintf("trunk %s caller %s", tc.c.tl.nm, tc.cid().Number)
}

func (tc *trunkCaller) cid() dsp.CallerID {
	tc.c.mu.Lock()
	defer tc.c.mu.Unlock()
	return tc.c.x.cid
}

// offerPort rings a port with the trunk's own port handle (portCall), so
// the porter who answers gets what any trunk call gives: the network's
// call hold and recall codes, call waiting.
func (tc *trunkCaller) offerPort(h *hunt, l *portLeg) (fxs.Progress, error) {
	c := tc.c
	pc := &portCall{c: c, port: l.id}
	pr, err := tc.a.ports[l.id].fx.Offer(&trunkPortLeg{portLeg: l, pc: pc}, tc.cid())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.offers == nil || c.over {
		c.mu.Unlock()
		pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "caller cleared"})
		return nil, errors.New("the trunk call is over")
	}
	c.offers[l.id] = pr
	c.mu.Unlock()
	l.mu.Lock()
	l.forget = func() {
		c.mu.Lock()
		if c.offers[l.id] == pr && !(c.answer && c.port == l.id) {
			delete(c.offers, l.id)
		}
		c.mu.Unlock()
	}
	l.mu.Unlock()
	return pr, nil
}

func (tc *trunkCaller) answerPort(h *hunt, l *portLeg) (fxs.Media, error) {
	return nil, errors.New("trunk calls are answered through the port's trunk handle")
}

func (tc *trunkCaller) outside() reach {
	if len(tc.a.usableRegistrars()) > 0 {
		return reachSIP
	}
	return reachNetwork
}

// connectOutside answers the trunk call and relays its voice channel to
// the outside member's SIP leg, paced by the trunk.
func (tc *trunkCaller) connectOutside(ctx context.Context, h *hunt, m fxs.Media) error {
	c := tc.c
	c.mu.Lock()
	if c.over || (c.answer && c.port != 0) {
		c.mu.Unlock()
		return errors.New("the trunk call is over or taken")
	}
	first := !c.answer
	c.answer, c.port = true, 0
	c.mu.Unlock()
	au := c.tl.t.Audio()
	if au == nil {
		return errors.New("the trunk's voice is wired to the line in analogue: it cannot be relayed")
	}
	if first {
		c.stopNoAnswer()
		actx, cancel := context.WithTimeout(ctx, trunkServiceTimeout)
		err := c.tl.t.Answer(actx, c.callID())
		cancel()
		if err != nil {
			return fmt.Errorf("answering the trunk call: %w", err)
		}
	}
	go func() {
		st, err := bridge.Relay(ctx, au, m, nil)
		tc.a.log.Debug("trunk relay ended", "trunk", c.tl.nm, "frames", st.Frames, "errors", st.Errors, "err", err)
	}()
	return nil
}

func (tc *trunkCaller) alerting() {} // the network plays ringback

func (tc *trunkCaller) fail(_ *hunt, result string) {
	reason := missedUnanswered
	if result == groupNoMember {
		reason = missedNoPort
	}
	tc.a.missedCall(tc.c, reason)
	_ = tc.c.Hangup()
}

func (tc *trunkCaller) release() { _ = tc.c.Hangup() }

// trunkPortLeg is a port rung for a trunk caller: the hunt's leg and the
// trunk's own handle on the port.
type trunkPortLeg struct {
	*portLeg
	pc *portCall
}

// Answer implements fxs.InboundCall.
func (t *trunkPortLeg) Answer() (fxs.Media, error) {
	if !t.h.claim(t.portLeg) {
		return nil, errTaken
	}
	return t.pc.Answer()
}

// Hangup implements fxs.Call.
func (t *trunkPortLeg) Hangup() error {
	err := t.pc.Hangup()
	if t.h.isWinner(t.portLeg) {
		t.h.end()
	}
	return err
}

func (t *trunkPortLeg) SendDigit(d rune) error            { return t.pc.SendDigit(d) }
func (t *trunkPortLeg) TakesRecallCodes() bool            { return t.pc.TakesRecallCodes() }
func (t *trunkPortLeg) Recall(act fxs.RecallAction) error { return t.pc.Recall(act) }

// ---- a caller on the group's SIP line ----

// groupIncoming takes an inbound SIP call for a group's own line; it
// reports whether the line was a group's.
func (a *Appliance) groupIncoming(ic *sip.IncomingCall) bool {
	g := a.gs.byLine[ic.Port]
	if g == nil {
		return false
	}
	h := a.newHunt(g, &sipCaller{a: a, ic: ic})
	go func() {
		select {
		case <-ic.Canceled():
			h.callerGone()
		case <-h.ctx.Done():
		}
	}()
	h.run()
	return true
}

// sipCaller is an inbound SIP call on the group's line.
type sipCaller struct {
	a  *Appliance
	ic *sip.IncomingCall

	mu   sync.Mutex
	call *sip.Call
}

func (sc *sipCaller) describe() string {
	return fmt.Sprintf("SIP caller %s via %s", sc.ic.From, sc.ic.Registrar)
}

func (sc *sipCaller) cid() dsp.CallerID {
	id := dsp.CallerID{Time: time.Now(), Number: sc.ic.From, Name: sc.ic.FromName}
	if id.Number == "" || id.Number == "anonymous" {
		id.Number, id.NumberAbsence = "", dsp.Private
	}
	return id
}

func (sc *sipCaller) offerPort(h *hunt, l *portLeg) (fxs.Progress, error) {
	return sc.a.ports[l.id].fx.Offer(l, sc.cid())
}

func (sc *sipCaller) answer() (*sip.Call, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.call != nil {
		return sc.call, nil
	}
	call, err := sc.ic.Answer()
	if err != nil {
		return nil, err
	}
	sc.call = call
	return call, nil
}

// answerPort answers the SIP call; the port pumps its RTP stream.
func (sc *sipCaller) answerPort(h *hunt, l *portLeg) (fxs.Media, error) {
	call, err := sc.answer()
	if err != nil {
		return nil, err
	}
	sc.a.setRoute(l.id, sc.ic.Registrar)
	return call.Media(), nil
}

func (sc *sipCaller) outside() reach { return reachSIP }

// connectOutside answers the SIP call and relays its RTP stream to the
// outside member's, paced by a ticker (neither is a device).
func (sc *sipCaller) connectOutside(ctx context.Context, h *hunt, m fxs.Media) error {
	call, err := sc.answer()
	if err != nil {
		return err
	}
	go func() {
		tk := bridge.NewTicker()
		defer tk.Stop()
		st, err := bridge.Relay(ctx, call.Media(), m, tk)
		sc.a.log.Debug("SIP relay ended", "frames", st.Frames, "errors", st.Errors, "err", err)
	}()
	return nil
}

func (sc *sipCaller) alerting() {
	if err := sc.ic.Ring(); err != nil {
		sc.a.log.Debug("group call: 180 not sent", "err", err)
	}
}

func (sc *sipCaller) fail(_ *hunt, result string) {
	_ = sc.ic.Reject(480, "Temporarily Unavailable")
}

func (sc *sipCaller) release() {
	sc.mu.Lock()
	call := sc.call
	sc.mu.Unlock()
	if call != nil {
		_ = call.Hangup()
		return
	}
	_ = sc.ic.Reject(480, "Temporarily Unavailable")
}

func (sc *sipCaller) sendDigit(d rune) error {
	sc.mu.Lock()
	call := sc.call
	sc.mu.Unlock()
	if call == nil {
		return nil
	}
	return call.SendDigits(string(d))
}
