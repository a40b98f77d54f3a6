package sip

// Inbound calls: the INVITE from a registrar, the router's decision
// (ring, answer, reject, redirect) and in-dialog re-INVITEs.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// IncomingCall is an inbound INVITE for a line, handed to Config.OnIncoming.
// The router decides with exactly one of Answer, Reject or Redirect (Ring
// first if the port rings). Undecided calls get 480 after RingTimeout.
type IncomingCall struct {
	Port      int
	Extension string
	From      string    // caller's number (Caller.Number; the From user when nothing better was given)
	FromName  string    // caller's display name, may be empty
	Registrar string    // the registrar that delivered it
	Received  time.Time // when the INVITE reached the UA
	CallID    string
	// Caller is who is calling, from P-Asserted-Identity, Remote-Party-ID
	// or From, with privacy (identity.go).
	Caller Identity
	// Diverted, when Forwarded, is how the call came to the line: the
	// number first dialled (Diversion or History-Info).
	Diverted  Diverted
	Forwarded bool

	call      *Call
	offer     rtp.Media
	offerBody []byte // the INVITE's SDP; nil: no offer (ours goes in the 2xx or a reliable 180)
	lateOffer bool
	mu        sync.Mutex
	decided   bool
	pending   func() error // the non-2xx final response, sent by the INVITE's goroutine
	final     chan struct{}
	acked     chan error // after Answer: the 2xx's ACK (nil) or why none came
}

// Canceled is closed when the call ends before or after a decision (the
// caller gave up: CANCEL), i.e. the port should stop ringing.
func (ic *IncomingCall) Canceled() <-chan struct{} { return ic.call.done }

// PeerEvents says whether the caller offered RFC 4733 telephone-event.
func (ic *IncomingCall) PeerEvents() bool { return ic.offer.Events }

func (ic *IncomingCall) decide() error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.decided {
		return ErrDecided
	}
	select {
	case <-ic.call.done:
		return fmt.Errorf("sip: the caller has gone: %w", ErrCanceled)
	default:
	}
	ic.decided = true
	return nil
}

// Ring sends 180 Ringing: reliably (RFC 3262) when the INVITE requires
// 100rel, with our offer when it had none.
func (ic *IncomingCall) Ring() error {
	ic.mu.Lock()
	decided := ic.decided
	ic.mu.Unlock()
	if decided {
		return ErrDecided
	}
	ic.call.mu.Lock()
	reliable := ic.call.rel.on
	ic.call.mu.Unlock()
	if reliable {
		if err := ic.ringReliable(); err != nil {
			return err
		}
		ic.call.setState(StateRinging)
		return nil
	}
	if err := ic.call.srv.Respond(180, "Ringing", nil, sip.NewHeader("Allow", allowMethods)); err != nil {
		return fmt.Errorf("sip: 180: %w", err)
	}
	ic.call.setState(StateRinging)
	return nil
}

// Answer opens the media and sends 200 with the SDP answer, or with our
// offer when the INVITE had none (the answer then comes in the ACK). It
// returns as soon as the 200 is on its way: the ACK is awaited in the
// background (the port must never wait behind a dying transaction), and a
// call whose ACK never comes is ended with BYE after AckTimeout. The
// returned Call's Media is live (silent until the ACK brings the answer
// to our offer).
func (ic *IncomingCall) Answer() (*Call, error) {
	if err := ic.decide(); err != nil {
		return nil, err
	}
	defer close(ic.final)
	c := ic.call
	u := c.u
	if err := u.ensureStream(c); err != nil {
		u.respondDialog(c, 500, "No Media Port")
		c.end(err, "no rtp port")
		return nil, err
	}
	var body []byte
	switch {
	case !ic.lateOffer:
		var err error
		if body, err = u.answerOffer(c, ic.offerBody); err != nil {
			u.respondDialog(c, 488, "Not Acceptable Here")
			c.end(err, "offer refused")
			return nil, err
		}
	case c.relOffered():
		// Our offer went in the reliable 180; its PRACK brings the answer,
		// and no 2xx may go before it (RFC 3262 3).
		if !c.awaitPrack() {
			u.respondDialog(c, 504, "Server Time-out")
			c.end(fmt.Errorf("sip: no PRACK for our offer in the reliable 180"), "no PRACK")
			return nil, fmt.Errorf("sip: answering port %d: no PRACK came for the offer in the 180", ic.Port)
		}
	default:
		if !c.beginOffer() {
			u.respondDialog(c, 500, "Server Internal Error")
			c.end(errors.New("sip: an offer is open"), "offer open")
			return nil, errors.New("sip: an offer is already open")
		}
		body = u.makeOffer(c)
		c.mu.Lock()
		c.oa.ackSeq = c.srv.InviteRequest.CSeq().SeqNo
		c.mu.Unlock()
	}
	res := u.sdpResponse(c, c.srv.InviteRequest, body)
	sent := make(chan struct{})
	var sentOnce sync.Once
	c.srv.OnState(func(st sip.DialogState) {
		if st >= sip.DialogStateEstablished {
			sentOnce.Do(func() { close(sent) })
		}
	})
	acked := make(chan error, 1)
	go func() { acked <- c.srv.WriteResponse(res) }()
	select {
	case <-sent:
	case err := <-acked:
		if err != nil {
			c.end(fmt.Errorf("sip: answer: %w", err), "answer failed")
			return nil, fmt.Errorf("sip: answering port %d: %w", ic.Port, err)
		}
		acked <- nil // for the INVITE's goroutine
	}
	ic.acked = acked
	c.mu.Lock()
	c.answeredAt = time.Now()
	c.mu.Unlock()
	c.setState(StateAnswered)
	u.keepDialog(c)
	u.armSessionTimer(c)
	return c, nil
}

