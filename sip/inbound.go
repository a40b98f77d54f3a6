package sip

// Inbound calls: the INVITE from a registrar, the router's decision
// (ring, answer, reject, redirect) and in-dialog re-INVITEs.

import (
	"fmt"
	"math/rand/v2"
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
	From      string    // caller's number (From user)
	FromName  string    // caller's display name, may be empty
	Registrar string    // the registrar that delivered it
	Received  time.Time // when the INVITE reached the UA
	CallID    string

	call    *Call
	offer   rtp.Media
	mu      sync.Mutex
	decided bool
	pending func() error // the non-2xx final response, sent by the INVITE's goroutine
	final   chan struct{}
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

// Ring sends 180 Ringing.
func (ic *IncomingCall) Ring() error {
	ic.mu.Lock()
	decided := ic.decided
	ic.mu.Unlock()
	if decided {
		return ErrDecided
	}
	if err := ic.call.srv.Respond(180, "Ringing", nil); err != nil {
		return fmt.Errorf("sip: 180: %w", err)
	}
	ic.call.setState(StateRinging)
	return nil
}

// Answer opens the media, sends 200 with the SDP answer and waits for the
// ACK. The returned Call's Media is live.
func (ic *IncomingCall) Answer() (*Call, error) {
	if err := ic.decide(); err != nil {
		return nil, err
	}
	defer close(ic.final)
	c := ic.call
	u := c.u
	s, err := u.rtp.Open(rtp.StreamConfig{Clock: u.clock, Logger: u.log})
	if err != nil {
		u.respondDialog(c, 500, "No Media Port")
		c.end(err, "no rtp port")
		return nil, err
	}
	c.stream = s
	s.SetMedia(ic.offer)
	_, adv, _ := c.r.destination()
	c.local = rtp.Local{Addr: adv, Port: s.LocalPort(), SessionID: rand.Uint64() >> 2}
	if err := c.srv.RespondSDP(c.local.Answer(ic.offer)); err != nil {
		c.end(fmt.Errorf("sip: answer: %w", err), "answer failed")
		return nil, fmt.Errorf("sip: answering port %d: %w", ic.Port, err)
	}
	c.setState(StateAnswered)
	return c, nil
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

// onInvite takes an INVITE from a registrar.
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	received := time.Now()
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.reinvite(req, tx)
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
	body := req.Body()
	if len(body) == 0 {
		u.log.Warn("INVITE without SDP (late offer) is not supported", "port", l.cfg.Port)
		u.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	offer, err := func() (rtp.Media, error) {
		d, err := rtp.ParseSDP(body)
		if err != nil {
			return rtp.Media{}, err
		}
		return d.Negotiate(nil)
	}()
	if err != nil {
		u.log.Warn("INVITE refused: SDP", "port", l.cfg.Port, "err", err)
		u.respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	r := u.registrarFor(req)
	_, adv, _ := r.destination()
	dua := sipgo.DialogUA{Client: r.cli, ContactHDR: *u.contact(l, r, adv)}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		u.respond(tx, req, 400, "Bad Request")
		return
	}
	defer sess.Close()
	c := u.newCall(l, r, Inbound, cid.Value())
	c.srv = sess
	from := req.From()
	c.Peer, c.PeerName = from.Address.User, from.DisplayName
	u.track(c)
	ic := &IncomingCall{Port: l.cfg.Port, Extension: l.cfg.Extension, From: c.Peer, FromName: c.PeerName,
		Registrar: r.cfg.Name, Received: received, CallID: c.CallID, call: c, offer: offer, final: make(chan struct{})}
	c.ic = ic
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
	case <-timer.C:
		if ic.Reject(480, "Temporarily Unavailable") == nil {
			u.log.Warn("inbound call not answered in time", "port", l.cfg.Port, "after", u.cfg.RingTimeout)
		}
	case <-u.ctx.Done():
		ic.Reject(503, "Service Unavailable")
	}
	ic.sendPending()
	if c.State() == StateAnswered {
		select {
		case <-sess.Context().Done():
			c.end(nil, "dialog ended")
		case <-c.done:
		case <-u.ctx.Done():
		}
	}
}

// reinvite answers an in-dialog INVITE (session refresh, hold) with our
// current SDP, following the peer's new media address if it moved.
func (u *UA) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil || c.stream == nil || c.State() != StateAnswered {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if body := req.Body(); len(body) > 0 {
		d, err := rtp.ParseSDP(body)
		if err != nil {
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		m, err := d.Negotiate(nil)
		if err != nil {
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		c.stream.SetMedia(m)
		c.local.SessionID++
		res := sip.NewSDPResponseFromRequest(req, c.local.Answer(m))
		_, adv, _ := c.r.destination()
		res.AppendHeader(u.contact(c.l, c.r, adv))
		if err := tx.Respond(res); err != nil {
			u.log.Debug("re-INVITE response failed", "err", err)
		}
		return
	}
	u.respond(tx, req, 488, "Not Acceptable Here")
}
