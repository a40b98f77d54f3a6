package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/hal"
)

type callState int

const (
	callIdle     callState = iota
	callDialing            // ATD accepted, far end not ringing yet
	callAlerting           // far end ringing
	callRinging            // inbound call ringing here
	callActive             // connected
)

func (s callState) String() string {
	return [...]string{"idle", "dialing", "alerting", "ringing", "active"}[s]
}

// callInfo is the one call a trunk carries.
type callInfo struct {
	id        hal.TrunkCallID // what its events carry; 0 while idle
	state     callState
	incoming  bool
	number    string // dialled number, or the caller's from +CLCC
	announced bool   // TrunkIncoming sent
	started   time.Time
	lastRing  time.Time
	voiceOn   bool // the per-call PCM command was sent
	ending    bool // the call ended without a result; waiting for one
	answered  time.Time
	rxAtStart uint64 // voice frames received before the call connected
	voiceOK   bool   // audio from the module has been seen (or checked)
}

// ---- unsolicited reports ----

// onURC handles one unsolicited line; it runs on the engine's reader and
// never blocks.
func (t *Trunk) onURC(l string) {
	switch {
	case l == "RING" || strings.HasPrefix(l, "+CRING:"):
		t.ring("", nil)
	case strings.HasPrefix(l, "+CLIP:"):
		c, err := parseCLIP(l)
		if err != nil {
			t.log.Warn("modem: bad caller ID", "err", err)
			t.ring("", nil)
			return
		}
		t.ring("", &c)
	case strings.HasPrefix(l, "+CLCC:"), strings.HasPrefix(l, "^DSCI:"):
		parse := parseCLCC
		if l[0] == '^' {
			parse = parseDSCI
		}
		e, err := parse(l)
		if err != nil {
			t.log.Warn("modem: bad call report", "err", err)
			return
		}
		t.applyEntry(e)
	case l == "VOICE CALL: BEGIN":
		t.mu.Lock()
		if s := t.call.state; s == callDialing || s == callAlerting {
			t.setActiveLocked()
		}
		t.mu.Unlock()
	case strings.HasPrefix(l, "VOICE CALL: END"), strings.HasPrefix(l, "MISSED_CALL:"):
		t.mu.Lock()
		t.endByNetworkLocked("")
		t.mu.Unlock()
	case isCallFinal(l):
		t.mu.Lock()
		t.endByNetworkLocked(l)
		t.mu.Unlock()
	case strings.HasPrefix(l, "+CREG:"), strings.HasPrefix(l, "+CEREG:"), strings.HasPrefix(l, "+CGREG:"):
		t.regLine(l)
	case strings.HasPrefix(l, "+CSQ:"):
		if rssi, _, err := parseCSQ(l); err == nil {
			t.setSignal(rssi)
		}
	case strings.HasPrefix(l, "+QIND:"):
		if rssi, ok, err := parseQINDCSQ(l); err == nil && ok {
			t.setSignal(rssi)
		}
	case strings.HasPrefix(l, "+RXDTMF:"), strings.HasPrefix(l, "+DTMF:"), strings.HasPrefix(l, "+QTONEDET:"):
		d, err := parseDTMF(l)
		if err != nil {
			t.log.Warn("modem: bad DTMF report", "err", err)
			return
		}
		t.mu.Lock()
		if t.call.state == callActive {
			t.evq.push(hal.TrunkEvent{Kind: hal.TrunkDigit, Call: t.call.id, Digit: d, At: time.Now()})
		}
		t.mu.Unlock()
	default:
		t.log.Debug("modem: report ignored", "line", l)
	}
}

// ring handles RING, +CLIP and an incoming +CLCC entry (number).
func (t *Trunk) ring(number string, clip *CallerID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	switch t.call.state {
	case callIdle:
		t.gen++
		t.call = callInfo{id: t.newCallIDLocked(), state: callRinging, incoming: true, started: now, lastRing: now, number: number}
		t.kickPollLocked()
		if clip == nil {
			gen := t.gen
			time.AfterFunc(t.cfg.ClipWait, func() { t.clipTimeout(gen) })
		}
	case callRinging:
		t.call.lastRing = now
		if number != "" {
			t.call.number = number
		}
	default:
		return // a waiting call during a call: not supported, the network gives it busy
	}
	if clip != nil && !t.call.announced {
		t.call.announced = true
		t.evq.push(hal.TrunkEvent{Kind: hal.TrunkIncoming, Call: t.call.id, CallerID: clip.Number, CallerName: clip.Name, Presentation: clip.Presentation, At: now})
	}
}

