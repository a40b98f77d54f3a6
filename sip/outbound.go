package sip

// Outbound calls: the INVITE to a registrar, its responses, ACK and the
// in-dialog requests of a call we placed.

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

// DialOptions tunes one outbound attempt.
type DialOptions struct {
	// Registrar names the registrar to route through; empty means the one
	// the line is registered with (or the first usable one).
	Registrar string
	// FirstResponse overrides Config.FirstResponse (the ceiling of the
	// first-response deadline) for this attempt.
	FirstResponse time.Duration
}

// Dial places a call from port to number (digits, or a sip: URI) through a
// registrar. It returns when the far end rings (180), sends early media
// (183) or answers; the Call's Media carries early media at once. Every
// wait is bounded: no response at all within the first-response deadline
// (FirstResponse; a registrar with round-trip history that also leaves a
// probe burst unanswered within a few of its round-trip times fails far
// sooner, see awaitFirst), or only 100 Trying and then nothing within
// ProgressTimeout, fails with an error matching ErrTimeout (the INVITE is
// cancelled in the background);
// otherwise it fails fast with ErrServerFailure (5xx), ErrRejected
// (4xx/6xx, a *StatusError) or ErrTransport, so the caller can try the next
// route. ctx ends the attempt at once (ErrCanceled): the porter hung up.
// Hangup ends the call.
func (u *UA) Dial(ctx context.Context, port int, number string, opt DialOptions) (*Call, error) {
	if !u.started.Load() || u.closed.Load() {
		return nil, errors.New("sip: UA not running")
	}
	l := u.byPort[port]
	if l == nil {
		return nil, fmt.Errorf("port %d: %w", port, ErrUnknownPort)
	}
	r, err := u.dialRegistrar(l, opt.Registrar)
	if err != nil {
		return nil, err
	}
	if !u.resolve(r) {
		return nil, fmt.Errorf("registrar %s: %w: %s does not resolve", r.cfg.Name, ErrTransport, r.host)
	}
	uri, err := targetURI(number, r.domain)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("registrar %s: %w: %v", r.cfg.Name, ErrCanceled, err)
	}
	dest, _, _ := r.destination()
	via := r.current()
	cli := via.client()
	s, err := u.rtp.Open(u.streamConfig(via))
	if err != nil {
		return nil, err
	}
	local := rtp.Local{Addr: via.advertise(), Port: s.LocalPort(), SessionID: rand.Uint64() >> 2}
	c := u.newCall(l, r, Outbound, "")
	c.via = via
	c.stream, c.local, c.Peer = s, local, number

	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	fromTag := sip.GenerateTagN(16)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: r.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	req.AppendHeader(u.contact(l, via))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	u.sessionTimerRequest(req, u.cfg.SessionExpires) // timers_session.go; Supported: 100rel, timer
	c.oa.open = true                                 // our offer, answered in a 18x or the 2xx
	req.SetBody(u.makeOffer(c))

	callCtx, cancel := context.WithCancelCause(u.ctx)
	c.cancelInvite, c.localTag, c.inv = cancel, fromTag, req
	dua := sipgo.DialogUA{Client: cli, ContactHDR: *u.contact(l, via)}
	sess, err := dua.WriteInvite(callCtx, req)
	if err != nil {
		cancel(nil)
		s.Close()
		return nil, fmt.Errorf("registrar %s: %w: %v", r.cfg.Name, ErrTransport, err)
	}
	c.CallID, c.cli = req.CallID().Value(), sess
	u.track(c)
	first := make(chan struct{})
	go u.runOutbound(c, callCtx, first)

	ceiling := opt.FirstResponse
	if ceiling <= 0 {
		ceiling = u.cfg.FirstResponse
	}
	if proceed, err := u.awaitFirst(ctx, c, first, ceiling); !proceed {
		return nil, err
	}
	progress := time.NewTimer(u.cfg.ProgressTimeout)
	defer progress.Stop()
	select {
	case <-c.alerting:
		return c, nil
	case <-c.done:
		select {
		case <-c.alerting:
			// Answered and already cleared: the caller sees a short call.
			return c, nil
		default:
		}
		return nil, c.Err()
	case <-progress.C:
		err := fmt.Errorf("registrar %s: %w: only 100 Trying, no ringing or answer within %s", r.cfg.Name, ErrTimeout, u.cfg.ProgressTimeout)
		if c.giveUp(err, "no progress after 100 Trying") {
			u.m.inviteTimeouts.WithLabelValues(r.cfg.Name, "progress").Inc()
			u.log.Warn("outbound call: the registrar sent 100 Trying and then nothing; cancelled", "port", port, "registrar", r.cfg.Name, "after", u.cfg.ProgressTimeout)
			return nil, err
		}
		return c, nil // answered in the same instant
	case <-ctx.Done():
		return nil, c.abandon(ctx)
	}
}

