package survivability

// Call transfer (issue 14 point 3): the porter joins the call they hold
// (the transferee) with their enquiry call (the target) and leaves.
//
//   - Both calls SIP through the same registrar: the PBX's callers are
//     joined by REFER (RFC 3515): attended, with Replaces naming our dialog
//     with the target (RFC 3891), once the target answered; blind, to the
//     number dialled, while it still rings (RFC 5589 7.5: our INVITE to the
//     target is cancelled first). When the transferee refuses or reports a
//     failure, the appliance joins the calls itself, as below (the blind
//     case calls the number again for the transferee).
//   - Otherwise (a trunk call, a local call between ports, two registrars):
//     the appliance joins the two calls' audio frame by frame
//     (fxs/bridge.Relay); the transferee hears ringing tone until the
//     target answers, and busy tone then silence if it never does. When
//     either party hangs up, the other call is ended.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/bridge"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
)

// Transfer methods (critline_transfers_total).
const (
	transferREFER  = "refer"
	transferBridge = "bridge"
)

// Bounds of a transfer.
const (
	referTimeout     = 32 * time.Second // REFER to the final NOTIFY
	replacedWait     = 4 * time.Second  // an attended transfer's target ends our dialog itself (Replaces) within this
	targetRingLimit  = 3 * time.Minute  // a blind transfer's target rings this long at most
	failedToneLength = 4 * time.Second  // the transferee hears busy this long when the target never answers
)

// transfers are the calls the appliance carries for porters who left
// them, for status.
type transfers struct {
	mu  sync.Mutex
	seq int
	all map[int]*transfer
}

func (x *transfers) add(t *transfer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.all == nil {
		x.all = map[int]*transfer{}
	}
	x.seq++
	t.id = x.seq
	x.all[t.id] = t
}

func (x *transfers) remove(t *transfer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.all, t.id)
}

func (x *transfers) status() []control.Transfer {
	x.mu.Lock()
	ts := make([]*transfer, 0, len(x.all))
	for _, t := range x.all {
		ts = append(ts, t)
	}
	x.mu.Unlock()
	slices.SortFunc(ts, func(a, b *transfer) int { return a.id - b.id })
	out := make([]control.Transfer, 0, len(ts))
	for _, t := range ts {
		t.mu.Lock()
		out = append(out, control.Transfer{Port: t.port, Held: t.heldName, Target: t.targetName, Method: t.method, State: t.state, Since: t.since})
		t.mu.Unlock()
	}
	return out
}

// transfer is two calls joined for a porter who left them.
type transfer struct {
	a     *Appliance
	id    int
	port  int
	since time.Time

	heldName, targetName string
	number               string

	mu          sync.Mutex
	held        fxs.Call
	target      fxs.Call
	heldMedia   fxs.Media
	targetMedia fxs.Media // the target's audio once it answers
	ringMedia   fxs.Media // the ringing target's stream as the port had it (used if its answer brings none)
	answered    bool
	targetGone  bool // we ended the target ourselves (a blind REFER cancels it)
	heldOver    bool
	targetOver  bool
	targetFail  fxs.FailReason
	method      string
	state       string // refer | ringing | joined
	changed     chan struct{}
}

// legSink receives one transferred call's progress from the port.
type legSink struct {
	t      *transfer
	target bool
}

func (s legSink) Update(u fxs.CallUpdate) {
	t := s.t
	t.mu.Lock()
	switch u.State {
	case fxs.CallAnswered:
		if s.target {
			t.answered = true
			if u.Media != nil {
				t.targetMedia = u.Media
			}
		} else if u.Media != nil {
			t.heldMedia = u.Media
		}
	case fxs.CallEnded, fxs.CallFailed:
		if s.target {
			t.targetOver, t.targetFail = true, u.Reason
		} else {
			t.heldOver = true
		}
	}
	t.mu.Unlock()
	t.signal()
}

func (t *transfer) signal() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Transfer implements fxs.Transferer: it takes the two calls and returns
// at once; the work goes on on its own goroutine.
func (r *router) Transfer(req fxs.TransferRequest) (fxs.Progress, fxs.Progress, error) {
	if req.Held == nil || req.Target == nil {
		return nil, nil, errors.New("a transfer needs two calls")
	}
	a := r.a
	t := &transfer{a: a, port: req.Port, since: time.Now(), held: req.Held, target: req.Target,
		heldMedia: req.HeldMedia, targetMedia: req.TargetMedia, answered: req.TargetAnswered,
		number: req.Number, changed: make(chan struct{}, 1)}
	if !req.TargetAnswered {
		// Ringing: the transferee hears ringing tone, not the target's
		// early media, until it answers.
		t.ringMedia, t.targetMedia = req.TargetMedia, nil
	}
	t.heldName, t.targetName = callName(req.Held), callName(req.Target)
	if t.targetName == "" {
		t.targetName = req.Number
	}
	a.xfers.add(t)
	go t.run(req)
	return legSink{t, false}, legSink{t, true}, nil
}

