package survivability

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability/forwarding"
)

// sipLines is what the appliance needs of the SIP user agent.
type sipLines interface {
	Dial(ctx context.Context, port int, number string, opt sip.DialOptions) (*sip.Call, error)
	Subscribe(buffer int) (<-chan sip.Event, func())
}

// AttachSIP gives the appliance its SIP lines; call it before Run and before
// the UA starts. It subscribes to the UA's events at once: the UA publishes
// its first verdicts within a millisecond of starting, and an event
// published before the subscription is lost for good (a registrar that
// stays up is never published again, and the appliance would wait in its
// start-up mode). The UA's Config.OnIncoming must be the appliance's
// OnIncoming.
func (a *Appliance) AttachSIP(ua sipLines) {
	a.sip = ua
	a.sipEvs, a.sipUnsub = ua.Subscribe(256)
}

// sipEvents follows registrar health and line registration.
func (a *Appliance) sipEvents(ctx context.Context) {
	evs := a.sipEvs
	defer a.sipUnsub()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-evs:
			switch e := ev.(type) {
			case sip.RegistrarHealth:
				a.mu.Lock()
				r := a.regs[e.Registrar]
				if r == nil {
					a.mu.Unlock()
					continue
				}
				was, wasPath := r.up, r.path
				r.known = e.Known
				r.rtt, r.loss = e.RTT, e.Loss
				r.path, r.holding, r.paths = e.Path, e.Holding, e.Paths
				if e.Up && !was {
					r.upSince = a.o.Clock.Now()
				}
				if !e.Up && was {
					r.everDown = true
				}
				if !e.Up && !was && e.Known {
					r.everDown = true
				}
				r.up = e.Up
				a.mu.Unlock()
				if was != e.Up {
					a.log.Warn("registrar", "registrar", e.Registrar, "up", e.Up, "path", e.Path, "rtt", e.RTT, "loss", e.Loss)
				} else if wasPath != e.Path && wasPath != "" {
					a.log.Warn("registrar reached over another path", "registrar", e.Registrar, "path", e.Path, "was", wasPath)
				}
				a.reevaluate("registrar " + e.Registrar)
			case sip.LineStatus:
				if a.serviceLineStatus(e) {
					continue // the service extension (remote_entry.go)
				}
				a.lineStatus(e)
			case sip.MessageWaiting:
				a.messageWaiting(e) // dialects.go
			}
		}
	}
}

// sipRung is one registrar as a rung of a port's ladder.
type sipRung struct {
	a         *Appliance
	registrar string
}

func (r *sipRung) name() string   { return r.registrar }
func (r *sipRung) kind() RungKind { return RungRegistrar }

// place sends the INVITE and waits until the far end rings or answers
// (every wait bounded by the UA's first-response and progress deadlines),
// so a dead or silent registrar costs seconds, not Timer B. ctx ends the
// attempt at once: the porter hung up.
func (r *sipRung) place(ctx context.Context, portID int, number string, at *attempt) (fxs.Call, error) {
	if r.a.isVoicemail(portID, number) {
		number = r.a.voicemailTarget(portID, number)
	}
	rd := newRedirector(r, portID, number) // dialects.go: 3xx followed
	call, err := rd.dial(ctx, number, at)
	if err != nil {
		retry, reason := classifySIPErr(err)
		return nil, &attemptError{retry: retry, reason: reason, err: err}
	}
	r.a.noteMedia(portID, call)
	c := &sipCall{call: call, a: r.a, rd: rd, ctx: ctx, port: portID}
	go c.follow(at)
	return c, nil
}

// sipOutcome is what a final response to an INVITE means for the call:
// whether the next rung may try (DESIGN: only after a timeout, a 5xx or a
// transport error) and which tone the porter hears otherwise.
type sipOutcome struct {
	retry  bool
	reason fxs.FailReason
}

// sipCodes are the responses with an outcome of their own; the rest take
// their class's (sipClass). A refusal is the PBX's or the callee's answer:
// sending the number out on a trunk instead would walk around the PBX's
// call barring, ring a callee who declined, and spend mobile minutes. An
// emergency call is the exception: it goes on to the next rung whatever
// the refusal (router.go).
var sipCodes = map[int]sipOutcome{
	// 300, 301 and 302 are followed (dialects.go: bounded hops, every
	// target through the toll-fraud guard); one that reaches this table
	// could not be followed (no target allowed, a loop, too many hops).
	300: {false, fxs.FailUnobtainable},
	301: {false, fxs.FailUnobtainable},
	302: {false, fxs.FailUnobtainable},
	305: {false, fxs.FailCongestion},   // Use Proxy: not followed (RFC 3261 21.3.5 wants it only from a proxy we trust)
	380: {false, fxs.FailCongestion},   // Alternative Service: not a number to dial
	401: {false, fxs.FailCongestion},   // our credentials refused after the challenge
	403: {false, fxs.FailUnobtainable}, // barred by the PBX
	404: {false, fxs.FailUnobtainable}, // no such number
	407: {false, fxs.FailCongestion},   // as 401, from a proxy
	408: {true, fxs.FailCongestion},    // Request Timeout: a timeout
	410: {false, fxs.FailUnobtainable}, // Gone
	480: {false, fxs.FailCongestion},   // the callee is unavailable
	484: {false, fxs.FailUnobtainable}, // Address Incomplete
	485: {false, fxs.FailUnobtainable}, // Ambiguous
	486: {false, fxs.FailBusy},         // Busy Here
	487: {false, fxs.FailCongestion},   // Request Terminated: cancelled
	488: {false, fxs.FailCongestion},   // Not Acceptable Here (media)
	600: {false, fxs.FailBusy},         // Busy Everywhere
	603: {false, fxs.FailBusy},         // Decline
	604: {false, fxs.FailUnobtainable}, // Does Not Exist Anywhere
}

