package sip

// Reliable provisional responses (RFC 3262). Inbound: an INVITE that
// requires 100rel gets its 180 reliably (Require: 100rel, RSeq,
// retransmitted until its PRACK); when the INVITE had no offer, that 180
// carries ours and the PRACK the answer. Outbound: our INVITE says we
// support 100rel, and a provisional response that requires it is
// acknowledged with PRACK (RAck), in the early dialog it makes.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// reliableState is a call's reliable provisional responses. Guarded by
// Call.mu.
type reliableState struct {
	// inbound (we are the UAS)
	on        bool   // the INVITE requires 100rel
	rseq      uint32 // the last RSeq we used
	unacked   uint32 // RSeq awaiting its PRACK, 0 for none
	acked     chan struct{}
	withOffer bool // the unacknowledged response carries our offer
	// outbound (we are the UAC)
	prackedRSeq uint32 // the last RSeq we sent PRACK for
}

// ringReliable sends 180 Ringing reliably and retransmits it (T1 doubling)
// until its PRACK. It carries our offer when the INVITE had none. With no
// PRACK in 64*T1 the INVITE is refused with 504 (RFC 3262 3).
func (ic *IncomingCall) ringReliable() error {
	c := ic.call
	u := c.u
	c.mu.Lock()
	if c.rel.unacked != 0 {
		c.mu.Unlock()
		return nil // one reliable provisional at a time (RFC 3262 3); ringing is already said
	}
	if c.rel.rseq == 0 {
		c.rel.rseq = 1 + rand.Uint32N(1<<30)
	} else {
		c.rel.rseq++
	}
	rseq := c.rel.rseq
	c.rel.unacked, c.rel.acked = rseq, make(chan struct{})
	acked := c.rel.acked
	c.mu.Unlock()
	var body []byte
	if ic.lateOffer {
		if err := u.ensureStream(c); err != nil {
			return err
		}
		if !c.beginOffer() {
			return fmt.Errorf("sip: an offer is already open")
		}
		body = u.makeOffer(c)
		c.mu.Lock()
		c.rel.withOffer = true
		c.mu.Unlock()
	}
	inv := c.srv.InviteRequest
	res := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	if body != nil {
		res = sip.NewSDPResponseFromRequest(inv, body)
		res.StatusCode, res.Reason = 180, "Ringing"
	}
	res.AppendHeader(sip.NewHeader("Require", "100rel"))
	res.AppendHeader(sip.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10)))
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	if err := c.srv.WriteResponse(res); err != nil {
		return fmt.Errorf("sip: reliable 180: %w", err)
	}
	go func() {
		interval := sip.T1
		t := time.NewTimer(interval)
		defer t.Stop()
		giveUp := time.NewTimer(64 * sip.T1)
		defer giveUp.Stop()
		for {
			select {
			case <-acked:
				return
			case <-ic.final:
				return
			case <-c.done:
				return
			case <-t.C:
				if err := c.srv.WriteResponse(res); err != nil {
					return // the transaction is over
				}
				interval *= 2
				t.Reset(interval)
			case <-giveUp.C:
				u.log.Warn("reliable 180 never acknowledged (no PRACK): refusing the call", "port", ic.Port, "call", ic.CallID)
				_ = ic.Reject(504, "Server Time-out")
				return
			}
		}
	}()
	return nil
}

// awaitPrack waits, before a 2xx, for the PRACK of a reliable response
// that carried our offer (RFC 3262 3: no final response before it). It
// reports false when none came in 64*T1.
func (c *Call) awaitPrack() bool {
	c.mu.Lock()
	ch, need := c.rel.acked, c.rel.unacked != 0 && c.rel.withOffer
	c.mu.Unlock()
	if !need {
		return true
	}
	t := time.NewTimer(64 * sip.T1)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-c.done:
		return false
	}
}

// onPrack acknowledges a PRACK for our reliable provisional response; one
// that matches nothing outstanding gets 481.
func (u *UA) onPrack(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil || c.dir != Inbound || c.srv == nil {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	rseq, cseq, method, ok := parseRAck(req)
	inv := c.srv.InviteRequest
	c.mu.Lock()
	match := ok && c.rel.unacked != 0 && rseq == c.rel.unacked && cseq == inv.CSeq().SeqNo && strings.EqualFold(method, "INVITE")
	var withOffer bool
	if match {
		withOffer = c.rel.withOffer
		c.rel.unacked, c.rel.withOffer = 0, false
		close(c.rel.acked)
	}
	c.mu.Unlock()
	if !match {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if withOffer {
		c.endOffer()
		if err := u.takeAnswer(c, req.Body()); err != nil {
			// The answer to our offer in the 180 is unusable: refuse the
			// call (the PRACK itself is fine).
			u.log.Warn("PRACK carries no usable answer to the offer in our 180: refusing the call", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
			if c.ic != nil {
				_ = c.ic.Reject(488, "Not Acceptable Here")
			}
			return
		}
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
		u.log.Debug("PRACK response failed", "err", err)
	}
}

// parseRAck reads "RAck: rseq cseq method".
func parseRAck(req *sip.Request) (rseq, cseq uint32, method string, ok bool) {
	h := req.GetHeader("RAck")
	if h == nil {
		return 0, 0, "", false
	}
	f := strings.Fields(h.Value())
	if len(f) != 3 {
		return 0, 0, "", false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	s, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return uint32(r), uint32(s), f[2], true
}

// prackFor acknowledges a reliable provisional response to our INVITE
// (called for every 1xx of it): PRACK with RAck, in the early dialog the
// response makes, once per RSeq in order. It runs in the background.
func (u *UA) prackFor(c *Call, res *sip.Response) {
	if res.StatusCode <= 100 || res.StatusCode >= 200 || !required(res)["100rel"] {
		return
	}
	rs := res.GetHeader("RSeq")
	if rs == nil {
		return
	}
	rseq, err := strconv.ParseUint(strings.TrimSpace(rs.Value()), 10, 32)
	if err != nil || rseq == 0 {
		return
	}
	c.mu.Lock()
	last := c.rel.prackedRSeq
	if last != 0 && uint32(rseq) <= last {
		c.mu.Unlock()
		return // a retransmission: our PRACK's own transaction repeats it
	}
	c.rel.prackedRSeq = uint32(rseq)
	c.mu.Unlock()
	c.setDialogUAC(c.inv, res)
	req, err := u.newInDialog(c, sip.PRACK)
	if err != nil {
		return
	}
	req.AppendHeader(sip.NewHeader("RAck", fmt.Sprintf("%d %d INVITE", rseq, res.CSeq().SeqNo)))
	u.background(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 64*sip.T1)
		defer cancel()
		r, err := u.doInDialog(ctx, c, req)
		switch {
		case err != nil:
			u.log.Warn("PRACK got no response", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
		case !r.IsSuccess():
			u.log.Warn("PRACK refused", "port", c.l.cfg.Port, "call", c.CallID, "status", r.StatusCode)
		}
	})
}

// provisional takes every response to our INVITE before the caller sees
// it: a provisional response with a To-tag opens an early dialog (UPDATE
// and PRACK go in it), and a reliable one gets its PRACK.
func (u *UA) provisional(c *Call, res *sip.Response) {
	if !res.IsProvisional() || res.StatusCode == 100 {
		return
	}
	if tag := toTag(res); tag != "" {
		c.mu.Lock()
		c.earlyTag = tag
		c.mu.Unlock()
		c.setDialogUAC(c.inv, res)
	}
	u.prackFor(c, res)
}
