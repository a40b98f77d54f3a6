package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/hal"
)

// The calls on a trunk. A module has one voice channel but the network
// lets the subscriber keep two calls: while one is connected a second may
// wait (call waiting), and one may be held while the other is connected
// (call hold). The driver keeps two slots; the voice port always carries
// the connected one. A third call is left to the network (it waits until
// the caller gives up or the network forwards it).

type callState int

const (
	callIdle     callState = iota
	callDialing            // ATD accepted, far end not ringing yet
	callAlerting           // far end ringing
	callRinging            // inbound call ringing here
	callActive             // connected
	callWaiting            // a second inbound call waiting during a call
	callHeld               // on hold
)

func (s callState) String() string {
	return [...]string{"idle", "dialing", "alerting", "ringing", "active", "waiting", "held"}[s]
}

// callInfo is one call slot.
type callInfo struct {
	id        hal.TrunkCallID // what its events carry; 0 = the slot is free
	cid       int             // the network's call id (+CLCC <id1>), 0 until seen
	state     callState
	incoming  bool
	internal  bool   // the second leg of a transfer: it makes no events
	number    string // dialled number, or the caller's
	name      string
	pres      hal.Presentation
	announced bool // TrunkIncoming or TrunkWaiting sent
	started   time.Time
	lastRing  time.Time
	ending    bool      // the call ended without a result; waiting for one
	active    time.Time // when the call was last connected
	rxAtStart uint64    // voice frames received before it was connected
	voiceOK   bool      // audio from the module has been seen (or checked)
}

// ---- slots ----

// slotLocked returns the call with that id, nil when there is none.
func (t *Trunk) slotLocked(id hal.TrunkCallID) *callInfo {
	if id == 0 {
		return nil
	}
	for i := range t.calls {
		if t.calls[i].id == id {
			return &t.calls[i]
		}
	}
	return nil
}

// findLocked returns the first call in one of the states, nil when none.
func (t *Trunk) findLocked(states ...callState) *callInfo {
	for i := range t.calls {
		c := &t.calls[i]
		if c.id == 0 {
			continue
		}
		for _, s := range states {
			if c.state == s {
				return c
			}
		}
	}
	return nil
}

// callsLocked counts the calls.
func (t *Trunk) callsLocked() int {
	n := 0
	for i := range t.calls {
		if t.calls[i].id != 0 {
			n++
		}
	}
	return n
}

// foregroundLocked is the call the hal.Trunk methods act on: ringing,
// dialling or connected; failing that the held one.
func (t *Trunk) foregroundLocked() *callInfo {
	if c := t.findLocked(callActive, callDialing, callAlerting, callRinging); c != nil {
		return c
	}
	return t.findLocked(callHeld)
}

// newCallLocked takes a free slot for a new call; nil when both are used.
func (t *Trunk) newCallLocked(st callState, incoming bool, number string) *callInfo {
	for i := range t.calls {
		c := &t.calls[i]
		if c.id != 0 {
			continue
		}
		now := time.Now()
		*c = callInfo{id: t.newCallIDLocked(), state: st, incoming: incoming, number: number, started: now, lastRing: now}
		t.changedLocked()
		t.kickPollLocked() // the +CLCC poll runs while a call exists
		return c
	}
	return nil
}

// changedLocked wakes whoever waits for a call to change (Transfer).
func (t *Trunk) changedLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// emitLocked reports an event about call c. A digit the far end keyed
// changes nothing about the calls (and must not make pollCall take its
// listing again).
func (t *Trunk) emitLocked(c *callInfo, ev hal.TrunkEvent) {
	if ev.Kind != hal.TrunkDigit {
		t.changedLocked()
	}
	if c.internal {
		return
	}
	ev.Call, ev.At = c.id, time.Now()
	t.evq.push(ev)
}

// inCallLocked reports any call on the trunk.
func (t *Trunk) inCallLocked() bool { return t.callsLocked() > 0 }

// ---- unsolicited reports ----

