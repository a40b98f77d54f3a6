package sip

// Issue 19, points 1 and 2: a registrar that has been answering within
// milliseconds and then goes silent is found out within a few of its own
// round-trip times by a probe burst, and a call waiting on it moves on at
// once; a lost packet on a healthy link is never taken for death; a late
// answer from a registrar that carries on after the call moved on rings
// the far end once and leaves no call up. These tests hold the logic (which
// path ended an attempt, what reached the PBX), not its timing; the timing
// is scripts/bench-failover's.

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

func TestDeadlineFromRTT(t *testing.T) {
	var s suspicion
	if d, ok := s.deadline(50*time.Millisecond, 2*time.Second); ok || d != 2*time.Second {
		t.Fatalf("no history: %v %v, want the ceiling", d, ok)
	}
	s.heard(time.Millisecond)
	s.heard(2 * time.Millisecond)
	if _, ok := s.deadline(50*time.Millisecond, 2*time.Second); ok {
		t.Fatal("trusted after 2 answers")
	}
	s.heard(time.Millisecond)
	if d, ok := s.deadline(50*time.Millisecond, 2*time.Second); !ok || d != 50*time.Millisecond {
		t.Fatalf("fast registrar: %v %v, want the floor", d, ok)
	}
	s.heard(40 * time.Millisecond) // one slow answer among the last 20
	if d, _ := s.deadline(50*time.Millisecond, 2*time.Second); d != 120*time.Millisecond {
		t.Fatalf("slowest 40ms: %v, want 3x", d)
	}
	s.heard(400 * time.Millisecond)
	if d, _ := s.deadline(50*time.Millisecond, time.Second); d != time.Second {
		t.Fatalf("slow registrar: %v, want the ceiling", d)
	}
	s.heard(time.Hour) // answered after a retransmission: no sample (Karn)
	for _, r := range s.rtts[:s.n] {
		if r == time.Hour {
			t.Fatal("an answer after a retransmission gave a round-trip time")
		}
	}
	for range lossWindow {
		s.heard(5 * time.Millisecond) // the slow answers age out
	}
	if d, _ := s.deadline(50*time.Millisecond, 2*time.Second); d != 50*time.Millisecond {
		t.Fatalf("after 20 fast answers: %v", d)
	}
	// A burst under way is cleared by any answer.
	b := &burst{done: make(chan struct{})}
	s.cur = b
	s.heard(0)
	select {
	case <-b.done:
		if !b.alive {
			t.Fatal("cleared as silent")
		}
	default:
		t.Fatal("an answer did not clear the burst")
	}
}

// trusted waits until the registrar is up with enough round-trip history
// for the quick deadlines.
func trusted(t *testing.T, u *testUA) *registrar {
	t.Helper()
	r := u.regs[0]
	waitFor(t, 10*time.Second, "round-trip history", func() bool {
		_, ok := u.lateAfter(r.current(), time.Minute)
		return ok
	})
	return r
}

// silentUA is a UA whose registrar's ceiling is far away (10 s), so an
// attempt that ends sooner can only have ended by the burst's verdict. The
// floor is 200 ms, so the verdict on a registrar frozen just before a call
// comes at least 600 ms later, well after the call's INVITE went out even
// on a loaded machine (on a registrar already known down the call would
// wait for the ceiling, as the ladder's last resort does).
func silentUA(t *testing.T) (*testUA, *testpeer.BadPBX) {
	u, pbx := badUA(t, func(c *Config) { c.FirstResponse = 10 * time.Second; c.RTTFloor = 200 * time.Millisecond })
	trusted(t, u)
	return u, pbx
}

