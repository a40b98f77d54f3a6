package sip

// Session timers (RFC 4028). A call whose far end dies (the PBX crashes,
// the network path goes) would otherwise stay up until the porter hangs
// up, and the port with it. Our INVITEs ask for Config.SessionExpires
// (with Min-SE and Supported: timer); an INVITE, re-INVITE or UPDATE that
// asks for less than Config.MinSE gets 422 with our Min-SE, and a 422 to
// our INVITE is answered with a new INVITE asking for the Min-SE it
// gave. The refresher refreshes at half the interval, with UPDATE when
// the peer takes it (no SDP to renegotiate) and re-INVITE otherwise;
// when the peer is the refresher and no refresh comes, the call is ended
// with BYE shortly before the interval runs out.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session timer limits.
const (
	// DefaultMinSE is the smallest session interval accepted, RFC 4028's
	// floor.
	DefaultMinSE = 90 * time.Second
	// maxSessionExpires bounds an interval a peer may ask for.
	maxSessionExpires = 24 * time.Hour
)

// sessionTimer is a call's RFC 4028 state. Guarded by Call.mu.
type sessionTimer struct {
	interval   time.Duration // 0: no session timer
	weRefresh  bool
	peerUpdate bool // the peer takes UPDATE (its Allow)
	peerTimer  bool // the peer supports timer: our 2xx says Require: timer
	gen        uint64
	t          *time.Timer
}

// checkSessionTimer refuses a request whose Session-Expires is below our
// Min-SE (422, RFC 4028 8.1). c may be nil (a new INVITE).
func (u *UA) checkSessionTimer(c *Call, req *sip.Request) (code int, reason string, ok bool) {
	se, _, has := deltaSeconds(req, "Session-Expires", "x")
	if !has {
		return 0, "", true
	}
	if time.Duration(se)*time.Second < u.cfg.MinSE {
		return 422, "Session Interval Too Small", false
	}
	return 0, "", true
}

// respondMinSE answers 422 with our Min-SE.
func (u *UA) respondMinSE(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(u.cfg.MinSE/time.Second))))
	u.m.requestsRejected.WithLabelValues(strconv.Itoa(code)).Inc()
	if err := tx.Respond(res); err != nil {
		u.log.Debug("422 failed", "err", err)
	}
}

// sessionTimerUAS sets an inbound call's session timer from its INVITE
// (RFC 4028 9): the interval it asks for, or ours when it supports timer
// and asks for none; the refresher it names, else the UAC when it
// supports timer.
func (u *UA) sessionTimerUAS(c *Call, req *sip.Request) {
	se, params, has := deltaSeconds(req, "Session-Expires", "x")
	peerTimer := supported(req)["timer"] || required(req)["timer"]
	upd, _ := allows(req, "UPDATE")
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	st.peerTimer, st.peerUpdate = peerTimer, upd
	switch {
	case has:
		st.interval = min(time.Duration(se)*time.Second, maxSessionExpires)
		if mse, _, ok := deltaSeconds(req, "Min-SE"); ok && time.Duration(mse)*time.Second > st.interval {
			st.interval = time.Duration(mse) * time.Second
		}
	case peerTimer && u.cfg.SessionExpires > 0:
		st.interval = u.cfg.SessionExpires
	default:
		st.interval = 0
		return
	}
	switch params["refresher"] {
	case "uas":
		st.weRefresh = true
	case "uac":
		st.weRefresh = false
	default:
		st.weRefresh = !peerTimer
	}
}

// sessionTimerUAC sets an outbound call's session timer from the 2xx to
// our INVITE (RFC 4028 7.2): none when it has no Session-Expires.
func (u *UA) sessionTimerUAC(c *Call, res *sip.Response) {
	se, params, has := deltaSeconds(res, "Session-Expires", "x")
	upd, _ := allows(res, "UPDATE")
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	st.peerUpdate = upd
	st.peerTimer = required(res)["timer"] || supported(res)["timer"]
	if !has || se == 0 {
		st.interval = 0
		return
	}
	st.interval = min(time.Duration(se)*time.Second, maxSessionExpires)
	st.weRefresh = params["refresher"] != "uas"
}