// onURC handles one unsolicited line; it runs on the engine's reader and
// never blocks.
func (t *Trunk) onURC(l string) {
	switch {
	case l == "RING" || strings.HasPrefix(l, "+CRING:"):
		t.mu.Lock()
		t.ringLocked("", nil)
		t.mu.Unlock()
	case strings.HasPrefix(l, "+CLIP:"):
		c, err := parseCLIP(l)
		t.mu.Lock()
		if err != nil {
			t.log.Warn("modem: bad caller ID", "err", err)
			t.ringLocked("", nil)
		} else {
			t.ringLocked("", &c)
		}
		t.mu.Unlock()
	case strings.HasPrefix(l, "+CCWA:"):
		w, err := parseCCWA(l)
		if err != nil {
			t.log.Warn("modem: bad call-waiting report", "err", err)
			return
		}
		if w.Class&1 == 0 {
			return // data or fax
		}
		t.mu.Lock()
		t.waitingLocked(w.Number, &w)
		t.mu.Unlock()
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
		t.mu.Lock()
		t.clccSeen = true
		t.applyEntryLocked(e)
		t.mu.Unlock()
	case l == "VOICE CALL: BEGIN":
		t.mu.Lock()
		if c := t.findLocked(callDialing, callAlerting); c != nil {
			t.setActiveLocked(c)
		}
		t.mu.Unlock()
	case strings.HasPrefix(l, "VOICE CALL: END"), strings.HasPrefix(l, "MISSED_CALL:"):
		// Which call ended: a module that reports calls (+CLCC, ^DSCI) has
		// said so already; with one call it is that one; with two the
		// listing says.
		t.mu.Lock()
		if t.callsLocked() == 1 && !t.clccSeen {
			t.endByNetworkLocked(t.foregroundLocked(), "")
		} else {
			t.pollSoonLocked()
		}
		t.mu.Unlock()
	case isCallFinal(l):
		t.mu.Lock()
		switch c := t.findLocked(callDialing, callAlerting); {
		case c != nil:
			t.endByNetworkLocked(c, l)
		case t.callsLocked() == 1 && !t.clccSeen:
			t.endByNetworkLocked(t.foregroundLocked(), l)
		default:
			t.pollSoonLocked()
		}
		t.mu.Unlock()
	case strings.HasPrefix(l, "+CREG:"), strings.HasPrefix(l, "+CEREG:"), strings.HasPrefix(l, "+CGREG:"):
		t.regLine(l, nil)
	case strings.HasPrefix(l, "+QNETDEVSTATUS:"):
		if _, err := parseQNETDEVSTATUS(l); err != nil {
			t.log.Warn("modem: bad data connection report", "err", err)
		}
		t.kickData() // AT+QNETDEVCTL? says what it is now
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
		if c := t.findLocked(callActive); c != nil {
			t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkDigit, Digit: d})
		}
		t.mu.Unlock()
	default:
		t.log.Debug("modem: report ignored", "line", l)
	}
}

// pollSoonLocked lists the calls at once instead of at the next poll.
func (t *Trunk) pollSoonLocked() {
	if t.eng != nil {
		t.act(t.pollCall)
	}
}

// ringLocked handles RING, +CLIP and an incoming +CLCC entry (number).
func (t *Trunk) ringLocked(number string, clip *CallerID) {
	now := time.Now()
	c := t.findLocked(callRinging)
	if c == nil {
		if t.callsLocked() > 0 {
			return // a second call during a call is reported by +CCWA
		}
		c = t.newCallLocked(callRinging, true, number)
		if clip == nil {
			id := c.id
			time.AfterFunc(t.cfg.ClipWait, func() { t.clipTimeout(id) })
		}
	} else {
		c.lastRing = now
		if number != "" {
			c.number = number
		}
	}
	if clip != nil && !c.announced {
		c.announced = true
		c.number, c.name, c.pres = clip.Number, clip.Name, clip.Presentation
		t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkIncoming, CallerID: clip.Number, CallerName: clip.Name, Presentation: clip.Presentation})
	}
}

