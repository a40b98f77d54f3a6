package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// Trunk is a modem trunk: a hal.Trunk plus the modem-only operations
// (network call forwarding, SMS, raw commands). It keeps itself usable: it
// opens the device when it appears, reopens it with backoff after an
// unplug, a failed init or a wedge, and reports each change as a TrunkState
// event. No method blocks on a dead or missing device.
type Trunk struct {
	cfg  Config
	prof profile
	log  *slog.Logger
	m    *metrics

	evq   *eventQueue
	voice *voice

	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	actions  chan func(*engine)
	probeNow chan struct{} // a command timed out: probe at once
	callKick chan struct{} // a call began: start polling it
	dataKick chan struct{} // the module reported its data call changed: look at once

	mu     sync.Mutex
	eng    *engine // nil while down
	status hal.TrunkStatus
	creg   Registration
	cereg  Registration
	regs   uint64          // registration reports taken (regLine)
	upCh   chan struct{}   // closed while up
	calls  [2]callInfo     // the call in the foreground and a waiting or held one
	lastID hal.TrunkCallID // the last call identity given out
	pcmOn  bool            // the per-call voice command was sent
	signal bool            // +CSQ reports a measurable signal: a cell is in reach
	// changed is closed (and replaced) whenever a call changes.
	changed chan struct{}
	svc     services
	probing bool // a service probe is queued
	holding int  // AT+CHLD operations under way
	// clccSeen: the module reports calls by +CLCC or ^DSCI, which say
	// which call ended; VOICE CALL: END and NO CARRIER then add nothing.
	clccSeen bool
	data     dataState // the module's data connection (data.go)
}

var _ hal.Trunk = (*Trunk)(nil)

// Open validates cfg, registers the trunk's metrics and starts the trunk.
// It returns at once: a missing or silent device is not an error, the trunk
// starts down and comes up when the modem answers (see WaitUp, Status and
// the TrunkState events). Close releases everything.
func Open(cfg Config) (*Trunk, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Registerer, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("modem trunk %q: metrics: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Trunk{
		cfg:      cfg,
		prof:     profileFor(cfg.Variant),
		log:      cfg.Logger.With("trunk", cfg.Name),
		m:        m,
		evq:      newEventQueue(),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		actions:  make(chan func(*engine), 16),
		probeNow: make(chan struct{}, 1),
		callKick: make(chan struct{}, 1),
		dataKick: make(chan struct{}, 1),
		upCh:     make(chan struct{}),
		changed:  make(chan struct{}),
		status:   hal.TrunkStatus{Detail: "starting"},
	}
	t.svc.init(m, "trunk down")
	t.initData()
	if cfg.PCM != "" {
		t.voice = newVoice(cfg, m, t.log)
	}
	go t.run()
	return t, nil
}

// Name is the trunk's configured name.
func (t *Trunk) Name() string { return t.cfg.Name }

// Events delivers the trunk's events; it is closed by Close.
func (t *Trunk) Events() <-chan hal.TrunkEvent { return t.evq.out }

// Status returns the latest known status without touching the device.
func (t *Trunk) Status() hal.TrunkStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.status
	s.InCall = t.inCallLocked()
	return s
}

// Audio returns the call's voice stream, or nil when no pcm port is
// configured. The stream lives as long as the trunk: between calls and while
// the device is away it plays silence. Its Close ends the stream for good;
// the consumer need not close it (Trunk.Close does).
func (t *Trunk) Audio() hal.PCM {
	if t.voice == nil {
		return nil
	}
	return t.voice
}

// WaitUp blocks until the trunk is up or ctx ends.
func (t *Trunk) WaitUp(ctx context.Context) error {
	for {
		t.mu.Lock()
		up, ch := t.status.Up, t.upCh
		t.mu.Unlock()
		if up {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("trunk %q: waiting for the modem: %w", t.cfg.Name, ctx.Err())
		case <-t.done:
			return fmt.Errorf("trunk %q: %w", t.cfg.Name, hal.ErrClosed)
		}
	}
}

// Close stops the trunk and releases the devices. A call in progress ends
// (TrunkEnded with hal.ErrTrunkDown) and the events channel is closed.
func (t *Trunk) Close() error {
	t.cancel()
	<-t.done
	if t.voice != nil {
		t.voice.Close()
	}
	t.evq.close()
	t.mu.Lock()
	if !t.data.closed {
		t.data.closed = true
		close(t.data.out)
	}
	t.mu.Unlock()
	return nil
}

