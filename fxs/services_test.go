package fxs

import (
	"strings"
	"sync"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// holdCall is a call the port can hold (a SIP call), with a tone for its
// far end's voice; it records what it heard.
type holdCall struct {
	fakeCall
	hmu   sync.Mutex
	holds []bool
	tone  *dsp.ToneGen
	heard []int16
}

func (c *holdCall) Hold(on bool) error {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.holds = append(c.holds, on)
	return nil
}

func (c *holdCall) holdLog() []bool {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return append([]bool(nil), c.holds...)
}

// The call's media: a tone in, a recording out.
func (c *holdCall) ReadFrame(f *hal.Frame) error {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	if c.tone != nil {
		c.tone.Fill(f)
	} else {
		clear(f[:])
	}
	return nil
}

func (c *holdCall) WriteFrame(f *hal.Frame) error {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.heard = append(c.heard, f[:]...)
	return nil
}

func (c *holdCall) take() []int16 {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	h := c.heard
	c.heard = nil
	return h
}

func toneAt(hz float64) *dsp.ToneGen {
	return dsp.NewToneGen(dsp.Tone{Name: "t", Segments: []dsp.ToneSegment{{Components: []dsp.Component{{Freq: hz, Level: -10}}}}})
}

// xferRouter is a fake router that also transfers.
type xferRouter struct {
	*fakeRouter
	mu   sync.Mutex
	reqs []TransferRequest
	fail error
	held *recorder
	tgt  *recorder
}

type recorder struct {
	mu sync.Mutex
	us []CallUpdate
}

func (r *recorder) Update(u CallUpdate) { r.mu.Lock(); r.us = append(r.us, u); r.mu.Unlock() }
func (r *recorder) got() []CallUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]CallUpdate(nil), r.us...)
}

func (r *xferRouter) Transfer(req TransferRequest) (Progress, Progress, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	if r.fail != nil {
		return nil, nil, r.fail
	}
	r.held, r.tgt = &recorder{}, &recorder{}
	return r.held, r.tgt, nil
}

func (r *xferRouter) requests() []TransferRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TransferRequest(nil), r.reqs...)
}

func withServices(xferOnHangup bool) harnessOpt {
	return func(c *Config) { c.Services, c.TransferOnHangup = true, xferOnHangup }
}

// servicesHarness: a port with its own services in a call to A (2xxxx).
func servicesHarness(t *testing.T, country string, xferOnHangup bool) (*harness, *xferRouter, *holdCall, Progress) {
	t.Helper()
	xr := &xferRouter{fakeRouter: &fakeRouter{reqs: make(chan routed, 4)}}
	h := newHarness(t, country, withPlan("2xxxx"), withServices(xferOnHangup), func(c *Config) { c.Router = xr })
	h.router = xr.fakeRouter
	a := &holdCall{tone: toneAt(697)}
	r := h.dialToRoute("21234")
	r.reply <- routeReply{call: a}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: a})
	h.waitState(StateConnected)
	h.waitCall()
	h.frames(2)
	return h, xr, a, r.progress
}

// enquiry makes an enquiry call to B: R, recall dial tone, digits, B
// answers.
func (h *harness) enquiry(t *testing.T, number string, b *holdCall, answer bool) Progress {
	t.Helper()
	h.recall()
	if e := h.waitKind(EventService); e.Detail != ServiceEnquiry {
		t.Fatalf("service %q after R with one call", e.Detail)
	}
	h.waitState(StateDialTone)
	h.dtmf(number)
	r := h.route()
	r.reply <- routeReply{call: b}
	if !answer {
		r.progress.Update(CallUpdate{State: CallAlerting})
		h.waitState(StateRingback)
		h.waitCall()
		return r.progress
	}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: b})
	h.waitState(StateConnected)
	h.waitCall()
	return r.progress
}

func heardLevel(s []int16, hz float64) float64 { return dsp.ToneLevelDBm0(s, hz) }

