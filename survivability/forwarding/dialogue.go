package forwarding

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/hal"
)

// Tone names what the caller of a dialogue should play when it cannot
// speak the prompts (no prompt set for the language).
type Tone string

// Tones a dialogue asks for. The call router maps them to sounds (prompt
// = a short dial-tone burst, confirm = three high pips, error = a low
// pulsed tone).
const (
	ToneNone    Tone = ""        // keep silent (or keep playing what plays)
	TonePrompt  Tone = "prompt"  // enter digits now
	ToneConfirm Tone = "confirm" // accepted
	ToneError   Tone = "error"   // refused or wrong; try again unless Hangup
)

// Action tells the dialogue's caller what to do after an event.
type Action struct {
	// Say lists the prompts to speak now, in order, replacing what is
	// being said; Tone is what to play instead when they cannot be spoken
	// (ToneNone with no Say: no change).
	Say  []Prompt
	Tone Tone
	// Hangup: end the call once the prompts (or the tone) have played.
	Hangup bool
	// Lodge: the dialogue is over; put the call through to the lodge's
	// phones as an ordinary inbound call.
	Lodge bool
	// Wait is how long to wait for the next digit once the prompts have
	// played, before calling Timeout; 0 when Hangup or Lodge.
	Wait time.Duration
}

// Stage is where a dialogue is.
type Stage string

// Stages of the remote-activation dialogue.
const (
	StageExtension Stage = "extension" // enter the extension (or port number), then #
	StagePIN       Stage = "pin"       // enter the port's PIN, then #
	StageWait      Stage = "wait"      // after a wrong entry: keys are ignored for a while
	StageMenu      Stage = "menu"      // 1 all calls, 2 busy, 3 no answer, 0 cancel all, # done
	StageNumber    Stage = "number"    // enter the forward-to number, then #
	StageConfirm   Stage = "confirm"   // the number is read back: 1 confirms, * changes it
	StageLodge     Stage = "lodge"     // handed to the lodge's phones
	StageDone      Stage = "done"      // hang up
)

// Call describes a call answered by the dialogue.
type Call struct {
	// Caller is the calling number as the trunk or SIP presented it; ""
	// when withheld.
	Caller string
	// Entry says how the caller got here (EntryService, EntryStaff,
	// EntryTrunk): logs and critline_remote_calls_total.
	Entry string
	// Port, when not 0, skips the extension entry (a service number that
	// belongs to one port).
	Port int
	// Lodge offers the caller the lodge ("press star", or no key at all):
	// for staff numbers on a trunk, whose calls would otherwise never
	// reach the porters.
	Lodge bool
}

// Dialogue is one remote-activation call's DTMF state machine. It is fed
// Start once, then digits and timeouts, and answers each with an Action.
//
//	welcome, "enter your extension" -> EXTENSION (# or complete) ->
//	"enter your PIN" -> PIN # -> what is forwarded now, the menu ->
//	1|2|3 -> "enter the number" -> NUMBER # -> "forwarding to 0 7 7 ...,
//	press 1 to confirm" -> 1 -> "forwarding to 0 7 7 ... is on, goodbye";
//	or 0 -> "call forwarding is off, goodbye".
//
// "*" starts an entry again (at the number: back to the menu; at the
// read-back: change the number). A wrong entry makes the caller wait,
// longer each time; keys typed meanwhile are ignored, keys typed after it
// start the next entry even before its prompt.
//
// Not safe for concurrent use: Session serialises it.
type Dialogue struct {
	m         *Manager
	call      Call
	caller    string // lockout key
	port      int
	stage     Stage
	afterWait Stage // what a StageWait leads to
	buf       []byte
	kind      Kind
	number    string        // the number being confirmed
	waitUntil time.Duration // StageWait: keys are ignored until then
	started   bool
	keyed     bool // any DTMF key seen
	deadline  time.Duration
	end       time.Duration
	timeouts  int
}

