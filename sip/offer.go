package sip

// Offer/answer (RFC 3264) in every place SIP puts it (RFC 6337): an INVITE
// without SDP (our offer in the 2xx, their answer in the ACK), a
// re-INVITE with or without SDP (hold, resume, media moved by a PBX's
// direct-media or music-on-hold), UPDATE (RFC 3311) with or without SDP,
// and the SDES keys (RFC 4568) of SRTP sessions by the registrar's policy.
// One offer at a time per call: a second one while an exchange is open is
// refused with 491 (RFC 3261 14.2, RFC 3311 5.2).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo/sip"
)

// The methods critline takes, and the extensions it supports.
const (
	allowMethods     = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO"
	supportedOptions = "100rel, timer, replaces"
)

// SRTP policies of a registrar (Registrar.SRTP).
const (
	SRTPAccept  = "accept"  // answer an RTP/SAVP offer with SRTP, offer plain RTP
	SRTPRequire = "require" // offer RTP/SAVP, refuse plain RTP (488)
	SRTPOff     = "off"     // refuse RTP/SAVP offers (488)
)

// offerState is a call's offer/answer bookkeeping. Guarded by Call.mu.
type offerState struct {
	open      bool   // an offer awaits its answer (ours or theirs)
	ackSeq    uint32 // the (re-)INVITE whose 2xx carried our offer: its ACK brings the answer
	cryptos   []rtp.Crypto
	remoteSeq uint32 // highest CSeq of the peer's in-dialog requests
	acks      map[uint32]chan *sip.Request
	lastMedia rtp.Media // what the stream was last given
	haveMedia bool
}

// beginOffer opens an offer/answer exchange; false when one is open.
func (c *Call) beginOffer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.oa.open {
		return false
	}
	c.oa.open = true
	return true
}

// endOffer closes the exchange.
func (c *Call) endOffer() {
	c.mu.Lock()
	c.oa.open = false
	c.mu.Unlock()
}

// BeginOffer and EndOffer bracket an offer this side sends in the call
// (a re-INVITE or UPDATE with SDP, e.g. hold): BeginOffer reports false
// while another exchange is open (send later: 491 glare), and the peer's
// offers get 491 until EndOffer.
func (c *Call) BeginOffer() bool { return c.beginOffer() }

// EndOffer ends what BeginOffer began.
func (c *Call) EndOffer() { c.endOffer() }

// peerSeq checks a peer request's CSeq against the last one seen in the
// dialog (RFC 3261 12.2.2): lower means out of order (500).
func (c *Call) peerSeq(req *sip.Request) bool {
	seq := req.CSeq().SeqNo
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.oa.remoteSeq != 0 && seq < c.oa.remoteSeq {
		return false
	}
	c.oa.remoteSeq = seq
	return true
}

// srtpPolicy is the call's registrar's policy.
func (c *Call) srtpPolicy() string {
	if c.r.cfg.SRTP == "" {
		return SRTPAccept
	}
	return c.r.cfg.SRTP
}

// ensureStream opens the call's RTP stream if it has none yet and sets
// the local media description. It reports an error when no port is free.
func (u *UA) ensureStream(c *Call) error {
	c.mu.Lock()
	has := c.stream != nil
	c.mu.Unlock()
	if has {
		return nil
	}
	s, err := u.rtp.Open(u.streamConfig(c.via))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.stream = s
	c.local = rtp.Local{Addr: c.path().advertise(), Port: s.LocalPort(), SessionID: newSessionID()}
	c.mu.Unlock()
	return nil
}

// makeOffer builds a new offer of ours: SRTP when the registrar requires
// it or the session already is, with fresh keys per suite.
func (u *UA) makeOffer(c *Call) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.oa.cryptos = nil
	if c.srtpPolicy() == SRTPRequire || c.oa.lastMedia.Crypto != nil {
		for i, s := range rtp.Suites() {
			c.oa.cryptos = append(c.oa.cryptos, rtp.Crypto{Tag: i + 1, Suite: s, Key: rtp.NewMasterKey()})
		}
	}
	c.local.Cryptos = c.oa.cryptos
	c.local.Version++
	return c.local.Offer()
}

