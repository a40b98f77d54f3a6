package pathtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// Kinds of path.
const (
	KindTrunk     = "trunk"
	KindRegistrar = "registrar"
	KindCopper    = "copper"
)

// Results of a test (control.PathTest.Result).
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultCannotTest = "cannot-test"
	ResultSkipped    = "skipped"
)

// Results lists every result, for metrics.
var Results = []string{ResultOK, ResultFailed, ResultCannotTest, ResultSkipped}

// What started a test (control.PathTest.Trigger).
const (
	TriggerManual    = "manual"
	TriggerScheduled = "scheduled"
	TriggerRetry     = "retry"
)

// Path is one thing to prove.
type Path struct {
	Kind string // KindTrunk, KindRegistrar or KindCopper
	// Name is the trunk's or registrar's configured name.
	Name string
	// Number is the trunk's test_number or the registrar's
	// test_extension.
	Number string
	// Expect is what the far end must send (Expect*; default ExpectAudio).
	Expect string
	// ToneHz is ExpectTone's frequency (default DefaultToneHz).
	ToneHz float64
	// Port is a copper path's port.
	Port int
}

// ID is the path's name in reports, status and metrics: trunk:lte,
// registrar:chorus, copper:1.
func (p Path) ID() string {
	if p.Kind == KindCopper {
		return KindCopper + ":" + strconv.Itoa(p.Port)
	}
	return p.Kind + ":" + p.Name
}

// target is what the test calls or reads, for the report.
func (p Path) target() string {
	if p.Kind == KindCopper {
		return "port " + strconv.Itoa(p.Port)
	}
	return p.Number
}

// call reports whether testing the path places a call.
func (p Path) call() bool { return p.Kind != KindCopper }

func (p Path) expect() string {
	if p.Expect == "" {
		return ExpectAudio
	}
	return p.Expect
}

func (p Path) toneHz() float64 {
	if p.ToneHz <= 0 {
		return DefaultToneHz
	}
	return p.ToneHz
}

// errActivity is the cause of a test's context ended by a porter.
type errActivity struct{ why string }

func (e errActivity) Error() string { return "pre-empted: " + e.why }

// outcome is one test's result before it is dated and booked.
type outcome struct {
	result, detail string
	setup          time.Duration // 0: none
	audio          *float64
	volts          *float64
	called         bool // a call was placed (the daily cap counts it)
	pre            bool // pre-empted by a porter (postponed, not failed)
}

func failed(detail string) outcome { return outcome{result: ResultFailed, detail: detail} }

// preempted is the outcome of a test a porter's activity or call ended.
func preempted(ctx context.Context, err error) (outcome, bool) {
	var act errActivity
	if errors.As(context.Cause(ctx), &act) {
		return outcome{result: ResultSkipped, detail: act.Error() + " (test given up for the porter)", pre: true}, true
	}
	if errors.Is(err, ErrPreempted) {
		return outcome{result: ResultSkipped, detail: "pre-empted: a porter's call needed the route (test given up)", pre: true}, true
	}
	return outcome{}, false
}

// runPath tests one path within ctx (whose deadline is the test's
// timeout).
func runPath(ctx context.Context, app Appliance, p Path) outcome {
	if idle, why := app.TestIdle(); !idle {
		return outcome{result: ResultSkipped, detail: "not tested: " + why + " (tests never run while a porter is busy)", pre: true}
	}
	if p.Kind == KindCopper {
		return runCopper(ctx, app, p)
	}
	return runCall(ctx, app, p)
}

// Copper line thresholds: a live line idles at its exchange battery (about
// 48-52 V), a handset off-hook on it pulls it to a few volts.
const (
	liveVolts = 20.0
	loopVolts = 3.0
)