// clipTimeout announces a ringing call whose caller ID never came.
func (t *Trunk) clipTimeout(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen || t.call.state != callRinging || t.call.announced {
		return
	}
	t.call.announced = true
	ev := hal.TrunkEvent{Kind: hal.TrunkIncoming, Call: t.call.id, Presentation: hal.PresentationUnavailable, At: time.Now()}
	if t.call.number != "" {
		ev.CallerID, ev.Presentation = t.call.number, hal.PresentationAllowed
	}
	t.evq.push(ev)
}

// applyEntry applies one call's state from +CLCC or ^DSCI.
func (t *Trunk) applyEntry(e CallEntry) {
	if e.Mode != 0 {
		return // data or fax
	}
	if e.Incoming && (e.Stat == clccIncoming || e.Stat == clccWaiting) {
		t.ring(e.Number, nil)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case e.Stat == clccDisconnect:
		t.endByNetworkLocked("")
	case e.Stat == clccAlerting && t.call.state == callDialing:
		t.call.state = callAlerting
		t.evq.push(hal.TrunkEvent{Kind: hal.TrunkAlerting, Call: t.call.id, At: time.Now()})
	case e.Stat == clccActive && (t.call.state == callDialing || t.call.state == callAlerting):
		t.setActiveLocked()
	}
}

// pollCall lists calls while one exists, so a lost report cannot leave a
// call hanging; it also ends an inbound call whose RINGs stopped.
func (t *Trunk) pollCall(eng *engine) {
	t.mu.Lock()
	st, since, lastRing := t.call.state, time.Since(t.call.started), t.call.lastRing
	t.mu.Unlock()
	if st == callIdle {
		return
	}
	if st == callActive {
		t.checkVoice(eng)
	}
	resp, err := eng.exec(t.ctx, &request{cmd: "AT+CLCC", prefixes: []string{"+CLCC:"}}, t.cfg.CommandTimeout)
	if err != nil {
		var ae *ATError
		if errors.As(err, &ae) && st == callRinging && time.Since(lastRing) > t.cfg.RingTimeout {
			t.mu.Lock()
			t.endByNetworkLocked("")
			t.mu.Unlock()
		}
		return
	}
	var found bool
	for _, l := range resp.Lines {
		e, err := parseCLCC(l)
		if err != nil || e.Mode != 0 {
			continue
		}
		found = true
		t.applyEntry(e)
		break
	}
	if found {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.call.state == st && (st != callDialing || since > 2*t.cfg.CallPoll+time.Second) {
		t.endByNetworkLocked("")
	}
}

// checkVoice catches one-way audio, the commonest complaint about modem
// trunks: a connected call whose module has sent no audio for VoiceStall
// gets its voice command sent again (once per call), and a warning.
func (t *Trunk) checkVoice(eng *engine) {
	if t.voice == nil {
		return
	}
	t.mu.Lock()
	c := t.call
	if c.state != callActive || c.voiceOK {
		t.mu.Unlock()
		return
	}
	if t.voice.received() > c.rxAtStart {
		t.call.voiceOK = true
		t.mu.Unlock()
		return
	}
	if time.Since(c.answered) < t.cfg.VoiceStall {
		t.mu.Unlock()
		return
	}
	t.call.voiceOK = true
	t.mu.Unlock()
	t.m.voiceStalls.Inc()
	t.log.Warn("modem: connected call but no audio from the module; re-enabling voice", "pcm", t.cfg.PCM, "attached", t.voice.attached())
	if !t.voice.attached() {
		t.attachVoice()
	}
	if cmd := t.prof.pcmCallOn; cmd != "" {
		t.voiceCmd(eng, cmd)
	} else if cmd := t.prof.pcmInit; cmd != "" {
		t.voiceCmd(eng, cmd)
	}
}

func (t *Trunk) setActiveLocked() {
	if t.call.state == callActive {
		return
	}
	t.call.state = callActive
	t.call.answered = time.Now()
	t.evq.push(hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: t.call.id, At: time.Now()})
	if t.voice != nil {
		t.voice.reset()
		t.call.rxAtStart = t.voice.received()
		if t.prof.pcmCallOn != "" && !t.call.voiceOn {
			t.call.voiceOn = true
			cmd := t.prof.pcmCallOn
			t.act(func(eng *engine) { t.voiceCmd(eng, cmd) })
		}
	}
}

func (t *Trunk) voiceCmd(eng *engine, cmd string) {
	if _, err := eng.exec(t.ctx, &request{cmd: cmd}, t.cfg.CommandTimeout); err != nil {
		t.log.Warn("modem: voice port command failed", "cmd", cmd, "err", err)
	}
}