// sipClass is the outcome of a response without a row in sipCodes.
func sipClass(code int) sipOutcome {
	switch {
	case code >= 500 && code < 600:
		return sipOutcome{true, fxs.FailCongestion} // the PBX failed: the next rung may do better
	default:
		// Other 3xx, 4xx, 6xx: refusals.
		return sipOutcome{false, fxs.FailCongestion}
	}
}

// classifySIPErr says whether another route may do better, and which tone
// the porter hears if not.
func classifySIPErr(err error) (retry bool, r fxs.FailReason) {
	var se *sip.StatusError
	if errors.As(err, &se) {
		o, ok := sipCodes[se.Code]
		if !ok {
			o = sipClass(se.Code)
		}
		return o.retry, o.reason
	}
	if errors.Is(err, sip.ErrCanceled) {
		return false, fxs.FailCongestion
	}
	// Timeouts, transport errors, a UA that is not running.
	return true, fxs.FailCongestion
}

// sipCall is an outbound SIP call as the port sees it. A redirect after
// it rang (a 3xx following a 180) replaces its SIP call (dialects.go).
type sipCall struct {
	mu   sync.Mutex
	call *sip.Call
	a    *Appliance
	hold sipHolder // services.go
	rd   *redirector
	ctx  context.Context
	port int
}

func (c *sipCall) current() *sip.Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.call
}

func (c *sipCall) follow(at *attempt) {
	answered := false
	call := c.current()
	select {
	case <-call.Answered():
	default:
		if call.State() == sip.StateEarlyMedia {
			at.update(fxs.CallUpdate{State: fxs.CallEarlyMedia, Media: call.Media(), Detail: "registrar " + call.Registrar()})
		} else {
			at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "registrar " + call.Registrar()})
		}
	}
	for {
		call := c.current()
		select {
		case <-call.Answered():
			if !answered {
				answered = true
				c.rd.r.a.noteMedia(c.port, call) // the answer's media (SRTP or not)
				at.update(fxs.CallUpdate{State: fxs.CallAnswered, Media: call.Media(), Detail: "registrar " + call.Registrar()})
			}
			<-call.Done()
			at.update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "far end cleared"})
			return
		case <-call.Done():
			select {
			case <-call.Answered():
				continue
			default:
			}
			err := call.Err()
			if next, redirected, rerr := c.rd.next(err); redirected && rerr == nil {
				// Redirected after ringing: the porter keeps ringback
				// while the new target is called.
				at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "redirected to " + next})
				nc, derr := c.rd.dial(c.ctx, next, at)
				if derr == nil {
					c.mu.Lock()
					c.call = nc
					c.mu.Unlock()
					c.rd.r.a.noteMedia(c.port, nc)
					continue
				}
				err = derr
			} else if redirected {
				err = rerr
			}
			retry, reason := classifySIPErr(err)
			detail := "far end cleared before answer"
			if err != nil {
				detail = err.Error()
			}
			at.fail(retry && err != nil, reason, detail)
			return
		}
	}
}

func (c *sipCall) Hangup() error          { return c.current().Hangup() }
func (c *sipCall) Flash() error           { return c.current().Flash() }
func (c *sipCall) SendDigit(d rune) error { return c.current().SendDigits(string(d)) }

// OnIncoming takes an inbound SIP call for a port: it rings the port with
// caller ID, diverts it, or answers busy. The UA wants it not to block, so
// the decision is taken on its own goroutine.
func (a *Appliance) OnIncoming(ic *sip.IncomingCall) { go a.incoming(ic) }