// callName is the other party of a port's call, for status and logs.
func callName(c fxs.Call) string {
	switch c := c.(type) {
	case *ladderCall:
		return c.number
	case *sipInbound:
		return c.ic.From
	case *portCall:
		c.c.mu.Lock()
		defer c.c.mu.Unlock()
		return c.c.x.cid.Number
	}
	return ""
}

// portSIPCall is a port's call as a SIP call, when it is one.
func portSIPCall(c fxs.Call) (*sip.Call, *sipHolder) {
	switch c := c.(type) {
	case *ladderCall:
		c.mu.Lock()
		sc, ok := c.call.(*sipCall)
		c.mu.Unlock()
		if ok {
			return sc.current(), &sc.hold
		}
	case *sipInbound:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.call != nil {
			return c.call, &c.hold
		}
	}
	return nil, nil
}

func (t *transfer) run(req fxs.TransferRequest) {
	a := t.a
	defer a.xfers.remove(t)
	hs, hh := portSIPCall(req.Held)
	ts, _ := portSIPCall(req.Target)
	kind := "blind"
	if req.TargetAnswered {
		kind = "attended"
	}
	a.log.Info("transfer", "port", t.port, "held", t.heldName, "target", t.targetName, "kind", kind)
	if hs != nil && (ts != nil || !req.TargetAnswered) && (ts == nil || hs.Registrar() == ts.Registrar()) && (req.TargetAnswered || req.Number != "") {
		if t.refer(hs, ts, req) {
			return
		}
	}
	if hh != nil {
		hh.set(a, hs, false) // the transferee is taken off hold to hear the target
	}
	t.bridge()
}

func (t *transfer) setState(method, state string) {
	t.mu.Lock()
	t.method, t.state = method, state
	t.mu.Unlock()
}

func (t *transfer) count(method string, ok bool) {
	r := "failed"
	if ok {
		r = "ok"
	}
	t.a.fm.transfers.WithLabelValues(portLabel(t.port), method, r).Inc()
}

// refer asks the PBX's transferee to call the target; it reports whether
// the transfer is done (false: the appliance joins the calls itself).
func (t *transfer) refer(hs, ts *sip.Call, req fxs.TransferRequest) bool {
	a := t.a
	t.setState(transferREFER, "refer")
	ctx, cancel := context.WithTimeout(context.Background(), referTimeout)
	defer cancel()
	var to sip.ReferTarget
	if req.TargetAnswered && ts != nil {
		to.Replaces = ts
	} else {
		// RFC 5589 7.5: our call to the ringing target is cancelled first,
		// so the target is not rung twice.
		t.mu.Lock()
		t.targetGone = true
		t.mu.Unlock()
		_ = req.Target.Hangup()
		to.Number = req.Number
	}
	start := time.Now()
	err := hs.Refer(ctx, to)
	if err != nil {
		t.count(transferREFER, false)
		a.log.Warn("transfer by REFER failed; joining the calls in the appliance", "port", t.port, "held", t.heldName, "target", t.targetName, "err", err)
		return false
	}
	t.count(transferREFER, true)
	a.log.Info("transfer by REFER done", "port", t.port, "held", t.heldName, "target", t.targetName, "took", time.Since(start).Round(time.Millisecond))
	// RFC 5589: the transferor leaves: BYE to the transferee; the target
	// ends our dialog itself once replaced (else we end it).
	_ = req.Held.Hangup()
	if to.Replaces != nil {
		deadline, stop := a.after(replacedWait)
		defer stop()
		for !t.over(true) {
			select {
			case <-t.changed:
			case <-deadline:
				_ = req.Target.Hangup()
				return true
			}
		}
	}
	return true
}

// over reports whether the target (or the held call) has ended.
func (t *transfer) over(target bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if target {
		return t.targetOver
	}
	return t.heldOver
}

