package sip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Direction says who placed a call.
type Direction int

const (
	Inbound  Direction = iota // the PBX called the port
	Outbound                  // the port called out
)

func (d Direction) String() string {
	if d == Outbound {
		return "outbound"
	}
	return "inbound"
}

// CallState is where a call is.
type CallState int

const (
	StateSetup      CallState = iota // INVITE sent or received, nothing more
	StateRinging                     // 180 sent or received
	StateEarlyMedia                  // 183 with SDP received: media flows
	StateAnswered                    // 200/ACK: the call is up
	StateEnded
)

func (s CallState) String() string {
	return [...]string{"setup", "ringing", "early-media", "answered", "ended"}[s]
}

// FlashDuration is the length of the RFC 4733 flash event sent for a hook
// flash.
const FlashDuration = 200 * time.Millisecond

// DigitDuration is the length of each RFC 4733 digit sent by SendDigits.
const DigitDuration = 100 * time.Millisecond

// Call is one call on a line, in either direction. Its Media is the stream
// the port pumps; it exists from the start of the call (silence until media
// flows, early media included).
type Call struct {
	u   *UA
	l   *line
	r   *registrar
	via *regPath // the network path the call is carried over (set before it is tracked)
	dir Direction

	CallID   string
	Peer     string // the other party: the caller's number (inbound) or the number dialled
	PeerName string // display name, when the caller sent one

	stream *rtp.Stream
	local  rtp.Local
	srv    *sipgo.DialogServerSession
	cli    *sipgo.DialogClientSession
	ic     *IncomingCall // inbound calls: the decision

	// The dialog's tags: in-dialog requests from the peer carry remoteTag
	// in From and localTag in To. remoteTag of an outbound call is known
	// from its 2xx.
	localTag  string
	remoteTag string
	inv       *sip.Request // outbound: our INVITE (late responses are matched to it)

	mu           sync.Mutex
	state        CallState
	err          error
	alerting     chan struct{}
	answered     chan struct{}
	done         chan struct{}
	alertOnce    sync.Once
	answerOnce   sync.Once
	endOnce      sync.Once
	cancelInvite context.CancelCauseFunc
	gotProvis    bool
	responded    bool            // outbound: any response to the INVITE came (it may be rewritten for auth from then on)
	given        bool            // outbound: we gave up on the INVITE (deadline, hang-up) before any 2xx
	byed         map[string]bool // outbound: To-tags of late or forked 2xx we ACKed and ended
	canceled     bool            // outbound: a CANCEL went out for a late provisional response
	endedAt      time.Time

	dlg        dialogState   // indialog.go: our in-dialog requests
	oa         offerState    // offer.go: offer/answer
	st         sessionTimer  // timers_session.go: RFC 4028
	rel        reliableState // prack.go: RFC 3262
	earlyTag   string        // outbound: the To-tag of the last provisional response (early dialog)
	byeReason  string        // the Reason our BYE carries, if any
	answeredAt time.Time     // when the call was answered (our 2xx sent, or theirs received)
	acked      chan struct{} // inbound: closed when the ACK of our 2xx arrives
	ackOnce    sync.Once
	svc        callSvc // hold, transfer, INFO (hold.go, refer.go, info.go)
}

func (u *UA) newCall(l *line, r *registrar, dir Direction, callID string) *Call {
	return &Call{u: u, l: l, r: r, dir: dir, CallID: callID,
		alerting: make(chan struct{}), answered: make(chan struct{}), done: make(chan struct{}), acked: make(chan struct{})}
}

// ackArrived records the ACK of our 2xx to the peer's INVITE.
func (c *Call) ackArrived() { c.ackOnce.Do(func() { close(c.acked) }) }