// relOffered reports whether our offer went in a reliable provisional
// response (the INVITE had none and required 100rel).
func (c *Call) relOffered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rel.withOffer || (c.rel.on && c.oa.haveMedia)
}

func (u *UA) respondDialog(c *Call, code int, reason string) {
	if err := c.srv.Respond(code, reason, nil); err != nil {
		u.log.Debug("respond failed", "code", code, "err", err)
	}
}

// Reject refuses the call with code (4xx-6xx), e.g. 486 Busy Here.
func (ic *IncomingCall) Reject(code int, reason string) error {
	if code < 400 || code > 699 {
		return fmt.Errorf("sip: reject code %d is not 400-699", code)
	}
	if err := ic.decide(); err != nil {
		return err
	}
	defer close(ic.final)
	if reason == "" {
		reason = "Rejected"
	}
	ic.call.u.m.requestsRejected.WithLabelValues(strconv.Itoa(code)).Inc()
	ic.setPending(func() error { return ic.call.srv.Respond(code, reason, nil) })
	ic.call.end(&StatusError{Code: code, Reason: reason, Registrar: ic.Registrar}, "rejected")
	return nil
}

// setPending hands a non-2xx final response to the INVITE's goroutine,
// which sends it and waits for the ACK, so the router never blocks on it.
func (ic *IncomingCall) setPending(f func() error) {
	ic.mu.Lock()
	ic.pending = f
	ic.mu.Unlock()
}

func (ic *IncomingCall) sendPending() {
	ic.mu.Lock()
	f := ic.pending
	ic.pending = nil
	ic.mu.Unlock()
	if f != nil {
		if err := f(); err != nil {
			ic.call.u.log.Debug("final response", "call", ic.CallID, "err", err)
		}
	}
}

// Redirect answers 302 with target as the new destination: a number
// (put in the registrar's domain) or a full sip: URI.
func (ic *IncomingCall) Redirect(target string) error {
	uri, err := targetURI(target, ic.call.r.domain)
	if err != nil {
		return err
	}
	if err := ic.decide(); err != nil {
		return err
	}
	defer close(ic.final)
	c := ic.call
	res := sip.NewResponseFromRequest(c.srv.InviteRequest, 302, "Moved Temporarily", nil)
	res.AppendHeader(&sip.ContactHeader{Address: uri, Params: sip.NewParams()})
	ic.setPending(func() error { return c.srv.WriteResponse(res) })
	c.end(&StatusError{Code: 302, Reason: "Moved Temporarily", Registrar: ic.Registrar}, "redirected to "+target)
	return nil
}

func targetURI(target, domain string) (sip.Uri, error) {
	var uri sip.Uri
	if strings.HasPrefix(target, "tel:") {
		// A redirect may name a tel: URI (RFC 3966): dial its number.
		n := TargetNumber(target)
		if n == "" {
			return uri, fmt.Errorf("sip: target %q is not a telephone number", target)
		}
		target = n
	}
	if strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:") {
		if err := sip.ParseUri(target, &uri); err != nil {
			return uri, fmt.Errorf("sip: target %q is not a SIP URI: %w", target, err)
		}
		return uri, nil
	}
	if target == "" || strings.ContainsAny(target, "@:;<>\" \t\r\n") {
		return uri, fmt.Errorf("sip: target %q is not a number: give digits or a sip: URI", target)
	}
	return sip.Uri{Scheme: "sip", User: target, Host: domain}, nil
}

// onInvite takes an INVITE from a registrar over the primary path.
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	u.onInviteOver(u.paths[0], req, tx)
}