// Command sends one raw AT command (diagnostics, critlinectl) and returns
// its answer.
func (t *Trunk) Command(ctx context.Context, cmd string) (Response, error) {
	cmd = strings.TrimSpace(cmd)
	if !isEcho(cmd) || strings.ContainsAny(cmd, "\r\n\x1a\x1b") {
		return Response{}, fmt.Errorf("trunk %q: %q is not one AT command: start it with AT, one line", t.cfg.Name, cmd)
	}
	eng, err := t.engine()
	if err != nil {
		return Response{}, err
	}
	return eng.exec(ctx, &request{cmd: cmd}, t.cfg.CommandTimeout)
}

func (t *Trunk) engine() (*engine, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.eng == nil {
		d := t.status.Detail
		if d == "" {
			d = "modem not answering"
		}
		return nil, fmt.Errorf("trunk %q: %w: %s", t.cfg.Name, hal.ErrTrunkDown, d)
	}
	return t.eng, nil
}

// act runs f on the supervisor goroutine with the current engine, soon. It
// never blocks; a full queue drops f (the next poll repairs what it would
// have done) and reports false.
func (t *Trunk) act(f func(*engine)) bool {
	select {
	case t.actions <- f:
		return true
	default:
		t.log.Debug("modem: action queue full")
		return false
	}
}

// ---- lifecycle ----

func (t *Trunk) run() {
	defer close(t.done)
	backoff := t.cfg.ReopenMin
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-t.ctx.Done():
			return false
		}
	}
	absentLogged := false
	lastErr, initFails := "", 0
	reset := func() {
		if t.cfg.Reset == nil {
			return
		}
		t.log.Warn("modem: resetting the module")
		rctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
		if err := t.cfg.Reset(rctx); err != nil {
			t.log.Error("modem: reset failed", "err", err)
		}
		cancel()
	}
	for t.ctx.Err() == nil {
		if _, err := os.Stat(t.cfg.Device); err != nil {
			t.setDown("device missing: " + err.Error())
			if !absentLogged {
				t.log.Warn("modem: device missing; watching for it", "device", t.cfg.Device, "err", err)
				absentLogged = true
			}
			if !sleep(t.cfg.AbsentPoll) {
				break
			}
			continue
		}
		absentLogged = false
		eng, err := t.open()
		if err == nil {
			err = t.initModem(eng)
			if err != nil {
				eng.Close()
			}
		}
		if err != nil {
			t.setDown(err.Error())
			t.m.reopens.WithLabelValues("init").Inc()
			if err.Error() != lastErr { // the same failure over and over is logged once
				t.log.Warn("modem: not usable; retrying", "err", err, "in", backoff)
				lastErr = err.Error()
			} else {
				t.log.Debug("modem: still not usable", "err", err)
			}
			if initFails++; initFails%3 == 0 && errors.Is(err, ErrTimeout) {
				reset() // a module that never answers needs more than a reopen
			}
			if !sleep(backoff) {
				break
			}
			backoff = min(2*backoff, t.cfg.ReopenMax)
			continue
		}
		backoff, lastErr, initFails = t.cfg.ReopenMin, "", 0
		if t.voice != nil {
			t.attachVoice() // before up: a call may start the moment we are up
		}
		t.setUp(eng)
		reason, label := t.serve(eng)
		eng.Close()
		if t.voice != nil {
			t.voice.detach()
		}
		t.setDown(reason)
		if t.ctx.Err() != nil {
			break
		}
		t.m.reopens.WithLabelValues(label).Inc()
		t.log.Warn("modem: down; reopening", "reason", reason)
		if label == "wedged" {
			reset()
		}
	}
	t.setDown("closed")
}

func (t *Trunk) open() (*engine, error) {
	p, err := openSerial(t.cfg.Device, t.cfg.Baud)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.cfg.Device, err)
	}
	eng := newEngine(p, t.log, t.m, t.onURC)
	eng.onTimeout = func() {
		select {
		case t.probeNow <- struct{}{}:
		default:
		}
	}
	return eng, nil
}

