package fxs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
)

// waitCall waits until the worker has stored the router's call handle.
func (h *harness) waitCall() {
	h.t.Helper()
	testenv.Eventually(h.t, 5*time.Second, "the router's call handle stored", func() bool {
		h.p.mu.Lock()
		defer h.p.mu.Unlock()
		return h.p.call != nil
	})
}

// dialToRoute lifts, keys digits by DTMF and returns the router request.
func (h *harness) dialToRoute(digits string) routed {
	h.t.Helper()
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf(digits)
	return h.route()
}

func TestNewChecksConfig(t *testing.T) {
	h := newHarness(t, "uk")
	good := Config{Line: h.line, Profile: h.p.prof, Router: h.router}
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Line = nil }, "Line is nil"},
		{func(c *Config) { c.Profile = nil }, "Profile is nil"},
		{func(c *Config) { c.Router = nil }, "Router is nil"},
		{func(c *Config) { c.DialPlan = "99#" }, "dial plan"},
	} {
		cfg := good
		c.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want %q", err, c.want)
		}
	}
}

func TestDialToneOnSeize(t *testing.T) {
	h := newHarness(t, "uk")
	h.hook(true)
	if s := h.state(); s != StateIdle {
		t.Fatalf("state %s before the seize time", s)
	}
	h.advance(h.p.prof.Hook.Seize + h.p.latency)
	e := h.waitState(StateDialTone)
	if e.Prev != StateIdle || !e.OffHook {
		t.Errorf("dial tone event %+v", e)
	}
	out := h.frames(10)
	if l350, l440 := toneLevel(out, 350), toneLevel(out, 440); l350 < -15 || l350 > -11 || l440 < -15 || l440 > -11 {
		t.Errorf("dial tone 350 Hz %.1f dBm0, 440 Hz %.1f dBm0; want about -13 each", l350, l440)
	}
	if l := toneLevel(out, 400); l > -40 {
		t.Errorf("400 Hz at %.1f dBm0 in dial tone", l)
	}
}

func TestSpecialDialTone(t *testing.T) {
	h := newHarness(t, "uk")
	h.p.SetForwarding(true)
	h.offHook()
	h.waitState(StateDialTone)
	if !h.p.Snapshot().Forwarding {
		t.Error("snapshot does not show forwarding")
	}
	on := h.frames(35) // 0-700 ms: 350+440
	off := h.frames(40)[5*160 : 35*160]
	if l := toneLevel(on, 350); l < -16 {
		t.Errorf("350 Hz missing in the first 750 ms (%.1f dBm0)", l)
	}
	if l := toneLevel(off, 350); l > -40 {
		t.Errorf("350 Hz present in the second 750 ms (%.1f dBm0)", l)
	}
	if l := toneLevel(off, 440); l < -16 {
		t.Errorf("440 Hz missing in the second 750 ms (%.1f dBm0)", l)
	}
	h.p.SetForwarding(false)
	out := h.frames(60)
	if l := toneLevel(out[45*160:], 350); l < -16 {
		t.Errorf("plain dial tone not back (%.1f dBm0)", l)
	}
}

func TestEmergencyRoutesAtOnce(t *testing.T) {
	for _, num := range []string{"999", "112"} {
		h := newHarness(t, "uk")
		r := h.dialToRoute(num)
		if r.req.Number != num || !r.req.Emergency || r.req.Port != 1 {
			t.Errorf("request %+v", r.req)
		}
		s := h.p.Snapshot()
		if s.State != StateRouting || !s.Emergency || s.Digits != num || s.Direction != "out" {
			t.Errorf("snapshot %+v", s)
		}
		r.reply <- routeReply{call: &fakeCall{}}
	}
}