// recall is a timed-break recall (or a hook flash) in the middle of the
// profile's window.
func (h *harness) recall() {
	hk := h.p.prof.Hook
	h.hook(false)
	h.advance((hk.FlashMin + hk.FlashMax) / 2)
	h.hook(true)
	h.advance(hk.Clear)
}

// R holds the call (Holder), recall dial tone plays; R again takes it back.
func TestEnquiryAndRetrieve(t *testing.T) {
	h, _, a, _ := servicesHarness(t, "us", false)
	h.recall()
	if e := h.waitKind(EventService); e.Detail != ServiceEnquiry {
		t.Fatalf("service %q", e.Detail)
	}
	h.waitState(StateDialTone)
	// US recall dial tone: three 100 ms bursts of 350+440, then steady.
	ear := h.frames(60)
	if l := heardLevel(ear[:800], 350); l < -20 {
		t.Errorf("no recall dial tone in the first burst: %.1f dBm0", l)
	}
	if l := heardLevel(ear[800:1600], 350); l > -40 {
		t.Errorf("no gap after the first burst: %.1f dBm0", l)
	}
	if l := heardLevel(ear[len(ear)-1600:], 350); l < -20 {
		t.Errorf("no steady dial tone after the bursts: %.1f dBm0", l)
	}
	if sn := h.p.Snapshot(); sn.Held != "21234" {
		t.Errorf("snapshot held %q", sn.Held)
	}
	waitFor(t, func() bool { l := a.holdLog(); return len(l) == 1 && l[0] })
	h.recall()
	if e := h.waitKind(EventService); e.Detail != ServiceRetrieve {
		t.Fatalf("service %q", e.Detail)
	}
	h.waitState(StateConnected)
	waitFor(t, func() bool { l := a.holdLog(); return len(l) == 2 && !l[1] })
	a.take()
	ear = h.frames(20)
	if l := heardLevel(ear[800:], 697); l < -14 {
		t.Errorf("the porter does not hear the call again: 697 Hz at %.1f dBm0", l)
	}
	if h.p.Snapshot().Held != "" {
		t.Error("still held after retrieve")
	}
}