func runCopper(ctx context.Context, app Appliance, p Path) outcome {
	r, err := app.CheckCopper(ctx, p.Port)
	switch {
	case errors.Is(err, ErrCannotSense):
		return outcome{result: ResultCannotTest, detail: fmt.Sprintf("the board has no sensor on the line behind port %d's relay: the copper line cannot be proven here; prove it by hand (critlinectl lifeline %d on, lift the handset, hear the exchange's dial tone, then lifeline %d off)", p.Port, p.Port, p.Port)}
	case errors.Is(err, ErrRouteBusy):
		return outcome{result: ResultSkipped, detail: "not tested: " + err.Error(), pre: true}
	case err != nil:
		if o, ok := preempted(ctx, err); ok {
			return o
		}
		return failed("line check failed: " + err.Error())
	}
	v := r.Volts
	o := outcome{volts: &v}
	back := ""
	if r.Moved {
		back = fmt.Sprintf("; handset on the line for %s", r.OnLine.Round(time.Millisecond))
		if !r.Restored {
			back += ", the relay goes back once the handset on the line is replaced"
		}
	} else {
		back = "; the relay was already on the line"
	}
	switch {
	case v >= liveVolts:
		o.result, o.detail = ResultOK, fmt.Sprintf("line live: %.0f V on the hook%s", v, back)
	case v >= loopVolts:
		o.result, o.detail = ResultOK, fmt.Sprintf("line live and in use: %.0f V loop voltage%s", v, back)
	default:
		o.result, o.detail = ResultFailed, fmt.Sprintf("no voltage on the copper line (%.1f V): cut, disconnected or ceased at the exchange; report the line fault%s", v, back)
	}
	return o
}

// runCall places a test call on the path's one rung and judges it.
func runCall(ctx context.Context, app Appliance, p Path) outcome {
	start := time.Now()
	call, err := app.PlaceTestCall(ctx, p.Kind, p.Name, p.Number)
	if err != nil {
		if o, ok := preempted(ctx, err); ok {
			return o
		}
		switch {
		case errors.Is(err, ErrRouteBusy):
			return outcome{result: ResultSkipped, detail: "not tested: " + err.Error(), pre: true}
		case errors.Is(err, ErrBlocked):
			return failed(err.Error() + ": allow the test number on this trunk ([[survivability.guard.route]] allow) or choose another")
		case errors.Is(err, hal.ErrTrunkDown):
			return outcome{result: ResultFailed, detail: "cannot call: " + err.Error(), called: false}
		}
		return outcome{result: ResultFailed, detail: "call failed: " + err.Error(), called: true}
	}
	defer call.Hangup()
	o := outcome{called: true}
	evs := call.Events()
	var digits strings.Builder
	// Until the far end answers.
	answered := false
	for !answered {
		select {
		case ev, ok := <-evs:
			if !ok {
				return failed("the call ended before it was answered")
			}
			switch ev.Kind {
			case Answered:
				answered = true
				o.setup = time.Since(start)
			case Digit:
				digits.WriteRune(ev.Digit)
			case Ended:
				if p, ok := preempted(ctx, ev.Err); ok {
					return p
				}
				o.result, o.detail = ResultFailed, "not answered: "+endReason(ev.Err)
				return o
			}
		case <-ctx.Done():
			if p, ok := preempted(ctx, nil); ok {
				return p
			}
			o.result, o.detail = ResultFailed, fmt.Sprintf("not answered within %s", time.Since(start).Round(100*time.Millisecond))
			return o
		}
	}
	setup := fmt.Sprintf("answered in %s from %s", seconds(o.setup), call.From())
	m := call.Media()
	expect := p.expect()
	if m == nil && expect != ExpectDTMF {
		o.result = ResultCannotTest
		o.detail = setup + "; its audio cannot be checked: the route's voice is not wired to the appliance (a trunk without a pcm port)"
		return o
	}
	inband := ""
	if expect == ExpectDTMF {
		if err := call.SendDTMF(ProbeDigits); err != nil {
			if m == nil {
				o.result, o.detail = ResultFailed, setup+"; sending DTMF failed: "+err.Error()
				return o
			}
			inband = ProbeDigits // no DTMF events on this call: in-band instead
		}
	}
	rx, ended, err := listen(ctx, m, evs, inband, &digits)
	if o2, ok := preempted(ctx, err); ok {
		return o2
	}
	h := judgeAudio(rx, p.toneHz())
	if len(rx) > 0 && !math.IsInf(h.levelDBm0, -1) {
		lv := math.Round(h.levelDBm0*10) / 10
		o.audio = &lv
	}
	if expect == ExpectDTMF && m != nil {
		det := dsp.NewDTMFDetector(func(d rune) { h.digits += string(d) })
		det.Process(rx)
	}
	h.digits = digits.String() + h.digits
	good, what := verdict(expect, p.toneHz(), h, ProbeDigits)
	switch {
	case ended != nil && !good:
		o.result, o.detail = ResultFailed, setup+"; the far end cleared during the audio check ("+endReason(ended.Err)+"); "+what
	case good:
		o.result, o.detail = ResultOK, setup+"; "+what
	default:
		o.result, o.detail = ResultFailed, setup+"; "+what
	}
	return o
}

