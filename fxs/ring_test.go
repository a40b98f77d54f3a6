package fxs

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// ringCalls filters line calls to one kind, as "+t on" strings relative to t0.
func rel(calls []lineCall, t0 time.Duration) []string {
	var s []string
	for _, c := range calls {
		v := "off"
		if c.On {
			v = "on"
		}
		s = append(s, (c.At-t0).String()+" "+c.What+" "+v)
	}
	return s
}

// decodeCID runs our caller-ID receiver over audio.
func decodeCID(t *testing.T, std dsp.FSKStandard, audio []int16) (dsp.CallerID, bool) {
	t.Helper()
	var got []byte
	rx := dsp.NewCallerIDReceiver(std, func(m []byte) { got = append([]byte(nil), m...) })
	rx.Process(audio)
	if got == nil {
		return dsp.CallerID{}, false
	}
	c, err := dsp.ParseCallerID(got)
	if err != nil {
		t.Fatalf("caller ID does not parse: %v", err)
	}
	return c, true
}

// framesUntilCIDEnd clocks frames until the caller-ID audio has ended and
// returns the earpiece audio from the start with the frame index at which
// the audio began.
func (h *harness) framesUntil(max int, stop func() bool) []int16 {
	var out []int16
	for i := 0; i < max && !stop(); i++ {
		f := h.frame(nil)
		out = append(out, f[:]...)
	}
	return out
}

func (h *harness) sawEvent(k EventKind, detail string) func() bool {
	return func() bool {
		for {
			select {
			case e := <-h.events:
				h.log = append(h.log, e)
				if e.Kind == k && (detail == "" || e.Detail == detail) {
					return true
				}
			default:
				return false
			}
		}
	}
}

// firstNonZero is the index of the first non-zero sample.
func firstNonZero(s []int16) int {
	for i, v := range s {
		if v != 0 {
			return i
		}
	}
	return -1
}

