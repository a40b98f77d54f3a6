package sip

// The peer's re-INVITEs: session refresh, the PBX holding or resuming the
// call, moving its media. Answered in the light of our own hold, so a
// refresh never takes our hold off; one crossing a re-INVITE of ours gets
// 491; one without SDP gets our offer in the 2xx and its answer comes in
// the ACK.

import (
	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo/sip"
)

// allowMethods is what a line accepts, for Allow headers.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"

// reinvite answers an in-dialog INVITE from the peer.
func (u *UA) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil || c.stream == nil || c.State() != StateAnswered {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.svc.mu.Lock()
	if c.svc.pending {
		c.svc.mu.Unlock()
		u.respond(tx, req, 491, "Request Pending")
		return
	}
	held := c.svc.held
	c.svc.mu.Unlock()

	var body []byte
	if len(req.Body()) == 0 {
		// A re-INVITE without an offer: ours goes in the 2xx, the answer
		// comes in the ACK (RFC 3261 14.2).
		dir := rtp.SendRecv
		if held {
			dir = rtp.SendOnly
		}
		c.svc.mu.Lock()
		c.local.Version++
		body = c.local.OfferDirection(dir)
		c.svc.awaitAck = true
		c.svc.mu.Unlock()
	} else {
		d, err := rtp.ParseSDP(req.Body())
		if err != nil {
			u.log.Info("re-INVITE refused: its SDP", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		m, err := d.Negotiate(nil)
		if err != nil {
			u.log.Info("re-INVITE refused: no common media", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			u.respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		c.setMedia(m)
		m, _ = c.stream.Media() // as applied (a 0.0.0.0 hold keeps the address)
		c.svc.mu.Lock()
		c.local.Version++
		body = c.local.AnswerHeld(m, held)
		c.svc.mu.Unlock()
		u.log.Info("re-INVITE from the peer", "port", c.l.cfg.Port, "call", c.CallID, "direction", m.Direction, "held_by_peer", c.RemoteHeld(), "held_by_us", held)
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(u.contact(c.l, c.path()))
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Supported", "replaces"))
	if err := tx.Respond(res); err != nil {
		u.log.Debug("re-INVITE response failed", "err", err)
	}
}

// ackAnswer takes the SDP answer an ACK carries, for the offer we made in
// the 2xx of an SDP-less re-INVITE.
func (u *UA) ackAnswer(c *Call, req *sip.Request) {
	c.svc.mu.Lock()
	want := c.svc.awaitAck
	c.svc.awaitAck = false
	c.svc.mu.Unlock()
	if !want || len(req.Body()) == 0 || c.stream == nil {
		return
	}
	if err := c.applyAnswer(req.Body()); err != nil {
		u.log.Warn("the ACK's SDP answer to our offer refused; the media stays as it was", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
	}
}