// endByNetworkLocked ends the call because the network or the far end
// did; final is the call result seen ("" for a report without one).
func (t *Trunk) endByNetworkLocked(final string) {
	c := t.call
	var reason error
	result := "answered"
	switch {
	case c.state == callIdle:
		return
	case c.state == callActive:
		// a normal clear
	case c.state == callRinging:
		result = "missed"
	default: // dialing or alerting
		reason = callFinalErr(final)
		if reason == nil {
			// A report without a result ("+CLCC: ...,6", "VOICE CALL:
			// END"): the module may still send BUSY or NO ANSWER, which
			// says more. Wait a moment for it.
			if !c.ending {
				t.call.ending = true
				gen := t.gen
				time.AfterFunc(t.cfg.ClipWait, func() {
					t.mu.Lock()
					defer t.mu.Unlock()
					if t.gen == gen {
						t.endCallLocked(fmt.Errorf("trunk %q: call to %s: %w", t.cfg.Name, c.number, hal.ErrNoCarrier), "failed")
					}
				})
			}
			return
		}
		result = map[error]string{hal.ErrBusy: "busy", hal.ErrNoAnswer: "no-answer"}[reason]
		if result == "" {
			result = "failed"
		}
		reason = fmt.Errorf("trunk %q: call to %s: %w", t.cfg.Name, c.number, reason)
	}
	t.endCallLocked(reason, result)
}

// endCallLocked ends the call, if any, with TrunkEnded.
func (t *Trunk) endCallLocked(reason error, result string) {
	c := t.call
	if c.state == callIdle {
		return
	}
	t.gen++
	t.call = callInfo{}
	dir := "out"
	if c.incoming {
		dir = "in"
	}
	t.m.calls.WithLabelValues(dir, result).Inc()
	t.evq.push(hal.TrunkEvent{Kind: hal.TrunkEnded, Call: c.id, Reason: reason, At: time.Now()})
	if t.voice != nil {
		t.voice.reset()
		if c.voiceOn && t.prof.pcmCallOff != "" && t.eng != nil {
			cmd := t.prof.pcmCallOff
			t.act(func(eng *engine) { t.voiceCmd(eng, cmd) })
		}
	}
}

// ---- calls ----

// Dial starts an outbound call and returns its identity. It returns once
// the module has accepted the attempt (ATD...; answered OK); progress
// follows as TrunkAlerting, TrunkAnswered and TrunkEnded events carrying
// that identity. A refused attempt returns an error wrapping hal.ErrBusy,
// ErrNoAnswer, ErrNoCarrier or ErrNoDialtone (the module's result),
// hal.ErrRejected (ERROR or +CME ERROR) or hal.ErrTrunkDown (no answer,
// device gone), and no event follows it. The trunk never refuses a call for
// want of registration itself: an emergency number goes through in limited
// service, and the network answers for everything else.
func (t *Trunk) Dial(ctx context.Context, number string) (hal.TrunkCallID, error) {
	if !validNumber(number, false) {
		return 0, fmt.Errorf("trunk %q: dial %q: not a phone number: use digits, +, * and # only (at most 40)", t.cfg.Name, number)
	}
	eng, err := t.engine()
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	if t.call.state != callIdle {
		st := t.call.state
		t.mu.Unlock()
		return 0, fmt.Errorf("trunk %q: dial %s: %w (%s)", t.cfg.Name, number, hal.ErrTrunkBusy, st)
	}
	t.gen++
	gen := t.gen
	id := t.newCallIDLocked()
	t.call = callInfo{id: id, state: callDialing, number: number, started: time.Now()}
	t.kickPollLocked()
	t.mu.Unlock()

	_, err = eng.exec(ctx, &request{cmd: "ATD" + number + ";", call: true}, t.cfg.DialTimeout)
	if err == nil {
		return id, nil
	}
	var ae *ATError
	cleared := true
	if !errors.As(err, &ae) {
		// The caller gave up, or the module did not answer: the module may
		// have the call all the same. Clear it on the module before the
		// trunk counts as free, so neither this AT+CHUP nor a late report
		// of this call can land on the next call. When the module does not
		// confirm either, the call stays until a poll finds the module has
		// no call (pollCall), and the trunk reports busy meanwhile.
		cctx, cancel := context.WithTimeout(t.ctx, t.cfg.CommandTimeout)
		_, herr := eng.exec(cctx, &request{cmd: "AT+CHUP"}, t.cfg.CommandTimeout)
		cancel()
		cleared = herr == nil
	}
	t.mu.Lock()
	if t.gen == gen {
		if cleared {
			t.gen++
			t.call = callInfo{}
		} else {
			t.call.ending = true
		}
	}
	t.mu.Unlock()
	switch {
	case errors.As(err, &ae) && ae.Unwrap() != nil:
		result := map[error]string{hal.ErrBusy: "busy", hal.ErrNoAnswer: "no-answer"}[ae.Unwrap()]
		if result == "" {
			result = "failed"
		}
		t.m.calls.WithLabelValues("out", result).Inc()
		return id, fmt.Errorf("trunk %q: dial %s: %w", t.cfg.Name, number, err)
	case errors.As(err, &ae):
		t.m.calls.WithLabelValues("out", "failed").Inc()
		return id, fmt.Errorf("trunk %q: dial %s: %w: %w", t.cfg.Name, number, hal.ErrRejected, err)
	case ctx.Err() != nil:
		return id, fmt.Errorf("trunk %q: dial %s: %w", t.cfg.Name, number, err)
	default:
		t.m.calls.WithLabelValues("out", "failed").Inc()
		return id, fmt.Errorf("trunk %q: dial %s: %w: %w", t.cfg.Name, number, hal.ErrTrunkDown, err)
	}
}