// peerRefreshed takes a session refresh from the peer (a re-INVITE or
// UPDATE it sent): its Session-Expires and refresher, if any, and the
// timer starts again.
func (u *UA) peerRefreshed(c *Call, req *sip.Request) {
	se, params, has := deltaSeconds(req, "Session-Expires", "x")
	c.mu.Lock()
	st := &c.st
	if has && se > 0 {
		st.interval = min(time.Duration(se)*time.Second, maxSessionExpires)
		switch params["refresher"] {
		case "uas":
			st.weRefresh = true
		default:
			st.weRefresh = false // the sender of the refresh (the UAC of it)
		}
		if supported(req)["timer"] {
			st.peerTimer = true
		}
	}
	running := st.interval > 0
	c.mu.Unlock()
	if running {
		u.armSessionTimer(c)
	}
}

// sessionTimerHeaders adds Session-Expires (and Require: timer when the
// peer supports it) to our 2xx to an INVITE or UPDATE.
func (u *UA) sessionTimerHeaders(c *Call, res *sip.Response) {
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.interval <= 0 {
		return
	}
	refresher := "uac"
	if st.weRefresh {
		refresher = "uas"
	}
	res.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(st.interval/time.Second), refresher)))
	if st.peerTimer {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// sessionTimerRequest adds our Session-Expires and Min-SE to an INVITE.
func (u *UA) sessionTimerRequest(req *sip.Request, se time.Duration) {
	req.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	if se <= 0 {
		return
	}
	req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(se/time.Second))))
	req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(u.cfg.MinSE/time.Second))))
}

// armSessionTimer (re)starts the call's session timer: the refresh at half
// the interval when we refresh, else the end of the session shortly before
// the interval runs out (RFC 4028 10: interval - min(32 s, interval/3)).
func (u *UA) armSessionTimer(c *Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.st
	if st.t != nil {
		st.t.Stop()
	}
	st.gen++
	if st.interval <= 0 || c.state == StateEnded {
		return
	}
	gen := st.gen
	if st.weRefresh {
		st.t = time.AfterFunc(st.interval/2, func() { u.refreshSession(c, gen) })
		return
	}
	st.t = time.AfterFunc(st.interval-min(32*time.Second, st.interval/3), func() { u.sessionExpired(c, gen) })
}

// stopSessionTimer stops the timer (the call ended).
func (c *Call) stopSessionTimer() {
	c.mu.Lock()
	if c.st.t != nil {
		c.st.t.Stop()
	}
	c.st.gen++
	c.mu.Unlock()
}

func (c *Call) timerCurrent(gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.gen == gen && c.state == StateAnswered
}

// sessionExpired ends a call whose peer stopped refreshing it.
func (u *UA) sessionExpired(c *Call, gen uint64) {
	if !c.timerCurrent(gen) {
		return
	}
	u.m.sessionsExpired.Inc()
	u.log.Warn("session timer expired: no refresh from the far end; ending the call", "port", c.l.cfg.Port, "call", c.CallID, "registrar", c.r.cfg.Name)
	_ = c.hangupWith(`SIP;cause=408;text="session timer expired"`)
}

// refreshSession sends our session refresh: UPDATE without SDP when the
// peer takes UPDATE, else a re-INVITE with our SDP unchanged.
func (u *UA) refreshSession(c *Call, gen uint64) {
	if !c.timerCurrent(gen) {
		return
	}
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(u.bgCtx, 64*sip.T1)
	defer cancel()
	var res *sip.Response
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if st.peerUpdate {
			res, err = u.refreshRequest(ctx, c, sip.UPDATE, st)
		} else {
			res, err = u.refreshRequest(ctx, c, sip.INVITE, st)
		}
		if err == nil && res.StatusCode == 422 {
			if mse, _, ok := deltaSeconds(res, "Min-SE"); ok && mse > 0 {
				st.interval = time.Duration(mse) * time.Second
				continue
			}
		}
		if err == nil && res.StatusCode == 405 && st.peerUpdate {
			st.peerUpdate = false // UPDATE not taken after all: re-INVITE
			continue
		}
		break
	}
	if !c.timerCurrent(gen) {
		return // the call ended, or the peer refreshed meanwhile
	}
	switch {
	case errors.Is(err, errGlare) || (err == nil && res.StatusCode == 491):
		// Both sides sent an offer: try again in 2.1-4 s (RFC 3261 14.1).
		c.mu.Lock()
		if c.st.gen == gen {
			c.st.t = time.AfterFunc(2100*time.Millisecond+rand.N(1900*time.Millisecond), func() { u.refreshSession(c, gen) })
		}
		c.mu.Unlock()
		return
	case err != nil || res.StatusCode == 408 || res.StatusCode == 481:
		// RFC 4028 10: the dialog is gone.
		u.m.sessionsExpired.Inc()
		u.log.Warn("session refresh failed: the far end is gone; ending the call", "port", c.l.cfg.Port, "call", c.CallID, "err", err, "status", statusOf(res))
		_ = c.hangupWith(`SIP;cause=408;text="session refresh failed"`)
		return
	case !res.IsSuccess():
		u.log.Warn("session refresh refused; the session goes on until it expires", "port", c.l.cfg.Port, "call", c.CallID, "status", res.StatusCode)
		c.mu.Lock()
		if c.st.gen == gen {
			c.st.t = time.AfterFunc(c.st.interval/4, func() { u.refreshSession(c, gen) })
		}
		c.mu.Unlock()
		return
	}
	se, params, has := deltaSeconds(res, "Session-Expires", "x")
	c.mu.Lock()
	if has && se > 0 {
		c.st.interval = time.Duration(se) * time.Second
		c.st.weRefresh = params["refresher"] != "uas"
	} else {
		c.st.interval = st.interval
	}
	c.st.peerUpdate = st.peerUpdate
	c.mu.Unlock()
	u.armSessionTimer(c)
}

