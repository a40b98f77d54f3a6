package sip

// Hold and resume (RFC 3264 8.4, RFC 6337 5): a re-INVITE of ours offering
// a=sendonly puts the call on hold, a=sendrecv takes it off; the peer's
// re-INVITEs are answered in the light of our hold (reinvite.go). One
// in-dialog request of ours is in flight per call at a time.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrNotAnswered: an in-dialog service (hold, transfer, INFO) asked of a
// call that is not answered, or has ended.
var ErrNotAnswered = errors.New("sip: the call is not answered")

// ErrGlare: the peer kept answering our re-INVITE 491 Request Pending.
var ErrGlare = errors.New("sip: re-INVITE kept crossing the peer's (491)")

// callSvc is what the flash-hook services keep on a call.
type callSvc struct {
	reqMu sync.Mutex // one in-dialog request of ours at a time (re-INVITE, REFER, INFO)

	mu         sync.Mutex
	held       bool        // we hold the call: our offers and answers keep the peer from sending to us
	remoteHeld bool        // the peer holds us: its last offer was sendonly, inactive or c=0.0.0.0
	pending    bool        // a re-INVITE of ours is in flight: the peer's gets 491 (RFC 3261 14.2)
	awaitAck   bool        // we offered in the 2xx of the peer's SDP-less re-INVITE: the answer comes in its ACK
	lastAck    ackRecord   // the ACK of our last re-INVITE, sent again for a retransmitted 2xx
	notify     chan notice // NOTIFYs of our REFER's implicit subscription (refer.go)
}

type ackRecord struct {
	seq uint32
	req *sip.Request
}

// Held reports whether we hold the call (Hold(true) and no Hold(false)
// since).
func (c *Call) Held() bool {
	c.svc.mu.Lock()
	defer c.svc.mu.Unlock()
	return c.svc.held
}

// RemoteHeld reports whether the peer holds the call (its last offer asked
// us not to send: a=sendonly, a=inactive or c=0.0.0.0).
func (c *Call) RemoteHeld() bool {
	c.svc.mu.Lock()
	defer c.svc.mu.Unlock()
	return c.svc.remoteHeld
}

// Hold puts the call on hold (on) with a re-INVITE offering a=sendonly, or
// takes it off hold with one offering a=sendrecv, and applies the peer's
// answer. It returns once the peer has answered (2xx: nil; an error
// response: a *StatusError; 481 or 408 also end the call, RFC 3261
// 12.2.1.2), or ctx ends. A re-INVITE crossing the peer's (491) is tried
// again after the random wait of RFC 3261 14.1, twice at most. The hold is
// ours from the moment Hold is called: a re-INVITE of the peer's meanwhile
// is answered as held.
func (c *Call) Hold(ctx context.Context, on bool) error {
	if c.State() != StateAnswered || c.stream == nil {
		return ErrNotAnswered
	}
	c.svc.reqMu.Lock()
	defer c.svc.reqMu.Unlock()
	c.svc.mu.Lock()
	c.svc.held = on
	c.svc.mu.Unlock()
	dir := rtp.SendRecv
	if on {
		dir = rtp.SendOnly
	}
	for attempt := 0; ; attempt++ {
		err := c.reinviteOffer(ctx, dir)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 491 {
			return err
		}
		if attempt == 2 {
			return fmt.Errorf("%w: %v", ErrGlare, err)
		}
		// RFC 3261 14.1: the dialog's UAC waits 2.1-4 s, the UAS 0-2 s.
		wait := time.Duration(rand.Int64N(int64(2 * time.Second)))
		if c.cli != nil {
			wait = 2100*time.Millisecond + time.Duration(rand.Int64N(int64(1900*time.Millisecond)))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrNotAnswered
		}
	}
}