// initModem brings a freshly opened modem into the state the driver needs.
func (t *Trunk) initModem(eng *engine) error {
	ctx := t.ctx
	to := t.cfg.CommandTimeout
	// Escape a half-typed SMS left by a previous session, then sync.
	select {
	case eng.wq <- []byte("\x1b"):
	default:
	}
	var err error
	for range 3 {
		if _, err = eng.exec(ctx, &request{cmd: "AT"}, to); err == nil {
			break
		}
		if errors.Is(err, ErrPortClosed) || ctx.Err() != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if err != nil {
		return fmt.Errorf("init: no answer to AT: %w", err)
	}
	cmds := []initCmd{
		{"ATE0", true},       // echo off (echo is tolerated anyway)
		{"AT+CMEE=2", false}, // verbose +CME ERROR
		{"AT+CLIP=1", true},  // caller ID
		{"AT+CREG=2", false}, // registration reports
		{"AT+CEREG=2", false},
		{"AT+COPS=3,0", false}, // long operator names
		{"AT+CMGF=1", false},   // SMS text mode
		{"AT+CHUP", false},     // no call left over from before a reopen
	}
	cmds = append(cmds, t.prof.init...)
	if t.cfg.PCM != "" && t.prof.pcmInit != "" {
		cmds = append(cmds, initCmd{t.prof.pcmInit, false})
	}
	for _, c := range cmds {
		if _, err := eng.exec(ctx, &request{cmd: c.cmd}, to); err != nil {
			var ae *ATError
			if c.required || !errors.As(err, &ae) {
				return fmt.Errorf("init: %w", err)
			}
			t.log.Info("modem: optional init command refused", "cmd", c.cmd, "err", err)
		}
	}
	if err := t.refresh(eng, true); err != nil {
		return fmt.Errorf("init: status: %w", err)
	}
	return nil
}

// fullRefreshEvery: every this many liveness probes, the probe reads the
// registration and the operator too. In between it reads only the signal:
// registration changes arrive at once as +CREG/+CEREG reports (enabled at
// init), so the reads are only a backstop for a lost report, and each AT
// command is a round of wake-ups on an idle appliance (issue 19).
const fullRefreshEvery = 6

// refresh is the liveness probe: signal and, when full, registration and
// operator.
func (t *Trunk) refresh(eng *engine, full bool) error {
	ctx, to := t.ctx, t.cfg.CommandTimeout
	resp, err := eng.exec(ctx, &request{cmd: "AT+CSQ", prefixes: []string{"+CSQ:"}}, to)
	if err != nil {
		return err
	}
	if l, ok := resp.Line("+CSQ:"); ok {
		if rssi, _, err := parseCSQ(l); err == nil {
			t.setSignal(rssi)
		} else {
			t.log.Warn("modem: bad +CSQ", "err", err)
		}
	}
	if !full {
		return nil
	}
	for _, q := range []struct{ cmd, prefix string }{{"AT+CREG?", "+CREG:"}, {"AT+CEREG?", "+CEREG:"}} {
		t.mu.Lock()
		regs := t.regs
		t.mu.Unlock()
		resp, err := eng.exec(ctx, &request{cmd: q.cmd, prefixes: []string{q.prefix}}, to)
		if err != nil {
			var ae *ATError
			if errors.As(err, &ae) {
				continue
			}
			return err
		}
		if t.cfg.answered != nil {
			t.cfg.answered(q.cmd, resp.Lines)
		}
		if l, ok := resp.Line(q.prefix); ok {
			t.regLine(l, &regs)
		}
	}
	resp, err = eng.exec(ctx, &request{cmd: "AT+COPS?", prefixes: []string{"+COPS:"}}, to)
	if err == nil {
		if l, ok := resp.Line("+COPS:"); ok {
			if op, err := parseCOPS(l); err == nil {
				t.mu.Lock()
				if op != t.status.Operator {
					t.status.Operator = op
					t.stateEventLocked()
				}
				t.mu.Unlock()
			}
		}
	} else if ae := (*ATError)(nil); !errors.As(err, &ae) {
		return err
	}
	return nil
}

// serve watches a working modem until it dies, wedges or the trunk closes.
func (t *Trunk) serve(eng *engine) (reason, label string) {
	// The liveness probe runs at its interval whatever happens: it is how a
	// wedged or unregistered modem is noticed. The +CLCC poll runs only
	// while a call exists (a call's start kicks it).
	probe := time.NewTicker(t.cfg.ProbeInterval)
	defer probe.Stop()
	poll := time.NewTicker(t.cfg.CallPoll)
	poll.Stop()
	defer poll.Stop()
	polling := false
	startPoll := func() {
		if !polling {
			poll.Reset(t.cfg.CallPoll)
			polling = true
		}
	}
	if !t.callIdle() {
		startPoll()
	}
	// Drop a timeout signal left from init.
	select {
	case <-t.probeNow:
	default:
	}
	fails, probes := 0, 0
	check := func() bool {
		// Full after a failure too: the modem may have lost its network
		// while it did not answer.
		full := probes%fullRefreshEvery == fullRefreshEvery-1 || fails > 0
		probes++
		err := t.refresh(eng, full)
		switch {
		case err == nil:
			fails = 0
			if t.voice != nil && !t.voice.attached() {
				t.attachVoice()
			}
			t.checkData(eng)
		case errors.Is(err, ErrTimeout):
			fails++
			t.log.Warn("modem: probe unanswered", "fails", fails, "err", err)
			return fails < t.cfg.WedgeAfter
		case errors.Is(err, ErrPortClosed):
			// Dead() fires next.
		default:
			t.log.Warn("modem: probe failed", "err", err)
		}
		return true
	}
	for {
		ok := true
		select {
		case <-t.ctx.Done():
			return "closed", "closed"
		case <-eng.Dead():
			return "device gone: " + eng.Err().Error(), "unplugged"
		case f := <-t.actions:
			f(eng)
		case <-t.callKick:
			startPoll()
		case <-t.dataKick:
			t.checkData(eng)
		case <-poll.C:
			t.pollCall(eng)
			if t.callIdle() {
				poll.Stop()
				polling = false
			}
		case <-probe.C:
			ok = check()
		case <-t.probeNow:
			ok = check()
		}
		if !ok {
			return fmt.Sprintf("modem wedged: %d probes unanswered", fails), "wedged"
		}
	}
}

// callIdle reports that no call exists.
func (t *Trunk) callIdle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.callsLocked() == 0
}