func TestDigitMapTimers(t *testing.T) {
	for _, c := range []struct {
		name    string
		plan    string
		dial    string
		wait    time.Duration
		want    State
		number  string
		viaDTMF bool
	}{
		{"full match routes at once", "2xxxx|9", "21234", 0, StateRouting, "21234", true},
		{"full that may grow waits the short timer", "2xxx|2xxxxx", "2123", 3100 * ms, StateRouting, "2123", true},
		{"short timer not yet", "2xxx|2xxxxx", "2123", 2800 * ms, StateCollecting, "", true},
		{"partial times out to NU", "2xxxx", "212", 10100 * ms, StateUnobtainable, "", true},
		{"partial waits the long timer", "2xxxx", "212", 9800 * ms, StateCollecting, "", true},
		{"no match is NU at once", "2xxxx", "5", 0, StateUnobtainable, "", true},
		{"hash sends a full match", "2xxx|2xxxxx", "2123#", 0, StateRouting, "2123", true},
		{"hash on a partial is NU", "2xxxxx", "2123#", 0, StateUnobtainable, "", true},
		{"emergency prefix kept off NU", "2xxxx", "99", 0, StateCollecting, "", true},
		{"emergency beats the plan", "2xxxx", "999", 0, StateRouting, "999", true},
		{"pulse full match", "2xxxx|9", "21234", 0, StateRouting, "21234", false},
		{"pulse emergency", "2xxxx", "999", 0, StateRouting, "999", false},
		{"star code", "*xx", "*72", 0, StateRouting, "*72", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "uk", withPlan(c.plan))
			h.offHook()
			if c.viaDTMF {
				h.dtmf(c.dial)
			} else {
				h.pulse(c.dial)
			}
			if c.wait > 0 {
				h.advance(c.wait)
			}
			if c.want == StateRouting {
				r := h.route()
				if r.req.Number != c.number {
					t.Errorf("routed %q, want %q", r.req.Number, c.number)
				}
				r.reply <- routeReply{call: &fakeCall{}}
			}
			if s := h.state(); s != c.want {
				t.Errorf("state %s, want %s; events %v", s, c.want, h.drain())
			}
		})
	}
}

// drain returns the events seen so far without waiting.
func (h *harness) drain() []string {
	for {
		select {
		case e := <-h.events:
			h.log = append(h.log, e)
		default:
			var s []string
			for _, e := range h.log {
				switch e.Kind {
				case EventState:
					s = append(s, string(e.State)+":"+e.Detail)
				case EventDigit:
					s = append(s, e.Source+":"+e.Digit)
				default:
					s = append(s, e.Kind.String())
				}
			}
			return s
		}
	}
}

func TestPulseDialling(t *testing.T) {
	h := newHarness(t, "uk", withoutAudio())
	h.offHook()
	h.waitState(StateDialTone)
	h.pulse("01223")
	if s := h.p.Snapshot(); s.State != StateCollecting || s.Digits != "01223" {
		t.Fatalf("snapshot %+v", s)
	}
	h.pulse("334455")
	r := h.route()
	if r.req.Number != "01223334455" || r.req.Emergency {
		t.Errorf("request %+v", r.req)
	}
	r.reply <- routeReply{call: &fakeCall{}}
	if c := h.p.Snapshot().Counters.PulseDigits; c != 11 {
		t.Errorf("pulse digits counted %d", c)
	}
}

func TestParkedAfterTimeouts(t *testing.T) {
	h := newHarness(t, "uk")
	h.offHook()
	h.waitState(StateDialTone)
	d := h.p.prof.Dialling
	h.advance(d.DialToneTimeout)
	if e := h.waitState(StateUnobtainable); !strings.Contains(e.Detail, "dial tone timed out") {
		t.Errorf("detail %q", e.Detail)
	}
	out := h.frames(5)
	if l := toneLevel(out, 400); l < -23 {
		t.Errorf("NU tone 400 Hz at %.1f dBm0", l)
	}
	h.advance(d.UnobtainableTimeout)
	h.waitState(StateParked)
	c := h.waitKind(EventCondition)
	if c.Condition != ConditionLeftOffHook {
		t.Errorf("condition %q", c.Condition)
	}
	if s := h.p.Snapshot(); s.Condition != ConditionLeftOffHook || !s.OffHook {
		t.Errorf("snapshot %+v", s)
	}
	if out := h.frames(3); toneLevel(out, 400) > -50 {
		t.Error("parked line still plays a tone")
	}
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{}); !errors.Is(err, ErrBusy) {
		t.Errorf("Offer to a parked line: %v", err)
	}
	h.onHook()
	h.waitState(StateIdle)
	if c := h.waitKind(EventCondition); c.Condition != ConditionOK {
		t.Errorf("condition after on-hook %q", c.Condition)
	}
}