func statusOf(res *sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// errGlare: an offer exchange is open on the call; try later.
var errGlare = errors.New("sip: an offer exchange is open")

// refreshRequest sends one refresh (UPDATE without SDP, or re-INVITE with
// our unchanged SDP, ACKed) and returns its final response.
func (u *UA) refreshRequest(ctx context.Context, c *Call, m sip.RequestMethod, st sessionTimer) (*sip.Response, error) {
	req, err := u.newInDialog(c, m)
	if err != nil {
		return nil, err
	}
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(st.interval/time.Second))))
	req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(u.cfg.MinSE/time.Second))))
	req.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	if m == sip.UPDATE {
		return u.doInDialog(ctx, c, req)
	}
	if !c.beginOffer() {
		return nil, errGlare
	}
	defer c.endOffer()
	c.mu.Lock()
	body := c.local.Offer() // unchanged: same o= version (RFC 3264 8)
	if c.oa.lastMedia.Crypto != nil {
		// Our offer must say the same keys again.
		l := c.local
		l.Cryptos = []rtp.Crypto{{Tag: c.oa.lastMedia.Crypto.Tag, Suite: c.oa.lastMedia.Crypto.Suite, Key: c.oa.lastMedia.LocalKey}}
		c.oa.cryptos = l.Cryptos
		body = l.Offer()
	}
	c.mu.Unlock()
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := u.doInDialog(ctx, c, req)
	if err != nil {
		return nil, err
	}
	if res.IsSuccess() {
		ack, aerr := u.newInDialog(c, sip.ACK)
		if aerr == nil {
			ack.CSeq().SeqNo = res.CSeq().SeqNo
			if err := c.client().WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
				u.log.Debug("ACK of the refresh failed", "call", c.CallID, "err", err)
			}
		}
		if body := res.Body(); len(body) > 0 {
			if err := u.takeAnswer(c, body); err != nil {
				u.log.Warn("the answer to our refresh re-INVITE is unusable", "port", c.l.cfg.Port, "call", c.CallID, "err", err)
			}
		}
	}
	return res, nil
}

// retryMinSE answers a 422 to our INVITE (RFC 4028 7.4): the same INVITE
// again, next CSeq, asking for the Min-SE the response gave. It reports
// whether it sent one.
func (u *UA) retryMinSE(c *Call, ctx context.Context, err error) bool {
	var dr *sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || dr.Res == nil || dr.Res.StatusCode != 422 {
		return false
	}
	mse, _, ok := deltaSeconds(dr.Res, "Min-SE")
	if !ok || mse <= 0 || time.Duration(mse)*time.Second > maxSessionExpires {
		return false
	}
	c.mu.Lock()
	gone := c.given || c.state == StateEnded
	c.mu.Unlock()
	if gone || ctx.Err() != nil {
		return false
	}
	inv := c.inv
	inv.RemoveHeader("Session-Expires")
	inv.RemoveHeader("Min-SE")
	inv.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(mse)))
	inv.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(mse)))
	inv.CSeq().SeqNo++
	inv.RemoveHeader("Via")
	u.log.Info("PBX wants a longer session interval (422): asking again", "port", c.l.cfg.Port, "call", c.CallID, "min_se", mse)
	if err := c.cli.Invite(ctx); err != nil {
		u.log.Warn("INVITE after 422 not sent", "call", c.CallID, "err", err)
		return false
	}
	return true
}
