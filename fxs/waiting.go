package fxs

// Call waiting: the profile's call-waiting tone mixed into the call, and
// caller ID on call waiting (off-hook, "type 2": GR-30, EN 300 659-2, SIN
// 227 loop state). The sequence runs in the pump, sample by sample, so its
// timing does not depend on the scheduler: the first burst of the tone,
// then with the far end muted both ways the CPE alerting signal, a wait for
// the handset's acknowledgement (a DTMF digit: a handset without caller
// display on call waiting does not answer and hears no data), the FSK data
// with no channel seizure, and the far end back. The tone's cadence then
// carries on.

import (
	"errors"
	"fmt"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

type cwPhase int

const (
	cwIdle       cwPhase = iota // tone only (or nothing)
	cwFirstBurst                // the tone's first burst, before the alert
	cwAlert                     // CPE alerting signal, far end muted
	cwAck                       // waiting for the handset's acknowledgement
	cwGap                       // acknowledgement to data
	cwData                      // the FSK data
	cwRestore                   // data to the far end's voice
)

// waitingCID is the state of caller ID on call waiting; guarded by Port.mu.
type waitingCID struct {
	phase cwPhase
	left  int     // samples left in a timed phase
	alert []int16 // rendered CPE alerting signal
	data  []int16 // rendered FSK
	pos   int
}

func (w *waitingCID) reset() { *w = waitingCID{alert: w.alert[:0], data: w.data[:0]} }

// OfferWaiting tells the porter in a call that a second call is waiting:
// the call-waiting tone, and caller ID on call waiting where the profile
// defines it (caller_id.waiting). It fails with ErrNotInCall when the
// port is not in a call. SetCallWaiting(false) stops both; so does the end
// of the call.
func (p *Port) OfferWaiting(cid dsp.CallerID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offerWaitingLocked(cid)
}

func (p *Port) offerWaitingLocked(cid dsp.CallerID) error {
	if p.state != StateConnected {
		return fmt.Errorf("%w: %s", ErrNotInCall, p.state)
	}
	if !p.cwOn {
		p.tones[toneCallWaiting].Reset()
		p.cwOn = true
		p.emitLocked(Event{Kind: EventCallWaiting, On: true})
	}
	w := &p.wcid
	wc := p.prof.CallerID.Waiting
	if wc.Method != profile.CIDWaitingCAS || p.audio == nil || w.phase != cwIdle {
		return nil
	}
	alert, err := wc.Alert.Parse("caller_id.waiting.alert")
	if err != nil {
		return fmt.Errorf("fxs: profile %s: %w", p.prof.Name, err)
	}
	alert.Repeat = false
	msg, err := p.cidMessage(cid)
	if err != nil {
		p.emitLocked(Event{Kind: EventCallerID, Detail: "waiting: not sent: " + err.Error()})
		return nil // the tone alone still tells the porter
	}
	w.reset()
	w.alert = append(w.alert, make([]int16, samples(toneLength(alert)))...)
	dsp.NewToneGen(DSPTone(alert)).FillSamples(w.alert)
	opts := p.ring.fskOpts
	opts.SeizureBits, opts.MarkBits = 0, wc.MarkBits
	w.data = dsp.AppendFSK(w.data, p.ring.fsk, msg, opts)
	// The alert follows the first burst of the call-waiting tone (GR-30:
	// the SAS, then the CAS).
	w.phase, w.left = cwFirstBurst, 0
	if cw, err := p.prof.Tones.CallWaiting.Parse("call_waiting"); err == nil && len(cw.Segments) > 0 && len(cw.Segments[0].Components) > 0 {
		w.left = samples(cw.Segments[0].Duration)
	}
	return nil
}

// waitingFrameLocked fills f with what call waiting adds to the earpiece
// and reports whether the call's audio is muted (both ways) for it.
func (p *Port) waitingFrameLocked(f *hal.Frame) (mute bool) {
	w := &p.wcid
	tone := p.tones[toneCallWaiting]
	wc := p.prof.CallerID.Waiting
	for out := f[:]; len(out) > 0; {
		if w.phase != cwIdle && w.phase != cwFirstBurst {
			mute = true
		}
		switch w.phase {
		case cwIdle:
			tone.FillSamples(out)
			out = nil
		case cwFirstBurst:
			n := min(w.left, len(out))
			tone.FillSamples(out[:n])
			out, w.left = out[n:], w.left-n
			if w.left == 0 {
				w.phase, w.pos = cwAlert, 0
				p.emitLocked(Event{Kind: EventCallerID, Detail: "waiting: start"})
			}
		case cwAlert:
			n := copy(out, w.alert[w.pos:])
			out, w.pos = out[n:], w.pos+n
			if w.pos >= len(w.alert) {
				if wc.Ack == "" {
					w.phase, w.left = cwGap, samples(wc.AfterAck)
				} else {
					w.phase, w.left = cwAck, samples(wc.AckTimeout)
				}
			}
		case cwAck, cwGap, cwRestore:
			n := min(w.left, len(out))
			clear(out[:n])
			out, w.left = out[n:], w.left-n
			if w.left > 0 {
				continue
			}
			switch w.phase {
			case cwAck:
				w.phase = cwIdle
				p.emitLocked(Event{Kind: EventCallerID, Detail: "waiting: no acknowledgement: the handset shows no caller ID on call waiting"})
			case cwGap:
				w.phase, w.pos = cwData, 0
			default:
				w.phase = cwIdle
				p.emitLocked(Event{Kind: EventCallerID, Detail: "waiting: end"})
			}
		case cwData:
			n := copy(out, w.data[w.pos:])
			out, w.pos = out[n:], w.pos+n
			if w.pos >= len(w.data) {
				w.phase, w.left = cwRestore, samples(wc.AfterData)
			}
		}
	}
	return mute
}

// waitingDigitLocked takes a digit the handset sent during caller ID on
// call waiting: the acknowledgement, which is not part of the call.
func (p *Port) waitingDigitLocked(d rune) bool {
	w := &p.wcid
	ack := p.prof.CallerID.Waiting.Ack
	if w.phase == cwIdle || w.phase == cwFirstBurst || ack == "" || string(d) != ack {
		return false
	}
	if w.phase == cwAck {
		w.phase, w.left = cwGap, samples(p.prof.CallerID.Waiting.AfterAck)
		p.emitLocked(Event{Kind: EventCallerID, Detail: "waiting: acknowledged"})
	}
	return true // the acknowledgement never reaches the far end
}

// stopWaitingLocked ends the call-waiting tone and any caller ID on it.
func (p *Port) stopWaitingLocked() {
	p.wcid.reset()
	if p.cwOn {
		p.cwOn = false
		p.emitLocked(Event{Kind: EventCallWaiting, On: false})
	}
}

// ---- recall codes ----

// RecallAction is what a recall code asks for (see profile.RecallActions).
type RecallAction string

// Recaller is implemented by calls that may act on the profile's recall
// codes (a call on a mobile trunk: the network's call hold and waiting).
// When TakesRecallCodes says so, the port passes R followed by a digit (or
// R alone, where the profile gives it an action) as the action; otherwise
// the call gets the bare recall (Flasher). TakesRecallCodes is asked under
// the port's lock: it must answer at once and not call the port.
type Recaller interface {
	TakesRecallCodes() bool
	Recall(action RecallAction) error
}

// ErrNoRecall is returned by a Recaller when the action has nothing to act
// on (no call waiting or held).
var ErrNoRecall = errors.New("fxs: nothing for the recall to act on")

// recallCodesLocked handles a recall during a call that takes the codes.
func (p *Port) recallCodesLocked() bool {
	rc, ok := p.call.(Recaller)
	r := p.prof.Recall
	if !ok || (len(r.Codes) == 0 && r.Flash == "") || !rc.TakesRecallCodes() {
		return false
	}
	if len(r.Codes) == 0 {
		p.doRecallLocked(rc, "R", RecallAction(r.Flash))
		return true
	}
	p.recallWait = true
	p.emitLocked(Event{Kind: EventRecall, Detail: "R: waiting for the code digit"})
	p.arm(&p.recallSlt, r.DigitTimeout, func() {
		if !p.recallWait {
			return
		}
		p.recallWait = false
		if r.Flash != "" {
			if rc, ok := p.call.(Recaller); ok && p.state == StateConnected {
				p.doRecallLocked(rc, "R", RecallAction(r.Flash))
				return
			}
		}
		p.emitLocked(Event{Kind: EventRecall, Detail: "R: no code dialled"})
	})
	return true
}

// recallDigitLocked takes the digit after R as a code.
func (p *Port) recallDigitLocked(d rune) bool {
	if !p.recallWait {
		return false
	}
	p.recallWait = false
	p.disarm(&p.recallSlt)
	action := p.prof.Recall.Codes[string(d)]
	rc, ok := p.call.(Recaller)
	if action == "" || !ok {
		p.emitLocked(Event{Kind: EventRecall, Detail: fmt.Sprintf("R%c: not a code of profile %s", d, p.prof.Name)})
		return true
	}
	p.doRecallLocked(rc, "R"+string(d), RecallAction(action))
	return true
}

func (p *Port) doRecallLocked(rc Recaller, code string, a RecallAction) {
	p.emitLocked(Event{Kind: EventRecall, Detail: code + ": " + string(a)})
	p.work.push("recall", func() {
		if err := rc.Recall(a); err != nil {
			p.log.Info("recall code", "code", code, "action", a, "err", err)
		}
	})
}

// leaveConnectedLocked drops what belongs to a call in progress.
func (p *Port) leaveConnectedLocked() {
	p.stopWaitingLocked()
	p.recallWait, p.sv.local = false, false
	p.disarm(&p.recallSlt)
}