// NewDialogue prepares a dialogue for a call.
func (m *Manager) NewDialogue(c Call) *Dialogue {
	if c.Entry == "" {
		c.Entry = EntryService
	}
	return &Dialogue{m: m, call: c, caller: callerKey(c.Caller), port: c.Port, stage: StageExtension}
}

// Stage reports where the dialogue is.
func (d *Dialogue) Stage() Stage { return d.stage }

// Done reports whether the dialogue is over (hang up, or handed to the
// lodge).
func (d *Dialogue) Done() bool { return d.stage == StageDone || d.stage == StageLodge }

// Port is the port being changed (0 until known).
func (d *Dialogue) Port() int { return d.port }

func (d *Dialogue) now() time.Duration { return d.m.clock.Now() }

func (d *Dialogue) finish(t Tone, why string, say ...Prompt) Action {
	if !d.Done() {
		d.m.log.Info("remote activation call ends", "caller", d.caller, "entry", d.call.Entry, "port", d.port, "stage", d.stage, "why", why)
	}
	d.stage = StageDone
	d.clearBuf()
	return Action{Tone: t, Say: say, Hangup: true}
}

func (d *Dialogue) clearBuf() {
	clear(d.buf)
	d.buf = d.buf[:0]
}

// ask moves to stage, says say (or plays t) and waits for digits.
func (d *Dialogue) ask(stage Stage, t Tone, say ...Prompt) Action {
	d.stage = stage
	return d.waitFor(d.m.cfg.DigitTimeout, t, say)
}

func (d *Dialogue) waitFor(wait time.Duration, t Tone, say []Prompt) Action {
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long", SayGoodbye)
	}
	d.deadline = min(now+wait, d.end)
	return Action{Tone: t, Say: say, Wait: d.deadline - now}
}

// keep answers an event that changes nothing.
func (d *Dialogue) keep() Action {
	now := d.now()
	if now >= d.deadline {
		return d.Timeout()
	}
	return Action{Wait: d.deadline - now}
}

// Extend tells the dialogue that its last Action's prompts take d to
// play: the wait for digits starts after them.
func (d *Dialogue) Extend(dur time.Duration) {
	if !d.Done() && dur > 0 {
		d.deadline = min(d.deadline+dur, d.end)
	}
}

// refuse ends the call for a refusal verdict.
func (d *Dialogue) refuse(v verdict, first ...Prompt) Action {
	switch v.result {
	case ResultLockedOut:
		return d.finish(ToneError, "caller is locked out", append(first, SayLockedOut, SayGoodbye)...)
	case ResultRateLimited:
		return d.finish(ToneError, "too many PIN attempts from all callers", append(first, SayTryLater, SayGoodbye)...)
	}
	return d.finish(ToneError, "remote activation not available: "+v.result, append(first, SayNotAvailable, SayGoodbye)...)
}

// Start answers the call.
func (d *Dialogue) Start() Action {
	if d.started {
		return d.keep()
	}
	d.started = true
	d.end = d.now() + d.m.cfg.SessionTimeout
	d.m.m.calls.WithLabelValues(d.call.Entry).Inc()
	d.m.log.Info("remote activation call", "caller", d.caller, "entry", d.call.Entry, "port", d.port)
	if v := d.m.admit(d.caller); v.result != "" {
		d.m.record(v, d.caller, d.call.Entry, d.port, "")
		return d.refuse(v)
	}
	if d.call.Port != 0 {
		if pc := d.m.ports[d.call.Port]; pc == nil || pc.pin == nil {
			return d.finish(ToneError, "port takes no remote activation", SayNotAvailable, SayGoodbye)
		}
		return d.toPIN(SayWelcome)
	}
	say := []Prompt{SayWelcome, SayEnterExtension}
	if d.call.Lodge {
		say = append(say, SayLodge)
	}
	return d.ask(StageExtension, TonePrompt, say...)
}

