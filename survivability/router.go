package survivability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/hal"
)

// RungKind says what kind of way out a rung is.
type RungKind string

const (
	RungRegistrar RungKind = "registrar"
	RungTrunk     RungKind = "trunk"
)

// rung is one way out of the appliance: a SIP registrar (for one line) or a
// PSTN trunk. place starts a call and reports through at; it returns quickly.
type rung interface {
	name() string
	kind() RungKind
	place(ctx context.Context, port int, number string, at *attempt) (fxs.Call, error)
}

// attempt is one try of a call on one rung. The rung reports progress to
// it; it passes what the porter should hear to the port, and tells the
// router when the attempt failed in a way the next rung might not.
type attempt struct {
	lc       *ladderCall
	rungName string

	maxDur time.Duration // cut the call after this (toll-fraud guard); 0: no limit
	trunk  bool          // the rung is a trunk: its minutes count

	mu         sync.Mutex
	alerted    bool // the far end rang or answered: no more retries
	answered   bool
	answeredAt time.Duration // the appliance's clock
	over       bool
	cap        hal.Timer
}

// update forwards a progress report; rungs call it.
func (at *attempt) update(u fxs.CallUpdate) {
	at.mu.Lock()
	if at.over {
		at.mu.Unlock()
		return
	}
	first := !at.alerted
	switch u.State {
	case fxs.CallAlerting, fxs.CallEarlyMedia:
		at.alerted = true
	case fxs.CallAnswered:
		if !at.answered {
			at.answeredAt = at.lc.r.a.o.Clock.Now()
			at.lc.r.a.callStarted(at)
		}
		at.alerted, at.answered = true, true
	case fxs.CallEnded, fxs.CallFailed:
		at.over = true
	}
	answered := at.answered
	at.mu.Unlock()
	if u.State == fxs.CallEnded && answered {
		at.lc.r.a.callFinished(at)
	}
	if first && (u.State == fxs.CallAlerting || u.State == fxs.CallEarlyMedia || u.State == fxs.CallAnswered) {
		at.lc.setup(at.rungName)
	}
	if u.State == fxs.CallFailed {
		at.lc.attemptFailed(at, false, u.Reason, u.Detail)
		return
	}
	if u.State == fxs.CallEnded {
		at.lc.ended(at, answered, u.Detail)
		return
	}
	at.lc.forward(at, u)
}

// fail reports a failure before the far end alerted. retry says the next
// rung may succeed (timeout, 5xx, transport error, trunk down or busy).
func (at *attempt) fail(retry bool, reason fxs.FailReason, detail string) {
	at.mu.Lock()
	if at.over {
		at.mu.Unlock()
		return
	}
	at.over = true
	// An emergency call goes on to the next rung whatever went wrong, as
	// long as it was not answered: it never gives up while a rung is left.
	// Others move on only before the far end rang.
	retry = (retry && !at.alerted) || (at.lc.emerg && !at.answered)
	at.mu.Unlock()
	at.lc.attemptFailed(at, retry, reason, detail)
}

