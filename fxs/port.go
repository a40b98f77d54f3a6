package fxs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/fxs/digitmap"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/hook"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// Config is what a port needs. Line, Profile and Router are required.
type Config struct {
	// ID is the port's id (defaults to Line.Port()).
	ID int
	// Line is the port's signalling.
	Line hal.Line
	// Audio is the port's own audio device; the port owns it from Run on
	// and closes it when Run returns. Nil for a board without audio (no
	// tones, no DTMF, no caller ID, no media; pulse dialling still works).
	Audio hal.PCM
	// Clock is the time base of the line's hook events (default
	// hal.SystemClock).
	Clock hal.Clock
	// Profile is the country profile (see profile.Load).
	Profile *profile.Profile
	// DialPlan is a digit map; empty uses the profile's.
	DialPlan string
	// Emergency numbers are routed the moment they are dialled, whatever
	// the dial plan says, and marked in the RouteRequest.
	Emergency []string
	// Router places outbound calls.
	Router Router
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Now gives the wall-clock date and time sent in caller ID when the
	// call's CallerID has none (default time.Now).
	Now func() time.Time
	// HookLatency is how long the port allows a hook edge to take from the
	// hardware to the port before it decides on a timeout that edge could
	// have changed (default 5 ms). Hook timing always comes from the edges'
	// timestamps; this only delays decisions such as "the digit has ended".
	HookLatency time.Duration
}

type source int

const (
	srcSilence source = iota
	srcTone
	srcCID
	srcPeer
)

// timerSlot is one purpose's pending timer; the generation guards against
// a callback that was already running when the timer was stopped.
type timerSlot struct {
	t   hal.Timer
	gen uint64
}

// Port is one FXS port's engine. Create it with New and start it with Run.
// All methods are safe for concurrent use.
type Port struct {
	id        int
	line      hal.Line
	audio     hal.PCM
	clock     hal.Clock
	prof      *profile.Profile
	plan      *digitmap.Map
	emergency []string
	router    Router
	log       *slog.Logger
	now       func() time.Time
	latency   time.Duration
	win       hook.Windows

	mu      sync.Mutex
	running bool
	closed  bool
	state   State
	since   time.Duration
	offHook bool
	cond    Condition
	forward bool

	digits    []byte
	number    string
	emergCall bool
	direction string

	dec      *hook.Decoder
	decSlot  timerSlot
	hookEvs  []hook.Event
	lastSeq  uint32
	haveSeq  bool
	tgen     uint64
	stateSlt timerSlot

	// audio
	src      source
	tones    [numTones]*dsp.ToneGen
	toneFreq [numTones][]float64 // each tone's frequencies
	tone     *dsp.ToneGen
	dtmf     *dsp.DTMFDetector
	dtmfOn   bool
	dtmfBuf  [8]rune
	dtmfN    int
	media    Media
	cwOn     bool      // call-waiting tone mixed into the call's audio
	cwFrame  hal.Frame // the pump's scratch for it
	cidBuf   []int16
	cidPos   int

	// the current call
	callGen   uint64
	endedCall uint64 // the last call generation that reported its own end
	call      Call
	inbound   InboundCall
	routeStop context.CancelFunc

	ring ringer

	subs     map[int]chan Event
	subID    int
	counters Counters

	work worker
}

