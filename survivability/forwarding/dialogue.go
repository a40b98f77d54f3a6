package forwarding

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/hal"
)

// Tone names what the caller of a dialogue should play.
type Tone string

// Tones a dialogue asks for. The call router maps them to the country
// profile's sounds (e.g. prompt = dial tone, confirm = the special dial
// tone's cadence or a rising triple beep, error = number-unobtainable).
const (
	ToneNone    Tone = ""        // keep silent (or keep playing what plays)
	TonePrompt  Tone = "prompt"  // enter digits now
	ToneConfirm Tone = "confirm" // accepted
	ToneError   Tone = "error"   // refused or wrong; try again unless Hangup
)

// Action tells the dialogue's caller what to do after an event.
type Action struct {
	// Tone to play now, replacing what is playing (ToneNone = no change).
	Tone Tone
	// Hangup: end the call once the tone has played.
	Hangup bool
	// Wait is how long to wait for the next digit before calling Timeout;
	// 0 when Hangup.
	Wait time.Duration
}

// Stage is where a dialogue is.
type Stage string

// Stages of the remote-activation dialogue.
const (
	StagePort   Stage = "port"   // enter the port number, then #
	StagePIN    Stage = "pin"    // enter the port's PIN, then #
	StageMenu   Stage = "menu"   // 1 unconditional, 2 busy, 3 no answer (each then NUMBER #), 0 cancel all, # done
	StageNumber Stage = "number" // enter the forward-to number, then #
	StageDone   Stage = "done"   // hang up
)

// Dialogue is one remote-activation call's DTMF state machine. It is fed
// Start once, then digits and timeouts, and answers each with an Action.
// Reading "#" or a digit timeout after some digits ends an entry; "*"
// starts the entry again (in the number entry: back to the menu).
//
//	answer -> prompt; PORT # -> prompt; PIN # -> confirm (or error: again,
//	or hang up once locked out); then 1|2|3 -> prompt, NUMBER # -> confirm
//	and hang up; or 0 -> forwarding cancelled, confirm and hang up.
//
// Not safe for concurrent use: Session serialises it.
type Dialogue struct {
	m        *Manager
	caller   string
	fixed    bool
	port     int
	stage    Stage
	buf      []byte
	kind     Kind
	started  bool
	deadline time.Duration // next digit due by
	end      time.Duration // whole call over by
	quiet    time.Duration // digits ignored until
	timeouts int
}

// NewDialogue prepares a dialogue for a call from callerID (as the trunk or
// SIP reported it; "" = withheld). port != 0 skips the port entry (a
// service number that belongs to one port).
func (m *Manager) NewDialogue(callerID string, port int) *Dialogue {
	return &Dialogue{m: m, caller: callerKey(callerID), port: port, fixed: port != 0, stage: StagePort}
}

// Stage reports where the dialogue is.
func (d *Dialogue) Stage() Stage { return d.stage }

// Done reports whether the call should be ended.
func (d *Dialogue) Done() bool { return d.stage == StageDone }

// Port is the port being changed (0 until known).
func (d *Dialogue) Port() int { return d.port }

func (d *Dialogue) now() time.Duration { return d.m.clock.Now() }

func (d *Dialogue) finish(t Tone, why string) Action {
	if d.stage != StageDone {
		d.m.log.Info("remote activation call ends", "caller", d.caller, "port", d.port, "stage", d.stage, "why", why)
	}
	d.stage = StageDone
	clear(d.buf)
	d.buf = d.buf[:0]
	return Action{Tone: t, Hangup: true}
}

// wait plays t and waits for digits from the later of now and the quiet
// period's end.
func (d *Dialogue) wait(t Tone) Action {
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long")
	}
	d.deadline = min(max(now, d.quiet)+d.m.cfg.DigitTimeout, d.end)
	return Action{Tone: t, Wait: d.deadline - now}
}

// keep answers an event that changes nothing.
func (d *Dialogue) keep() Action {
	now := d.now()
	if now >= d.deadline {
		return d.Timeout()
	}
	return Action{Wait: d.deadline - now}
}

// Start answers the call.
func (d *Dialogue) Start() Action {
	if d.started {
		return d.keep()
	}
	d.started = true
	now := d.now()
	d.end = now + d.m.cfg.SessionTimeout
	d.m.log.Info("remote activation call", "caller", d.caller, "port", d.port)
	switch {
	case !d.m.cfg.Remote:
		return d.finish(ToneError, "remote activation is off")
	case d.caller == Withheld && !d.m.cfg.AllowWithheld:
		return d.finish(ToneError, "caller withheld their number")
	case d.m.callerLocked(d.caller):
		return d.finish(ToneError, "caller is locked out")
	}
	if d.fixed {
		ok, locked := d.m.portOpen(d.port)
		switch {
		case !ok:
			return d.finish(ToneError, "port takes no remote activation")
		case locked:
			return d.finish(ToneError, "port is locked out")
		}
		d.stage = StagePIN
	}
	return d.wait(TonePrompt)
}

// Digit feeds one DTMF key: '0'-'9', '*' or '#' (others are ignored).
func (d *Dialogue) Digit(c rune) Action {
	switch {
	case d.stage == StageDone:
		return Action{Hangup: true}
	case !d.started:
		return d.Start()
	}
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long")
	}
	if now < d.quiet || !(c >= '0' && c <= '9' || c == '*' || c == '#') {
		return d.keep()
	}
	d.timeouts = 0
	switch d.stage {
	case StagePort:
		return d.entry(c, 3, d.submitPort)
	case StagePIN:
		return d.entry(c, MaxPINLen, d.submitPIN)
	case StageNumber:
		if c == '*' {
			return d.toMenu(TonePrompt)
		}
		return d.entry(c, 20, d.submitNumber)
	case StageMenu:
		return d.menu(c)
	}
	return d.keep()
}