// toPIN asks for the PIN, or first makes the caller wait out the delay
// after an earlier wrong entry.
func (d *Dialogue) toPIN(first ...Prompt) Action {
	if w := d.m.waitFor(d.caller); w > 0 {
		return d.pause(StagePIN, w, ToneNone, append(first, SayPleaseWait)...)
	}
	return d.ask(StagePIN, TonePrompt, append(first, SayEnterPIN)...)
}

// pause ignores keys for w, then asks for next's entry.
func (d *Dialogue) pause(next Stage, w time.Duration, t Tone, say ...Prompt) Action {
	if w <= 0 {
		if next == StagePIN {
			return d.ask(StagePIN, t, append(say, SayEnterPIN)...)
		}
		return d.ask(next, t, append(say, SayEnterExtension)...)
	}
	d.stage, d.afterWait = StageWait, next
	d.waitUntil = d.now() + w
	d.clearBuf()
	return d.waitFor(w, t, say)
}

// Digit feeds one DTMF key: '0'-'9', '*' or '#' (others are ignored).
func (d *Dialogue) Digit(c rune) Action {
	switch {
	case d.Done():
		return Action{Hangup: d.stage == StageDone}
	case !d.started:
		return d.Start()
	}
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long", SayGoodbye)
	}
	if !(c >= '0' && c <= '9' || c == '*' || c == '#') {
		return d.keep()
	}
	if d.stage == StageWait {
		if now < d.waitUntil {
			return d.keep() // the wait after a wrong entry: keys are ignored
		}
		// The wait is over while its message still plays: the caller
		// starts the next entry without waiting for the prompt.
		d.stage = d.afterWait
		d.clearBuf()
	}
	d.timeouts = 0
	first := !d.keyed
	d.keyed = true
	switch d.stage {
	case StageExtension:
		if c == '*' && d.call.Lodge && len(d.buf) == 0 && first {
			return d.toLodge("caller asked for the lodge")
		}
		return d.entry(c, 16, d.submitExtension, d.m.completeExtension)
	case StagePIN:
		return d.entry(c, MaxPINLen, d.submitPIN, nil)
	case StageMenu:
		return d.menu(c)
	case StageNumber:
		if c == '*' && len(d.buf) == 0 {
			return d.toMenu(TonePrompt)
		}
		return d.entry(c, 20, d.submitNumber, nil)
	case StageConfirm:
		switch c {
		case '1':
			return d.apply()
		case '*':
			d.number = ""
			return d.ask(StageNumber, TonePrompt, SayEnterNumber)
		}
		return d.keep()
	}
	return d.keep()
}

func (d *Dialogue) toLodge(why string) Action {
	d.m.log.Info("remote activation call put through to the lodge", "caller", d.caller, "entry", d.call.Entry, "why", why)
	d.stage = StageLodge
	d.clearBuf()
	return Action{Lodge: true}
}

// entry collects keys until '#', a timeout, a complete entry (when
// complete says so) or more than max keys (then submitted as they are,
// which fails for extensions and PINs). '*' starts the entry again; '#'
// with nothing entered is ignored (the caller pressed it after an entry
// that was already complete).
func (d *Dialogue) entry(c rune, max int, submit func() Action, complete func(string) bool) Action {
	switch c {
	case '*':
		d.clearBuf()
		return d.reprompt(TonePrompt)
	case '#':
		if len(d.buf) == 0 {
			return d.keep()
		}
		return submit()
	}
	d.buf = append(d.buf, byte(c))
	if len(d.buf) > max || complete != nil && complete(string(d.buf)) {
		return submit()
	}
	return d.waitFor(d.m.cfg.DigitTimeout, ToneNone, nil)
}

// reprompt says the current stage's prompt again.
func (d *Dialogue) reprompt(t Tone) Action {
	switch d.stage {
	case StageExtension:
		return d.ask(d.stage, t, SayEnterExtension)
	case StagePIN:
		return d.ask(d.stage, t, SayEnterPIN)
	case StageMenu:
		return d.ask(d.stage, t, SayMenu)
	case StageNumber:
		return d.ask(d.stage, t, SayEnterNumber)
	case StageConfirm:
		return d.ask(d.stage, t, d.readBack()...)
	}
	return d.keep()
}