// waitingLocked handles a second call waiting: +CCWA (w), or a +CLCC
// entry in state 5 (w nil).
func (t *Trunk) waitingLocked(number string, w *Waiting) {
	c := t.findLocked(callWaiting)
	if c == nil {
		if t.callsLocked() == 0 {
			// Nothing to wait behind: it is an ordinary incoming call.
			var clip *CallerID
			if w != nil {
				clip = &CallerID{Number: w.Number, Type: w.Type, Name: w.Name, Presentation: w.Presentation}
			}
			t.ringLocked(number, clip)
			return
		}
		if c = t.newCallLocked(callWaiting, true, number); c == nil {
			t.log.Info("modem: a third call is waiting; the network keeps it until the caller gives up", "number", number)
			return
		}
		t.log.Info("modem: a call is waiting", "number", number)
		t.pollSoonLocked() // learn its call id
		if w == nil {
			id := c.id
			time.AfterFunc(t.cfg.ClipWait, func() { t.clipTimeout(id) })
		}
	} else if number != "" && c.number == "" && c.pres == hal.PresentationAllowed {
		c.number = number
	}
	if w != nil && !c.announced {
		c.announced = true
		c.number, c.name, c.pres = w.Number, w.Name, w.Presentation
		t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkWaiting, CallerID: w.Number, CallerName: w.Name, Presentation: w.Presentation})
	}
}

// clipTimeout announces a ringing or waiting call whose caller ID never
// came.
func (t *Trunk) clipTimeout(id hal.TrunkCallID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.slotLocked(id)
	if c == nil || c.announced || (c.state != callRinging && c.state != callWaiting) {
		return
	}
	t.announceLocked(c)
}

// announceLocked reports a ringing or waiting call with what is known of
// its caller.
func (t *Trunk) announceLocked(c *callInfo) {
	c.announced = true
	kind := hal.TrunkIncoming
	if c.state == callWaiting {
		kind = hal.TrunkWaiting
	}
	ev := hal.TrunkEvent{Kind: kind, Presentation: hal.PresentationUnavailable}
	if c.number != "" {
		ev.CallerID, ev.Presentation = c.number, hal.PresentationAllowed
	}
	if c.pres != hal.PresentationAllowed {
		ev.CallerID, ev.Presentation = "", c.pres
	}
	ev.CallerName = c.name
	t.emitLocked(c, ev)
}

// matchLocked finds the call a +CLCC/^DSCI entry is about: by the
// network's call id, or, the first time a call is listed, by a state the
// entry can follow from. It learns the call id.
func (t *Trunk) matchLocked(e CallEntry) *callInfo {
	for i := range t.calls {
		if c := &t.calls[i]; c.id != 0 && c.cid != 0 && c.cid == e.ID {
			return c
		}
	}
	for _, exact := range []bool{true, false} {
		for i := range t.calls {
			c := &t.calls[i]
			if c.id == 0 || c.cid != 0 || c.incoming != e.Incoming {
				continue
			}
			if entryFits(c.state, e.Stat, exact) {
				c.cid = e.ID
				return c
			}
		}
	}
	if e.Stat == clccDisconnect && t.callsLocked() == 1 {
		return t.foregroundLocked()
	}
	return nil
}

// entryFits says whether a call in state s may be listed with stat: the
// same state (exact), or one it can have moved to.
func entryFits(s callState, stat int, exact bool) bool {
	same := map[int]callState{clccActive: callActive, clccHeld: callHeld, clccDialing: callDialing,
		clccAlerting: callAlerting, clccIncoming: callRinging, clccWaiting: callWaiting}
	if exact {
		return same[stat] == s && stat != clccDisconnect
	}
	switch stat {
	case clccDialing, clccAlerting:
		return s == callDialing || s == callAlerting
	case clccIncoming:
		return s == callWaiting
	case clccActive:
		return s != callIdle
	case clccHeld:
		return s == callActive
	}
	return false
}