// A registrar that freezes just before a call: the call moves on on the
// burst's verdict, not at the ceiling; the registrar is down.
func TestSilentRegistrarCallMovesOn(t *testing.T) {
	u, pbx := silentUA(t)
	pbx.Freeze()
	t.Cleanup(pbx.Thaw)
	start := time.Now()
	_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "probe burst") {
		t.Fatalf("Dial: %v, want ErrTimeout from a silent probe burst", err)
	}
	// The error says which ended the attempt: at the ceiling it would be
	// "no response to INVITE within 10s", without the burst.
	if h := u.Registrars()[0]; h.Up {
		t.Fatalf("registrar still up: %+v", h)
	}
	if v := value(u.m.registrarBursts.WithLabelValues("pbx", "silent")); v != 1 {
		t.Errorf("critline_registrar_probe_bursts_total{verdict=silent} = %v, want 1", v)
	}
	if v := value(u.m.inviteTimeouts.WithLabelValues("pbx", "first-response")); v != 1 {
		t.Errorf("critline_sip_invite_timeouts_total{stage=first-response} = %v, want 1", v)
	}
	t.Logf("moved on after %v (ceiling 10s)", took.Round(time.Millisecond))
}

// The same with a call placed while the registrar is already suspected
// (its own probe went unanswered first): the call joins that burst.
func TestCallJoinsTheBurstUnderWay(t *testing.T) {
	u, pbx := silentUA(t)
	rp := u.regs[0].current()
	pbx.Freeze()
	t.Cleanup(pbx.Thaw)
	waitFor(t, 5*time.Second, "a probe burst under way", func() bool {
		rp.susp.mu.Lock()
		defer rp.susp.mu.Unlock()
		return rp.susp.cur != nil
	})
	_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{Registrar: "pbx"})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "probe burst") {
		t.Fatalf("Dial: %v, want ErrTimeout from a silent probe burst", err)
	}
	if v := value(u.m.registrarBursts.WithLabelValues("pbx", "silent")); v != 1 {
		t.Errorf("bursts{silent} = %v, want 1 (one burst for the probe and the call)", v)
	}
}

// lateCase is a registrar that froze before a call and carries on after
// the call moved on: it then handles the stale INVITE.
func lateCase(t *testing.T, plan testpeer.Plan) (*testUA, *testpeer.BadPBX, string, *atomic.Int32) {
	t.Helper()
	u, pbx := silentUA(t)
	var plans atomic.Int32
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { plans.Add(1); return plan })
	pbx.Freeze()
	_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
	if !errors.Is(err, ErrTimeout) {
		pbx.Thaw()
		t.Fatalf("Dial: %v, want ErrTimeout", err)
	}
	pbx.Thaw()
	waitFor(t, 5*time.Second, "the stale INVITE handled", func() bool { return len(pbx.Requests("INVITE")) > 0 })
	return u, pbx, lastInvite(t, pbx), &plans
}

// A late provisional response from a registrar that carries on after the
// call moved on: it gets one CANCEL, its 487 is ACKed, the far end rang
// once (the INVITE and our early retransmission are one call to it).
func TestLateProvisionalAfterTheRungChanged(t *testing.T) {
	u, pbx, id, plans := lateCase(t, testpeer.Plan{Trying: true, Ring: true})
	waitFor(t, 5*time.Second, "CANCEL", func() bool { return len(requestsFor(pbx, "CANCEL", id)) > 0 })
	waitFor(t, 5*time.Second, "the 487 ACKed", func() bool { return len(requestsFor(pbx, "ACK", id)) > 0 })
	time.Sleep(300 * time.Millisecond) // room for a wrong second CANCEL or INVITE
	if n := len(requestsFor(pbx, "CANCEL", id)); n != 1 {
		t.Errorf("%d CANCELs, want 1", n)
	}
	if n := plans.Load(); n != 1 {
		t.Errorf("the far end was rung %d times, want once", n)
	}
	if n := len(pbx.Requests("INVITE")); n < 1 || n > 3 {
		t.Errorf("%d INVITE datagrams (the INVITE and at most two early retransmissions expected)", n)
	}
	for _, m := range pbx.Requests("INVITE") {
		if m.CallID() != id {
			t.Errorf("a second call: %s", m.CallID())
		}
	}
	waitFor(t, 5*time.Second, "no call left", func() bool { return u.callCount() == 0 })
}