func (a *Appliance) incoming(ic *sip.IncomingCall) {
	if a.remoteSIP(ic) {
		return // the service extension (remote_entry.go)
	}
	a.endCopperCheck()       // a port rings only with its handset on the board
	if a.groupIncoming(ic) { // a group's own line (groups_callers.go)
		return
	}
	p := a.ports[ic.Port]
	if p == nil {
		_ = ic.Reject(404, "Not Found")
		return
	}
	fwd := a.forwardingOf(p.opt.ID)
	if fwd.Unconditional != "" {
		a.divert(ic, p, fwd.Unconditional, "forward-unconditional")
		return
	}
	if target, why := a.divertTarget(p); target != "" {
		a.divert(ic, p, target, why)
		return
	}
	if ok, why := a.canRing(p); !ok {
		a.unreachable(ic, p, why)
		return
	}
	cid := a.callerID(ic.Caller) // dialects.go: PAI, RPID or From, privacy
	a.noteCaller(ic.Port, ic)
	in := &sipInbound{a: a, ic: ic, port: ic.Port}
	pr, err := p.fx.Offer(in, cid)
	if err != nil {
		if wpr, ok := a.waitingSIP(p, in, cid); ok {
			pr, err = wpr, nil // a call waiting (services.go)
		}
	}
	if err != nil && fwd.Busy != "" {
		a.divert(ic, p, fwd.Busy, "forward-busy")
		return
	}
	if err != nil {
		a.log.Info("inbound SIP call: port cannot ring", "port", ic.Port, "err", err)
		_ = ic.Reject(486, "Busy Here")
		a.callResult(ic.Port, "in", ic.Registrar, "busy", false)
		return
	}
	if err := ic.Ring(); err != nil {
		a.log.Info("inbound SIP call gone before ringing", "port", ic.Port, "err", err)
		pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "caller gone"})
		return
	}
	go in.follow(pr)
	switch {
	case fwd.NoAnswer != "":
		go in.divertIfUnanswered(pr, fwd.NoAnswerAfter, fwd.NoAnswer, "forward-no-answer")
	case a.divertAfter(p) > 0:
		go in.divertIfUnanswered(pr, a.divertAfter(p), p.opt.DivertTo, "no-answer")
	}
}

// forwardingOf returns a port's forwarding (none when not configured).
func (a *Appliance) forwardingOf(id int) forwarding.Settings {
	if a.fwd == nil {
		return forwarding.Settings{}
	}
	st, err := a.fwd.Get(id)
	if err != nil {
		return forwarding.Settings{}
	}
	return st
}

// divertIfUnanswered redirects a call still ringing after d to target.
func (s *sipInbound) divertIfUnanswered(pr fxs.Progress, d time.Duration, target, why string) {
	due, stop := s.a.after(d)
	defer stop()
	select {
	case <-s.ic.Canceled():
		return
	case <-due:
	}
	s.mu.Lock()
	answered := s.call != nil
	s.mu.Unlock()
	if answered {
		return
	}
	if err := s.ic.Redirect(target); err != nil {
		return // answered or gone meanwhile
	}
	pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "diverted: no answer"})
	s.a.m.diverts.WithLabelValues(portLabel(s.port), why).Inc()
	s.a.log.Info("call diverted", "port", s.port, "to", target, "reason", why, "after", d)
}

// divert sends an inbound call elsewhere with a 302.
func (a *Appliance) divert(ic *sip.IncomingCall, p *port, target, why string) {
	if err := ic.Redirect(target); err != nil {
		a.log.Warn("divert failed", "port", p.opt.ID, "to", target, "err", err)
		_ = ic.Reject(480, "Temporarily Unavailable")
		return
	}
	a.m.diverts.WithLabelValues(portLabel(p.opt.ID), why).Inc()
	a.callResult(p.opt.ID, "in", ic.Registrar, "diverted", false)
	a.log.Info("call diverted", "port", p.opt.ID, "from", ic.From, "to", target, "reason", why)
}

// sipInbound is an inbound SIP call as the port sees it.
type sipInbound struct {
	a    *Appliance
	ic   *sip.IncomingCall
	port int

	mu       sync.Mutex
	call     *sip.Call
	hold     sipHolder // services.go
	rejected bool      // a call waiting turned away (R0)
}

func (s *sipInbound) follow(pr fxs.Progress) {
	<-s.ic.Canceled()
	s.mu.Lock()
	answered, rejected := s.call != nil, s.rejected
	s.mu.Unlock()
	result := "cancelled"
	switch {
	case answered:
		result = "answered"
	case rejected:
		result = "busy"
	}
	s.a.callResult(s.port, "in", s.ic.Registrar, result, false)
	pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "far end cleared"})
}

// Answer implements fxs.InboundCall.
func (s *sipInbound) Answer() (fxs.Media, error) {
	call, err := s.ic.Answer()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.call = call
	s.mu.Unlock()
	s.a.setRoute(s.port, s.ic.Registrar)
	s.a.noteMedia(s.port, call)
	return call.Media(), nil
}

// Hangup implements fxs.Call.
func (s *sipInbound) Hangup() error {
	s.mu.Lock()
	call := s.call
	s.mu.Unlock()
	if call == nil {
		return s.ic.Reject(480, "Temporarily Unavailable")
	}
	return call.Hangup()
}

// Flash implements fxs.Flasher.
func (s *sipInbound) Flash() error {
	s.mu.Lock()
	call := s.call
	s.mu.Unlock()
	if call == nil {
		return errors.New("call not answered")
	}
	return call.Flash()
}