func TestUKCallerIDAndCadence(t *testing.T) {
	h := newHarness(t, "uk")
	t0 := h.clock.Now()
	call := &fakeCall{media: &fakeMedia{val: 9}}
	prog, err := h.p.Offer(call, dsp.CallerID{Number: "01223334455", Name: "Porters Lodge"})
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(StateRinging)
	// Polarity reversal first, nothing else yet.
	if got := rel(h.line.take(), t0); strings.Join(got, ",") != "0s reverse on" {
		t.Fatalf("first line action %v, want the reversal alone", got)
	}
	audio := h.framesUntil(200, h.sawEvent(EventCallerID, "end"))
	start := firstNonZero(audio)
	// audio[0] is the frame the pump wrote once the clock reached t0+20ms.
	startAt := hal.FrameDuration + time.Duration(start)*time.Second/hal.SampleRate
	if startAt < 100*ms || startAt > 200*ms {
		t.Errorf("alert tone began %v after the reversal, want 100-200 ms (SIN 227: >= 100 ms)", startAt)
	}
	cid := audio[start:]
	// TAS: 2130+2750 Hz for 100 ms (88-110), then 60 ms of silence (45-75).
	alert := cid[:800]
	if l1, l2 := toneLevel(alert, 2130), toneLevel(alert, 2750); l1 < -16 || l2 < -16 {
		t.Errorf("alert tone levels %.1f / %.1f dBm0", l1, l2)
	}
	alertLen := 0
	for alertLen < len(cid) && (cid[alertLen] != 0 || cid[alertLen+1] != 0 || cid[alertLen+2] != 0) {
		alertLen++
	}
	if ms := alertLen * 1000 / hal.SampleRate; ms < 88 || ms > 110 {
		t.Errorf("alert tone lasts %d ms, want 88-110", ms)
	}
	gap := firstNonZero(cid[alertLen:])
	if ms := gap * 1000 / hal.SampleRate; ms < 45 || ms > 75 {
		t.Errorf("gap after the alert %d ms, want 45-75", ms)
	}
	// V.23: 240 bits of channel seizure (1300/2100 alternating), then 120
	// mark bits (1300 Hz only), at 1200 bit/s, as the profile says.
	fsk := cid[alertLen+gap:]
	seizure := fsk[:240*8000/1200]
	mark := fsk[240*8000/1200 : 360*8000/1200]
	// Alternating bits at 1200 bit/s put their energy at 1700 +- 600 Hz,
	// not on the mark frequency; the mark signal is a steady 1300 Hz.
	if l := toneLevel(seizure, 1300); l > toneLevel(mark, 1300)-10 {
		t.Errorf("seizure has %.1f dBm0 at 1300 Hz: not alternating", l)
	}
	if toneLevel(mark, 1300) < -16 || toneLevel(mark, 2100) > -35 {
		t.Errorf("mark signal: 1300 Hz %.1f, 2100 Hz %.1f dBm0", toneLevel(mark, 1300), toneLevel(mark, 2100))
	}
	if l := toneLevel(fsk[360*8000/1200:380*8000/1200], 2100); l < -30 {
		t.Errorf("no start bit (space) right after 120 mark bits: 2100 Hz at %.1f dBm0", l)
	}
	got, ok := decodeCID(t, dsp.V23, cid)
	if !ok {
		t.Fatal("our receiver found no V.23 caller ID")
	}
	if got.Number != "01223334455" || got.Name != "Porters Lodge" || got.Time.Month() != 11 || got.Time.Day() != 27 || got.Time.Hour() != 9 || got.Time.Minute() != 41 {
		t.Errorf("caller ID %+v", got)
	}
	if _, bell := decodeCID(t, dsp.Bell202, nil); bell {
		t.Error("decoder found something in nothing")
	}
	// Nothing rang during the data.
	if c := h.line.take(); len(c) != 0 {
		t.Errorf("line actions during caller ID: %v", rel(c, t0))
	}
	cidEnd := h.clock.Now()
	// Let the cadence run through two cycles without audio.
	h.advance(6500 * ms)
	calls := h.line.take()
	want := []string{"300ms reverse off", "300ms ring on", "700ms ring off", "900ms ring on", "1.3s ring off", "3.3s ring on", "3.7s ring off", "3.9s ring on", "4.3s ring off", "6.3s ring on"}
	if got := rel(calls, cidEnd); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("after caller ID:\n got %v\nwant %v", got, want)
	}
	// Answer during a ring: ringing stops at the seize, call answered.
	h.hook(true)
	seize := h.clock.Now()
	h.advance(50 * ms)
	h.waitState(StateConnected)
	calls = h.line.take()
	if len(calls) != 1 || calls[0].What != "ring" || calls[0].On || calls[0].At-seize > h.p.prof.Hook.Seize+h.p.latency {
		t.Errorf("answer: line %v", rel(calls, seize))
	}
	waitFor(t, func() bool { _, _, a, _ := call.counts(); return a == 1 })
	waitFor(t, func() bool { return h.frame(nil)[0] == 9 })
	prog.Update(CallUpdate{State: CallEnded})
	h.waitState(StateUnobtainable)
}