// abandon ends an attempt whose caller went away (ctx) and says so.
func (c *Call) abandon(ctx context.Context) error {
	err := fmt.Errorf("registrar %s: %w: %v", c.r.cfg.Name, ErrCanceled, context.Cause(ctx))
	if !c.giveUp(err, "caller gave up") {
		_ = c.Hangup() // answered in the same instant
	}
	return err
}

func (u *UA) dialRegistrar(l *line, name string) (*registrar, error) {
	if name != "" {
		for _, r := range u.regs {
			if r.cfg.Name == name {
				return r, nil
			}
		}
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownRegistrar)
	}
	l.mu.Lock()
	act := l.active
	l.mu.Unlock()
	if act < 0 {
		act = u.pick(l, -1)
	}
	if act < 0 {
		return nil, ErrNoRegistrar
	}
	return u.regs[act], nil
}

func (u *UA) runOutbound(c *Call, ctx context.Context, first chan struct{}) {
	var firstOnce sync.Once
	sess := c.cli
	var err error
	for tries := 0; ; tries++ {
		err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{
			Username: c.l.cfg.AuthUser, Password: c.l.cfg.Password,
			OnResponse: func(res *sip.Response) error {
				c.mu.Lock()
				c.responded = true // before sipgo may rewrite the INVITE (auth)
				c.mu.Unlock()
				c.path().susp.heard(0)
				if res.StatusCode == 422 {
					return nil // answered below with a new INVITE, unseen by the caller
				}
				firstOnce.Do(func() { close(first) })
				u.provisional(c, res) // dialects: early dialog, PRACK
				return u.onInviteResponse(c, res)
			},
		})
		if tries < 2 && u.retryMinSE(c, ctx, err) {
			continue // timers_session.go: a 422 with Min-SE, asked again
		}
		break
	}
	u.afterInvite(c, ctx, sess, err, firstOnce.Do, first)
}

// onInviteResponse takes a response to our INVITE as it comes: ringing,
// early media.
func (u *UA) onInviteResponse(c *Call, res *sip.Response) error {
	if res.StatusCode > 100 && res.StatusCode < 200 {
		c.mu.Lock()
		c.gotProvis = true
		c.mu.Unlock()
		if body := res.Body(); len(body) > 0 {
			if err := c.applySDP(body); err != nil {
				u.log.Warn("early media SDP refused", "port", c.l.cfg.Port, "err", err)
			} else {
				c.setState(StateEarlyMedia)
				return nil
			}
		}
		c.setState(StateRinging)
	} else if res.StatusCode == 100 {
		c.mu.Lock()
		c.gotProvis = true
		c.mu.Unlock()
	}
	return nil
}