// entry collects digits until '#', a timeout, or more than max digits
// (then submitted as they are, which fails for ports and PINs).
func (d *Dialogue) entry(c rune, max int, submit func() Action) Action {
	switch c {
	case '*':
		clear(d.buf)
		d.buf = d.buf[:0]
		return d.wait(TonePrompt)
	case '#':
		return submit()
	}
	d.buf = append(d.buf, byte(c))
	if len(d.buf) > max {
		return submit()
	}
	return d.wait(ToneNone)
}

func (d *Dialogue) take() string {
	s := string(d.buf)
	clear(d.buf)
	d.buf = d.buf[:0]
	return s
}

func (d *Dialogue) submitPort() Action {
	entered := d.take()
	id, err := strconv.Atoi(entered)
	ok, locked := false, false
	if err == nil && len(entered) <= 3 {
		ok, locked = d.m.portOpen(id)
	}
	switch {
	case !ok:
		if d.m.badPort(d.caller, entered) {
			return d.finish(ToneError, "caller locked out after unknown ports")
		}
		return d.fail()
	case locked:
		return d.finish(ToneError, "port is locked out")
	}
	d.port = id
	d.stage = StagePIN
	return d.wait(TonePrompt)
}

// fail plays the error tone and ignores digits for the failure delay.
func (d *Dialogue) fail() Action {
	d.quiet = d.now() + d.m.cfg.FailureDelay
	return d.wait(ToneError)
}

func (d *Dialogue) submitPIN() Action {
	pin := d.take()
	switch d.m.tryPIN(d.caller, d.port, pin) {
	case pinOK:
		return d.toMenu(ToneConfirm)
	case pinWrong:
		return d.fail()
	case pinWrongLocked:
		return d.finish(ToneError, "wrong PIN: caller and port locked out")
	default:
		return d.finish(ToneError, "refused: locked out or rate-limited")
	}
}

func (d *Dialogue) toMenu(t Tone) Action {
	clear(d.buf)
	d.buf = d.buf[:0]
	d.stage = StageMenu
	return d.wait(t)
}

func (d *Dialogue) menu(c rune) Action {
	switch c {
	case '1', '2', '3':
		d.kind = Kinds()[c-'1'] // Unconditional, Busy, NoAnswer
		d.stage = StageNumber
		return d.wait(TonePrompt)
	case '0':
		// A change that cannot be saved is not made: the caller hears so.
		if err := d.m.Clear(context.Background(), d.port, "", ViaRemote, d.caller); err != nil {
			return d.finish(ToneError, "cancel failed: "+err.Error())
		}
		return d.finish(ToneConfirm, "forwarding cancelled")
	case '#':
		return d.finish(ToneConfirm, "caller finished")
	}
	return d.wait(ToneError)
}

func (d *Dialogue) submitNumber() Action {
	number := d.take()
	if len(number) > 20 {
		return d.toMenu(ToneError)
	}
	if err := d.m.Set(context.Background(), d.port, d.kind, number, 0, ViaRemote, d.caller); err != nil {
		return d.toMenu(ToneError)
	}
	return d.finish(ToneConfirm, "forwarding set")
}

// Timeout tells the dialogue the Wait of its last Action has passed. A
// stale call (a digit came in meanwhile) is harmless: the dialogue checks
// the clock and answers with the time still to wait.
func (d *Dialogue) Timeout() Action {
	if d.stage == StageDone {
		return Action{Hangup: true}
	}
	if !d.started {
		return d.Start()
	}
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long")
	}
	if now < d.deadline {
		return Action{Wait: d.deadline - now}
	}
	if len(d.buf) > 0 {
		switch d.stage {
		case StagePort:
			return d.submitPort()
		case StagePIN:
			return d.submitPIN()
		case StageNumber:
			return d.submitNumber()
		}
	}
	d.timeouts++
	if d.timeouts >= 2 {
		return d.finish(ToneError, "no digits")
	}
	return d.wait(TonePrompt)
}

// Session runs a Dialogue on an hal.Clock: it arms the digit timer each
// Action asks for and hands every Action to out.
type Session struct {
	d      *Dialogue
	clock  hal.Clock
	out    func(Action)
	mu     sync.Mutex
	closed atomic.Bool
	tmu    sync.Mutex
	timer  hal.Timer
}

// StartSession answers a remote-activation call and calls out with the
// first Action before returning. out is called with the session's lock
// held, one Action at a time, in order: it may call Close, but not Digit.
func (m *Manager) StartSession(callerID string, port int, out func(Action)) *Session {
	s := &Session{d: m.NewDialogue(callerID, port), clock: m.clock, out: out}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliver(s.d.Start())
	return s
}

// Digit feeds one DTMF key.
func (s *Session) Digit(c rune) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	s.deliver(s.d.Digit(c))
}

func (s *Session) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	s.deliver(s.d.Timeout())
}

func (s *Session) deliver(a Action) {
	s.tmu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if a.Wait > 0 && !a.Hangup {
		s.timer = s.clock.AfterFunc(a.Wait, s.onTimer)
	}
	s.tmu.Unlock()
	if a.Hangup {
		s.closed.Store(true)
	}
	s.out(a)
}

// Stage reports the dialogue's stage.
func (s *Session) Stage() Stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.d.Stage()
}

// Close ends the session (the caller hung up); pending timers are stopped.
func (s *Session) Close() {
	s.closed.Store(true)
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}