// onInviteOver takes an INVITE from a registrar that came over path p: the
// call is carried over p (its answer, media and in-dialog requests).
func (u *UA) onInviteOver(p *pathStack, req *sip.Request, tx sip.ServerTransaction) {
	received := time.Now()
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.reinvite(req, tx)
		return
	}
	canceledFirst, canceled, inviteDone := u.inviteArrived(req)
	defer inviteDone()
	if canceledFirst {
		u.respond(tx, req, 487, "Request Terminated")
		return
	}
	l := u.lineFor(req)
	if l == nil {
		u.respond(tx, req, 404, "Not Found")
		return
	}
	cid := req.CallID()
	if cid == nil || req.From() == nil || req.CSeq() == nil {
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	if bad := unsupportedRequire(req); bad != "" {
		// RFC 3261 8.2.2.3: an extension we do not have is required.
		res := sip.NewResponseFromRequest(req, 420, "Bad Extension", nil)
		res.AppendHeader(sip.NewHeader("Unsupported", bad))
		u.m.requestsRejected.WithLabelValues("420").Inc()
		_ = tx.Respond(res)
		return
	}
	if code, reason, ok := u.checkSessionTimer(nil, req); !ok {
		u.respondMinSE(tx, req, code, reason)
		return
	}
	r := u.registrarFor(req)
	body := req.Body()
	var offer rtp.Media
	if len(body) > 0 {
		var err error
		if offer, err = negotiateOfferPolicy(body, r.cfg.SRTP); err != nil {
			u.log.Warn("INVITE refused: SDP", "port", l.cfg.Port, "err", err)
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
	}
	via := r.pathFor(p)
	if via == nil { // a registrar that is not to use this path reached us by it
		via = r.current()
	}
	dua := sipgo.DialogUA{Client: via.client(), ContactHDR: *u.contact(l, via)}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	defer sess.Close()
	c := u.newCall(l, r, Inbound, cid.Value())
	c.via = via
	c.srv = sess
	c.localTag, _ = sess.InviteRequest.To().Params.Get("tag")
	c.remoteTag, _ = req.From().Params.Get("tag")
	caller := callerIdentity(req)
	c.Peer, c.PeerName = caller.Number, caller.Name
	ic := &IncomingCall{Port: l.cfg.Port, Extension: l.cfg.Extension, From: c.Peer, FromName: c.PeerName,
		Registrar: r.cfg.Name, Received: received, CallID: c.CallID, call: c, offer: offer, final: make(chan struct{}),
		Caller: caller, offerBody: body, lateOffer: len(body) == 0}
	ic.Diverted, ic.Forwarded = divertedFrom(req, l.cfg.Extension)
	c.ic = ic
	c.setDialogUAS(sess.InviteRequest)
	c.oa.remoteSeq = req.CSeq().SeqNo
	c.rel.on = required(req)["100rel"]
	u.sessionTimerUAS(c, req)
	u.track(c) // visible to Close and in-dialog requests only once complete
	u.m.inviteToRing.Observe(time.Since(received).Seconds())
	u.cfg.OnIncoming(ic)

	timer := time.NewTimer(u.cfg.RingTimeout)
	defer timer.Stop()
	select {
	case <-ic.final:
	case <-sess.Context().Done():
		ic.mu.Lock()
		decided := ic.decided
		ic.mu.Unlock()
		if !decided {
			c.end(ErrCanceled, "caller canceled")
			return
		}
		<-ic.final
	case <-canceled: // a CANCEL that missed sipgo's transaction by a hair
		ic.mu.Lock()
		decided := ic.decided
		if !decided {
			ic.decided = true // nothing else may answer it now
		}
		ic.mu.Unlock()
		if !decided {
			u.respondDialog(c, 487, "Request Terminated")
			c.end(ErrCanceled, "caller canceled")
			return
		}
		<-ic.final
	case <-timer.C:
		if ic.Reject(480, "Temporarily Unavailable") == nil {
			u.log.Warn("inbound call not answered in time", "port", l.cfg.Port, "after", u.cfg.RingTimeout)
		}
	case <-u.ctx.Done():
		ic.Reject(503, "Service Unavailable")
	}
	ic.sendPending()
	if c.State() == StateAnswered {
		u.awaitAck(c, ic.acked)
		select {
		case <-sess.Context().Done():
			c.end(nil, "dialog ended")
		case <-c.done:
		case <-u.ctx.Done():
		}
	}
}

// awaitAck waits for the ACK of our 2xx. A call whose ACK never comes (lost,
// or a broken PBX) is ended with BYE once the INVITE transaction has given
// up retransmitting the 2xx (64*T1), as RFC 3261 13.3.1.4 wants; the port
// was never held up meanwhile.
func (u *UA) awaitAck(c *Call, acked <-chan error) {
	if acked == nil {
		return
	}
	limit := 64*sip.T1 + 4*time.Second // the transaction ends first; this is a backstop
	t := time.NewTimer(limit)
	defer t.Stop()
	var why error
	select {
	case err := <-acked:
		if err == nil {
			return
		}
		why = err
	case <-t.C:
		why = fmt.Errorf("no ACK within %s", limit)
	case <-c.done:
		return
	case <-u.ctx.Done():
		return
	}
	u.m.ackTimeouts.Inc()
	u.log.Warn("answered call got no ACK: ending it with BYE", "port", c.l.cfg.Port, "call", c.CallID, "registrar", c.r.cfg.Name, "err", why)
	_ = c.Hangup()
}