// newCallIDLocked gives the next call its identity.
func (t *Trunk) newCallIDLocked() hal.TrunkCallID {
	t.lastID++
	return t.lastID
}

// Answer picks up the ringing inbound call id; TrunkAnswered follows.
func (t *Trunk) Answer(ctx context.Context, id hal.TrunkCallID) error {
	eng, err := t.engine()
	if err != nil {
		return err
	}
	t.mu.Lock()
	st, gen, cur := t.call.state, t.gen, t.call.id
	t.mu.Unlock()
	if cur != id || st != callRinging {
		return fmt.Errorf("trunk %q: answer: call %d is not ringing (the trunk's call is %d, %s)", t.cfg.Name, id, cur, st)
	}
	_, err = eng.exec(ctx, &request{cmd: "ATA", call: true}, t.cfg.DialTimeout)
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		if err == nil {
			err = errors.New("the call ended while being answered")
		}
		return fmt.Errorf("trunk %q: answer: %w", t.cfg.Name, err)
	}
	if err != nil {
		var ae *ATError
		if errors.As(err, &ae) && ae.Unwrap() != nil {
			t.endCallLocked(nil, "missed") // the caller hung up
		}
		return fmt.Errorf("trunk %q: answer: %w", t.cfg.Name, err)
	}
	t.setActiveLocked()
	return nil
}

// Hangup clears call id or rejects it while it rings; TrunkEnded (Reason
// nil) follows. A call that is already over is left alone: whatever the
// trunk carries now is another call. The call is over for the trunk even
// when the module does not confirm (the error says so).
func (t *Trunk) Hangup(ctx context.Context, id hal.TrunkCallID) error {
	t.mu.Lock()
	st, c := t.call.state, t.call
	t.mu.Unlock()
	if st == callIdle || c.id != id {
		return nil
	}
	var err error
	if eng, e := t.engine(); e != nil {
		err = e
	} else if _, err = eng.exec(ctx, &request{cmd: "AT+CHUP"}, t.cfg.CommandTimeout); err != nil {
		var ae *ATError
		if errors.As(err, &ae) {
			_, err = eng.exec(ctx, &request{cmd: "ATH"}, t.cfg.CommandTimeout)
		}
	}
	result := "answered"
	switch {
	case c.incoming && st == callRinging:
		result = "rejected"
	case st != callActive:
		result = "abandoned"
	}
	t.mu.Lock()
	if t.call.id == id {
		t.endCallLocked(nil, result)
	}
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("trunk %q: hangup: %w", t.cfg.Name, err)
	}
	return nil
}

// SendDTMF sends digits (0-9 * # A-D) in the connected call with AT+VTS.
func (t *Trunk) SendDTMF(ctx context.Context, digits string) error {
	for _, d := range digits {
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			return fmt.Errorf("trunk %q: DTMF %q: %q is not a DTMF digit (0-9 * # A-D)", t.cfg.Name, digits, d)
		}
	}
	eng, err := t.engine()
	if err != nil {
		return err
	}
	t.mu.Lock()
	st := t.call.state
	t.mu.Unlock()
	if st != callActive {
		return fmt.Errorf("trunk %q: DTMF: no call is connected (%s)", t.cfg.Name, st)
	}
	for _, d := range digits {
		if _, err := eng.exec(ctx, &request{cmd: "AT+VTS=" + string(d)}, t.cfg.CommandTimeout); err != nil {
			return fmt.Errorf("trunk %q: DTMF %q: %w", t.cfg.Name, digits, err)
		}
	}
	return nil
}