// kickPollLocked starts the +CLCC poll for a call that has just begun.
func (t *Trunk) kickPollLocked() {
	select {
	case t.callKick <- struct{}{}:
	default:
	}
}

func (t *Trunk) attachVoice() {
	p, err := openSerial(t.cfg.PCM, t.cfg.Baud)
	if err != nil {
		t.log.Warn("modem: voice port not usable; calls have no audio until it is", "pcm", t.cfg.PCM, "err", err)
		return
	}
	t.voice.attach(p)
}

func (t *Trunk) setUp(eng *engine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.eng = eng
	t.status.Up = true
	t.status.Detail = ""
	close(t.upCh)
	t.probeSoonLocked()
	t.gaugesLocked()
	t.kickData()
	t.log.Info("modem: up", "registered", t.status.Registered, "service", t.status.Service, "operator", t.status.Operator, "signal_dbm", t.status.SignalDBm)
	t.stateEventLocked()
}

func (t *Trunk) setDown(detail string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	wasUp := t.status.Up
	t.eng = nil
	t.status.Detail = detail
	if !wasUp {
		return
	}
	t.status.Up = false
	t.status.Registered = false
	t.status.Service = hal.ServiceNone
	t.status.SignalDBm = 0
	t.creg, t.cereg, t.signal = Registration{}, Registration{}, false
	t.clccSeen = false
	t.upCh = make(chan struct{})
	t.gaugesLocked()
	t.m.signal.Set(0)
	t.endAllLocked(fmt.Errorf("trunk %q: %w: %s", t.cfg.Name, hal.ErrTrunkDown, detail), "failed")
	t.svc.setAllLocked(hal.SupportUnknown, "trunk down: "+detail)
	t.dataLostLocked("modem down: " + detail)
	t.emitStateLocked()
}

func (t *Trunk) setSignal(rssi int) {
	dbm, known := CSQToDBm(rssi)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status.SignalDBm = dbm
	t.signal = known
	t.m.signal.Set(dbm)
	t.serviceLocked()
}

