package fxs

// Calls: routing outbound numbers, progress reports, answering, recall.

import (
	"context"
	"errors"
	"fmt"
)

// routeLocked hands the number to the router.
func (p *Port) routeLocked(number string, emergency bool) {
	p.number, p.emergCall, p.direction = number, emergency, "out"
	p.counters.CallsOut++
	p.callGen = p.nextGen()
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
	p.work.push("route", func() {
		call, err := p.safeRoute(ctx, req, prog)
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.callGen || p.closed {
			// The porter hung up (or the call already ended) meanwhile.
			if call != nil && err == nil && !p.endedGen(gen) {
				p.work.push("hangup", func() { _ = call.Hangup() })
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
	p.updateLocked(gen, u)
}

func (p *Port) updateLocked(gen uint64, u CallUpdate) {
	if gen != p.callGen || p.closed {
		if !p.closed && p.otherUpdateLocked(gen, u) {
			return // a held, waiting or transferred call (services.go)
		}
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
		if p.activeEndedLocked() {
			return // a three-way: the other party stays (services.go)
		}
		p.call, p.inbound = nil, nil
		p.callGen = p.nextGen() // later updates of this call are stale
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
	p.callGen = p.nextGen()
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
		p.work.push("hangup", func() {
			if err := c.Hangup(); err != nil {
				p.log.Info("hanging up", "err", err)
			}
		})
	}
	p.call, p.inbound, p.media = nil, nil, nil
	p.callGen = p.nextGen()
}

// answerLocked picks up the ringing inbound call.
func (p *Port) answerLocked() {
	if p.answerRingBackLocked() {
		return // a held call ringing the porter back (services.go)
	}
	call := p.inbound
	gen := p.callGen
	p.stopRingingLocked()
	p.enterLocked(StateConnected, "answered")
	p.work.push("answer", func() {
		m, err := call.Answer()
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.callGen || p.closed {
			return
		}
		if err != nil {
			p.log.Info("answering", "err", err)
			p.call, p.inbound = nil, nil
			p.callGen = p.nextGen()
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
	if p.servicesRecallLocked() {
		return // the port's own flash-hook services (services.go)
	}
	if p.state != StateConnected {
		p.emitLocked(Event{Kind: EventRecall, Detail: "ignored in " + string(p.state)})
		return
	}
	if p.recallCodesLocked() {
		return
	}
	f, ok := p.call.(Flasher)
	if !ok {
		p.emitLocked(Event{Kind: EventRecall, Detail: "the call takes no recall"})
		return
	}
	p.emitLocked(Event{Kind: EventRecall, Detail: "passed to the call"})
	p.work.push("recall", func() {
		if err := f.Flash(); err != nil {
			p.log.Info("recall", "err", err)
		}
	})
}