func TestOutboundCall(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	r := h.dialToRoute("21234")
	call := &fakeCall{}
	r.reply <- routeReply{call: call}
	h.waitCall()
	r.progress.Update(CallUpdate{State: CallAlerting})
	h.waitState(StateRingback)
	out := h.frames(40) // 400 on 200 off 400 on
	if l := toneLevel(out[:3200], 400); l < -22 {
		t.Errorf("ringback 400 Hz at %.1f dBm0", l)
	}
	if l := toneLevel(out[3400:4600], 400); l > -40 {
		t.Errorf("ringback gap has 400 Hz at %.1f dBm0", l)
	}
	m := &fakeMedia{val: 1234}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: m})
	h.waitState(StateConnected)
	mic := hal.Frame{}
	mic[0] = 77
	out2 := h.frame(&mic)
	if out2[10] != 1234 || m.frames() != 1 || m.last[0] != 77 {
		t.Errorf("media not pumped: earpiece %d, media got %d frames, first sample %d", out2[10], m.frames(), m.last[0])
	}
	// Digits during the call go to the call.
	h.dtmf("5")
	waitFor(t, func() bool { _, _, _, d := call.counts(); return d == "5" })
	// Recall goes to the call.
	h.hook(false)
	h.advance(100 * ms)
	h.hook(true)
	h.advance(300 * ms)
	if e := h.waitKind(EventRecall); e.Detail != "passed to the call" {
		t.Errorf("recall: %q", e.Detail)
	}
	waitFor(t, func() bool { _, f, _, _ := call.counts(); return f == 1 })
	// Far end clears: NU tone.
	r.progress.Update(CallUpdate{State: CallEnded})
	h.waitState(StateUnobtainable)
	h.onHook()
	h.waitState(StateIdle)
	if hu, _, _, _ := call.counts(); hu != 0 {
		t.Errorf("hung up a call that had ended: %d", hu)
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "the condition", f)
}

func TestEarlyMedia(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	r := h.dialToRoute("21234")
	call := &fakeCall{}
	r.reply <- routeReply{call: call}
	m := &fakeMedia{val: 555}
	r.progress.Update(CallUpdate{State: CallEarlyMedia, Media: m})
	h.waitState(StateEarlyMedia)
	if out := h.frame(nil); out[0] != 555 {
		t.Errorf("early media not played: %d", out[0])
	}
	r.progress.Update(CallUpdate{State: CallAnswered})
	h.waitState(StateConnected)
	if out := h.frame(nil); out[0] != 555 {
		t.Errorf("answered call lost the early media stream: %d", out[0])
	}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{val: 666}})
	if out := h.frame(nil); out[0] != 666 {
		t.Errorf("new media stream not taken: %d", out[0])
	}
	h.onHook()
	h.waitState(StateIdle)
	waitFor(t, func() bool { hu, _, _, _ := call.counts(); return hu == 1 })
}