// reinviteOffer sends one re-INVITE offering dir and applies the answer.
// The caller holds svc.reqMu.
func (c *Call) reinviteOffer(ctx context.Context, dir rtp.Direction) error {
	u := c.u
	c.svc.mu.Lock()
	c.svc.pending = true
	c.local.Version++
	offer := c.local.OfferDirection(dir)
	c.svc.mu.Unlock()
	defer func() {
		c.svc.mu.Lock()
		c.svc.pending = false
		c.svc.mu.Unlock()
	}()
	req := u.dialogRequest(c, sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", "replaces"))
	req.SetBody(offer)
	res, err := c.inDialogDo(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return c.inDialogFailure(res, "re-INVITE")
	}
	// Every 2xx is ACKed, even one whose SDP we refuse (RFC 3261 13.2.2.4).
	ack := ackOf(req)
	c.svc.mu.Lock()
	c.svc.lastAck = ackRecord{seq: req.CSeq().SeqNo, req: ack}
	c.svc.mu.Unlock()
	if err := c.client().WriteRequest(ack.Clone(), sipgo.ClientRequestAddVia); err != nil {
		u.log.Debug("ACK of a re-INVITE's 2xx not sent", "call", c.CallID, "err", err)
	}
	if body := res.Body(); len(body) > 0 {
		if err := c.applyAnswer(body); err != nil {
			return fmt.Errorf("sip: the answer to our re-INVITE: %w", err)
		}
	}
	return nil
}

// inDialogDo sends an in-dialog request of ours and waits for its final
// response (or ctx, or the call's end).
func (c *Call) inDialogDo(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	var (
		tx  sip.ClientTransaction
		err error
	)
	if c.cli != nil {
		tx, err = c.cli.TransactionRequest(ctx, req)
	} else {
		tx, err = c.srv.TransactionRequest(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("registrar %s: %w: %s: %v", c.r.cfg.Name, ErrTransport, req.Method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("registrar %s: %w: no answer to %s: %v", c.r.cfg.Name, ErrTimeout, req.Method, err)
			}
			return nil, fmt.Errorf("registrar %s: %w: no answer to %s", c.r.cfg.Name, ErrTimeout, req.Method)
		case <-ctx.Done():
			return nil, fmt.Errorf("registrar %s: %w: %s: %v", c.r.cfg.Name, ErrCanceled, req.Method, ctx.Err())
		case <-c.done:
			return nil, ErrNotAnswered
		}
	}
}

// inDialogFailure turns an error response to an in-dialog request into an
// error; 481 and 408 mean the dialog is gone (RFC 3261 12.2.1.2), so the
// call ends.
func (c *Call) inDialogFailure(res *sip.Response, what string) error {
	err := &StatusError{Code: res.StatusCode, Reason: res.Reason, Registrar: c.r.cfg.Name}
	if res.StatusCode == 481 || res.StatusCode == 408 {
		c.end(err, what+" answered "+res.Short()+": the dialog is gone")
		_ = c.Hangup()
	}
	return err
}

// dialogRequest starts an in-dialog request of ours in either role: to the
// peer's target, from the listening socket. The dialog session fills in
// From, To, Call-ID, CSeq, Route and Contact.
func (u *UA) dialogRequest(c *Call, m sip.RequestMethod) *sip.Request {
	if c.cli != nil {
		return u.inDialog(c, m)
	}
	inv := c.srv.InviteRequest
	req := sip.NewRequest(m, *inv.Contact().Address.Clone())
	req.SetTransport(inv.Transport())
	c.fromListener(req)
	return req
}

// ackOf builds the ACK of a 2xx to our re-INVITE req (already sent, so its
// dialog headers are filled in): same Request-URI, route, tags and CSeq
// number, a Via of its own (RFC 3261 13.2.2.4).
func ackOf(req *sip.Request) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *req.Recipient.Clone())
	for _, name := range []string{"Route", "From", "To", "Call-ID", "Max-Forwards", "Contact"} {
		for _, h := range req.GetHeaders(name) {
			ack.AppendHeader(sip.HeaderClone(h))
		}
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	ack.SetTransport(req.Transport())
	ack.SetDestination(req.Destination())
	ack.Laddr = req.Laddr
	return ack
}

// reAck sends again the ACK of our last re-INVITE when its 2xx comes again
// (our ACK was lost); it reports whether res was such a retransmission.
func (u *UA) reAck(res *sip.Response) bool {
	id, cseq, from := res.CallID(), res.CSeq(), res.From()
	if id == nil || cseq == nil || from == nil || !res.IsSuccess() {
		return false
	}
	tag, _ := from.Params.Get("tag") // ours: the response is to our request
	var c *Call
	u.callMu.Lock()
	for _, x := range u.calls[id.Value()] {
		x.mu.Lock()
		mine := x.localTag == tag
		x.mu.Unlock()
		if mine {
			c = x
		}
	}
	u.callMu.Unlock()
	if c == nil {
		return false
	}
	c.svc.mu.Lock()
	last := c.svc.lastAck
	c.svc.mu.Unlock()
	if last.req == nil || last.seq != cseq.SeqNo {
		return false
	}
	if err := c.client().WriteRequest(last.req.Clone(), sipgo.ClientRequestAddVia); err != nil {
		u.log.Debug("re-ACK of a re-INVITE failed", "call", c.CallID, "err", err)
	}
	return true
}

// applyAnswer takes the peer's SDP answer to our offer.
func (c *Call) applyAnswer(body []byte) error {
	d, err := rtp.ParseSDP(body)
	if err != nil {
		return err
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		return err
	}
	c.setMedia(m)
	return nil
}

// setMedia applies negotiated media from a re-INVITE, its answer or an
// ACK. A connection address of 0.0.0.0 (RFC 2543 hold) is a hold: the
// peer's address is kept and nothing is sent to it.
func (c *Call) setMedia(m rtp.Media) {
	prev, had := c.stream.Media()
	if unspecified(m.Remote.Addr()) {
		if had {
			m.Remote = prev.Remote
		}
		if m.Direction != rtp.Inactive {
			m.Direction = rtp.SendOnly // as the peer sees it: it will not take our audio
		}
	}
	c.svc.mu.Lock()
	c.svc.remoteHeld = m.Direction == rtp.SendOnly || m.Direction == rtp.Inactive
	c.svc.mu.Unlock()
	c.stream.SetMedia(m)
}

func unspecified(a netip.Addr) bool { return !a.IsValid() || a.IsUnspecified() }