// New checks cfg and returns a port that is not yet running.
func New(cfg Config) (*Port, error) {
	if cfg.Line == nil {
		return nil, errors.New("fxs: Config.Line is nil: give the port's hal.Line")
	}
	if cfg.Profile == nil {
		return nil, errors.New("fxs: Config.Profile is nil: load one with profile.Load")
	}
	if cfg.Router == nil {
		return nil, errors.New("fxs: Config.Router is nil: give the survivability layer's router")
	}
	p := &Port{
		id: cfg.ID, line: cfg.Line, audio: cfg.Audio, clock: cfg.Clock, prof: cfg.Profile,
		router: cfg.Router, log: cfg.Logger, now: cfg.Now, latency: cfg.HookLatency,
		state: StateStopped, cond: ConditionOK, subs: map[int]chan Event{},
		digits: make([]byte, 0, 64),
	}
	if p.id == 0 {
		p.id = cfg.Line.Port()
	}
	if p.clock == nil {
		p.clock = hal.SystemClock{}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("port", p.id)
	if p.now == nil {
		p.now = time.Now
	}
	if p.latency <= 0 {
		p.latency = 5 * time.Millisecond
	}
	for _, n := range cfg.Emergency {
		if n = strings.TrimSpace(n); n != "" {
			p.emergency = append(p.emergency, n)
		}
	}
	plan := cfg.DialPlan
	if strings.TrimSpace(plan) == "" {
		plan = cfg.Profile.Dialling.Plan
	}
	m, err := digitmap.Parse(plan)
	if err != nil {
		return nil, fmt.Errorf("fxs: port %d dial plan: %w", p.id, err)
	}
	p.plan = m
	h := cfg.Profile.Hook
	p.win = hook.Windows{
		Debounce: h.Debounce, Seize: h.Seize, PulseBreakMin: h.PulseBreakMin, PulseBreakMax: h.PulseBreakMax,
		DigitEnd: h.DigitEnd, FlashMin: h.FlashMin, FlashMax: h.FlashMax, Clear: h.Clear,
	}
	if err := p.win.Validate(); err != nil {
		return nil, fmt.Errorf("fxs: profile %s hook windows: %w", cfg.Profile.Name, err)
	}
	if p.tones, p.toneFreq, err = buildTones(cfg.Profile); err != nil {
		return nil, fmt.Errorf("fxs: %w", err)
	}
	if err := p.ring.init(cfg.Profile); err != nil {
		return nil, fmt.Errorf("fxs: profile %s: %w", cfg.Profile.Name, err)
	}
	p.dtmf = dsp.NewDTMFDetector(func(d rune) {
		// Called from inside Process, under p.mu: only note the digit.
		if p.dtmfN < len(p.dtmfBuf) {
			p.dtmfBuf[p.dtmfN] = d
			p.dtmfN++
		}
	})
	p.cidBuf = make([]int16, 0, 4*hal.SampleRate)
	p.work.wake = make(chan struct{}, 1)
	p.work.log = p.log
	return p, nil
}

// ID returns the port's id.
func (p *Port) ID() int { return p.id }

// Run drives the port until ctx is cancelled: it reads hook events, pumps
// audio and runs the timers. It returns nil after a cancel, or an error if
// the line cannot be read. On return the ring output is off, polarity is
// forward, any call is hung up and the audio device is closed.
func (p *Port) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running || p.closed {
		p.mu.Unlock()
		return errors.New("fxs: Run called twice")
	}
	off, err := p.line.OffHook()
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("fxs: port %d: reading the hook state: %w", p.id, err)
	}
	p.running = true
	now := p.clock.Now()
	p.dec = hook.New(p.win, off, now)
	p.offHook = off
	p.lineSetRing(false)
	p.lineSetReverse(false)
	if off {
		p.enterLocked(StateDialTone, "off-hook at start")
	} else {
		p.enterLocked(StateIdle, "")
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.Background())
	wg.Add(1)
	go func() { defer wg.Done(); p.work.run(workCtx) }()
	var pumpDone chan struct{}
	if p.audio != nil {
		pumpDone = make(chan struct{})
		go func() { defer close(pumpDone); p.pump() }()
	}

	var runErr error
	events := p.line.Events()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case ev, ok := <-events:
			if !ok {
				runErr = fmt.Errorf("fxs: port %d: the line's event channel closed", p.id)
				break loop
			}
			p.hookEvent(ev)
		}
	}

	p.mu.Lock()
	p.stopRingingLocked()
	p.endCallLocked(true)
	p.disarm(&p.stateSlt)
	p.disarm(&p.decSlot)
	p.src, p.media = srcSilence, nil
	p.closed = true
	p.setStateLocked(StateStopped, "stopped")
	p.lineSetReverse(false)
	p.mu.Unlock()
	if p.audio != nil {
		if err := p.audio.Close(); err != nil {
			p.log.Warn("closing the audio device", "err", err)
		}
		<-pumpDone
	}
	stopWork()
	wg.Wait()
	return runErr
}