// awaitAck waits, for an inbound call, until the ACK of our 2xx has come
// (RFC 3261 13.3.1.4 and 14.1: no request of ours in the dialog before
// it; a request sent straight to the peer's Contact can overtake the 2xx
// the PBX is still relaying) or the 2xx's retransmissions would have
// ended (64*T1, after which the dialog is the peer's problem), or ctx
// ends. An outbound call returns at once.
func (c *Call) awaitAck(ctx context.Context) error {
	if c.srv == nil || c.srv.LoadState() >= sip.DialogStateConfirmed {
		return nil
	}
	c.mu.Lock()
	answered := c.answeredAt
	c.mu.Unlock()
	t := time.NewTimer(max(64*sip.T1-time.Since(answered), 0))
	defer t.Stop()
	select {
	case <-c.acked:
	case <-t.C:
	case <-c.srv.Context().Done(): // the dialog is over
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Port is the FXS port the call is on.
func (c *Call) Port() int { return c.l.cfg.Port }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.dir }

// Registrar names the registrar the call goes through.
func (c *Call) Registrar() string { return c.r.cfg.Name }

// Path names the network path the call is carried over.
func (c *Call) Path() string {
	if c.via == nil || c.via.p == nil {
		return ""
	}
	return c.via.p.cfg.Name
}

// fromListener makes a UDP request of the call leave from its path's
// listening socket.
func (c *Call) fromListener(req *sip.Request) {
	if c.via != nil && c.via.p != nil {
		c.via.p.fromListener(req)
		return
	}
	c.u.paths[0].fromListener(req)
}

// path is the registrar's path the call goes over.
func (c *Call) path() *regPath {
	if c.via == nil {
		return c.r.current()
	}
	return c.via
}

// client is the client of the call's path.
func (c *Call) client() *sipgo.Client {
	if c.via == nil {
		return c.r.client()
	}
	return c.via.client()
}

// Media is the call's audio, a hal.PCM, plus RFC 4733 events
// (Media().Events()). It is nil for an inbound call not yet answered.
func (c *Call) Media() *rtp.Stream { return c.stream }

// State returns the call's state.
func (c *Call) State() CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Answered is closed when the call is answered.
func (c *Call) Answered() <-chan struct{} { return c.answered }

// Alerting is closed when the far end rings (180) or sends early media (183).
func (c *Call) Alerting() <-chan struct{} { return c.alerting }

// Done is closed when the call has ended, from either side.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err says why the call ended: nil for a normal clear (BYE either way),
// else an error matching ErrTimeout, ErrTransport, ErrServerFailure,
// ErrRejected (a *StatusError) or ErrCanceled.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the call's RTP counters.
func (c *Call) Stats() rtp.Stats {
	if c.stream == nil {
		return rtp.Stats{}
	}
	return c.stream.Stats()
}

// Flash passes a hook flash to the PBX the line's way (Line.Flash): as
// RFC 4733 event 16 (rtp.ErrNoEvents when the peer did not negotiate
// telephone-event), or in a SIP INFO sent in the background (info.go).
func (c *Call) Flash() error {
	if m := c.l.cfg.Flash; m == FlashInfo || m == FlashDTMFRelay {
		return c.flashInfo(m)
	}
	if c.stream == nil {
		return rtp.ErrNoEvents
	}
	return c.stream.SendEvent(rtp.EventFlash, FlashDuration)
}

// SendDigits sends DTMF digits as RFC 4733 events.
func (c *Call) SendDigits(digits string) error {
	if c.stream == nil {
		return rtp.ErrNoEvents
	}
	for _, d := range digits {
		code, ok := rtp.DigitEvent(d)
		if !ok {
			return fmt.Errorf("sip: %q is not a DTMF digit", d)
		}
		if err := c.stream.SendEvent(code, DigitDuration); err != nil {
			return err
		}
	}
	return nil
}

func (c *Call) setState(s CallState) {
	c.mu.Lock()
	if c.state < s && c.state != StateEnded {
		c.state = s
	}
	c.mu.Unlock()
	switch s {
	case StateRinging, StateEarlyMedia:
		c.alertOnce.Do(func() { close(c.alerting) })
	case StateAnswered:
		c.alertOnce.Do(func() { close(c.alerting) })
		c.answerOnce.Do(func() { close(c.answered) })
	}
}

// end finishes the call once: state, error, map, stream, metrics.
func (c *Call) end(err error, why string) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.state, c.err = StateEnded, err
		c.endedAt = time.Now()
		c.mu.Unlock()
		u := c.u
		u.callMu.Lock()
		if cs := slices.DeleteFunc(u.calls[c.CallID], func(o *Call) bool { return o == c }); len(cs) > 0 {
			u.calls[c.CallID] = cs
		} else {
			delete(u.calls, c.CallID)
		}
		u.callMu.Unlock()
		c.l.mu.Lock()
		c.l.calls--
		c.l.mu.Unlock()
		u.forgetDialog(c)
		c.stopSessionTimer()
		if c.stream != nil {
			st := c.stream.Stats()
			port := strconv.Itoa(c.l.cfg.Port)
			if st.PacketsExpected > 0 {
				u.m.callLoss.WithLabelValues(port).Observe(st.LossRatio())
				u.m.callJitter.WithLabelValues(port).Observe(st.Jitter.Seconds())
				if st.PacketsLost > 0 {
					u.m.rtpLost.WithLabelValues(port).Add(float64(st.PacketsLost))
				}
			}
			if st.SRTPFailures > 0 {
				u.m.srtpFailures.WithLabelValues(port).Add(float64(st.SRTPFailures))
			}
			c.stream.Close()
		}
		u.log.Info("call ended", "port", c.l.cfg.Port, "direction", c.dir, "peer", c.Peer, "registrar", c.r.cfg.Name, "why", why, "err", err)
		close(c.done)
	})
}

