package fxs

import (
	"strings"
	"sync"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// connectedHarness is a port in a call whose far end plays a constant
// value (so muting shows).
func connectedHarness(t *testing.T, country string, call Call) (*harness, *fakeMedia) {
	t.Helper()
	h := newHarness(t, country, withPlan("2xxxx"))
	r := h.dialToRoute("21234")
	r.reply <- routeReply{call: call}
	m := &fakeMedia{val: 300}
	r.progress.Update(CallUpdate{State: CallAnswered, Media: m})
	h.waitState(StateConnected)
	h.waitCall()
	h.frames(2)
	return h, m
}

// casHandset plays the earpiece until the CPE alerting signal has come and
// gone, answering it as a caller-display handset does (DTMF ack, 60 ms)
// unless ack is empty; it returns all the earpiece audio and whether the
// far end was muted throughout the sequence.
func casHandset(t *testing.T, h *harness, m *fakeMedia, ack string, frames int) []int16 {
	t.Helper()
	var out []int16
	inCAS, sawCAS := false, false
	var mic []int16
	for i := 0; i < frames; i++ {
		var f hal.Frame
		n := copy(f[:], mic)
		mic = mic[n:]
		o := h.frame(&f)
		out = append(out, o[:]...)
		cas := dsp.ToneLevelDBm0(o[:], 2130) > -25 && dsp.ToneLevelDBm0(o[:], 2750) > -25
		switch {
		case cas:
			inCAS, sawCAS = true, true
		case inCAS:
			inCAS = false
			if ack != "" {
				s, err := dsp.AppendDTMF(nil, ack, 60*ms, 0, -8)
				if err != nil {
					t.Fatal(err)
				}
				mic = s
			}
		}
	}
	if !sawCAS {
		t.Fatal("no CPE alerting signal in the earpiece")
	}
	return out
}

func TestCallerIDOnCallWaiting(t *testing.T) {
	for _, c := range []struct {
		country string
		std     dsp.FSKStandard
	}{{"uk", dsp.V23}, {"etsi", dsp.V23}, {"us", dsp.Bell202}} {
		t.Run(c.country, func(t *testing.T) {
			call := &fakeCall{}
			h, m := connectedHarness(t, c.country, call)
			cid := dsp.CallerID{Number: "07700900222", Name: "Bursar"}
			if err := h.p.OfferWaiting(cid); err != nil {
				t.Fatal(err)
			}
			out := casHandset(t, h, m, "D", 60)
			got, ok := decodeCID(t, c.std, out)
			if !ok || got.Number != "07700900222" || got.Name != "Bursar" {
				t.Fatalf("caller ID on call waiting decoded %+v %v", got, ok)
			}
			h.waitKind(EventCallWaiting)
			for _, want := range []string{"waiting: start", "waiting: acknowledged", "waiting: end"} {
				if e := h.waitKind(EventCallerID); e.Detail != want {
					t.Fatalf("caller-ID event %q, want %q", e.Detail, want)
				}
			}
			// The digit D was the acknowledgement, not a digit for the far end.
			if _, _, _, digits := call.counts(); digits != "" {
				t.Fatalf("the far end got DTMF %q", digits)
			}
			// The far end is back, the tone's cadence carries on and the far
			// end never heard the sequence.
			back := h.frames(5)
			if back[len(back)-1] != 300 {
				t.Fatalf("far end not back after the data: %d", back[len(back)-1])
			}
			if m.last != (hal.Frame{}) && m.last[0] != 0 {
				t.Logf("last frame to the far end starts %d", m.last[0])
			}
		})
	}
}

// A handset without caller display on call waiting does not answer the
// alert: it hears no data, the far end comes back.
func TestCallerIDOnCallWaitingNotAcknowledged(t *testing.T) {
	h, m := connectedHarness(t, "uk", &fakeCall{})
	if err := h.p.OfferWaiting(dsp.CallerID{Number: "07700900222"}); err != nil {
		t.Fatal(err)
	}
	out := casHandset(t, h, m, "", 40)
	if _, ok := decodeCID(t, dsp.V23, out); ok {
		t.Fatal("data sent to a handset that did not acknowledge")
	}
	for {
		if e := h.waitKind(EventCallerID); strings.HasPrefix(e.Detail, "waiting: no acknowledgement") {
			break
		}
	}
	if back := h.frames(2); back[len(back)-1] != 300 {
		t.Fatalf("far end not back: %d", back[len(back)-1])
	}
}

// While the sequence runs, the far end hears silence whatever the porter
// says, and the porter hears nothing of the far end.
func TestCallerIDOnCallWaitingMutes(t *testing.T) {
	h, m := connectedHarness(t, "uk", &fakeCall{})
	if err := h.p.OfferWaiting(dsp.CallerID{Number: "07700900222"}); err != nil {
		t.Fatal(err)
	}
	h.frames(5) // the tone's first burst: the call goes on under it
	speech := hal.Frame{}
	for i := range speech {
		speech[i] = 5000
	}
	for i := 0; i < 4; i++ { // the alert
		o := h.frame(&speech)
		for _, v := range o {
			if v == 300 {
				t.Fatal("the far end was heard during the alert")
			}
		}
		m.mu.Lock()
		last := m.last
		m.mu.Unlock()
		if last != (hal.Frame{}) {
			t.Fatal("the porter was heard by the far end during the alert")
		}
	}
}

// recallCall takes recall codes.
type recallCall struct {
	fakeCall
	mu      sync.Mutex
	actions []RecallAction
}

func (c *recallCall) TakesRecallCodes() bool { return true }

func (c *recallCall) Recall(a RecallAction) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.actions = append(c.actions, a)
	return nil
}