// applyEntryLocked applies one call's state from +CLCC or ^DSCI.
func (t *Trunk) applyEntryLocked(e CallEntry) *callInfo {
	if e.Mode != 0 {
		return nil // data or fax
	}
	c := t.matchLocked(e)
	if c == nil {
		switch {
		case e.Incoming && e.Stat == clccIncoming:
			t.ringLocked(e.Number, nil)
			c = t.findLocked(callRinging)
		case e.Incoming && e.Stat == clccWaiting:
			t.waitingLocked(e.Number, nil)
			c = t.findLocked(callWaiting)
		}
		if c != nil && c.cid == 0 {
			c.cid = e.ID
		}
		return c
	}
	switch e.Stat {
	case clccDisconnect:
		t.endByNetworkLocked(c, "")
	case clccIncoming:
		if c.state == callWaiting {
			t.waitingToRingingLocked(c)
		}
		if c.state == callRinging {
			c.lastRing = time.Now()
			if e.Number != "" && c.pres == hal.PresentationAllowed {
				c.number = e.Number
			}
		}
	case clccWaiting:
		if e.Number != "" && c.number == "" && c.pres == hal.PresentationAllowed {
			c.number = e.Number
		}
	case clccAlerting:
		if c.state == callDialing {
			c.state = callAlerting
			t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkAlerting})
		}
	case clccActive:
		if c.state != callActive {
			t.setActiveLocked(c)
		}
	case clccHeld:
		if c.state == callActive {
			t.setHeldLocked(c)
		}
	}
	return c
}

// waitingToRingingLocked: the call this one waited behind has ended, so
// the network offers it as an ordinary incoming call.
func (t *Trunk) waitingToRingingLocked(c *callInfo) {
	c.state, c.lastRing = callRinging, time.Now()
	t.log.Info("modem: the waiting call now rings as an ordinary call", "number", c.number)
	if c.announced {
		t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkIncoming, CallerID: c.number, CallerName: c.name, Presentation: c.pres})
	}
}

// pollCall lists calls while one exists, so a lost report cannot leave a
// call hanging; it also ends an inbound call whose RINGs stopped.
func (t *Trunk) pollCall(eng *engine) {
	type snap struct {
		id    hal.TrunkCallID
		state callState
		since time.Duration
	}
	t.mu.Lock()
	var before []snap
	var ringing *callInfo
	for i := range t.calls {
		if c := &t.calls[i]; c.id != 0 {
			before = append(before, snap{c.id, c.state, time.Since(c.started)})
			if c.state == callRinging {
				ringing = c
			}
		}
	}
	ringID, lastRing := hal.TrunkCallID(0), time.Time{}
	if ringing != nil {
		ringID, lastRing = ringing.id, ringing.lastRing
	}
	active := t.findLocked(callActive) != nil
	changed := t.changed
	t.mu.Unlock()
	if len(before) == 0 {
		return
	}
	if active {
		t.checkVoice(eng)
	}
	resp, err := eng.exec(t.ctx, &request{cmd: "AT+CLCC", prefixes: []string{"+CLCC:"}}, t.cfg.CommandTimeout)
	if err == nil && t.cfg.answered != nil {
		t.cfg.answered("AT+CLCC", resp.Lines)
	}
	if err != nil {
		var ae *ATError
		if errors.As(err, &ae) && ringID != 0 && time.Since(lastRing) > t.cfg.RingTimeout {
			t.mu.Lock()
			t.endByNetworkLocked(t.slotLocked(ringID), "")
			t.mu.Unlock()
		}
		return
	}
	var entries []CallEntry
	for _, l := range resp.Lines {
		e, err := parseCLCC(l)
		if err != nil || e.Mode != 0 {
			continue
		}
		entries = append(entries, e)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed != changed {
		// A report or a command's result changed the calls while the
		// listing was on its way, so it may tell what was true before: a
		// call held that AT+CHLD=1 has just connected again, a caller who
		// has just hung up still ringing. Applied, it would take the calls
		// back to that state. List them again instead.
		t.pollSoonLocked()
		return
	}
	// Calls no longer listed end first, so a call waiting behind one of
	// them is offered as an ordinary call after that one's end.
	listed := map[hal.TrunkCallID]bool{}
	for _, e := range entries {
		if e.Mode == 0 {
			if c := t.matchLocked(e); c != nil {
				listed[c.id] = true
			}
		}
	}
	for _, b := range before {
		c := t.slotLocked(b.id)
		if c == nil || listed[c.id] || c.state != b.state {
			continue
		}
		if b.state != callDialing || b.since > 2*t.cfg.CallPoll+time.Second {
			t.endByNetworkLocked(c, "")
		}
	}
	for _, e := range entries {
		t.applyEntryLocked(e)
	}
}

// checkVoice catches one-way audio, the commonest complaint about modem
// trunks: a connected call whose module has sent no audio for VoiceStall
// gets its voice command sent again (once per connection), and a warning.
func (t *Trunk) checkVoice(eng *engine) {
	if t.voice == nil {
		return
	}
	t.mu.Lock()
	c := t.findLocked(callActive)
	if c == nil || c.voiceOK {
		t.mu.Unlock()
		return
	}
	if t.voice.received() > c.rxAtStart {
		c.voiceOK = true
		t.mu.Unlock()
		return
	}
	if time.Since(c.active) < t.cfg.VoiceStall {
		t.mu.Unlock()
		return
	}
	c.voiceOK = true
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

// setActiveLocked marks c connected (answered, or back from hold).
func (t *Trunk) setActiveLocked(c *callInfo) {
	if c.state == callActive {
		return
	}
	c.state = callActive
	c.active = time.Now()
	c.voiceOK = false
	t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkAnswered})
	if t.voice != nil {
		t.voice.reset()
		c.rxAtStart = t.voice.received()
		if t.prof.pcmCallOn != "" && !t.pcmOn {
			t.pcmOn = true
			cmd := t.prof.pcmCallOn
			t.act(func(eng *engine) { t.voiceCmd(eng, cmd) })
		}
	}
}