// listen pumps the call's audio for listenFor (or until ctx ends or the
// call does): the probe out, the far end's audio in, one frame per 20 ms.
// Digits the far end sends as events are added to digits. ended is the
// call's end when it ended meanwhile.
func listen(ctx context.Context, m Media, evs <-chan Event, inband string, digits *strings.Builder) (rx []int16, ended *Event, err error) {
	pr, err := newProbe(inband)
	if err != nil {
		return nil, nil, err
	}
	frames := int(listenFor / hal.FrameDuration)
	if inband != "" {
		frames += len(pr.inband) / hal.FrameSamples
	}
	var mu sync.Mutex
	done := make(chan struct{})
	var pumpErr error
	if m != nil {
		go func() {
			defer close(done)
			var out, in hal.Frame
			tick := time.NewTicker(hal.FrameDuration)
			defer tick.Stop()
			for range frames {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				pr.fill(&out)
				if err := m.WriteFrame(&out); err != nil {
					mu.Lock()
					pumpErr = err
					mu.Unlock()
					return
				}
				if err := m.ReadFrame(&in); err != nil {
					mu.Lock()
					pumpErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				rx = append(rx, in[:]...)
				mu.Unlock()
			}
		}()
	} else {
		go func() {
			defer close(done)
			t := time.NewTimer(listenFor)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}()
	}
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			switch ev.Kind {
			case Digit:
				digits.WriteRune(ev.Digit)
			case Ended:
				e := ev
				ended = &e
				evs = nil
			}
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			if ended != nil && errors.Is(ended.Err, ErrPreempted) {
				return rx, ended, ended.Err
			}
			if ctx.Err() != nil {
				return rx, ended, ctx.Err()
			}
			if pumpErr != nil && ended == nil && !errors.Is(pumpErr, hal.ErrClosed) {
				return rx, ended, fmt.Errorf("call audio: %w", pumpErr)
			}
			return rx, ended, nil
		}
	}
}

// seconds writes a setup time for a report: milliseconds under a second.
func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// endReason says why a call ended, for a report.
func endReason(err error) string {
	switch {
	case err == nil:
		return "the far end cleared"
	case errors.Is(err, hal.ErrBusy):
		return "busy"
	case errors.Is(err, hal.ErrNoAnswer):
		return "no answer"
	case errors.Is(err, hal.ErrRejected):
		return "rejected by the network"
	case errors.Is(err, hal.ErrNoCarrier):
		return "no carrier (the network dropped it)"
	}
	return err.Error()
}

// toResult dates an outcome.
func (o outcome) toResult(p Path, start time.Time, trigger string) control.PathTest {
	r := control.PathTest{Path: p.ID(), Target: p.target(), Result: o.result, Detail: o.detail,
		AudioDBm0: o.audio, LineVolts: o.volts, At: start, Trigger: trigger,
		Seconds: math.Round(time.Since(start).Seconds()*100) / 100}
	if o.setup > 0 {
		r.SetupSeconds = math.Round(o.setup.Seconds()*1000) / 1000
	}
	return r
}