func TestUSCallerIDBetweenRings(t *testing.T) {
	h := newHarness(t, "us")
	t0 := h.clock.Now()
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{Number: "2125551234", NameAbsence: dsp.Private}); err != nil {
		t.Fatal(err)
	}
	h.waitState(StateRinging)
	if got := rel(h.line.take(), t0); strings.Join(got, ",") != "0s ring on" {
		t.Fatalf("first line action %v, want the first ring", got)
	}
	audio := h.framesUntil(400, h.sawEvent(EventCallerID, "end"))
	start := firstNonZero(audio)
	startAt := hal.FrameDuration + time.Duration(start)*time.Second/hal.SampleRate
	endAt := hal.FrameDuration + time.Duration(len(audio))*time.Second/hal.SampleRate
	// First ring 0-2 s, data from >= 500 ms after it, done before 6 s.
	if startAt < 2500*ms || startAt > 2600*ms {
		t.Errorf("FSK began at %v, want 2.5-2.6 s (500 ms after the first ring)", startAt)
	}
	if endAt > 5800*ms {
		t.Errorf("FSK ends at %v, too close to the second ring at 6 s", endAt)
	}
	got, ok := decodeCID(t, dsp.Bell202, audio[start:])
	if !ok {
		t.Fatal("no Bell 202 caller ID decoded")
	}
	if got.Number != "2125551234" || got.NameAbsence != dsp.Private {
		t.Errorf("caller ID %+v", got)
	}
	h.advance(6*time.Second + t0 - h.clock.Now())
	want := []string{"2s ring off", "6s ring on"}
	if got := rel(h.line.take(), t0); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("cadence %v, want %v", got, want)
	}
}

func TestRingToggle(t *testing.T) {
	h := newHarness(t, "us", withDrive(hal.RingToggle), withoutAudio())
	t0 := h.clock.Now()
	prog, err := h.p.Offer(&fakeCall{}, dsp.CallerID{})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(2100 * ms)
	calls := h.line.take()
	// 20 Hz: polarity flips every 25 ms through the 2 s ring, then forward
	// polarity and ring mode off.
	if calls[0].What != "ring" || !calls[0].On || calls[0].At != t0 {
		t.Fatalf("first call %v", calls[0])
	}
	flips := calls[1 : len(calls)-2]
	if len(flips) != 79 {
		t.Errorf("%d polarity flips in a 2 s ring at 20 Hz, want 79", len(flips))
	}
	for i, c := range flips {
		if c.What != "reverse" || c.On != (i%2 == 0) || c.At-t0 != time.Duration(i+1)*25*ms {
			t.Fatalf("flip %d: %v", i, rel([]lineCall{c}, t0))
		}
	}
	tail := rel(calls[len(calls)-2:], t0)
	if strings.Join(tail, ",") != "2s reverse off,2s ring off" {
		t.Errorf("ring end %v", tail)
	}
	// Cancel in the middle of the next ring: ringing stops at once.
	h.advance(4 * time.Second)
	h.advance(110 * ms)
	h.line.take()
	cancelAt := h.clock.Now()
	prog.Update(CallUpdate{State: CallEnded})
	h.waitState(StateIdle)
	calls = h.line.take()
	var last lineCall
	for _, c := range calls {
		if c.At != cancelAt {
			t.Errorf("line action after the cancel: %v", rel([]lineCall{c}, cancelAt))
		}
		last = c
	}
	if last.What != "ring" || last.On {
		t.Errorf("ring not released on cancel: %v", rel(calls, cancelAt))
	}
	h.advance(10 * time.Second)
	if c := h.line.take(); len(c) != 0 {
		t.Errorf("line actions after cancel: %v", rel(c, cancelAt))
	}
}

func TestUKRingToggleRestoresPolarity(t *testing.T) {
	h := newHarness(t, "uk", withDrive(hal.RingToggle))
	t0 := h.clock.Now()
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{Number: "999"}); err != nil {
		t.Fatal(err)
	}
	h.framesUntil(200, h.sawEvent(EventCallerID, "end"))
	h.advance(400*ms + 300*ms)
	calls := h.line.take()
	// reverse on (CID), reverse off (restore), ring on, flips at 25 Hz (20 ms).
	if calls[0].What != "reverse" || !calls[0].On || calls[1].What != "reverse" || calls[1].On || calls[2].What != "ring" || !calls[2].On {
		t.Fatalf("sequence %v", rel(calls[:3], t0))
	}
	ringAt := calls[2].At
	n := 0
	for _, c := range calls[3:] {
		if c.What == "ring" {
			if c.On || c.At-ringAt != 400*ms {
				t.Errorf("ring off %v", rel([]lineCall{c}, ringAt))
			}
			break
		}
		n++
		if (c.At-ringAt)%(20*ms) != 0 {
			t.Errorf("flip at %v", c.At-ringAt)
		}
	}
	if n != 20 { // 19 flips + the final restore to forward
		t.Errorf("%d polarity changes in the first 400 ms ring at 25 Hz, want 20", n)
	}
}