// afterInvite finishes the INVITE transaction: the answer (ACK), or the
// failure.
func (u *UA) afterInvite(c *Call, ctx context.Context, sess *sipgo.DialogClientSession, err error, once func(func()), first chan struct{}) {
	once(func() { close(first) })
	res := sess.InviteResponse
	c.mu.Lock()
	cancel := c.given && c.gotProvis && !c.canceled && (res == nil || res.IsProvisional())
	if cancel {
		c.canceled = true
	}
	c.mu.Unlock()
	if cancel {
		u.sendCancel(c)
	}
	if err != nil {
		if res != nil && res.IsSuccess() {
			// A 2xx crossed our CANCEL: the far end answered a call we had
			// given up on. RFC 3261 wants it ACKed; then it is ended.
			u.endLateAnswer(c, res, false, "answered while being cancelled")
		}
		c.end(u.classifyInvite(err, ctx, c.r), "invite failed")
		return
	}
	// Take the answer unless the call was given up meanwhile (deadline,
	// hang-up): then it is a late answer, ACKed and ended with BYE.
	c.mu.Lock()
	late := c.given || c.state == StateEnded
	if !late {
		// Answered from here on: giveUp no longer applies.
		c.remoteTag = toTag(res)
		c.state = StateAnswered
	}
	c.mu.Unlock()
	if late {
		// ACK through the transaction, which also ACKs its retransmissions.
		acked := sess.WriteAck(context.Background(), u.inDialog(c, sip.ACK)) == nil
		u.endLateAnswer(c, res, acked, "answered after the call had moved on")
		return
	}
	c.setDialogUAC(c.inv, res) // indialog.go: every later request of ours
	u.sessionTimerUAC(c, res)
	if body := res.Body(); len(body) > 0 {
		if err := c.applySDP(body); err != nil {
			sess.WriteAck(context.Background(), u.inDialog(c, sip.ACK))
			u.background(func(ctx context.Context) { _ = u.byeInDialog(ctx, c, `SIP;cause=488;text="unusable SDP answer"`) })
			c.end(fmt.Errorf("sip: answer SDP: %w", err), "bad answer")
			return
		}
	}
	c.endOffer()
	if err := sess.WriteAck(context.Background(), u.inDialog(c, sip.ACK)); err != nil {
		c.end(fmt.Errorf("registrar %s: %w: ACK: %v", c.r.cfg.Name, ErrTransport, err), "ack failed")
		return
	}
	c.mu.Lock()
	c.answeredAt = time.Now()
	c.mu.Unlock()
	c.setState(StateAnswered)
	u.keepDialog(c)
	u.armSessionTimer(c)
	select {
	case <-sess.Context().Done():
		c.end(nil, "dialog ended")
	case <-c.done:
	case <-u.ctx.Done():
	}
}

func (u *UA) classifyInvite(err error, ctx context.Context, r *registrar) error {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) && dr.Res != nil {
		return &StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason, Registrar: r.cfg.Name, Targets: redirectTargets(dr.Res)}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("registrar %s: %w", r.cfg.Name, ErrCanceled)
	}
	return classify(err, r)
}

// inDialog starts an ACK or BYE of an outbound call: to the peer's target,
// from our listening socket (sipgo's dialog requests would otherwise leave
// from a fresh ephemeral socket).
func (u *UA) inDialog(c *Call, m sip.RequestMethod) *sip.Request {
	target := c.cli.InviteRequest.Recipient
	if res := c.cli.InviteResponse; res != nil && res.Contact() != nil {
		target = res.Contact().Address
	}
	req := sip.NewRequest(m, target)
	req.SetTransport(c.cli.InviteRequest.Transport())
	c.via.p.fromListener(req)
	return req
}

// streamConfig opens a call's RTP on the path it is carried over: bound to
// the path's interface and counted as the path's data.
func (u *UA) streamConfig(via *regPath) rtp.StreamConfig {
	sc := rtp.StreamConfig{Clock: u.clock, Logger: u.log}
	if via != nil && via.p != nil {
		p := via.p
		if p.idx > 0 || p.cfg.Interface != "" {
			sc.Bind, sc.Device = p.bind, p.cfg.Interface
			if !sc.Bind.IsValid() {
				sc.Bind = netip.IPv4Unspecified()
			}
		}
		sc.Counter = rtpCounter{p}
	}
	return sc
}