// bridge joins the two calls in the appliance.
func (t *transfer) bridge() {
	a := t.a
	t.mu.Lock()
	redial := t.targetGone && t.number != ""
	t.targetGone = false
	t.mu.Unlock()
	if redial {
		// The blind REFER failed after our own call to the target was
		// cancelled: call the number again for the transferee.
		t.mu.Lock()
		t.targetOver, t.answered, t.targetMedia = false, false, nil
		t.mu.Unlock()
		r := &router{a: a, port: t.port}
		c, err := r.Route(context.Background(), fxs.RouteRequest{Port: t.port, Number: t.number}, legSink{t, true})
		if err != nil {
			a.log.Warn("transfer: calling the target again failed", "port", t.port, "number", t.number, "err", err)
			t.mu.Lock()
			t.targetOver, t.targetFail = true, fxs.FailCongestion
			t.mu.Unlock()
		} else {
			t.mu.Lock()
			t.target = c
			t.mu.Unlock()
		}
	}
	t.setState(transferBridge, "ringing")
	pace := bridge.NewTicker()
	defer pace.Stop()
	ring := a.toneGen(a.o.Profile.Tones.Ringback, "ringback")
	var ear, mic hal.Frame
	limit := a.o.Clock.Now() + targetRingLimit
	// Ringing: the transferee hears ringing tone until the target answers.
	for {
		t.mu.Lock()
		if t.answered && t.targetMedia == nil {
			t.targetMedia = t.ringMedia
		}
		hm, tm, answered, heldOver, targetOver := t.heldMedia, t.targetMedia, t.answered, t.heldOver, t.targetOver
		t.mu.Unlock()
		switch {
		case heldOver:
			t.end(false, "the transferee hung up before the target answered")
			return
		case targetOver || a.o.Clock.Now() > limit:
			t.failTone(hm)
			t.end(false, "the target did not answer")
			return
		case answered && hm != nil && tm != nil:
		case answered:
			t.end(false, "a call of the transfer has no audio")
			return
		default:
			if err := pace.Wait(context.Background()); err != nil {
				return
			}
			if hm != nil {
				_ = hm.ReadFrame(&mic)
				ring.Fill(&ear)
				if err := hm.WriteFrame(&ear); errors.Is(err, hal.ErrClosed) {
					t.end(false, "the transferee's audio closed")
					return
				}
			}
			continue
		}
		break
	}
	// Joined: frame by frame.
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for {
			select {
			case <-t.changed:
				t.mu.Lock()
				done := t.heldOver || t.targetOver
				t.mu.Unlock()
				if done {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	t.mu.Lock()
	hm, tm := t.heldMedia, t.targetMedia
	t.mu.Unlock()
	t.setState(transferBridge, "joined")
	t.count(transferBridge, true)
	a.log.Info("transfer joined in the appliance", "port", t.port, "held", t.heldName, "target", t.targetName)
	st, err := bridge.Relay(ctx, hm, tm, pace)
	cancel()
	<-stop
	a.log.Info("transferred call ended", "port", t.port, "held", t.heldName, "target", t.targetName, "frames", st.Frames, "errors", st.Errors, "why", err)
	t.end(true, "")
}

// failTone plays busy (or the target's failure tone) to the transferee.
func (t *transfer) failTone(hm fxs.Media) {
	if hm == nil {
		return
	}
	t.mu.Lock()
	reason := t.targetFail
	t.mu.Unlock()
	gen := t.a.toneGen(t.a.o.Profile.Tones.Congestion, "congestion")
	if reason == fxs.FailBusy {
		gen = t.a.toneGen(t.a.o.Profile.Tones.Busy, "busy")
	}
	pace := bridge.NewTicker()
	defer pace.Stop()
	var ear, mic hal.Frame
	clk := t.a.o.Clock
	for end := clk.Now() + failedToneLength; clk.Now() < end && !t.over(false); {
		if pace.Wait(context.Background()) != nil {
			return
		}
		_ = hm.ReadFrame(&mic)
		gen.Fill(&ear)
		if hm.WriteFrame(&ear) != nil {
			return
		}
	}
}

// end hangs up whichever call is still up.
func (t *transfer) end(ok bool, why string) {
	t.mu.Lock()
	held, target := t.held, t.target
	heldUp, targetUp := !t.heldOver, !t.targetOver
	t.mu.Unlock()
	if !ok && why != "" {
		t.count(transferBridge, false)
		t.a.log.Warn("transfer failed", "port", t.port, "held", t.heldName, "target", t.targetName, "why", why)
	}
	if heldUp {
		_ = held.Hangup()
	}
	if targetUp && target != nil {
		_ = target.Hangup()
	}
}

// toneGen is a generator of one of the profile's tones (silence if it
// does not parse: profiles are validated when they load).
func (a *Appliance) toneGen(spec profile.ToneSpec, name string) *dsp.ToneGen {
	t, err := spec.Parse(name)
	if err != nil {
		a.log.Error("profile tone", "tone", name, "err", err)
		return dsp.NewToneGen(dsp.Tone{Name: name, Segments: []dsp.ToneSegment{{}}})
	}
	return dsp.NewToneGen(fxs.DSPTone(t))
}