// attemptError is a rung's refusal to place a call: retry says whether the
// next rung may try (a timeout, a 5xx, a transport error) or the failure is
// the number's or the PBX's answer (busy, barred, declined...).
type attemptError struct {
	retry  bool
	reason fxs.FailReason
	err    error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// rungRetry says whether a rung's error lets the next rung try, and the
// tone otherwise. A *fxs.CallError other than congestion is the number's
// answer (busy, unobtainable); other errors are the route's trouble.
func rungRetry(err error) (bool, fxs.FailReason) {
	var ae *attemptError
	if errors.As(err, &ae) {
		return ae.retry, ae.reason
	}
	var ce *fxs.CallError
	if errors.As(err, &ce) {
		return ce.Reason == fxs.FailCongestion, ce.Reason
	}
	return true, fxs.FailCongestion
}

// errCleared: the porter hung up while the call was being placed.
var errCleared = errors.New("call cleared")

// ladderCall is the port's handle on an outbound call that may move along
// the ladder: it hangs up whichever attempt is current and stops retries.
type ladderCall struct {
	r        *router
	port     int
	number   string
	emerg    bool
	progress fxs.Progress
	rungs    []rung
	start    time.Duration // the last digit, on the appliance's clock
	ctx      context.Context
	cancel   context.CancelFunc

	mu      sync.Mutex
	next    int
	cur     *attempt
	call    fxs.Call
	done    bool
	tried   []string
	setupOK bool
}

// router places a port's outbound calls along the ladder.
type router struct {
	a    *Appliance
	port int
}

// Route implements fxs.Router. It never waits for the network: the ladder
// is worked on its own goroutine and reports through progress, so the
// port's worker is free at once (for the porter's hang-up, for the next
// call, for 999). The returned call is the porter's handle on the whole
// ladder; hanging it up stops every attempt at once.
func (r *router) Route(ctx context.Context, req fxs.RouteRequest, progress fxs.Progress) (fxs.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	number, emergency := req.Number, req.Emergency || r.a.isEmergency(req.Number)
	cctx, cancel := context.WithCancel(context.Background())
	lc := &ladderCall{r: r, port: req.Port, number: number, emerg: emergency, progress: progress,
		start: r.a.o.Clock.Now(), ctx: cctx, cancel: cancel}
	go lc.run()
	return lc, nil
}

// run builds the ladder and places the call on its first rung that takes
// it; a call that finds no way out fails with congestion.
func (lc *ladderCall) run() {
	rungs, why := lc.r.a.ladder(lc.port, lc.number, lc.emerg)
	lc.mu.Lock()
	cleared := lc.done
	lc.rungs = rungs
	lc.mu.Unlock()
	if cleared {
		return
	}
	if len(rungs) == 0 {
		lc.r.a.noRoute(lc.port, lc.number, lc.emerg, why)
		lc.finish(fxs.FailCongestion, why)
		return
	}
	lc.r.a.log.Info("routing call", "port", lc.port, "number", lc.number, "emergency", lc.emerg, "ladder", rungNames(rungs))
	if err := lc.tryNext(); err != nil && !errors.Is(err, errCleared) {
		reason := fxs.FailCongestion
		var ce *fxs.CallError
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		lc.finish(reason, err.Error())
	}
}

// finish fails the call for the porter (the tone of reason).
func (lc *ladderCall) finish(reason fxs.FailReason, detail string) {
	lc.mu.Lock()
	lc.done = true
	lc.mu.Unlock()
	lc.cancel()
	lc.progress.Update(fxs.CallUpdate{State: fxs.CallFailed, Reason: reason, Detail: detail})
}

func rungNames(rs []rung) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.kind()) + ":" + r.name()
	}
	return out
}

// tryNext places the call on the next rung that accepts it. It returns an
// error only when every rung has refused.
func (lc *ladderCall) tryNext() error {
	var last error
	for {
		lc.mu.Lock()
		if lc.done {
			lc.mu.Unlock()
			return errCleared
		}
		if lc.next >= len(lc.rungs) {
			lc.done = true
			tried := append([]string(nil), lc.tried...)
			lc.mu.Unlock()
			lc.r.a.callResult(lc.port, "out", "none", "failed", lc.emerg)
			if last == nil {
				last = errors.New("every route failed")
			}
			reason := fxs.FailCongestion
			var ce *fxs.CallError
			if errors.As(last, &ce) {
				reason = ce.Reason
			}
			if lc.emerg {
				lc.r.a.emergencyFailed(lc.port, lc.number, EmergencyEveryRouteFailed, fmt.Sprintf("every route failed (%v): %v", tried, last))
			}
			return &fxs.CallError{Reason: reason, Err: fmt.Errorf("tried %v: %w", tried, last)}
		}
		rg := lc.rungs[lc.next]
		lc.next++
		at := &attempt{lc: lc, rungName: rg.name(), trunk: rg.kind() == RungTrunk}
		lc.cur = at
		lc.tried = append(lc.tried, rg.name())
		lc.mu.Unlock()

		number, maxDur, err := lc.r.a.screen(rg, lc.number, lc.emerg)
		if err != nil {
			lc.r.a.log.Warn("call refused by the toll-fraud guard", "port", lc.port, "route", rg.name(), "number", lc.number, "err", err)
			last = &fxs.CallError{Reason: fxs.FailUnobtainable, Err: err}
			continue
		}
		at.maxDur = maxDur
		lc.r.a.setRoute(lc.port, rg.name())
		call, err := rg.place(lc.ctx, lc.port, number, at)
		if err != nil {
			lc.mu.Lock()
			cleared := lc.done
			lc.mu.Unlock()
			if cleared {
				return errCleared // the porter hung up: Hangup counted it
			}
			retry, reason := rungRetry(err)
			last = &fxs.CallError{Reason: reason, Err: err}
			lc.r.a.callResult(lc.port, "out", rg.name(), "failed", lc.emerg)
			switch {
			case retry:
				lc.r.a.log.Warn("call attempt failed, trying the next route", "port", lc.port, "route", rg.name(), "number", number, "err", err)
			case lc.emerg:
				lc.r.a.log.Warn("emergency call refused on a route, trying the next one", "port", lc.port, "route", rg.name(), "number", number, "err", err)
			default:
				// The number's or the PBX's answer (busy, barred, declined,
				// unavailable...): no other route may walk around it.
				lc.r.a.log.Info("call refused; not trying other routes", "port", lc.port, "route", rg.name(), "number", number, "err", err)
				lc.mu.Lock()
				lc.next = len(lc.rungs)
				lc.mu.Unlock()
			}
			continue
		}
		lc.mu.Lock()
		if lc.done {
			lc.mu.Unlock()
			_ = call.Hangup()
			return errCleared
		}
		lc.call = call
		lc.mu.Unlock()
		return nil
	}
}