// A late 200 (after a 100, crossing our CANCEL, or alone): ACKed and ended
// with one BYE, the far end rung once, nothing left up.
func TestLateAnswerAfterTheRungChanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan testpeer.Plan
	}{
		{"100 then 200", testpeer.Plan{Trying: true, Final: 200, IgnoreCancel: true}},
		{"200 alone", testpeer.Plan{Final: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, pbx, id, plans := lateCase(t, tc.plan)
			waitFor(t, 10*time.Second, "the late 200 ACKed", func() bool { return pbx.Acked(id) })
			waitFor(t, 10*time.Second, "the late call ended with BYE", func() bool { return len(requestsFor(pbx, "BYE", id)) > 0 })
			time.Sleep(300 * time.Millisecond)
			if n := len(requestsFor(pbx, "BYE", id)); n != 1 {
				t.Errorf("%d BYEs, want 1", n)
			}
			if n := plans.Load(); n != 1 {
				t.Errorf("the far end was rung %d times, want once", n)
			}
			if v := value(u.m.lateAnswers.WithLabelValues("pbx")); v != 1 {
				t.Errorf("critline_sip_late_answers_total = %v, want 1", v)
			}
			waitFor(t, 5*time.Second, "no call left", func() bool { return u.callCount() == 0 })
		})
	}
}

// One or two INVITE datagrams lost on a healthy link: the registrar
// answers the burst, so the call stays with it, and our own early
// retransmissions get it through. sipgo's Timer A is put at 5 s here, so
// only those early retransmissions can carry the call within the 2 s
// ceiling.
func TestLostInviteIsNotDeath(t *testing.T) {
	SetTimers(5*time.Second, 10*time.Second, 0)
	t.Cleanup(func() { SetTimers(0, 0, 0) })
	u, pbx := badUA(t, nil)
	trusted(t, u)
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { return testpeer.Plan{Trying: true, Ring: true} })
	for lost := 1; lost <= 2; lost++ {
		pbx.LoseInvites(lost)
		c, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
		if err != nil {
			t.Fatalf("%d INVITEs lost: Dial: %v, want the call to ring through the registrar", lost, err)
		}
		if n := len(pbx.LostInvites()); n != lost*(lost+1)/2 {
			t.Fatalf("lost %d INVITE datagrams so far, want %d", n, lost*(lost+1)/2)
		}
		c.Hangup()
		id := lastInvite(t, pbx)
		waitFor(t, 5*time.Second, "CANCEL", func() bool { return len(requestsFor(pbx, "CANCEL", id)) > 0 })
		if !u.Registrars()[0].Up {
			t.Fatal("a lost INVITE took the registrar down")
		}
	}
	// The burst's goroutine counts its answer after it closed the verdict
	// the call waited for: wait for it, then check that none was silent.
	waitFor(t, 5*time.Second, "bursts{alive} >= 1: the second case needs the burst's answer", func() bool {
		return value(u.m.registrarBursts.WithLabelValues("pbx", "alive")) >= 1
	})
	if v := value(u.m.registrarBursts.WithLabelValues("pbx", "silent")); v != 0 {
		t.Errorf("bursts{silent} = %v, want 0", v)
	}
}

// A registrar that answers probes but not INVITEs (its call handling is
// stuck) is not down: the call waits for the ceiling, as before.
func TestSlowToCallsWaitsForTheCeiling(t *testing.T) {
	u, pbx := badUA(t, func(c *Config) { c.FirstResponse = 600 * time.Millisecond })
	trusted(t, u)
	pbx.LoseInvites(1000)
	_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "within 600ms") {
		t.Fatalf("Dial: %v, want the ceiling's ErrTimeout", err)
	}
	if !u.Registrars()[0].Up {
		t.Fatal("a registrar that answers probes was taken down")
	}
}
