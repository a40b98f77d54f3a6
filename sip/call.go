package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
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
	dir Direction

	CallID   string
	Peer     string // the other party: the caller's number (inbound) or the number dialled
	PeerName string // display name, when the caller sent one

	stream *rtp.Stream
	local  rtp.Local
	srv    *sipgo.DialogServerSession
	cli    *sipgo.DialogClientSession
	ic     *IncomingCall // inbound calls: the decision

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
}

func (u *UA) newCall(l *line, r *registrar, dir Direction, callID string) *Call {
	return &Call{u: u, l: l, r: r, dir: dir, CallID: callID,
		alerting: make(chan struct{}), answered: make(chan struct{}), done: make(chan struct{})}
}

// Port is the FXS port the call is on.
func (c *Call) Port() int { return c.l.cfg.Port }

// Direction says who placed the call.
func (c *Call) Direction() Direction { return c.dir }

// Registrar names the registrar the call goes through.
func (c *Call) Registrar() string { return c.r.cfg.Name }

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

// Flash sends a hook flash as RFC 4733 event 16; rtp.ErrNoEvents when the
// peer did not negotiate telephone-event.
func (c *Call) Flash() error {
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
		c.mu.Unlock()
		u := c.u
		u.callMu.Lock()
		if u.calls[c.CallID] == c {
			delete(u.calls, c.CallID)
		}
		u.callMu.Unlock()
		c.l.mu.Lock()
		c.l.calls--
		c.l.mu.Unlock()
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
			c.stream.Close()
		}
		u.log.Info("call ended", "port", c.l.cfg.Port, "direction", c.dir, "peer", c.Peer, "registrar", c.r.cfg.Name, "why", why, "err", err)
		close(c.done)
	})
}

func (u *UA) track(c *Call) {
	u.callMu.Lock()
	u.calls[c.CallID] = c
	u.callMu.Unlock()
	c.l.mu.Lock()
	c.l.calls++
	c.l.mu.Unlock()
}

// Hangup ends the call: BYE when answered, CANCEL for an outbound call
// still ringing, 480 for an inbound call not yet answered.
func (c *Call) Hangup() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	switch {
	case c.State() == StateAnswered && c.srv != nil:
		inv := c.srv.InviteRequest
		bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
		bye.SetTransport(inv.Transport())
		c.u.fromListener(bye)
		err := c.srv.WriteBye(ctx, bye)
		c.end(nil, "local BYE")
		return err
	case c.State() == StateAnswered && c.cli != nil:
		err := c.cli.WriteBye(ctx, c.u.inDialog(c, sip.BYE))
		c.end(nil, "local BYE")
		return err
	case c.dir == Outbound:
		c.mu.Lock()
		provis := c.gotProvis
		c.mu.Unlock()
		if provis {
			c.cancelInvite(nil) // CANCEL, then the 487
		} else {
			c.cancelInvite(sipgo.WaitAnswerForceCancelErr)
		}
		select {
		case <-c.done:
		case <-ctx.Done():
		}
		return nil
	case c.ic != nil:
		if err := c.ic.Reject(480, "Temporarily Unavailable"); err != nil && !errors.Is(err, ErrDecided) {
			return err
		}
		return nil
	}
	return nil
}

// applySDP negotiates a peer's SDP and points the stream at it.
func (c *Call) applySDP(body []byte) error {
	d, err := rtp.ParseSDP(body)
	if err != nil {
		return err
	}
	m, err := d.Negotiate(nil)
	if err != nil {
		return err
	}
	c.stream.SetMedia(m)
	return nil
}

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

// DialOptions tunes one outbound attempt.
type DialOptions struct {
	// Registrar names the registrar to route through; empty means the one
	// the line is registered with (or the first usable one).
	Registrar string
	// FirstResponse overrides Config.FirstResponse for this attempt.
	FirstResponse time.Duration
}

// Dial places a call from port to number (digits, or a sip: URI) through a
// registrar. It returns when the far end rings (180), sends early media
// (183) or answers; the Call's Media carries early media at once. It fails
// fast with an error matching ErrTimeout (no response at all within the
// first-response deadline), ErrServerFailure (5xx), ErrRejected (4xx/6xx,
// a *StatusError) or ErrTransport, so the caller can try the next route.
// ctx bounds only the attempt; Hangup ends the call.
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
	dest, adv, _ := r.destination()
	s, err := u.rtp.Open(rtp.StreamConfig{Clock: u.clock, Logger: u.log})
	if err != nil {
		return nil, err
	}
	local := rtp.Local{Addr: adv, Port: s.LocalPort(), SessionID: rand.Uint64() >> 2}

	req := sip.NewRequest(sip.INVITE, uri)
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: l.cfg.Extension, Host: r.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	req.AppendHeader(u.contact(l, r, adv))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	req.SetBody(local.Offer())

	callCtx, cancel := context.WithCancelCause(u.ctx)
	dua := sipgo.DialogUA{Client: r.cli, ContactHDR: *u.contact(l, r, adv)}
	sess, err := dua.WriteInvite(callCtx, req)
	if err != nil {
		cancel(nil)
		s.Close()
		return nil, fmt.Errorf("registrar %s: %w: %v", r.cfg.Name, ErrTransport, err)
	}
	c := u.newCall(l, r, Outbound, req.CallID().Value())
	c.cli, c.stream, c.local, c.Peer, c.cancelInvite = sess, s, local, number, cancel
	u.track(c)
	first := make(chan struct{})
	go u.runOutbound(c, callCtx, first)

	deadline := opt.FirstResponse
	if deadline <= 0 {
		deadline = u.cfg.FirstResponse
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case <-first:
	case <-timer.C:
		cancel(sipgo.WaitAnswerForceCancelErr)
		<-c.done
		return nil, fmt.Errorf("registrar %s: %w: no response to INVITE within %s", r.cfg.Name, ErrTimeout, deadline)
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		c.Hangup()
		return nil, ctx.Err()
	}
	select {
	case <-c.alerting:
		return c, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		c.Hangup()
		return nil, ctx.Err()
	}
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
	err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{
		Username: c.l.cfg.AuthUser, Password: c.l.cfg.Password,
		OnResponse: func(res *sip.Response) error {
			firstOnce.Do(func() { close(first) })
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
		},
	})
	firstOnce.Do(func() { close(first) })
	if err != nil {
		c.end(u.classifyInvite(err, ctx, c.r), "invite failed")
		return
	}
	if body := sess.InviteResponse.Body(); len(body) > 0 {
		if err := c.applySDP(body); err != nil {
			sess.WriteAck(context.Background(), u.inDialog(c, sip.ACK))
			bctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			sess.WriteBye(bctx, u.inDialog(c, sip.BYE))
			cancel()
			c.end(fmt.Errorf("sip: answer SDP: %w", err), "bad answer")
			return
		}
	}
	if err := sess.WriteAck(context.Background(), u.inDialog(c, sip.ACK)); err != nil {
		c.end(fmt.Errorf("registrar %s: %w: ACK: %v", c.r.cfg.Name, ErrTransport, err), "ack failed")
		return
	}
	c.setState(StateAnswered)
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
		return &StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason, Registrar: r.cfg.Name}
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
	u.fromListener(req)
	return req
}

// fromListener makes a UDP request leave from the listening socket.
func (u *UA) fromListener(req *sip.Request) {
	if req.Transport() != "UDP" || u.pc == nil {
		return
	}
	a := u.pc.LocalAddr().(*net.UDPAddr)
	req.Laddr = sip.Addr{IP: a.IP, Port: a.Port, Hostname: a.IP.String()}
}
