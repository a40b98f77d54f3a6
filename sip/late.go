package sip

// Late and stray messages: responses to INVITEs we have given up on, and
// CANCELs that overtake their INVITE. A call attempt must always end, and
// ending it on our side must end it on the far side too.

import (
	"context"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// lateWindow is how long after an outbound call ended a response to its
// INVITE is still recognised (a PBX may answer a call we abandoned minutes
// later: the callee picked up).
const lateWindow = 10 * time.Minute

// maxInvites bounds the remembered INVITEs.
const maxInvites = 4096

// rememberInvite keeps an outbound call's INVITE so that responses arriving
// after its transaction has ended can be matched to it.
func (u *UA) rememberInvite(c *Call) {
	now := time.Now()
	u.invMu.Lock()
	defer u.invMu.Unlock()
	for id, old := range u.invites {
		old.mu.Lock()
		gone := old.state == StateEnded && now.Sub(old.endedAt) > lateWindow
		old.mu.Unlock()
		if gone || len(u.invites) >= maxInvites && old.State() == StateEnded {
			delete(u.invites, id)
		}
	}
	u.invites[c.CallID] = c
}

// inviteFor finds the outbound call a response to an INVITE belongs to:
// same Call-ID and our From tag.
func (u *UA) inviteFor(res *sip.Response) *Call {
	id, from := res.CallID(), res.From()
	if id == nil || from == nil {
		return nil
	}
	u.invMu.Lock()
	c := u.invites[id.Value()]
	u.invMu.Unlock()
	if c == nil {
		return nil
	}
	if tag, _ := from.Params.Get("tag"); tag != c.localTag {
		return nil
	}
	return c
}

func toTag(res *sip.Response) string {
	if to := res.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}

// onLateResponse takes a response no transaction wanted (sipgo's
// unhandled-response hook): the transaction of its INVITE has ended.
// RFC 3261 still wants every 2xx ACKed; one for a call we no longer want is
// then ended with BYE, so the far end is not left in a call nobody hears
// (for 999, a silent emergency call). A late provisional response gets its
// CANCEL (it could not be sent before one came, RFC 3261 9.1), a late
// failure its ACK.
func (u *UA) onLateResponse(res *sip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.INVITE {
		u.log.Debug("stray response dropped", "response", res.Short())
		return
	}
	if u.reAck(res) {
		return // a 2xx of our re-INVITE again: our ACK was lost (hold.go)
	}
	c := u.inviteFor(res)
	if c == nil {
		u.log.Debug("response to an INVITE we do not know: dropped", "response", res.Short())
		return
	}
	switch {
	case res.IsProvisional():
		u.cancelLate(c, res)
	case res.IsSuccess():
		c.mu.Lock()
		live := c.state == StateAnswered && toTag(res) == c.remoteTag
		c.mu.Unlock()
		if live {
			// A retransmission of the 2xx of the call in progress: ACK again.
			if err := u.ack2xx(c, res); err != nil {
				u.log.Debug("re-ACK failed", "call", c.CallID, "err", err)
			}
			return
		}
		u.endLateAnswer(c, res, false, "2xx after the INVITE transaction ended")
	default:
		u.ackFinal(c, res)
	}
}

// endLateAnswer ACKs a 2xx for a call we gave up on (or a forked second
// answer) and ends that dialog with BYE, once per dialog.
func (u *UA) endLateAnswer(c *Call, res *sip.Response, acked bool, why string) {
	tag := toTag(res)
	c.mu.Lock()
	if c.byed == nil {
		c.byed = map[string]bool{}
	}
	first := !c.byed[tag]
	c.byed[tag] = true
	c.mu.Unlock()
	if !acked {
		if err := u.ack2xx(c, res); err != nil {
			u.log.Debug("ACK of a late answer failed", "call", c.CallID, "err", err)
		}
	}
	if !first {
		return
	}
	u.m.lateAnswers.WithLabelValues(c.r.cfg.Name).Inc()
	u.log.Warn("late answer to a call that had moved on: ACKed and ended with BYE", "port", c.l.cfg.Port, "number", c.Peer, "registrar", c.r.cfg.Name, "why", why)
	u.background(func(ctx context.Context) {
		bye := u.lateRequest(c, res, sip.BYE, res.CSeq().SeqNo+1)
		tx, err := c.client().TransactionRequest(ctx, bye, sipgo.ClientRequestAddVia)
		if err != nil {
			u.log.Warn("BYE for a late answer not sent", "call", c.CallID, "err", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case r := <-tx.Responses():
				if r.IsProvisional() {
					continue
				}
				u.log.Debug("late answer ended", "call", c.CallID, "status", r.StatusCode)
				return
			case <-tx.Done():
				u.log.Warn("BYE for a late answer got no response", "call", c.CallID, "err", tx.Err())
				return
			case <-ctx.Done():
				return
			}
		}
	})
}

// lateRequest builds an in-dialog request (ACK or BYE) for the dialog a 2xx
// made: to its Contact, through its Record-Route (reversed), from the
// listening socket.
func (u *UA) lateRequest(c *Call, res *sip.Response, m sip.RequestMethod, seq uint32) *sip.Request {
	target := c.inv.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(m, *target.Clone())
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(sip.NewHeader("Route", rr[i].Value()))
	}
	req.AppendHeader(sip.HeaderClone(res.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(res.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	req.SetTransport(c.inv.Transport())
	c.fromListener(req)
	return req
}

// ack2xx sends the end-to-end ACK of a 2xx (a new branch, outside any
// transaction, RFC 3261 13.2.2.4).
func (u *UA) ack2xx(c *Call, res *sip.Response) error {
	return c.client().WriteRequest(u.lateRequest(c, res, sip.ACK, res.CSeq().SeqNo), sipgo.ClientRequestAddVia)
}

// hopByHop builds the ACK or CANCEL of an INVITE transaction that has
// already ended here: same Request-URI, top Via (branch) and CSeq number as
// the INVITE, which the response echoes.
func (u *UA) hopByHop(c *Call, res *sip.Response, m sip.RequestMethod) *sip.Request {
	req := sip.NewRequest(m, *c.inv.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(res.Via()))
	req.AppendHeader(sip.HeaderClone(res.From()))
	if m == sip.ACK {
		req.AppendHeader(sip.HeaderClone(res.To()))
	} else {
		to := sip.HeaderClone(res.To()).(*sip.ToHeader)
		to.Params.Remove("tag") // a CANCEL's To is the INVITE's
		req.AppendHeader(to)
	}
	req.AppendHeader(sip.HeaderClone(res.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: m})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	req.SetTransport(c.inv.Transport())
	req.SetDestination(c.inv.Destination())
	c.fromListener(req)
	return req
}

// keepVia is a request option that leaves the request as built (its Via
// is the INVITE's).
func keepVia(*sipgo.Client, *sip.Request) error { return nil }

// ackFinal ACKs a late non-2xx final response, so the PBX stops
// retransmitting it.
func (u *UA) ackFinal(c *Call, res *sip.Response) {
	if err := c.client().WriteRequest(u.hopByHop(c, res, sip.ACK), keepVia); err != nil {
		u.log.Debug("ACK of a late final response failed", "call", c.CallID, "err", err)
	}
}

// sendCancel cancels an INVITE we gave up on after a provisional response:
// to where the INVITE went, with its top Via and CSeq number. The final
// response (487) comes to onLateResponse, which ACKs it.
func (u *UA) sendCancel(c *Call) {
	inv := c.inv
	req := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.SetBody(nil)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	c.fromListener(req)
	u.transmitCancel(c, req)
}

func (u *UA) transmitCancel(c *Call, req *sip.Request) {
	u.background(func(ctx context.Context) {
		tx, err := c.client().TransactionRequest(ctx, req, keepVia)
		if err != nil {
			u.log.Debug("CANCEL not sent", "call", c.CallID, "err", err)
			return
		}
		defer tx.Terminate()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-ctx.Done():
		}
	})
}

// cancelLate sends CANCEL for an INVITE we gave up on before any response
// came, once its first provisional response arrives.
func (u *UA) cancelLate(c *Call, res *sip.Response) {
	c.mu.Lock()
	want := c.given && !c.canceled && c.state == StateEnded
	if want {
		c.canceled = true
	}
	c.mu.Unlock()
	if !want {
		return
	}
	u.log.Info("late provisional response to an abandoned INVITE: cancelling it", "call", c.CallID, "registrar", c.r.cfg.Name, "status", res.StatusCode)
	u.transmitCancel(c, u.hopByHop(c, res, sip.CANCEL))
}

// cancelKey names an INVITE transaction by Call-ID and branch.
func cancelKey(req *sip.Request) string {
	id, via := req.CallID(), req.Via()
	if id == nil || via == nil {
		return ""
	}
	branch, _ := via.Params.Get("branch")
	return id.Value() + "|" + branch
}

// onStrayCancel answers a CANCEL that matches no INVITE transaction. When
// its INVITE is being handled (sipgo handles each message on its own
// goroutine, so the CANCEL can miss the transaction by a hair), that INVITE
// is cancelled: 200 here, 487 for it. Otherwise it is answered 481 (RFC
// 3261 9.2) and remembered for a while: when it overtook its INVITE (UDP
// reorders), that INVITE is refused with 487 instead of ringing a port for
// minutes.
func (u *UA) onStrayCancel(req *sip.Request, tx sip.ServerTransaction) {
	if key := cancelKey(req); key != "" {
		now := time.Now()
		u.invMu.Lock()
		if ch, ok := u.pending[key]; ok {
			delete(u.pending, key)
			close(ch)
			u.invMu.Unlock()
			u.respond(tx, req, 200, "OK")
			return
		}
		for k, at := range u.canceled {
			if now.Sub(at) > 64*sip.T1 {
				delete(u.canceled, k)
			}
		}
		if len(u.canceled) < maxInvites {
			u.canceled[key] = now
		}
		u.invMu.Unlock()
	}
	u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// inviteArrived registers an inbound INVITE being handled. It reports
// (once) whether the INVITE's CANCEL came first; otherwise the channel is
// closed if one arrives while the INVITE is handled, until done is called.
func (u *UA) inviteArrived(req *sip.Request) (canceledFirst bool, canceled <-chan struct{}, done func()) {
	key := cancelKey(req)
	if key == "" {
		return false, nil, func() {}
	}
	u.invMu.Lock()
	defer u.invMu.Unlock()
	if _, ok := u.canceled[key]; ok {
		delete(u.canceled, key)
		return true, nil, func() {}
	}
	if _, dup := u.pending[key]; dup || len(u.pending) >= maxInvites {
		return false, nil, func() {} // a retransmission, or a flood: sipgo's transaction has it
	}
	ch := make(chan struct{})
	u.pending[key] = ch
	return false, ch, func() {
		u.invMu.Lock()
		if u.pending[key] == ch {
			delete(u.pending, key)
		}
		u.invMu.Unlock()
	}
}