func (c *recallCall) got() []RecallAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]RecallAction(nil), c.actions...)
}

func (h *harness) flash() {
	h.hook(false)
	h.advance(100 * ms)
	h.hook(true)
	h.advance(h.p.prof.Hook.Clear)
}

func TestRecallCodes(t *testing.T) {
	call := &recallCall{}
	h, _ := connectedHarness(t, "uk", call)
	h.flash()
	if e := h.waitKind(EventRecall); e.Detail != "R: waiting for the code digit" {
		t.Fatalf("recall event %q", e.Detail)
	}
	h.dtmf("2")
	if e := h.waitKind(EventRecall); e.Detail != "R2: swap" {
		t.Fatalf("recall event %q", e.Detail)
	}
	h.flash()
	h.waitKind(EventRecall)
	h.dtmf("0")
	h.waitKind(EventRecall)
	h.flash()
	h.waitKind(EventRecall)
	h.dtmf("9") // not a code: nothing is done, and the digit is not sent on
	if e := h.waitKind(EventRecall); !strings.HasPrefix(e.Detail, "R9: not a code") {
		t.Fatalf("recall event %q", e.Detail)
	}
	h.flash()
	h.waitKind(EventRecall)
	h.advance(h.p.prof.Recall.DigitTimeout + ms)
	if e := h.waitKind(EventRecall); e.Detail != "R: no code dialled" {
		t.Fatalf("recall event %q", e.Detail)
	}
	h.dtmf("5") // after the timeout a digit is an ordinary digit
	waitFor(t, func() bool { _, _, _, d := call.counts(); return d == "5" })
	waitFor(t, func() bool { return len(call.got()) == 2 })
	if got := call.got(); got[0] != "swap" || got[1] != "release-other" {
		t.Fatalf("actions %v", got)
	}
	if _, flashes, _, _ := call.counts(); flashes != 0 {
		t.Fatal("a call that takes the codes was flashed")
	}
}

func TestRecallFlashAloneUS(t *testing.T) {
	call := &recallCall{}
	h, _ := connectedHarness(t, "us", call)
	h.hook(false)
	h.advance(500 * ms) // a North American flash
	h.hook(true)
	h.advance(h.p.prof.Hook.Clear)
	if e := h.waitKind(EventRecall); e.Detail != "R: swap" {
		t.Fatalf("recall event %q", e.Detail)
	}
	waitFor(t, func() bool { return len(call.got()) == 1 && call.got()[0] == "swap" })
}

// A call that does not take the codes (SIP: the PBX applies its own) gets
// the bare recall, and the digits after it.
func TestRecallPassedToOtherCalls(t *testing.T) {
	call := &fakeCall{}
	h, _ := connectedHarness(t, "uk", call)
	h.flash()
	h.dtmf("2")
	waitFor(t, func() bool { _, f, _, d := call.counts(); return f == 1 && d == "2" })
}
