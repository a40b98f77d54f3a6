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
	// StallAfter is how long one call step (placing, answering, hanging
	// up a call) may take before the port is declared wedged: the step is
	// abandoned, counted and logged, and the port carries on (default
	// DefaultStallAfter).
	StallAfter time.Duration
	// Services makes the port apply the flash-hook services itself: call
	// waiting, hold, enquiry call, swap, three-way calling and transfer
	// (services.go). Otherwise a recall goes to the call (Flasher: passed
	// to the PBX) unless its route takes the network's recall codes.
	Services bool
	// TransferOnHangup: hanging up during an enquiry call transfers the
	// held call to it (needs Services and a Router that is a Transferer);
	// otherwise the held call rings the porter back.
	TransferOnHangup bool
	// Hotline is dialled the moment the handset is lifted (no dial tone,
	// no other number); Warmline after WarmlineAfter of dial tone without
	// a digit (hotline.go). At most one of them.
	Hotline       string
	Warmline      string
	WarmlineAfter time.Duration
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
	hotline   string
	warmline  string
	warmAfter time.Duration

	mu      sync.Mutex
	running bool
	closed  bool
	state   State
	since   time.Duration
	offHook bool
	cond    Condition
	forward bool
	mwi     mwiState // mwi.go

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
	wcid     waitingCID
	// recallWait: R was pressed in a call that takes the recall codes;
	// the next digit is the code (waiting.go).
	recallWait bool
	recallSlt  timerSlot
	cidBuf     []int16
	cidPos     int
	resting    bool          // the pump has paused the device (hal.Pausable)
	wake       chan struct{} // wakes a resting pump

	// the current call
	callGen   uint64
	endedCall uint64 // the last call generation that reported its own end
	call      Call
	inbound   InboundCall
	routeStop context.CancelFunc

	ring ringer
	sv   services // flash-hook services (services.go)

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
		digits:  make([]byte, 0, 64),
		hotline: cfg.Hotline, warmline: cfg.Warmline, warmAfter: cfg.WarmlineAfter,
	}
	p.sv.on, p.sv.xferHangup = cfg.Services, cfg.TransferOnHangup
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
	if err := checkLines(cfg); err != nil {
		return nil, fmt.Errorf("fxs: port %d: %w", p.id, err)
	}
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
	p.work.wake = make(chan struct{}, 1)
	p.wake = make(chan struct{}, 1)
	p.work.log = p.log
	p.work.stallAfter = cfg.StallAfter
	if p.work.stallAfter <= 0 {
		p.work.stallAfter = DefaultStallAfter
	}
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
		p.seizeLocked("off-hook at start")
	} else {
		p.enterLocked(StateIdle, "")
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.Background())
	p.work.start(workCtx)
	wg.Add(1)
	go func() { defer wg.Done(); p.supervise(workCtx) }()
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
	p.endServicesLocked()
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
	p.work.stop()
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
// audio of the call in progress (on) or stops it (and any caller ID on
// call waiting, see OfferWaiting). The survivability layer
// uses it when a second call arrives for a port that is in a call (Offer
// then fails with ErrBusy). It fails with ErrNotInCall when the port is not
// in a call; the tone stops by itself when the call ends.
func (p *Port) SetCallWaiting(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && p.state != StateConnected {
		return fmt.Errorf("%w: %s", ErrNotInCall, p.state)
	}
	if !on {
		p.stopWaitingLocked()
		return nil
	}
	if !p.cwOn {
		p.tones[toneCallWaiting].Reset()
		p.cwOn = true
		p.emitLocked(Event{Kind: EventCallWaiting, On: true})
	}
	return nil
}

// Snapshot returns the port's current state.
func (p *Port) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	sn := Snapshot{
		Port: p.id, State: p.state, Since: p.since, OffHook: p.offHook, Digits: string(p.digits),
		Direction: p.direction, Emergency: p.emergCall, Condition: p.cond, Forwarding: p.forward,
		Ringing: p.ring.on, Profile: p.prof.Name, Counters: p.counters, MessageWaiting: p.mwi.on, ThreeWay: p.sv.conf,
	}
	if h := p.sv.held; h != nil {
		sn.Held = h.label()
	}
	if w := p.sv.waiting; w != nil {
		sn.Waiting = w.label()
	}
	return sn
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
	p.callGen = p.nextGen()
	p.inbound, p.call, p.direction = call, call, "in"
	p.sv.cid = cid
	p.digits = p.digits[:0]
	p.mwiAbortLocked("call offered")
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