// SetForwarding says whether forwarding (divert) is active, which makes
// dial tone the special (stutter) dial tone.
func (p *Port) SetForwarding(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.forward == on {
		return
	}
	p.forward = on
	if p.state == StateDialTone {
		p.playLocked(p.dialTone())
	}
}

// SetCallWaiting mixes the profile's call-waiting tone into the earpiece
// audio of the call in progress (on) or stops it. The survivability layer
// uses it when a second call arrives for a port that is in a call (Offer
// then fails with ErrBusy). It fails with ErrNotInCall when the port is not
// in a call; the tone stops by itself when the call ends.
func (p *Port) SetCallWaiting(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && p.state != StateConnected {
		return fmt.Errorf("%w: %s", ErrNotInCall, p.state)
	}
	if on && !p.cwOn {
		p.tones[toneCallWaiting].Reset()
	}
	if on != p.cwOn {
		p.cwOn = on
		p.emitLocked(Event{Kind: EventCallWaiting, On: on})
	}
	return nil
}

// Snapshot returns the port's current state.
func (p *Port) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Snapshot{
		Port: p.id, State: p.state, Since: p.since, OffHook: p.offHook, Digits: string(p.digits),
		Direction: p.direction, Emergency: p.emergCall, Condition: p.cond, Forwarding: p.forward,
		Ringing: p.ring.on, Profile: p.prof.Name, Counters: p.counters,
	}
}