// forward passes an update of the current attempt to the port.
func (lc *ladderCall) forward(at *attempt, u fxs.CallUpdate) {
	lc.mu.Lock()
	cur := lc.cur == at && !lc.done
	lc.mu.Unlock()
	if cur {
		lc.progress.Update(u)
	}
}

// setup records, once per call, how long it took from the last digit to
// the first rung that rang or answered.
func (lc *ladderCall) setup(route string) {
	lc.mu.Lock()
	first := !lc.setupOK
	lc.setupOK = true
	lc.mu.Unlock()
	if first {
		lc.r.a.callSetup(route, lc.r.a.o.Clock.Now()-lc.start)
	}
}

// attemptFailed moves to the next rung, or ends the call.
func (lc *ladderCall) attemptFailed(at *attempt, retry bool, reason fxs.FailReason, detail string) {
	lc.mu.Lock()
	if lc.cur != at || lc.done {
		lc.mu.Unlock()
		return
	}
	lc.call = nil
	more := (retry || lc.emerg) && lc.next < len(lc.rungs)
	if !more {
		lc.done = true
	}
	lc.mu.Unlock()
	lc.r.a.callResult(lc.port, "out", at.rungName, "failed", lc.emerg)
	if !more {
		if lc.emerg {
			lc.r.a.emergencyFailed(lc.port, lc.number, EmergencyEveryRouteFailed, at.rungName+": "+detail)
		}
		lc.cancel()
		lc.progress.Update(fxs.CallUpdate{State: fxs.CallFailed, Reason: reason, Detail: at.rungName + ": " + detail})
		return
	}
	lc.r.a.log.Warn("call attempt failed, trying the next route", "port", lc.port, "route", at.rungName, "detail", detail)
	// Keep the porter company while the next rung is tried.
	lc.progress.Update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "trying the next route"})
	go func() {
		if err := lc.tryNext(); err != nil && !errors.Is(err, errCleared) {
			reason := fxs.FailCongestion
			var ce *fxs.CallError
			if errors.As(err, &ce) {
				reason = ce.Reason
			}
			lc.finish(reason, err.Error())
		}
	}()
}

func (lc *ladderCall) ended(at *attempt, answered bool, detail string) {
	lc.mu.Lock()
	if lc.cur != at || lc.done {
		lc.mu.Unlock()
		return
	}
	lc.done = true
	lc.call = nil
	lc.mu.Unlock()
	result := "cancelled"
	if answered {
		result = "answered"
	}
	lc.r.a.callResult(lc.port, "out", at.rungName, result, lc.emerg)
	lc.cancel()
	lc.progress.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: detail})
}

// Hangup implements fxs.Call: the porter hung up.
func (lc *ladderCall) Hangup() error {
	lc.mu.Lock()
	if lc.done {
		lc.mu.Unlock()
		return nil
	}
	lc.done = true
	call, at := lc.call, lc.cur
	lc.mu.Unlock()
	lc.cancel()
	// Book the call first: the route's own hang-up (a modem command) may
	// take a moment.
	if at != nil {
		at.mu.Lock()
		answered, wasOver := at.answered, at.over
		at.over = true
		at.mu.Unlock()
		if answered && !wasOver {
			lc.r.a.callFinished(at)
		}
		result := "abandoned"
		if answered {
			result = "answered"
		}
		lc.r.a.callResult(lc.port, "out", at.rungName, result, lc.emerg)
	}
	if call != nil {
		return call.Hangup()
	}
	return nil
}

// Flash implements fxs.Flasher when the current attempt takes recalls.
func (lc *ladderCall) Flash() error {
	lc.mu.Lock()
	call := lc.call
	lc.mu.Unlock()
	if f, ok := call.(fxs.Flasher); ok {
		return f.Flash()
	}
	return errors.New("this call's route takes no recall")
}

// SendDigit implements fxs.DigitSender when the current attempt takes digits.
func (lc *ladderCall) SendDigit(d rune) error {
	lc.mu.Lock()
	call := lc.call
	lc.mu.Unlock()
	if s, ok := call.(fxs.DigitSender); ok {
		return s.SendDigit(d)
	}
	return nil
}