func (u *UA) track(c *Call) {
	u.callMu.Lock()
	u.calls[c.CallID] = append(u.calls[c.CallID], c)
	u.callMu.Unlock()
	if c.dir == Outbound {
		u.rememberInvite(c)
	}
	c.l.mu.Lock()
	c.l.calls++
	c.l.mu.Unlock()
}

// Hangup ends the call: BYE when answered, CANCEL for an outbound call
// still ringing, 480 for an inbound call not yet answered. It never waits
// for the network: the call ends at once and the BYE or CANCEL goes out in
// the background (bounded by the transaction timers), so a dying PBX can
// never hold up the port that hung up.
func (c *Call) Hangup() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	switch {
	case c.State() == StateAnswered:
		c.end(nil, "local BYE")
		c.u.sendBye(c) // in the background, from the dialog's own state (indialog.go)
		return nil
	case c.dir == Outbound:
		if c.giveUp(fmt.Errorf("registrar %s: %w", c.r.cfg.Name, ErrCanceled), "local cancel") {
			return nil
		}
		// A 2xx won the race: the call is up, end it properly.
		return c.Hangup()
	case c.ic != nil:
		if err := c.ic.Reject(480, "Temporarily Unavailable"); err != nil && !errors.Is(err, ErrDecided) {
			return err
		}
		return nil
	}
	return nil
}

// giveUp abandons an outbound INVITE that has no 2xx yet: the call ends at
// once with err, and the INVITE transaction is dropped; runOutbound then
// sends the CANCEL if a provisional response came (otherwise the first late
// provisional response gets it, late.go). A 2xx that still comes is ACKed
// and ended with BYE. It reports false when the call was answered meanwhile.
func (c *Call) giveUp(err error, why string) bool {
	c.mu.Lock()
	if c.state == StateAnswered {
		c.mu.Unlock()
		return false
	}
	c.given = true
	c.mu.Unlock()
	// sipgo's own CANCEL goes to the Request-URI's host and port 5060, not
	// where the INVITE went; ours is sent by runOutbound.
	c.cancelInvite(sipgo.WaitAnswerForceCancelErr)
	c.end(err, why)
	return true
}

// applySDP takes a peer's answer to our offer (early media, the 2xx) and
// points the stream at it (offer.go).
func (c *Call) applySDP(body []byte) error { return c.u.takeAnswer(c, body) }