func (d *Dialogue) take() string {
	s := string(d.buf)
	d.clearBuf()
	return s
}

// afterWrong follows a wrong entry: wait, then ask again; or end the call
// when the caller is now locked out.
func (d *Dialogue) afterWrong(v verdict, next Stage, said Prompt) Action {
	if v.result == ResultLockedOut {
		return d.finish(ToneError, "caller locked out", said, SayLockedOut, SayGoodbye)
	}
	say := []Prompt{said}
	if v.wait >= 5*time.Second {
		say = append(say, SayPleaseWait)
	}
	return d.pause(next, v.wait, ToneError, say...)
}

func (d *Dialogue) submitExtension() Action {
	entered := d.take()
	id, ok := d.m.lookupEntry(entered)
	if !ok {
		return d.afterWrong(d.m.wrong(d.caller, d.call.Entry, 0, ResultUnknownExt, entered), StageExtension, SayUnknownExt)
	}
	d.port = id
	return d.toPIN()
}

func (d *Dialogue) submitPIN() Action {
	staff := d.call.Entry == EntryStaff || d.m.IsStaff(d.call.Caller)
	v := d.m.tryPIN(d.caller, d.call.Entry, staff, d.port, d.take())
	switch v.result {
	case ResultAccepted:
		return d.toMenu(ToneConfirm, d.current()...)
	case ResultWrongPIN:
		return d.afterWrong(v, StagePIN, SayWrongPIN)
	case ResultLockedOut:
		if v.fresh { // this wrong PIN locked the caller out
			return d.afterWrong(v, StagePIN, SayWrongPIN)
		}
		return d.refuse(v) // locked out meanwhile, e.g. by a parallel call
	case ResultWaiting:
		return d.pause(StagePIN, v.wait, ToneError, SayPleaseWait)
	}
	return d.refuse(v)
}

// current says what the port's forwarding is now.
func (d *Dialogue) current() []Prompt {
	st, _ := d.m.Get(d.port)
	if !st.Active() {
		return []Prompt{SayForwardingOff}
	}
	if st.Unconditional != "" {
		return append([]Prompt{SayAllTo}, SayNumber(st.Unconditional)...)
	}
	var say []Prompt
	if st.Busy != "" {
		say = append(append(say, SayBusyTo), SayNumber(st.Busy)...)
	}
	if st.NoAnswer != "" {
		say = append(append(say, SayNoAnswerTo), SayNumber(st.NoAnswer)...)
	}
	return say
}

func (d *Dialogue) toMenu(t Tone, first ...Prompt) Action {
	d.clearBuf()
	d.number = ""
	return d.ask(StageMenu, t, append(first, SayMenu)...)
}

func (d *Dialogue) menu(c rune) Action {
	switch c {
	case '1', '2', '3':
		d.kind = Kinds()[c-'1'] // Unconditional, Busy, NoAnswer
		return d.ask(StageNumber, TonePrompt, SayEnterNumber)
	case '0':
		// A change that cannot be saved is not made: the caller hears so.
		err := d.m.Clear(context.Background(), d.port, "", ViaRemote, d.caller)
		switch {
		case errors.Is(err, ErrNotSaved):
			return d.finish(ToneError, "cancel refused: not saved", SayNotSaved, SayGoodbye)
		case err != nil:
			return d.finish(ToneError, "cancel failed: "+err.Error(), SayTryLater, SayGoodbye)
		}
		return d.finish(ToneConfirm, "forwarding cancelled", SayForwardingOff, SayGoodbye)
	case '#':
		return d.finish(ToneConfirm, "caller finished", SayGoodbye)
	}
	return d.ask(StageMenu, ToneError, SayMenu)
}