func TestCallFailures(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		fail  FailReason
		want  State
		freq  float64
		level float64
	}{
		{"router says busy", &CallError{Reason: FailBusy}, 0, StateBusy, 400, -20},
		{"router says unobtainable", &CallError{Reason: FailUnobtainable, Err: errors.New("404")}, 0, StateUnobtainable, 400, -20},
		{"router error", errors.New("no trunk"), 0, StateCongestion, 400, -20},
		{"progress busy", nil, FailBusy, StateBusy, 400, -20},
		{"progress congestion", nil, FailCongestion, StateCongestion, 400, -20},
		{"progress unobtainable", nil, FailUnobtainable, StateUnobtainable, 400, -20},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "uk", withPlan("2xxxx"))
			r := h.dialToRoute("21234")
			if c.err != nil {
				r.reply <- routeReply{err: c.err}
			} else {
				r.reply <- routeReply{call: &fakeCall{}}
				r.progress.Update(CallUpdate{State: CallFailed, Reason: c.fail})
			}
			h.waitState(c.want)
			out := h.frames(10)
			if l := toneLevel(out, c.freq); l < c.level-4 {
				t.Errorf("%v Hz at %.1f dBm0", c.freq, l)
			}
			if c.want != StateUnobtainable {
				h.advance(h.p.prof.Dialling.ToneTimeout)
				h.waitState(StateUnobtainable)
			}
			h.advance(h.p.prof.Dialling.UnobtainableTimeout)
			h.waitState(StateParked)
		})
	}
}

func TestHangupWhileRouting(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	h.router.ignoreCtx = true
	r := h.dialToRoute("21234")
	h.onHook()
	h.waitState(StateIdle)
	select {
	case <-r.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Route's context not cancelled on hang-up")
	}
	call := &fakeCall{}
	r.reply <- routeReply{call: call}
	waitFor(t, func() bool { hu, _, _, _ := call.counts(); return hu == 1 })
	// Late progress from that call is ignored.
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{}}) // applied (or dropped) before it returns
	if s := h.state(); s != StateIdle {
		t.Errorf("stale progress moved the port to %s", s)
	}
}

func TestRecallOutsideCall(t *testing.T) {
	h := newHarness(t, "uk")
	h.offHook()
	h.waitState(StateDialTone)
	h.hook(false)
	h.advance(150 * ms) // longer than any pulse: a recall even while dialling
	h.hook(true)
	h.advance(200 * ms)
	if e := h.waitKind(EventRecall); !strings.Contains(e.Detail, "ignored") {
		t.Errorf("recall on dial tone: %q", e.Detail)
	}
	if s := h.state(); s != StateDialTone {
		t.Errorf("state %s", s)
	}
}

func TestInvalidHookSignal(t *testing.T) {
	h := newHarness(t, "uk")
	h.offHook()
	h.hook(false)
	h.advance(300 * ms) // between recall and clear
	h.hook(true)
	h.advance(50 * ms)
	if e := h.waitKind(EventHookError); !strings.Contains(e.Detail, "neither") {
		t.Errorf("hook error %q", e.Detail)
	}
	if s := h.p.Snapshot(); s.State != StateDialTone || s.Counters.HookErrors != 1 {
		t.Errorf("snapshot %+v", s)
	}
}

func TestSeqGap(t *testing.T) {
	h := newHarness(t, "uk")
	h.offHook()
	h.waitState(StateDialTone)
	// Events 2.. are lost; the line is on-hook now.
	h.line.mu.Lock()
	h.line.off = false
	h.line.mu.Unlock()
	h.seq += 3
	h.p.hookEvent(hal.HookEvent{Port: 1, OffHook: true, At: h.clock.Now(), Seq: h.seq})
	if e := h.waitKind(EventHookError); !strings.Contains(e.Detail, "lost") {
		t.Errorf("detail %q", e.Detail)
	}
	h.advance(h.p.prof.Hook.Clear + 10*ms)
	h.waitState(StateIdle)
	if c := h.p.Snapshot().Counters.LostHookEvents; c != 2 {
		t.Errorf("lost events counted %d, want 2", c)
	}
}