// Offer rings the port for an inbound call, with caller ID as the profile
// places it, and answers the call (InboundCall.Answer) when the handset is
// lifted. It returns at once; the caller reports the call's end (a cancel
// before answer stops ringing within one cadence step, in practice at once)
// through the returned Progress with CallEnded. It fails with ErrBusy when
// the port is not idle. A handset lifted in the instant before ringing
// starts (glare) answers the offered call, as on an exchange line.
func (p *Port) Offer(call InboundCall, cid dsp.CallerID) (Progress, error) {
	if call == nil {
		return nil, errors.New("fxs: Offer with a nil call")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running || p.closed {
		return nil, ErrNotRunning
	}
	if p.state != StateIdle || p.offHook || p.dec.OffHook() {
		return nil, fmt.Errorf("%w: %s", ErrBusy, p.state)
	}
	p.counters.CallsIn++
	p.callGen++
	p.inbound, p.call, p.direction = call, call, "in"
	p.digits = p.digits[:0]
	p.enterLocked(StateRinging, "")
	p.startRingingLocked(cid)
	return progress{p, p.callGen}, nil
}

// progress is a call's Progress, bound to one call generation.
type progress struct {
	p   *Port
	gen uint64
}

func (g progress) Update(u CallUpdate) { g.p.update(g.gen, u) }

// ---- hook ----

func (p *Port) hookEvent(ev hal.HookEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	evs := p.hookEvs[:0]
	if p.haveSeq && ev.Seq != p.lastSeq+1 {
		if ev.Seq > p.lastSeq {
			p.counters.LostHookEvents += uint64(ev.Seq - p.lastSeq - 1)
		}
		off, err := p.line.OffHook()
		if err != nil {
			off = ev.OffHook
		}
		p.emitLocked(Event{Kind: EventHookError, Detail: fmt.Sprintf("hook events lost (seq %d after %d); line re-read: off-hook=%v", ev.Seq, p.lastSeq, off)})
		evs = p.dec.Resync(evs, off, ev.At)
	} else {
		evs = p.dec.Edge(evs, ev.OffHook, ev.At)
	}
	p.haveSeq, p.lastSeq = true, ev.Seq
	p.applyHookLocked(evs)
}

func (p *Port) hookTimer() {
	evs := p.dec.Expire(p.hookEvs[:0], p.clock.Now()-p.latency)
	p.applyHookLocked(evs)
}

func (p *Port) applyHookLocked(evs []hook.Event) {
	p.hookEvs = evs[:0]
	for _, e := range evs {
		p.hookLocked(e)
	}
	if dl, ok := p.dec.Deadline(); ok {
		p.arm(&p.decSlot, dl+p.latency-p.clock.Now(), p.hookTimer)
	} else {
		p.disarm(&p.decSlot)
	}
}

func (p *Port) hookLocked(e hook.Event) {
	switch e.Kind {
	case hook.OffHook:
		p.offHook = true
		p.emitLocked(Event{Kind: EventHook})
		switch p.state {
		case StateIdle:
			p.enterLocked(StateDialTone, "")
		case StateRinging:
			p.answerLocked()
		}
	case hook.OnHook:
		p.offHook = false
		p.emitLocked(Event{Kind: EventHook})
		if p.state != StateIdle && p.state != StateRinging {
			p.endCallLocked(true)
			p.enterLocked(StateIdle, "on-hook")
		}
	case hook.PulseStart:
		if p.state == StateDialTone {
			p.enterLocked(StateCollecting, "")
			p.armInterdigit(p.prof.Dialling.InterdigitLong)
		}
	case hook.Digit:
		p.counters.PulseDigits++
		p.digitLocked(e.Digit, "pulse")
	case hook.Flash:
		p.recallLocked()
	case hook.Invalid:
		p.counters.HookErrors++
		p.emitLocked(Event{Kind: EventHookError, Detail: e.Detail})
	}
}

// ---- states ----

// dialTone picks plain or special dial tone.
func (p *Port) dialTone() toneID {
	if p.forward {
		return toneSpecialDial
	}
	return toneDial
}

// setStateLocked changes the state and reports it.
func (p *Port) setStateLocked(s State, detail string) {
	prev := p.state
	p.state, p.since = s, p.clock.Now()
	p.emitLocked(Event{Kind: EventState, State: s, Prev: prev, Digits: string(p.digits), Detail: detail})
	p.log.Debug("state", "from", prev, "to", s, "detail", detail)
}

// enterLocked moves to state s and sets up its audio, detectors and timer.
func (p *Port) enterLocked(s State, detail string) {
	p.disarm(&p.stateSlt)
	dialling := false
	dtmf := false
	switch s {
	case StateIdle:
		p.playLocked(toneNone)
		p.digits = p.digits[:0]
		p.number, p.emergCall, p.direction = "", false, ""
	case StateDialTone:
		p.digits = p.digits[:0]
		p.number, p.emergCall, p.direction = "", false, ""
		p.playLocked(p.dialTone())
		dialling, dtmf = true, true
		p.armState(p.prof.Dialling.DialToneTimeout, func() { p.enterLocked(StateUnobtainable, "dial tone timed out") })
	case StateCollecting:
		p.playLocked(toneNone)
		dialling, dtmf = true, true
	case StateRouting:
		p.playLocked(toneNone)
	case StateRingback:
		p.playLocked(toneRingback)
	case StateEarlyMedia, StateConnected:
		p.src = srcPeer
		dtmf = true
	case StateBusy, StateCongestion:
		if s == StateBusy {
			p.playLocked(toneBusy)
		} else {
			p.playLocked(toneCongestion)
		}
		p.armState(p.prof.Dialling.ToneTimeout, func() { p.enterLocked(StateUnobtainable, "tone timed out") })
	case StateUnobtainable:
		p.playLocked(toneUnobtainable)
		p.armState(p.prof.Dialling.UnobtainableTimeout, func() { p.enterLocked(StateParked, "number unobtainable timed out") })
	case StateParked:
		p.playLocked(toneNone)
	case StateRinging:
		p.playLocked(toneNone)
	}
	if s != StateEarlyMedia && s != StateConnected {
		p.media = nil
	}
	if dtmf != p.dtmfOn {
		p.dtmf.Reset()
		p.dtmfN = 0
	}
	p.dtmfOn = dtmf
	if p.dec != nil {
		p.dec.SetDialling(dialling)
	}
	p.setStateLocked(s, detail)
	switch s {
	case StateIdle:
		p.setCondLocked(ConditionOK)
	case StateParked:
		p.setCondLocked(ConditionLeftOffHook)
	}
	if s != StateConnected && p.cwOn {
		p.cwOn = false
		p.emitLocked(Event{Kind: EventCallWaiting, On: false})
	}
}

func (p *Port) setCondLocked(c Condition) {
	if p.cond == c {
		return
	}
	p.cond = c
	p.emitLocked(Event{Kind: EventCondition, Condition: c})
}

// playLocked starts a tone from its beginning (toneNone = silence).
func (p *Port) playLocked(t toneID) {
	// Dial tone leaks back into the microphone through a poor hybrid
	// balance; the detector ignores its frequencies while it plays, so
	// the first digit is not masked.
	if t == toneDial || t == toneSpecialDial {
		p.dtmf.IgnoreTones(p.toneFreq[t]...)
	} else {
		p.dtmf.IgnoreTones()
	}
	if t == toneNone {
		p.src, p.tone = srcSilence, nil
		return
	}
	p.tone = p.tones[t]
	p.tone.Reset()
	p.src = srcTone
}

// ---- digits ----

func (p *Port) digitLocked(d rune, source string) {
	switch p.state {
	case StateDialTone:
		p.enterLocked(StateCollecting, "")
		fallthrough
	case StateCollecting:
		if d == '#' {
			p.emitLocked(Event{Kind: EventDigit, Digit: "#", Source: source, Digits: string(p.digits)})
			p.evaluateLocked(evalSendNow)
			return
		}
		if len(p.digits) >= 32 {
			p.enterLocked(StateUnobtainable, "too many digits")
			return
		}
		p.digits = append(p.digits, byte(d))
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source, Digits: string(p.digits)})
		p.evaluateLocked(evalDigit)
	case StateConnected:
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source})
		if ds, ok := p.call.(DigitSender); ok {
			p.work.push(func() {
				if err := ds.SendDigit(d); err != nil {
					p.log.Info("sending a digit to the call", "digit", string(d), "err", err)
				}
			})
		}
	default:
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source, Detail: "ignored in " + string(p.state)})
	}
}