func (d *Dialogue) submitNumber() Action {
	n, err := d.m.checkDest(d.take())
	if err != nil {
		d.m.log.Warn("remote activation: forward-to number refused", "caller", d.caller, "port", d.port, "err", err)
		return d.ask(StageNumber, ToneError, SayNumberRefused, SayEnterNumber)
	}
	d.number = n
	return d.ask(StageConfirm, TonePrompt, d.readBack()...)
}

// readBack reads the number back digit by digit and asks to confirm.
func (d *Dialogue) readBack() []Prompt {
	return slices.Concat([]Prompt{SayForwardingTo}, SayNumber(d.number), []Prompt{SayConfirm})
}

func (d *Dialogue) apply() Action {
	err := d.m.Set(context.Background(), d.port, d.kind, d.number, 0, ViaRemote, d.caller)
	done := slices.Concat([]Prompt{SayForwardingTo}, SayNumber(d.number), []Prompt{SayIsOn})
	switch {
	case errors.Is(err, ErrNotSaved):
		// A change that cannot be saved is not made: the caller hears so.
		return d.finish(ToneError, "forwarding refused: not saved", SayNotSaved, SayGoodbye)
	case err != nil:
		d.number = ""
		return d.ask(StageNumber, ToneError, SayNumberRefused, SayEnterNumber)
	}
	return d.finish(ToneConfirm, "forwarding set", append(done, SayGoodbye)...)
}

// Timeout tells the dialogue the Wait of its last Action has passed. A
// stale call (a digit came in meanwhile) is harmless: the dialogue checks
// the clock and answers with the time still to wait.
func (d *Dialogue) Timeout() Action {
	switch {
	case d.Done():
		return Action{Hangup: d.stage == StageDone}
	case !d.started:
		return d.Start()
	}
	now := d.now()
	if now >= d.end {
		return d.finish(ToneError, "call took too long", SayGoodbye)
	}
	if now < d.deadline {
		return Action{Wait: d.deadline - now}
	}
	if d.stage == StageWait {
		if d.afterWait == StagePIN {
			return d.toPIN()
		}
		return d.ask(d.afterWait, TonePrompt, SayEnterExtension)
	}
	if len(d.buf) > 0 {
		switch d.stage {
		case StageExtension:
			return d.submitExtension()
		case StagePIN:
			return d.submitPIN()
		case StageNumber:
			return d.submitNumber()
		}
	}
	if d.stage == StageExtension && d.call.Lodge && !d.keyed {
		return d.toLodge("no key pressed")
	}
	d.timeouts++
	if d.timeouts >= 2 {
		return d.finish(ToneError, "no digits", SayGoodbye)
	}
	return d.reprompt(TonePrompt)
}

// Session runs a Dialogue on an hal.Clock: it hands every Action to out,
// which returns how long its prompts take to play, and arms the digit
// timer for after them.
type Session struct {
	d      *Dialogue
	clock  hal.Clock
	out    func(Action) time.Duration
	mu     sync.Mutex
	closed atomic.Bool
	tmu    sync.Mutex
	timer  hal.Timer
}

// StartSession answers a remote-activation call and calls out with the
// first Action before returning. out is called with the session's lock
// held, one Action at a time, in order: it may call Close, but not Digit.
// It returns how long the Action's prompts (or tone) take to play.
func (m *Manager) StartSession(c Call, out func(Action) time.Duration) *Session {
	s := &Session{d: m.NewDialogue(c), clock: m.clock, out: out}
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
	s.tmu.Unlock()
	if a.Hangup || a.Lodge {
		s.closed.Store(true)
	}
	play := s.out(a)
	if a.Wait > 0 && !a.Hangup && !a.Lodge && !s.closed.Load() {
		s.d.Extend(play)
		s.tmu.Lock()
		s.timer = s.clock.AfterFunc(a.Wait+play, s.onTimer)
		s.tmu.Unlock()
	}
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