// negotiateOffer reads a peer's offer and checks it against the SRTP
// policy.
func (c *Call) negotiateOffer(body []byte) (rtp.Media, error) {
	return negotiateOfferPolicy(body, c.srtpPolicy())
}

// negotiateOfferPolicy reads an offer and checks it against an SRTP
// policy.
func negotiateOfferPolicy(body []byte, pol string) (rtp.Media, error) {
	d, err := rtp.ParseSDP(body)
	if err != nil {
		return rtp.Media{}, err
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		return m, err
	}
	switch {
	case m.Crypto != nil && pol == SRTPOff:
		return m, fmt.Errorf("%w: the offer is SRTP (RTP/SAVP) and this registrar's srtp is %q", rtp.ErrSDP, SRTPOff)
	case m.Crypto == nil && pol == SRTPRequire:
		return m, fmt.Errorf("%w: the offer is plain RTP and this registrar's srtp is %q", rtp.ErrSDP, SRTPRequire)
	}
	return m, nil
}

// answerOffer takes a peer's offer: the stream follows it (new address,
// codec, direction, keys) and our answer is returned.
func (u *UA) answerOffer(c *Call, body []byte) ([]byte, error) {
	m, err := c.negotiateOffer(body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if m.Crypto != nil {
		// Keep our key while the suite stays (the peer's decryption
		// carries on); a new suite gets a new key.
		if old := c.oa.lastMedia; old.Crypto != nil && old.Crypto.Suite == m.Crypto.Suite {
			m.LocalKey = old.LocalKey
		} else {
			m.LocalKey = rtp.NewMasterKey()
		}
	}
	c.local.Version++
	answer := c.local.Answer(m)
	c.oa.lastMedia, c.oa.haveMedia = m, true
	s := c.stream
	c.mu.Unlock()
	s.SetMedia(m)
	c.logMedia(m, "answered the peer's offer")
	return answer, nil
}

// takeAnswer applies the peer's answer to our last offer.
func (u *UA) takeAnswer(c *Call, body []byte) error {
	if len(body) == 0 {
		return errors.New("sip: no SDP answer to our offer")
	}
	d, err := rtp.ParseSDP(body)
	if err != nil {
		return err
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cryptos := c.oa.cryptos
	c.mu.Unlock()
	switch {
	case m.Crypto != nil:
		found := false
		for _, k := range cryptos {
			if k.Tag == m.Crypto.Tag && k.Suite == m.Crypto.Suite {
				m.LocalKey, found = k.Key, true
			}
		}
		if !found {
			return fmt.Errorf("%w: the answer's crypto tag %d (%s) is not one we offered", rtp.ErrSDP, m.Crypto.Tag, m.Crypto.Suite)
		}
	case len(cryptos) > 0:
		return fmt.Errorf("%w: we offered SRTP and the answer is plain RTP", rtp.ErrSDP)
	}
	c.mu.Lock()
	c.oa.lastMedia, c.oa.haveMedia = m, true
	s := c.stream
	c.mu.Unlock()
	s.SetMedia(m)
	c.logMedia(m, "took the peer's answer")
	return nil
}

func (c *Call) logMedia(m rtp.Media, what string) {
	c.u.log.Debug("call media", "port", c.l.cfg.Port, "call", c.CallID, "what", what, "remote", m.Remote,
		"codec", m.Law, "direction", m.Direction, "srtp", m.Crypto != nil)
}

// Secure reports whether the call's media is SRTP.
func (c *Call) Secure() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.oa.lastMedia.Crypto != nil
}

// sdpResponse is a 2xx to req carrying body, with our Contact and the
// headers every 2xx of ours to an INVITE or UPDATE carries.
func (u *UA) sdpResponse(c *Call, req *sip.Request, body []byte) *sip.Response {
	var res *sip.Response
	if body != nil {
		res = sip.NewSDPResponseFromRequest(req, body)
	} else {
		res = sip.NewResponseFromRequest(req, 200, "OK", nil)
	}
	res.AppendHeader(u.contact(c.l, c.path()))
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	u.sessionTimerHeaders(c, res)
	return res
}

// reinvite answers an in-dialog INVITE: with SDP it is an offer (hold,
// resume, media moved) answered in the 2xx; without, our offer goes in
// the 2xx and the answer comes in the ACK (RFC 3261 14.2). The 2xx is
// retransmitted until its ACK (13.3.1.4).
func (u *UA) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil || c.State() != StateAnswered {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !c.peerSeq(req) {
		u.respond(tx, req, 500, "Server Internal Error")
		return
	}
	if !c.beginOffer() {
		res := sip.NewResponseFromRequest(req, 491, "Request Pending", nil)
		u.m.requestsRejected.WithLabelValues("491").Inc()
		_ = tx.Respond(res)
		return
	}
	if code, reason, ok := u.checkSessionTimer(c, req); !ok {
		c.endOffer()
		u.respondMinSE(tx, req, code, reason)
		return
	}
	c.refreshTarget(req)
	var body []byte
	offered := len(req.Body()) > 0
	if offered {
		var err error
		if body, err = u.answerOffer(c, req.Body()); err != nil {
			c.endOffer()
			u.log.Warn("re-INVITE refused: SDP", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
	} else {
		body = u.makeOffer(c)
	}
	u.peerRefreshed(c, req)
	res := u.sdpResponse(c, req, body)
	ack := c.expectAck(req.CSeq().SeqNo)
	if err := tx.Respond(res); err != nil {
		u.log.Debug("re-INVITE response failed", "err", err)
	}
	go u.awaitReinviteAck(c, req, res, ack, !offered)
}

// expectAck registers the wait for the ACK of our 2xx to the INVITE with
// CSeq seq.
func (c *Call) expectAck(seq uint32) chan *sip.Request {
	ch := make(chan *sip.Request, 1)
	c.mu.Lock()
	if c.oa.acks == nil {
		c.oa.acks = map[uint32]chan *sip.Request{}
	}
	c.oa.acks[seq] = ch
	c.mu.Unlock()
	return ch
}

// awaitReinviteAck retransmits the 2xx of a re-INVITE until its ACK (T1
// doubling to T2, for 64*T1) and takes the answer the ACK carries when the
// 2xx carried our offer. A call whose ACK never comes, or whose ACK has no
// usable answer, is ended with BYE.
func (u *UA) awaitReinviteAck(c *Call, req *sip.Request, res *sip.Response, ack chan *sip.Request, wantAnswer bool) {
	seq := req.CSeq().SeqNo
	defer func() {
		c.mu.Lock()
		delete(c.oa.acks, seq)
		c.mu.Unlock()
		c.endOffer()
	}()
	interval := sip.T1
	retrans := time.NewTimer(interval)
	defer retrans.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case a := <-ack:
			if !wantAnswer {
				return
			}
			if err := u.takeAnswer(c, a.Body()); err != nil {
				u.log.Warn("the ACK of our re-INVITE offer carries no usable answer: ending the call", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
				c.endOffer()
				_ = c.hangupWith(`SIP;cause=488;text="no usable SDP answer in the ACK"`)
			}
			return
		case <-retrans.C:
			if err := c.path().p.srv.WriteResponse(res); err != nil { // over the call's path
				u.log.Debug("2xx retransmission failed", "call", c.CallID, "err", err)
			}
			interval = min(2*interval, sip.T2)
			retrans.Reset(interval)
		case <-giveUp.C:
			u.m.ackTimeouts.Inc()
			u.log.Warn("our 2xx to a re-INVITE got no ACK: ending the call with BYE", "port", c.l.cfg.Port, "call", c.CallID)
			c.endOffer()
			_ = c.hangupWith(`SIP;cause=408;text="no ACK"`)
			return
		case <-c.done:
			return
		}
	}
}

// ackInDialog takes an ACK before sipgo sees it: the ACK of a re-INVITE's
// 2xx (consumed), or of the first INVITE's 2xx that carried our offer
// (the answer is taken; sipgo still confirms the dialog).
func (u *UA) ackInDialog(c *Call, req *sip.Request) (consumed bool) {
	seq := req.CSeq().SeqNo
	c.mu.Lock()
	ch := c.oa.acks[seq]
	lateOffer := c.oa.ackSeq != 0 && c.oa.ackSeq == seq
	if lateOffer {
		c.oa.ackSeq = 0
	}
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- req:
		default:
		}
		return true
	}
	if lateOffer {
		c.endOffer()
		if err := u.takeAnswer(c, req.Body()); err != nil {
			u.log.Warn("the ACK of our answer to an INVITE without SDP carries no usable answer: ending the call", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			go c.hangupWith(`SIP;cause=488;text="no usable SDP answer in the ACK"`)
		}
	}
	return false
}

// onUpdate answers UPDATE (RFC 3311) in an early or confirmed dialog: with
// SDP an offer answered in the 200, without a session refresh (or an
// identity update, as Cisco Unified CM sends for connected name and
// number).
func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupDialog(req)
	if c == nil {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !c.peerSeq(req) {
		u.respond(tx, req, 500, "Server Internal Error")
		return
	}
	if code, reason, ok := u.checkSessionTimer(c, req); !ok {
		u.respondMinSE(tx, req, code, reason)
		return
	}
	c.refreshTarget(req)
	var body []byte
	if len(req.Body()) > 0 {
		if !c.beginOffer() {
			u.m.requestsRejected.WithLabelValues("491").Inc()
			_ = tx.Respond(sip.NewResponseFromRequest(req, 491, "Request Pending", nil))
			return
		}
		err := u.ensureStream(c)
		if err == nil {
			body, err = u.answerOffer(c, req.Body())
		}
		c.endOffer()
		if err != nil {
			u.log.Warn("UPDATE refused: SDP", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
	}
	u.peerRefreshed(c, req)
	if err := tx.Respond(u.sdpResponse(c, req, body)); err != nil {
		u.log.Debug("UPDATE response failed", "err", err)
	}
}

// lookupDialog is lookupCall that also finds an outbound call's early
// dialog by the To-tag of a provisional response (UPDATE, PRACK before the
// answer).
func (u *UA) lookupDialog(req *sip.Request) *Call {
	if c := u.lookupCall(req); c != nil {
		return c
	}
	id := req.CallID()
	if id == nil || req.From() == nil || req.To() == nil {
		return nil
	}
	u.callMu.Lock()
	cs := slices.Clone(u.calls[id.Value()])
	u.callMu.Unlock()
	fromTag, _ := req.From().Params.Get("tag")
	toTag, _ := req.To().Params.Get("tag")
	for _, c := range cs {
		c.mu.Lock()
		early := c.dir == Outbound && c.localTag != "" && toTag == c.localTag && fromTag != "" && fromTag == c.earlyTag
		c.mu.Unlock()
		if early {
			return c
		}
	}
	return nil
}

// hangupWith ends an answered call with BYE carrying a Reason.
func (c *Call) hangupWith(reason string) error {
	c.mu.Lock()
	c.byeReason = reason
	c.mu.Unlock()
	return c.Hangup()
}

// sendBye ends the call's dialog with BYE in the background (Hangup). For
// an inbound call it waits, as RFC 3261 15 asks, for the ACK of our 2xx or
// the end of its retransmissions.
func (u *UA) sendBye(c *Call) {
	c.mu.Lock()
	reason := c.byeReason
	c.mu.Unlock()
	u.background(func(ctx context.Context) {
		if c.awaitAck(ctx) != nil {
			return
		}
		if err := u.byeInDialog(ctx, c, reason); err != nil {
			u.log.Debug("BYE not confirmed", "call", c.CallID, "err", err)
		}
	})
}

// newSessionID is an o= session id.
func newSessionID() uint64 { return uint64(time.Now().UnixNano()) >> 2 }