// ---- network services ----

func numberType(n string) int {
	if strings.HasPrefix(n, "+") {
		return 145
	}
	return 129
}

// SetForwarding registers and activates a network call forward (AT+CCFC
// mode 3) for voice calls to number. noReply is the ring time before a
// ForwardNoReply forward (5..30 s; 0 leaves the network's default).
func (t *Trunk) SetForwarding(ctx context.Context, reason ForwardReason, number string, noReply time.Duration) error {
	if reason < ForwardUnconditional || reason > ForwardAllConditional {
		return fmt.Errorf("trunk %q: forwarding: reason %d is not valid: use 0..5", t.cfg.Name, int(reason))
	}
	if !validNumber(number, false) || strings.ContainsAny(number, "*#") {
		return fmt.Errorf("trunk %q: forwarding to %q: not a phone number: use digits and a leading + only", t.cfg.Name, number)
	}
	cmd := fmt.Sprintf(`AT+CCFC=%d,3,"%s",%d,1`, reason, number, numberType(number))
	if noReply > 0 {
		s := int(noReply / time.Second)
		if s < 5 || s > 30 {
			return fmt.Errorf("trunk %q: forwarding: no-reply time %v out of range: use 5s..30s", t.cfg.Name, noReply)
		}
		cmd += fmt.Sprintf(",,,%d", s)
	}
	return t.network(ctx, cmd, nil)
}

// ClearForwarding erases the network call forward for reason (AT+CCFC mode 4).
func (t *Trunk) ClearForwarding(ctx context.Context, reason ForwardReason) error {
	if reason < ForwardUnconditional || reason > ForwardAllConditional {
		return fmt.Errorf("trunk %q: forwarding: reason %d is not valid: use 0..5", t.cfg.Name, int(reason))
	}
	return t.network(ctx, fmt.Sprintf("AT+CCFC=%d,4", reason), nil)
}

// QueryForwarding asks the network for the forwards set for reason (0..3).
func (t *Trunk) QueryForwarding(ctx context.Context, reason ForwardReason) ([]Forwarding, error) {
	if reason < ForwardUnconditional || reason > ForwardNotReachable {
		return nil, fmt.Errorf("trunk %q: forwarding query: reason %d is not valid: use 0..3", t.cfg.Name, int(reason))
	}
	var out []Forwarding
	err := t.network(ctx, fmt.Sprintf("AT+CCFC=%d,2", reason), func(r Response) error {
		for _, l := range r.Lines {
			if !strings.HasPrefix(l, "+CCFC:") {
				continue
			}
			f, err := parseCCFC(l)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

func (t *Trunk) network(ctx context.Context, cmd string, answer func(Response) error) error {
	eng, err := t.engine()
	if err != nil {
		return err
	}
	resp, err := eng.exec(ctx, &request{cmd: cmd, prefixes: []string{"+CCFC:"}}, t.cfg.NetworkTimeout)
	if err == nil && answer != nil {
		err = answer(resp)
	}
	if err != nil {
		return fmt.Errorf("trunk %q: %w", t.cfg.Name, err)
	}
	return nil
}

// SendSMS sends a text message (for alarms) in text mode. Text is 1..160
// characters of printable ASCII; anything else is refused.
func (t *Trunk) SendSMS(ctx context.Context, number, text string) error {
	if !validNumber(number, false) || strings.ContainsAny(number, "*#") {
		return fmt.Errorf("trunk %q: SMS to %q: not a phone number: use digits and a leading + only", t.cfg.Name, number)
	}
	if text == "" || len(text) > 160 {
		return fmt.Errorf("trunk %q: SMS: text is %d characters: give 1..160", t.cfg.Name, len(text))
	}
	for _, c := range []byte(text) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("trunk %q: SMS: byte 0x%02x is not printable ASCII: send plain text", t.cfg.Name, c)
		}
	}
	eng, err := t.engine()
	if err != nil {
		return err
	}
	if _, err := eng.exec(ctx, &request{cmd: "AT+CMGF=1"}, t.cfg.CommandTimeout); err != nil {
		return fmt.Errorf("trunk %q: SMS: %w", t.cfg.Name, err)
	}
	_, err = eng.exec(ctx, &request{cmd: fmt.Sprintf(`AT+CMGS="%s"`, number), data: text, prefixes: []string{"+CMGS:"}}, t.cfg.SMSTimeout)
	if err != nil {
		// Leave no half-typed message behind.
		select {
		case eng.wq <- []byte("\x1b"):
		default:
		}
		return fmt.Errorf("trunk %q: SMS to %s: %w", t.cfg.Name, number, err)
	}
	return nil
}
