package fxs

import (
	"testing"
	"time"
)

// Messages waiting change dial tone to the profile's message-waiting tone
// (US: six 100 ms bursts, then steady); forwarding's special dial tone
// takes precedence; without messages it is plain again.
func TestMessageWaitingDialTone(t *testing.T) {
	h := newHarness(t, "us")
	h.p.SetMessageWaiting(true, 2)
	if !h.p.Snapshot().MessageWaiting {
		t.Fatal("snapshot does not show messages waiting")
	}
	h.offHook()
	h.waitState(StateDialTone)
	f := h.frames(5) // 0-100 ms: the first burst
	g := h.frames(5) // 100-200 ms: its gap
	if l := toneLevel(f[160:], 350); l < -16 {
		t.Errorf("no first burst (%.1f dBm0)", l)
	}
	if l := toneLevel(g[160:640], 350); l > -40 {
		t.Errorf("no gap after the first burst (%.1f dBm0)", l)
	}
	h.frames(60)
	if l := toneLevel(h.frames(20), 350); l < -16 {
		t.Errorf("no steady tone after the bursts (%.1f dBm0)", l)
	}
	h.p.SetForwarding(true) // forwarding's tone wins (ten bursts: still a gap at 1.1 s)
	h.p.SetMessageWaiting(false, 0)
	h.p.SetForwarding(false)
	if l := toneLevel(h.frames(20)[800:], 350); l < -16 {
		t.Errorf("plain dial tone not back (%.1f dBm0)", l)
	}
}

// A handset lifted while the lamp is being set interrupts the indication:
// polarity is restored at once, and the indication is sent again in full
// once the port has been idle for the profile's delay.
func TestMessageWaitingInterruptedIsResent(t *testing.T) {
	h := newHarness(t, "uk")
	h.p.SetMessageWaiting(true, 1)
	h.advance(200 * ms) // reversed, the alert is playing
	h.offHook()
	h.waitState(StateDialTone)
	calls := h.line.take()
	var revs []bool
	for _, c := range calls {
		if c.What == "reverse" {
			revs = append(revs, c.On)
		}
	}
	if len(revs) != 2 || !revs[0] || revs[1] {
		t.Fatalf("polarity %v, want reversed then restored: %v", revs, calls)
	}
	if _, told := h.p.MessageWaiting(); told {
		t.Fatal("interrupted indication counted as told")
	}
	h.onHook()
	h.waitState(StateIdle)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, told := h.p.MessageWaiting(); told {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("indication never resent")
		}
		h.frame(nil)
	}
}