// serviceLocked works out what the network lets the trunk do and reports
// a change. Registered (home or roaming) is full service. Not registered
// but denied (stat 3: a network answered and refused the SIM), attached
// for emergency bearer services only (stat 8), or with a measurable signal
// (a cell in reach) is limited service: 3GPP has every network in reach
// take emergency calls then. Nothing at all is no service. The reading is
// a good guess, not a promise (some networks refuse SIM-less emergency
// calls): the router still tries such a trunk for an emergency call when
// nothing better is left.
func (t *Trunk) serviceLocked() (reported bool) {
	svc := hal.ServiceNone
	switch {
	case t.creg.Registered() || t.cereg.Registered():
		svc = hal.ServiceFull
	case t.creg.Stat == 3 || t.cereg.Stat == 3 || t.cereg.Stat == 8 || t.signal:
		svc = hal.ServiceLimited
	}
	if svc == t.status.Service {
		return false
	}
	was := t.status.Service
	t.status.Service = svc
	t.gaugesLocked()
	t.log.Info("modem: network service changed", "service", svc, "was", was)
	t.stateEventLocked()
	return true
}

// gaugesLocked publishes the trunk's state: critline_trunk_up only while
// it can place an ordinary call (modem answering and registered).
func (t *Trunk) gaugesLocked() {
	s := t.status
	t.m.up.Set(b2f(s.CanCall()))
	t.m.modemUp.Set(b2f(s.Up))
	t.m.registered.Set(b2f(s.Up && s.Registered))
	t.m.emergencyUp.Set(b2f(s.CanCallEmergency()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// regLine applies a +CREG/+CEREG/+CGREG report, or the answer to a query
// asked when asked reports had been taken. An answer that a report crossed
// (answered before the change, read after it) tells what was true before
// and is dropped; the next refresh asks again.
func (t *Trunk) regLine(l string, asked *uint64) {
	prefix := l[:strings.IndexByte(l, ':')+1]
	r, err := parseReg(l, prefix)
	if err != nil {
		t.log.Warn("modem: bad registration report", "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if asked == nil {
		t.regs++
	} else if *asked != t.regs {
		return
	}
	switch prefix {
	case "+CREG:":
		t.creg = r
	case "+CEREG:", "+CGREG:":
		t.cereg = r
	}
	reg := t.creg.Registered() || t.cereg.Registered()
	if reg != t.status.Registered {
		t.status.Registered = reg
		if !reg {
			t.status.Operator = ""
		}
		t.gaugesLocked()
		t.log.Info("modem: registration changed", "registered", reg)
		if t.status.Up {
			t.probeSoonLocked() // a new network may offer other services
		}
		if !t.serviceLocked() {
			t.stateEventLocked()
		}
		return
	}
	t.serviceLocked()
}

// stateEventLocked reports the status. While the trunk is down nothing is
// reported but the fall itself (setDown): init's findings arrive with the
// rise.
func (t *Trunk) stateEventLocked() {
	if !t.status.Up {
		return
	}
	t.emitStateLocked()
}

func (t *Trunk) emitStateLocked() {
	s := t.status
	s.InCall = t.inCallLocked()
	t.evq.push(hal.TrunkEvent{Kind: hal.TrunkState, Status: s, At: time.Now()})
}

// ---- events ----

// eventQueue decouples the reader from the consumer: pushing never blocks.
type eventQueue struct {
	out  chan hal.TrunkEvent
	mu   sync.Mutex
	q    []hal.TrunkEvent
	wake chan struct{}
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

const maxQueuedEvents = 4096

func newEventQueue() *eventQueue {
	e := &eventQueue{out: make(chan hal.TrunkEvent), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go e.pump()
	return e
}

func (e *eventQueue) push(ev hal.TrunkEvent) {
	e.mu.Lock()
	if len(e.q) >= maxQueuedEvents {
		e.q = e.q[1:] // nobody is listening; keep the newest
	}
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) pump() {
	defer close(e.done)
	defer close(e.out)
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			e.mu.Unlock()
			select {
			case <-e.wake:
				continue
			case <-e.stop:
				return
			}
		}
		ev := e.q[0]
		e.q = e.q[1:]
		e.mu.Unlock()
		select {
		case e.out <- ev:
		case <-e.stop:
			return
		}
	}
}

// close delivers what is queued if the consumer is reading (for a moment),
// then closes the channel.
func (e *eventQueue) close() {
	e.once.Do(func() {
		deadline := time.Now().Add(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			e.mu.Lock()
			n := len(e.q)
			e.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		close(e.stop)
		<-e.done
	})
}