type evalKind int

const (
	evalDigit evalKind = iota
	evalSendNow
	evalTimeout
)

func (p *Port) isEmergency(d string) (exact, prefix bool) {
	for _, e := range p.emergency {
		if e == d {
			exact = true
		}
		if strings.HasPrefix(e, d) {
			prefix = true
		}
	}
	return exact, prefix
}

// evaluateLocked decides what the digits collected so far mean.
func (p *Port) evaluateLocked(k evalKind) {
	d := string(p.digits)
	if exact, _ := p.isEmergency(d); exact {
		p.routeLocked(d, true)
		return
	}
	r, more := p.plan.Match(d)
	_, emPrefix := p.isEmergency(d)
	switch {
	case k == evalSendNow || k == evalTimeout:
		if r == digitmap.Full {
			p.routeLocked(d, false)
		} else {
			p.enterLocked(StateUnobtainable, fmt.Sprintf("%q is not a complete number", d))
		}
	case r == digitmap.NoMatch && !emPrefix:
		p.enterLocked(StateUnobtainable, fmt.Sprintf("%q matches no number in the dial plan", d))
	case r == digitmap.Full && !more && !emPrefix:
		p.routeLocked(d, false)
	case r == digitmap.Full:
		p.armInterdigit(p.prof.Dialling.InterdigitShort)
	default:
		p.armInterdigit(p.prof.Dialling.InterdigitLong)
	}
}

func (p *Port) armInterdigit(d time.Duration) {
	p.armState(d, func() {
		if p.state == StateCollecting {
			p.evaluateLocked(evalTimeout)
		}
	})
}

