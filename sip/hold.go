package sip

// Hold and resume (RFC 3264 8.4, RFC 6337 5): a re-INVITE of ours offering
// a=sendonly puts the call on hold, a=sendrecv takes it off. Our hold is
// the direction of the call's local description (c.local.Direction), so
// the peer's re-INVITEs and UPDATEs (offer.go) are answered in its light
// and a session refresh (timers_session.go) offers it again: neither takes
// our hold off. One offer/answer exchange is open per call at a time
// (offer.go's beginOffer): a re-INVITE of ours crossing the peer's is
// tried again after RFC 3261 14.1's wait, and the peer's gets 491. Every
// in-dialog request of ours is built by indialog.go with the call's own
// CSeq counter, over the call's path.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

	mu      sync.Mutex
	lastAck ackRecord   // the ACK of our last re-INVITE, sent again for a retransmitted 2xx
	notify  chan notice // NOTIFYs of our REFER's implicit subscription (refer.go)
}

type ackRecord struct {
	seq uint32
	req *sip.Request
}

// Held reports whether we hold the call (Hold(true) and no Hold(false)
// since).
func (c *Call) Held() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.local.Direction == rtp.SendOnly
}

// RemoteHeld reports whether the peer holds the call: its last SDP is
// sendonly, inactive or at 0.0.0.0 (it sends us nothing to play, or takes
// nothing from us).
func (c *Call) RemoteHeld() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.oa.lastMedia
	return c.oa.haveMedia && (m.Direction == rtp.SendOnly || m.Direction == rtp.Inactive || !m.Sends())
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
	dir := rtp.SendRecv
	if on {
		dir = rtp.SendOnly
	}
	c.mu.Lock()
	c.local.Direction = dir
	c.mu.Unlock()
	if err := c.awaitAck(ctx); err != nil { // RFC 3261 14.1: no re-INVITE before the ACK
		return err
	}
	for attempt := 0; ; attempt++ {
		err := c.reinviteOffer(ctx)
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

// reinviteOffer sends one re-INVITE offering the call's local description
// (its direction: our hold) and applies the answer. An offer exchange
// already open (the peer's re-INVITE or UPDATE in progress) is glare, as a
// 491 would be. The re-INVITE refreshes the session timer too (RFC 4028).
// The caller holds svc.reqMu.
func (c *Call) reinviteOffer(ctx context.Context) error {
	u := c.u
	if !c.beginOffer() {
		return &StatusError{Code: 491, Reason: "Request Pending (an offer of the peer's is open)", Registrar: c.r.cfg.Name}
	}
	defer c.endOffer()
	req, err := u.newInDialog(c, sip.INVITE)
	if err != nil {
		return err
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.interval > 0 {
		refresher := "uas"
		if st.weRefresh {
			refresher = "uac"
		}
		req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(st.interval/time.Second), refresher)))
	}
	req.SetBody(u.makeOffer(c))
	res, err := c.inDialogDo(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return c.inDialogFailure(res, "re-INVITE")
	}
	// Every 2xx is ACKed, even one whose SDP we refuse (RFC 3261 13.2.2.4).
	if ack, err := u.newInDialog(c, sip.ACK); err == nil {
		ack.CSeq().SeqNo = res.CSeq().SeqNo
		c.svc.mu.Lock()
		c.svc.lastAck = ackRecord{seq: ack.CSeq().SeqNo, req: ack}
		c.svc.mu.Unlock()
		if err := c.client().WriteRequest(ack.Clone(), sipgo.ClientRequestAddVia); err != nil {
			u.log.Debug("ACK of a re-INVITE's 2xx not sent", "call", c.CallID, "err", err)
		}
	}
	if st.interval > 0 {
		u.armSessionTimer(c) // the re-INVITE was a refresh too
	}
	if err := u.takeAnswer(c, res.Body()); err != nil {
		return fmt.Errorf("sip: the answer to our re-INVITE: %w", err)
	}
	return nil
}

// dialogRequest starts an in-dialog request of ours in either role, from
// the call's dialog state and CSeq counter (indialog.go).
func (u *UA) dialogRequest(c *Call, m sip.RequestMethod) (*sip.Request, error) {
	return u.newInDialog(c, m)
}

// inDialogDo sends an in-dialog request of ours and waits for its final
// response (or ctx, or the call's end).
func (c *Call) inDialogDo(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	res, err := c.u.doInDialog(ctx, c, req)
	if err != nil {
		select {
		case <-c.done:
			return nil, ErrNotAnswered
		default:
		}
	}
	return res, err
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