func TestHookThroughRun(t *testing.T) {
	h := newHarness(t, "uk")
	at := h.clock.Now()
	h.line.ev <- hal.HookEvent{Port: 1, OffHook: true, At: at, Seq: 1}
	// The edge's own timestamp counts, not when the port read it.
	waitFor(t, func() bool { return h.clock.Pending() > 0 })
	h.advance(h.p.prof.Hook.Seize + h.p.latency)
	e := h.waitState(StateDialTone)
	if e.At != at+h.p.prof.Hook.Seize+h.p.latency {
		t.Errorf("dial tone at %v, want seize + latency after the edge (%v)", e.At-at, h.p.prof.Hook.Seize+h.p.latency)
	}
}

func TestOfferBusyAndNotRunning(t *testing.T) {
	h := newHarness(t, "uk")
	h.offHook()
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{}); !errors.Is(err, ErrBusy) {
		t.Errorf("Offer while off-hook: %v", err)
	}
	h.stop()
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Offer after Run: %v", err)
	}
	if s := h.p.Snapshot(); s.State != StateStopped {
		t.Errorf("state after Run %s", s.State)
	}
}

func TestStopHangsUp(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	r := h.dialToRoute("21234")
	call := &fakeCall{}
	r.reply <- routeReply{call: call}
	h.waitCall()
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{}})
	h.waitState(StateConnected)
	h.stop()
	if hu, _, _, _ := call.counts(); hu != 1 {
		t.Errorf("call not hung up at stop: %d", hu)
	}
}

func TestEventJSON(t *testing.T) {
	b, err := EventRing.MarshalText()
	if err != nil || string(b) != "ring" {
		t.Errorf("%s %v", b, err)
	}
	if fmt.Sprint(EventKind(99)) != "EventKind(99)" {
		t.Error(EventKind(99).String())
	}
}

func TestRouteContext(t *testing.T) {
	// Route is never called with the port's lock held: a router that
	// reports progress from inside Route must not deadlock.
	h := newHarness(t, "uk", withPlan("2xxxx"))
	h.p.router = routerFunc(func(ctx context.Context, req RouteRequest, p Progress) (Call, error) {
		p.Update(CallUpdate{State: CallAlerting})
		return &fakeCall{}, nil
	})
	h.offHook()
	h.dtmf("21234")
	h.waitState(StateRingback)
}

type routerFunc func(context.Context, RouteRequest, Progress) (Call, error)

func (f routerFunc) Route(ctx context.Context, r RouteRequest, p Progress) (Call, error) {
	return f(ctx, r, p)
}

func TestCallWaitingTone(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	if err := h.p.SetCallWaiting(true); !errors.Is(err, ErrNotInCall) {
		t.Errorf("call waiting on an idle port: %v", err)
	}
	r := h.dialToRoute("21234")
	r.reply <- routeReply{call: &fakeCall{}}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{val: 0}})
	h.waitState(StateConnected)
	if out := h.frames(5); firstNonZero(out) >= 0 {
		t.Fatal("sound before call waiting")
	}
	if err := h.p.SetCallWaiting(true); err != nil {
		t.Fatal(err)
	}
	if e := h.waitKind(EventCallWaiting); !e.On {
		t.Errorf("event %+v", e)
	}
	out := h.frames(5) // 100 ms of 400 Hz, then silence
	if l := toneLevel(out[:800], 400); l < -24 {
		t.Errorf("call waiting tone at %.1f dBm0", l)
	}
	if firstNonZero(out[800:]) >= 0 {
		t.Error("call waiting tone longer than 100 ms")
	}
	r.progress.Update(CallUpdate{State: CallEnded})
	h.waitState(StateUnobtainable)
	if e := h.waitKind(EventCallWaiting); e.On {
		t.Errorf("call waiting not stopped with the call: %+v", e)
	}
}

func TestRouterPanicKeepsLine(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"))
	h.p.router = routerFunc(func(ctx context.Context, req RouteRequest, p Progress) (Call, error) {
		panic("router bug")
	})
	h.offHook()
	h.dtmf("21234")
	h.waitState(StateCongestion)
	// The line still works: hang up and lift again for dial tone.
	h.onHook()
	h.waitState(StateIdle)
	h.offHook()
	h.waitState(StateDialTone)
}
