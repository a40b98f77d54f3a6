package fxs

// Hook events: edges from the line through the decoder to the state machine.

import (
	"fmt"

	"github.com/critline/critline/fxs/hook"
	"github.com/critline/critline/hal"
)

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
		p.mwiAbortLocked("handset lifted")
		p.emitLocked(Event{Kind: EventHook})
		switch p.state {
		case StateIdle:
			p.seizeLocked("")
		case StateRinging:
			p.answerLocked()
		}
	case hook.OnHook:
		p.offHook = false
		p.emitLocked(Event{Kind: EventHook})
		if p.servicesOnHookLocked() {
			return // transfer, or the held or waiting call rings (services.go)
		}
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