// UK: an enquiry call answered; R2 swaps (each time the other is held), R3
// joins the three (each hears the other two), R1 in the three-way drops
// the party added last.
func TestSwapAndThreeWay(t *testing.T) {
	h, _, a, _ := servicesHarness(t, "uk", false)
	b := &holdCall{tone: toneAt(1209)}
	h.enquiry(t, "22222", b, true)
	h.frames(2)
	a.take()
	ear := h.frames(20)
	if heardLevel(ear[800:], 1209) < -14 || heardLevel(ear[800:], 697) > -40 {
		t.Fatalf("in the enquiry call the porter hears B %.1f, A %.1f", heardLevel(ear[800:], 1209), heardLevel(ear[800:], 697))
	}
	if got := a.take(); len(got) != 0 {
		t.Fatalf("the held call was pumped %d samples", len(got))
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("2")
	if e := h.waitKind(EventService); e.Detail != ServiceSwap {
		t.Fatalf("R2: %q", e.Detail)
	}
	waitFor(t, func() bool { l := b.holdLog(); return len(l) == 1 && l[0] })
	waitFor(t, func() bool { l := a.holdLog(); return len(l) == 2 && !l[1] })
	h.frames(2)
	ear = h.frames(20)
	if heardLevel(ear[800:], 697) < -14 {
		t.Fatal("after R2 the porter does not hear A")
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("3")
	if e := h.waitKind(EventService); e.Detail != ServiceConference {
		t.Fatalf("R3: %q", e.Detail)
	}
	if !h.p.Snapshot().ThreeWay {
		t.Fatal("snapshot: not a three-way")
	}
	h.frames(3)
	a.take()
	b.take()
	porter := toneAt(1004)
	var mic hal.Frame
	var earp []int16
	for range 25 {
		porter.Fill(&mic)
		o := h.frame(&mic)
		earp = append(earp, o[:]...)
	}
	for _, c := range []struct {
		who       string
		s         []int16
		want      [2]float64
		notItself float64
	}{
		{"the porter", earp, [2]float64{697, 1209}, 1004},
		{"A", a.take(), [2]float64{1004, 1209}, 697},
		{"B", b.take(), [2]float64{1004, 697}, 1209},
	} {
		for _, f := range c.want {
			if l := heardLevel(c.s, f); l < -14 {
				t.Errorf("%s hears %.0f Hz at %.1f dBm0", c.who, f, l)
			}
		}
		if l := heardLevel(c.s, c.notItself); l > -40 {
			t.Errorf("%s hears itself at %.1f dBm0", c.who, l)
		}
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("1")
	if e := h.waitKind(EventService); e.Detail != ServiceReleased {
		t.Fatalf("R1 in the three-way: %q", e.Detail)
	}
	// A was current after the swap, so B (held, joined) stays.
	waitFor(t, func() bool { hu, _, _, _ := a.counts(); return hu == 1 })
	if sn := h.p.Snapshot(); sn.ThreeWay || sn.Held != "" || sn.State != StateConnected {
		t.Fatalf("after R1: %+v", sn)
	}
}

// US three-way calling: flash, dial, flash joins the three; a flash in the
// three-way drops the party added last.
func TestThreeWayUS(t *testing.T) {
	h, _, a, _ := servicesHarness(t, "us", false)
	b := &holdCall{tone: toneAt(1209)}
	h.enquiry(t, "22222", b, true)
	h.recall()
	if e := h.waitKind(EventService); e.Detail != ServiceConference {
		t.Fatalf("flash in the enquiry call: %q", e.Detail)
	}
	waitFor(t, func() bool { l := a.holdLog(); return len(l) == 2 && !l[1] })
	h.recall()
	if e := h.waitKind(EventService); e.Detail != ServiceReleased {
		t.Fatalf("flash in the three-way: %q", e.Detail)
	}
	waitFor(t, func() bool { hu, _, _, _ := b.counts(); return hu == 1 })
	if sn := h.p.Snapshot(); sn.ThreeWay || sn.State != StateConnected {
		t.Fatalf("after dropping the last party: %+v", sn)
	}
}

// Hanging up in the enquiry call transfers: attended once it answered.
// The calls' later updates go to the transfer.
func TestTransferOnHangupAttended(t *testing.T) {
	h, xr, a, pa := servicesHarness(t, "uk", true)
	b := &holdCall{tone: toneAt(1209)}
	pb := h.enquiry(t, "22222", b, true)
	h.onHook()
	if e := h.waitKind(EventService); e.Detail != ServiceTransfer {
		t.Fatalf("on-hook: %q", e.Detail)
	}
	h.waitState(StateIdle)
	waitFor(t, func() bool { return len(xr.requests()) == 1 })
	req := xr.requests()[0]
	if req.Held != Call(a) || req.Target != Call(b) || !req.TargetAnswered || req.Number != "22222" || !req.OnHook {
		t.Fatalf("transfer request %+v", req)
	}
	pa.Update(CallUpdate{State: CallEnded, Detail: "A cleared"})
	pb.Update(CallUpdate{State: CallEnded, Detail: "B cleared"})
	waitFor(t, func() bool { return len(xr.held.got()) == 1 && len(xr.tgt.got()) == 1 })
	if hu, _, _, _ := a.counts(); hu != 0 {
		t.Fatal("the transferred call was hung up by the port")
	}
	// The port is free at once.
	h.offHook()
	h.waitState(StateDialTone)
}

// Blind transfer: hanging up while the enquiry call rings.
func TestTransferOnHangupBlind(t *testing.T) {
	h, xr, _, _ := servicesHarness(t, "uk", true)
	b := &holdCall{}
	h.enquiry(t, "22222", b, false)
	h.onHook()
	waitFor(t, func() bool { return len(xr.requests()) == 1 })
	if req := xr.requests()[0]; req.TargetAnswered {
		t.Fatal("a ringing target transferred as answered")
	}
}

// Without transfer on hang-up (or when the transfer fails), the held call
// rings the porter back; lifting takes it off hold.
func TestHeldCallRingsBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		xfer bool
	}{{"no transfer on hang-up", false}, {"transfer refused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			h, xr, a, _ := servicesHarness(t, "uk", tc.xfer)
			xr.fail = errTestRefused
			b := &holdCall{}
			h.enquiry(t, "22222", b, true)
			h.onHook()
			e := h.waitKind(EventService)
			if tc.xfer {
				if e.Detail != ServiceTransfer {
					t.Fatalf("on-hook: %q", e.Detail)
				}
				e = h.waitKind(EventService)
				if e.Detail == ServiceTransferErr {
					e = h.waitKind(EventService)
				}
			}
			if e.Detail != ServiceRingBack {
				t.Fatalf("on-hook: %q, want ring-back", e.Detail)
			}
			h.waitState(StateRinging)
			waitFor(t, func() bool { hu, _, _, _ := b.counts(); return hu == 1 })
			h.offHook()
			h.waitState(StateConnected)
			waitFor(t, func() bool { l := a.holdLog(); return len(l) == 2 && !l[1] })
			h.frames(2)
			a.take()
			if ear := h.frames(20); heardLevel(ear[800:], 697) < -14 {
				t.Fatal("rung back, the porter does not hear the held caller")
			}
		})
	}
}