// setHeldLocked marks c held: the voice port no longer carries it.
func (t *Trunk) setHeldLocked(c *callInfo) {
	if c.state == callHeld {
		return
	}
	c.state = callHeld
	t.emitLocked(c, hal.TrunkEvent{Kind: hal.TrunkHeld})
	if t.voice != nil {
		t.voice.reset()
	}
}

func (t *Trunk) voiceCmd(eng *engine, cmd string) {
	if _, err := eng.exec(t.ctx, &request{cmd: cmd}, t.cfg.CommandTimeout); err != nil {
		t.log.Warn("modem: voice port command failed", "cmd", cmd, "err", err)
	}
}

// endByNetworkLocked ends call c because the network or the far end did;
// final is the call result seen ("" for a report without one).
func (t *Trunk) endByNetworkLocked(c *callInfo, final string) {
	if c == nil || c.id == 0 {
		return
	}
	var reason error
	result := "answered"
	switch c.state {
	case callActive, callHeld:
		// a normal clear
	case callRinging, callWaiting:
		result = "missed"
	default: // dialing or alerting
		reason = callFinalErr(final)
		if reason == nil {
			// A report without a result ("+CLCC: ...,6", "VOICE CALL:
			// END"): the module may still send BUSY or NO ANSWER, which
			// says more. Wait a moment for it.
			if !c.ending {
				c.ending = true
				id, number := c.id, c.number
				time.AfterFunc(t.cfg.ClipWait, func() {
					t.mu.Lock()
					defer t.mu.Unlock()
					if c := t.slotLocked(id); c != nil {
						t.endCallLocked(c, fmt.Errorf("trunk %q: call to %s: %w", t.cfg.Name, number, hal.ErrNoCarrier), "failed")
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
	t.endCallLocked(c, reason, result)
}

// endCallLocked ends call c, if any, with TrunkEnded.
func (t *Trunk) endCallLocked(c *callInfo, reason error, result string) {
	if c == nil || c.id == 0 {
		return
	}
	old := *c
	*c = callInfo{}
	dir := "out"
	if old.incoming {
		dir = "in"
	}
	t.m.calls.WithLabelValues(dir, result).Inc()
	t.emitLocked(&old, hal.TrunkEvent{Kind: hal.TrunkEnded, Reason: reason})
	t.afterEndLocked()
}

// afterEndLocked settles the calls left after one ended: a waiting call
// now rings as an ordinary call; with no call left the voice port is
// switched off.
func (t *Trunk) afterEndLocked() {
	switch t.callsLocked() {
	case 0:
		if t.voice != nil {
			t.voice.reset()
			if t.pcmOn && t.prof.pcmCallOff != "" && t.eng != nil {
				cmd := t.prof.pcmCallOff
				t.act(func(eng *engine) { t.voiceCmd(eng, cmd) })
			}
		}
		t.pcmOn = false
	case 1:
		// Not while a hold operation is under way: it decides what becomes
		// of the waiting call (AT+CHLD=1 connects it).
		if c := t.findLocked(callWaiting); c != nil && t.holding == 0 {
			t.waitingToRingingLocked(c)
		}
	}
}

// endAllLocked ends every call (the trunk went down).
func (t *Trunk) endAllLocked(reason error, result string) {
	for i := range t.calls {
		if t.calls[i].id != 0 {
			t.endCallLocked(&t.calls[i], reason, result)
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
	return t.dial(ctx, number, false)
}

// newCallIDLocked gives the next call its identity.
func (t *Trunk) newCallIDLocked() hal.TrunkCallID {
	t.lastID++
	return t.lastID
}

// dial places a call; internal marks the second leg of a transfer. A held
// call may stay while it dials.
func (t *Trunk) dial(ctx context.Context, number string, internal bool) (hal.TrunkCallID, error) {
	if !validNumber(number, false) {
		return 0, fmt.Errorf("trunk %q: dial %q: not a phone number: use digits, +, * and # only (at most 40)", t.cfg.Name, number)
	}
	eng, err := t.engine()
	if err != nil {
		return 0, err
	}
	t.mu.Lock()
	if c := t.findLocked(callDialing, callAlerting, callRinging, callActive, callWaiting); c != nil {
		st := c.state
		t.mu.Unlock()
		return 0, fmt.Errorf("trunk %q: dial %s: %w (%s)", t.cfg.Name, number, hal.ErrTrunkBusy, st)
	}
	c := t.newCallLocked(callDialing, false, number)
	if c == nil {
		t.mu.Unlock()
		return 0, fmt.Errorf("trunk %q: dial %s: %w (two calls)", t.cfg.Name, number, hal.ErrTrunkBusy)
	}
	c.internal = internal
	id := c.id
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
		// trunk counts as free, so neither this clearing nor a late report
		// of this call can land on the next call. When the module does not
		// confirm either, the call stays until a poll finds the module has
		// no call (pollCall), and the trunk reports busy meanwhile.
		cleared = t.clearDialling(eng) == nil
	}
	t.mu.Lock()
	if c := t.slotLocked(id); c != nil {
		if cleared {
			*c = callInfo{}
			t.changedLocked()
		} else {
			c.ending = true
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

// clearDialling makes sure an abandoned attempt is gone on the module,
// without touching a held call, and reports whether the module confirmed.
func (t *Trunk) clearDialling(eng *engine) error {
	t.mu.Lock()
	held := t.findLocked(callHeld) != nil
	t.mu.Unlock()
	cmd := "AT+CHUP"
	if held {
		cmd = "AT+CHLD=1" // release the active (dialling) call only; the held one stays held
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.CommandTimeout)
	defer cancel()
	_, err := eng.exec(ctx, &request{cmd: cmd}, t.cfg.CommandTimeout)
	return err
}

// Answer picks up the ringing inbound call id; TrunkAnswered follows.
func (t *Trunk) Answer(ctx context.Context, id hal.TrunkCallID) error {
	eng, err := t.engine()
	if err != nil {
		return err
	}
	t.mu.Lock()
	c := t.slotLocked(id)
	if c == nil || c.state != callRinging {
		st := "over"
		if c != nil {
			st = c.state.String()
		}
		t.mu.Unlock()
		return fmt.Errorf("trunk %q: answer: call %d is not ringing (%s)", t.cfg.Name, id, st)
	}
	t.mu.Unlock()
	_, err = eng.exec(ctx, &request{cmd: "ATA", call: true}, t.cfg.DialTimeout)
	t.mu.Lock()
	defer t.mu.Unlock()
	c = t.slotLocked(id)
	if c == nil {
		if err == nil {
			err = errors.New("the call ended while being answered")
		}
		return fmt.Errorf("trunk %q: answer: %w", t.cfg.Name, err)
	}
	if err != nil {
		var ae *ATError
		if errors.As(err, &ae) && ae.Unwrap() != nil {
			t.endCallLocked(c, nil, "missed") // the caller hung up
		}
		return fmt.Errorf("trunk %q: answer: %w", t.cfg.Name, err)
	}
	t.setActiveLocked(c)
	return nil
}

// Hangup clears call id (rejects it while it rings or waits) and leaves
// any other call; TrunkEnded (Reason nil) follows. A call that is already
// over is left alone: whatever the trunk carries now is another call. The
// call is over for the trunk even when the module does not confirm (the
// error says so).
func (t *Trunk) Hangup(ctx context.Context, id hal.TrunkCallID) error {
	return t.release(ctx, id)
}

// Release clears one call and leaves the other (hal.TrunkServices); unlike
// Hangup it says when the call is already over.
func (t *Trunk) Release(ctx context.Context, call hal.TrunkCallID) error {
	t.mu.Lock()
	ok := t.slotLocked(call) != nil
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("trunk %q: release: %w", t.cfg.Name, hal.ErrNoSuchCall)
	}
	return t.release(ctx, call)
}

func (t *Trunk) release(ctx context.Context, id hal.TrunkCallID) error {
	t.mu.Lock()
	c := t.slotLocked(id)
	if c == nil {
		t.mu.Unlock()
		return nil
	}
	st, incoming, alone := c.state, c.incoming, t.callsLocked() == 1
	t.mu.Unlock()
	var err error
	if eng, e := t.engine(); e != nil {
		err = e
	} else if alone {
		if _, err = eng.exec(ctx, &request{cmd: "AT+CHUP"}, t.cfg.CommandTimeout); err != nil {
			var ae *ATError
			if errors.As(err, &ae) {
				_, err = eng.exec(ctx, &request{cmd: "ATH"}, t.cfg.CommandTimeout)
			}
		}
	} else {
		err = t.releaseOne(ctx, eng, id)
	}
	result := "answered"
	switch {
	case incoming && (st == callRinging || st == callWaiting):
		result = "rejected"
	case st != callActive && st != callHeld:
		result = "abandoned"
	}
	t.mu.Lock()
	t.endCallLocked(t.slotLocked(id), nil, result)
	t.pollSoonLocked()
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("trunk %q: hangup: %w", t.cfg.Name, err)
	}
	return nil
}

// releaseOne clears one of two calls: AT+CHLD=1<id> (27.007: release the
// given call), or, for a waiting call, AT+CHLD=0 (user determined busy).
func (t *Trunk) releaseOne(ctx context.Context, eng *engine, id hal.TrunkCallID) error {
	t.mu.Lock()
	c := t.slotLocked(id)
	if c == nil {
		t.mu.Unlock()
		return nil
	}
	st, cid := c.state, c.cid
	t.mu.Unlock()
	if st == callWaiting {
		_, err := eng.exec(ctx, &request{cmd: "AT+CHLD=0"}, t.cfg.NetworkTimeout)
		return err
	}
	if cid == 0 {
		if err := t.learnIDs(ctx, eng); err != nil {
			return err
		}
		t.mu.Lock()
		if c := t.slotLocked(id); c != nil {
			cid = c.cid
		}
		t.mu.Unlock()
		if cid == 0 {
			return errors.New("the module does not list the call: cannot release it alone")
		}
	}
	_, err := eng.exec(ctx, &request{cmd: fmt.Sprintf("AT+CHLD=1%d", cid)}, t.cfg.NetworkTimeout)
	return err
}

// learnIDs lists the calls to learn their network ids. A listing that a
// report crossed (see pollCall) is taken again, up to three times.
func (t *Trunk) learnIDs(ctx context.Context, eng *engine) error {
	for range 3 {
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		resp, err := eng.exec(ctx, &request{cmd: "AT+CLCC", prefixes: []string{"+CLCC:"}}, t.cfg.CommandTimeout)
		if err != nil {
			return err
		}
		t.mu.Lock()
		fresh := t.changed == changed
		if fresh {
			for _, l := range resp.Lines {
				if e, err := parseCLCC(l); err == nil {
					t.applyEntryLocked(e)
				}
			}
		}
		t.mu.Unlock()
		if fresh {
			return nil
		}
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
	connected := t.findLocked(callActive) != nil
	st := callIdle
	if f := t.foregroundLocked(); f != nil {
		st = f.state
	}
	t.mu.Unlock()
	if !connected {
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