// ---- calls ----

// routeLocked hands the number to the router.
func (p *Port) routeLocked(number string, emergency bool) {
	p.number, p.emergCall, p.direction = number, emergency, "out"
	p.counters.CallsOut++
	p.callGen++
	gen := p.callGen
	ctx, cancel := context.WithCancel(context.Background())
	p.routeStop = cancel
	detail := number
	if emergency {
		detail += " (emergency)"
	}
	p.enterLocked(StateRouting, detail)
	req := RouteRequest{Port: p.id, Number: number, Emergency: emergency}
	prog := progress{p, gen}
	p.work.push(func() {
		call, err := p.safeRoute(ctx, req, prog)
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.callGen || p.closed {
			// The porter hung up (or the call already ended) meanwhile.
			if call != nil && err == nil && !p.endedGen(gen) {
				p.work.push(func() { _ = call.Hangup() })
			}
			return
		}
		p.routeStop = nil
		if err != nil {
			reason := FailCongestion
			var ce *CallError
			if errors.As(err, &ce) {
				reason = ce.Reason
			}
			p.log.Info("route failed", "number", number, "err", err)
			p.failLocked(reason, err.Error())
			return
		}
		if call == nil {
			p.failLocked(FailCongestion, "router returned no call")
			return
		}
		p.call = call
	})
}

// safeRoute calls the router, turning a panic into a failed attempt so the
// porter hears congestion rather than silence.
func (p *Port) safeRoute(ctx context.Context, req RouteRequest, prog Progress) (call Call, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic in the router", "panic", r, "number", req.Number)
			call, err = nil, fmt.Errorf("router panicked: %v", r)
		}
	}()
	return p.router.Route(ctx, req, prog)
}

// endedGen reports whether the call of generation gen reported its own end
// (so it must not be hung up).
func (p *Port) endedGen(gen uint64) bool { return p.endedCall == gen }

// update applies a call's progress report.
func (p *Port) update(gen uint64, u CallUpdate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.callGen || p.closed {
		if u.State == CallEnded || u.State == CallFailed {
			p.endedCall = gen
		}
		return
	}
	switch u.State {
	case CallAlerting:
		if p.state == StateRouting {
			p.enterLocked(StateRingback, u.Detail)
		}
	case CallEarlyMedia:
		if p.state == StateRouting || p.state == StateRingback || p.state == StateEarlyMedia {
			if u.Media == nil {
				p.enterLocked(StateRingback, u.Detail)
				return
			}
			p.enterLocked(StateEarlyMedia, u.Detail)
			p.media = u.Media
		}
	case CallAnswered:
		if p.state == StateConnected && u.Media != nil {
			// A new stream for the call in progress (the far side moved).
			p.media = u.Media
			return
		}
		if p.direction != "out" {
			return
		}
		if p.state == StateRouting || p.state == StateRingback || p.state == StateEarlyMedia {
			m := u.Media
			if m == nil {
				m = p.media
			}
			p.enterLocked(StateConnected, u.Detail)
			p.media = m
		}
	case CallFailed, CallEnded:
		p.endedCall = gen
		p.call, p.inbound = nil, nil
		p.callGen++ // later updates of this call are stale
		if p.routeStop != nil {
			p.routeStop()
			p.routeStop = nil
		}
		switch {
		case p.state == StateRinging:
			p.stopRingingLocked()
			p.enterLocked(StateIdle, "caller cleared: "+u.State.String()+" "+u.Detail)
		case u.State == CallFailed && p.offHook:
			p.failLocked(u.Reason, u.Detail)
		case p.offHook && (p.state == StateConnected || p.state == StateRouting || p.state == StateRingback || p.state == StateEarlyMedia):
			p.enterLocked(StateUnobtainable, "far end cleared "+u.Detail)
		}
	}
}

