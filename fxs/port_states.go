package fxs

// The port's states and what each one plays and arms.

// dialTone picks plain, special (forwarding on) or message-waiting dial
// tone (mwi.go).
func (p *Port) dialTone() toneID {
	if p.sv.held != nil {
		return toneRecallDial // an enquiry call: a call is held (services.go)
	}
	switch {
	case p.forward:
		return toneSpecialDial
	case p.mwi.on:
		return toneMessageWaiting
	}
	return toneDial
}

// setStateLocked changes the state and reports it.
func (p *Port) setStateLocked(s State, detail string) {
	prev := p.state
	p.state, p.since = s, p.clock.Now()
	p.emitLocked(Event{Kind: EventState, State: s, Prev: prev, Digits: string(p.digits), Detail: detail})
	p.wakeAudioLocked()
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
		p.dialToneTimerLocked() // hotline.go
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
	p.servicesEnterLocked(s)
	p.setStateLocked(s, detail)
	switch s {
	case StateIdle:
		p.setCondLocked(ConditionOK)
		p.mwiIdleLocked() // mwi.go: a pending message-waiting indication
	case StateParked:
		p.setCondLocked(ConditionLeftOffHook)
	}
	if s != StateConnected {
		p.leaveConnectedLocked()
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
	if t == toneDial || t == toneSpecialDial || t == toneMessageWaiting || t == toneRecallDial {
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