type refusedErr struct{}

func (refusedErr) Error() string { return "refused by the test" }

var errTestRefused = refusedErr{}

// waitingCall is a second inbound call.
type waitingCall struct {
	holdCall
	rmu      sync.Mutex
	rejected int
}

func (c *waitingCall) Answer() (Media, error) {
	c.fakeCall.Answer()
	return c, nil
}

func (c *waitingCall) Reject() error { c.rmu.Lock(); c.rejected++; c.rmu.Unlock(); return nil }

// A call waiting: tone (and caller ID on call waiting) in the call; R2
// takes it and holds the first; R2 again swaps back; R0 then ends the
// held second call.
func TestCallWaitingSwapAndRelease(t *testing.T) {
	h, _, a, _ := servicesHarness(t, "uk", false)
	w := &waitingCall{holdCall: holdCall{tone: toneAt(1209)}}
	if _, err := h.p.OfferWaitingCall(w, dsp.CallerID{Number: "07700900222"}); err != nil {
		t.Fatal(err)
	}
	if e := h.waitKind(EventCallWaiting); !e.On {
		t.Fatal("no call-waiting tone")
	}
	if _, err := h.p.OfferWaitingCall(&waitingCall{}, dsp.CallerID{}); err == nil {
		t.Fatal("a third call was taken")
	}
	if sn := h.p.Snapshot(); sn.Waiting != "07700900222" {
		t.Fatalf("snapshot waiting %q", sn.Waiting)
	}
	ear := h.frames(10)
	if l := heardLevel(ear[:800], 400); l < -26 {
		t.Fatalf("call-waiting tone's first burst at %.1f dBm0", l)
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("2")
	if e := h.waitKind(EventService); e.Detail != ServiceAnswered {
		t.Fatalf("R2 with a call waiting: %q", e.Detail)
	}
	waitFor(t, func() bool { _, _, an, _ := w.counts(); return an == 1 })
	waitFor(t, func() bool { l := a.holdLog(); return len(l) == 1 && l[0] })
	// The waiting call's audio comes when its Answer returns, on the
	// port's worker: counted answered is not yet heard. The porter hears
	// the second caller once the worker has handed its audio over.
	waitFor(t, func() bool { return heardLevel(h.frames(20)[800:], 1209) >= -14 })
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("2")
	if e := h.waitKind(EventService); e.Detail != ServiceSwap {
		t.Fatalf("R2 again: %q", e.Detail)
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("0")
	if e := h.waitKind(EventService); e.Detail != ServiceReleased {
		t.Fatalf("R0: %q", e.Detail)
	}
	waitFor(t, func() bool { hu, _, _, _ := w.counts(); return hu == 1 })
}

// R0 refuses the waiting caller (busy); a caller who gives up stops the
// tone; hanging up with a call waiting makes it ring.
func TestCallWaitingRejectGiveUpAndRing(t *testing.T) {
	h, _, _, _ := servicesHarness(t, "uk", false)
	w := &waitingCall{}
	if _, err := h.p.OfferWaitingCall(w, dsp.CallerID{Number: "07700900222"}); err != nil {
		t.Fatal(err)
	}
	h.recall()
	h.waitKind(EventRecall)
	h.dtmf("0")
	if e := h.waitKind(EventService); e.Detail != ServiceRejected {
		t.Fatalf("R0: %q", e.Detail)
	}
	waitFor(t, func() bool { w.rmu.Lock(); defer w.rmu.Unlock(); return w.rejected == 1 })

	w2 := &waitingCall{}
	pr, err := h.p.OfferWaitingCall(w2, dsp.CallerID{Number: "07700900333"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitKind(EventCallWaiting)
	pr.Update(CallUpdate{State: CallEnded, Detail: "gave up"})
	for {
		if e := h.waitKind(EventCallWaiting); !e.On {
			break
		}
	}
	if h.p.Snapshot().Waiting != "" {
		t.Fatal("still waiting after the caller gave up")
	}

	w3 := &waitingCall{}
	if _, err := h.p.OfferWaitingCall(w3, dsp.CallerID{Number: "07700900444"}); err != nil {
		t.Fatal(err)
	}
	h.onHook()
	h.waitState(StateRinging)
	h.offHook()
	h.waitState(StateConnected)
	waitFor(t, func() bool { _, _, an, _ := w3.counts(); return an == 1 })
}

// A port that passes the flash to its PBX takes no call waiting and sends
// R on (the existing behaviour).
func TestServicesOffPassesFlash(t *testing.T) {
	call := &fakeCall{}
	h, _ := connectedHarness(t, "uk", call)
	if _, err := h.p.OfferWaitingCall(&waitingCall{}, dsp.CallerID{}); err == nil || !strings.Contains(err.Error(), "PBX") {
		t.Fatalf("call waiting on a port that passes the flash: %v", err)
	}
	h.recall()
	waitFor(t, func() bool { _, f, _, _ := call.counts(); return f == 1 })
}

// A trunk call whose network has a second call takes the network's codes
// even when the port applies the services itself.
func TestNetworkCodesWinOverLocalServices(t *testing.T) {
	xr := &xferRouter{fakeRouter: &fakeRouter{reqs: make(chan routed, 4)}}
	h := newHarness(t, "uk", withPlan("2xxxx"), withServices(true), func(c *Config) { c.Router = xr })
	h.router = xr.fakeRouter
	call := &recallCall{}
	r := h.dialToRoute("21234")
	r.reply <- routeReply{call: call}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{}})
	h.waitState(StateConnected)
	h.waitCall()
	h.recall()
	if e := h.waitKind(EventRecall); e.Detail != "R: waiting for the code digit" {
		t.Fatalf("recall event %q", e.Detail)
	}
	h.dtmf("2")
	waitFor(t, func() bool { return len(call.got()) == 1 && call.got()[0] == "swap" })
}

// An emergency call is never put on hold by R, and takes no call waiting.
func TestEmergencyCallKeepsR(t *testing.T) {
	xr := &xferRouter{fakeRouter: &fakeRouter{reqs: make(chan routed, 4)}}
	h := newHarness(t, "uk", withServices(true), func(c *Config) { c.Router = xr })
	h.router = xr.fakeRouter
	a := &holdCall{tone: toneAt(697)}
	r := h.dialToRoute("999")
	r.reply <- routeReply{call: a}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: a})
	h.waitState(StateConnected)
	h.waitCall()
	h.recall()
	if e := h.waitKind(EventRecall); e.Detail != "ignored in an emergency call" {
		t.Fatalf("R in a 999 call: %q", e.Detail)
	}
	if h.state() != StateConnected || len(a.holdLog()) != 0 {
		t.Fatalf("the 999 call was held: %s %v", h.state(), a.holdLog())
	}
	if _, err := h.p.OfferWaitingCall(&waitingCall{}, dsp.CallerID{}); err == nil {
		t.Fatal("a call waiting during a 999 call")
	}
}