// failLocked plays the tone for a failed attempt.
func (p *Port) failLocked(r FailReason, detail string) {
	p.call, p.inbound = nil, nil
	p.callGen++
	switch r {
	case FailBusy:
		p.enterLocked(StateBusy, detail)
	case FailUnobtainable:
		p.enterLocked(StateUnobtainable, detail)
	default:
		p.enterLocked(StateCongestion, detail)
	}
}

// endCallLocked forgets the current call; hangup says whether to tell the
// call (the porter hung up).
func (p *Port) endCallLocked(hangup bool) {
	if p.routeStop != nil {
		p.routeStop()
		p.routeStop = nil
	}
	if p.state == StateRinging {
		p.stopRingingLocked()
	}
	if c := p.call; c != nil && hangup {
		p.work.push(func() {
			if err := c.Hangup(); err != nil {
				p.log.Info("hanging up", "err", err)
			}
		})
	}
	p.call, p.inbound, p.media = nil, nil, nil
	p.callGen++
}

// answerLocked picks up the ringing inbound call.
func (p *Port) answerLocked() {
	call := p.inbound
	gen := p.callGen
	p.stopRingingLocked()
	p.enterLocked(StateConnected, "answered")
	p.work.push(func() {
		m, err := call.Answer()
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.callGen || p.closed {
			return
		}
		if err != nil {
			p.log.Info("answering", "err", err)
			p.call, p.inbound = nil, nil
			p.callGen++
			p.enterLocked(StateUnobtainable, "answer failed: "+err.Error())
			return
		}
		if p.state == StateConnected {
			p.media = m
		}
	})
}

// recallLocked handles a timed-break recall.
func (p *Port) recallLocked() {
	p.counters.Recalls++
	if p.state != StateConnected {
		p.emitLocked(Event{Kind: EventRecall, Detail: "ignored in " + string(p.state)})
		return
	}
	f, ok := p.call.(Flasher)
	if !ok {
		p.emitLocked(Event{Kind: EventRecall, Detail: "the call takes no recall"})
		return
	}
	p.emitLocked(Event{Kind: EventRecall, Detail: "passed to the call"})
	p.work.push(func() {
		if err := f.Flash(); err != nil {
			p.log.Info("recall", "err", err)
		}
	})
}

// ---- timers ----

// arm (re)starts slot to run f under p.mu after d.
func (p *Port) arm(s *timerSlot, d time.Duration, f func()) {
	p.disarm(s)
	p.tgen++
	gen := p.tgen
	s.gen = gen
	s.t = p.clock.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if s.gen != gen || p.closed {
			return
		}
		s.t = nil
		f()
	})
}

func (p *Port) disarm(s *timerSlot) {
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
	s.gen = 0
}

func (p *Port) armState(d time.Duration, f func()) { p.arm(&p.stateSlt, d, f) }

// ---- line outputs ----

func (p *Port) lineSetRing(on bool) {
	if err := p.line.SetRing(on); err != nil {
		p.counters.LineErrors++
		p.emitLocked(Event{Kind: EventLineError, Detail: "ring output: " + err.Error()})
	}
}

func (p *Port) lineSetReverse(rev bool) {
	if err := p.line.SetReverse(rev); err != nil {
		p.counters.LineErrors++
		p.emitLocked(Event{Kind: EventLineError, Detail: "polarity output: " + err.Error()})
	}
}

// ---- worker ----

// worker runs calls into Router and Call in order, outside the port's lock.
// A panic in one of them is logged and does not take the line down.
type worker struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
	log  *slog.Logger
}

func (w *worker) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("panic in a router or call handler; the port carries on", "panic", r)
		}
	}()
	f()
}

func (w *worker) push(f func()) {
	w.mu.Lock()
	w.q = append(w.q, f)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	for {
		w.mu.Lock()
		q := w.q
		w.q = nil
		w.mu.Unlock()
		for _, f := range q {
			w.call(f)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			// Last orders: hang-ups queued at shutdown.
			w.mu.Lock()
			q := w.q
			w.q = nil
			w.mu.Unlock()
			for _, f := range q {
				w.call(f)
			}
			return
		}
	}
}