func TestCancelDuringCallerID(t *testing.T) {
	h := newHarness(t, "uk")
	prog, err := h.p.Offer(&fakeCall{}, dsp.CallerID{Number: "123"})
	if err != nil {
		t.Fatal(err)
	}
	h.framesUntil(15, func() bool { return false }) // into the FSK
	h.line.take()
	prog.Update(CallUpdate{State: CallEnded})
	h.waitState(StateIdle)
	calls := rel(h.line.take(), h.clock.Now())
	if strings.Join(calls, ",") != "0s reverse off" {
		t.Errorf("cancel during caller ID: %v", calls)
	}
	if out := h.frames(2); firstNonZero(out) >= 0 {
		t.Error("caller-ID audio still playing after cancel")
	}
	// The port is idle and can take the next call.
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{}); err != nil {
		t.Errorf("second offer: %v", err)
	}
}

func TestAnswerDuringCallerID(t *testing.T) {
	h := newHarness(t, "uk")
	call := &fakeCall{media: &fakeMedia{val: 3}}
	if _, err := h.p.Offer(call, dsp.CallerID{Number: "123"}); err != nil {
		t.Fatal(err)
	}
	h.framesUntil(12, func() bool { return false })
	h.hook(true)
	h.frames(3)
	h.waitState(StateConnected)
	calls := h.line.take()
	if len(calls) < 2 || calls[len(calls)-1].What != "reverse" || calls[len(calls)-1].On {
		t.Errorf("polarity not restored on answer: %v", calls)
	}
	for _, c := range calls {
		if c.What == "ring" && c.On {
			t.Errorf("rang after the answer: %v", c)
		}
	}
	waitFor(t, func() bool { _, _, a, _ := call.counts(); return a == 1 })
	waitFor(t, func() bool { return h.frame(nil)[5] == 3 })
}

func TestCallerIDWithheldAndBadInput(t *testing.T) {
	h := newHarness(t, "uk")
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{Number: "+44 (1223) 33-44-55", Name: "Zoë \x07 Porter and a very long name indeed"}); err != nil {
		t.Fatal(err)
	}
	audio := h.framesUntil(200, h.sawEvent(EventCallerID, "end"))
	got, ok := decodeCID(t, dsp.V23, audio)
	if !ok {
		t.Fatal("no caller ID sent for a messy number")
	}
	if got.Number != "+441223334455" || len(got.Name) != 20 || strings.ContainsAny(got.Name, "\x07ë") {
		t.Errorf("cleaned caller ID %+v", got)
	}
	h.stop()

	h = newHarness(t, "uk")
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{NumberAbsence: dsp.Private, NameAbsence: dsp.Private}); err != nil {
		t.Fatal(err)
	}
	audio = h.framesUntil(200, h.sawEvent(EventCallerID, "end"))
	got, ok = decodeCID(t, dsp.V23, audio)
	if !ok || got.NumberAbsence != dsp.Private || got.Number != "" {
		t.Errorf("withheld caller ID %+v %v", got, ok)
	}
}

func TestRingWithoutAudio(t *testing.T) {
	// A board without an audio device still rings (no caller ID).
	h := newHarness(t, "uk", withoutAudio())
	t0 := h.clock.Now()
	if _, err := h.p.Offer(&fakeCall{}, dsp.CallerID{Number: "1"}); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Second)
	want := "0s ring on,400ms ring off,600ms ring on,1s ring off"
	if got := strings.Join(rel(h.line.take(), t0), ","); got != want {
		t.Errorf("got %s want %s", got, want)
	}
}
