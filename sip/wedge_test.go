package sip

// A call attempt must always end, and ending it here must end it at the far
// end too: tests against a deliberately misbehaving PBX (internal/testpeer
// BadPBX), issue 12 points 1, 2, 4 and 5.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// badUA starts a UA registered with a BadPBX.
func badUA(t *testing.T, tweak func(*Config)) (*testUA, *testpeer.BadPBX) {
	t.Helper()
	pbx := testpeer.StartBadPBX(t, "127.0.0.1", "")
	u := startUA(t, []Registrar{{Name: "pbx", Address: pbx.Addr}}, testLines, tweak)
	waitFor(t, 10*time.Second, "registered with the bad PBX", func() bool { return allRegistered(u.UA, "pbx") })
	return u, pbx
}

func (u *testUA) callCount() int {
	u.callMu.Lock()
	defer u.callMu.Unlock()
	return len(u.calls)
}

func requestsFor(pbx *testpeer.BadPBX, method, callID string) []*testpeer.Msg {
	var out []*testpeer.Msg
	for _, m := range pbx.Requests(method) {
		if m.CallID() == callID {
			out = append(out, m)
		}
	}
	return out
}

// lastInvite is the Call-ID of the last INVITE the PBX got.
func lastInvite(t *testing.T, pbx *testpeer.BadPBX) string {
	t.Helper()
	inv := pbx.Requests("INVITE")
	if len(inv) == 0 {
		t.Fatal("the PBX got no INVITE")
	}
	return inv[len(inv)-1].CallID()
}

// 100 Trying and then nothing: the attempt ends (ErrTimeout) after
// ProgressTimeout, and the PBX is sent a CANCEL.
func TestDialEndsAfterTryingThenSilence(t *testing.T) {
	u, pbx := badUA(t, func(c *Config) { c.ProgressTimeout = 700 * time.Millisecond })
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { return testpeer.Plan{Trying: true} })
	for i := range 5 {
		_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("try %d: %v, want ErrTimeout", i, err)
		}
		// Ended by the progress timer, not by another one (the first
		// response's ceiling, a transaction timeout).
		if v := value(u.m.inviteTimeouts.WithLabelValues("pbx", "progress")); v != float64(i+1) {
			t.Fatalf("try %d: critline_sip_invite_timeouts_total{stage=progress} = %v, want %d", i, v, i+1)
		}
		id := lastInvite(t, pbx)
		waitFor(t, 5*time.Second, "CANCEL at the PBX", func() bool { return len(requestsFor(pbx, "CANCEL", id)) > 0 })
	}
	waitFor(t, 5*time.Second, "no calls left", func() bool { return u.callCount() == 0 })
}

// The porter hangs up while the PBX has only said 100: Dial returns at
// once with ErrCanceled and the PBX gets its CANCEL.
func TestDialCancelledByCaller(t *testing.T) {
	u, pbx := badUA(t, nil)
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { return testpeer.Plan{Trying: true} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := u.Dial(ctx, 1, "07700900123", DialOptions{})
		done <- err
	}()
	waitFor(t, 5*time.Second, "INVITE at the PBX", func() bool { return len(pbx.Requests("INVITE")) > 0 })
	time.Sleep(100 * time.Millisecond) // let the 100 arrive: CANCEL needs it
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCanceled) {
			t.Fatalf("Dial: %v, want ErrCanceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Dial did not return when its caller gave up")
	}
	id := lastInvite(t, pbx)
	waitFor(t, 5*time.Second, "CANCEL at the PBX", func() bool { return len(requestsFor(pbx, "CANCEL", id)) > 0 })
}

// A 2xx that comes after the attempt was given up is ACKed and ended with
// BYE: after the first-response deadline (no response at all, so no CANCEL
// could be sent), and crossing our CANCEL after a 100.
func TestLateAnswerIsAckedAndEnded(t *testing.T) {
	u, pbx := badUA(t, func(c *Config) { c.FirstResponse = 400 * time.Millisecond; c.ProgressTimeout = 400 * time.Millisecond })
	for _, tc := range []struct {
		name  string
		delay time.Duration // before the PBX says anything
		plan  testpeer.Plan
	}{
		{"silent then 200", 0, testpeer.Plan{Final: 200, After: 1200 * time.Millisecond}},
		{"100, then a 200 crossing the CANCEL", 0, testpeer.Plan{Trying: true, Final: 200, After: 900 * time.Millisecond, IgnoreCancel: true}},
		{"silent, a late 180 (CANCELled), then 200 anyway", 700 * time.Millisecond, testpeer.Plan{Ring: true, Final: 200, After: 600 * time.Millisecond, IgnoreCancel: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { time.Sleep(tc.delay); return tc.plan })
			before := value(u.m.lateAnswers.WithLabelValues("pbx"))
			_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Dial: %v, want ErrTimeout", err)
			}
			id := lastInvite(t, pbx)
			waitFor(t, 10*time.Second, "the late 200 ACKed", func() bool { return pbx.Acked(id) })
			waitFor(t, 10*time.Second, "the late call ended with BYE", func() bool { return len(requestsFor(pbx, "BYE", id)) == 1 })
			if got := value(u.m.lateAnswers.WithLabelValues("pbx")) - before; got != 1 {
				t.Errorf("critline_sip_late_answers_total grew by %v, want 1", got)
			}
		})
	}
	waitFor(t, 5*time.Second, "no calls left", func() bool { return u.callCount() == 0 })
}

// A late provisional response to an INVITE abandoned before any response
// gets its CANCEL then (RFC 3261 9.1).
func TestLateProvisionalGetsCancel(t *testing.T) {
	u, pbx := badUA(t, func(c *Config) { c.FirstResponse = 300 * time.Millisecond })
	release := make(chan struct{})
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan {
		<-release
		return testpeer.Plan{Trying: true, Ring: true}
	})
	_, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Dial: %v, want ErrTimeout", err)
	}
	close(release)
	id := lastInvite(t, pbx)
	waitFor(t, 5*time.Second, "CANCEL after the late 100/180", func() bool { return len(requestsFor(pbx, "CANCEL", id)) == 1 })
}

// Answer returns as soon as the 200 is sent: a PBX that never ACKs does not
// hold up the answering port. The call is then ended with BYE when the
// transaction gives up (64*T1; T1 shortened here).
func TestAnswerDoesNotWaitForAck(t *testing.T) {
	SetTimers(50*time.Millisecond, 400*time.Millisecond, 0)
	t.Cleanup(func() { SetTimers(0, 0, 0) })
	u, pbx := badUA(t, nil)
	c := pbx.Invite("270001", testpeer.CallOpts{NoAck: true})
	var ic *IncomingCall
	select {
	case ic = <-u.incoming:
	case <-time.After(5 * time.Second):
		t.Fatal("no incoming call")
	}
	start := time.Now()
	call, err := ic.Answer()
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// The order of events, not a timing: had Answer waited for the ACK, it
	// would have returned only once the transaction gave up, with the
	// timeout counted and the call ended.
	select {
	case <-call.Done():
		t.Fatalf("Answer returned after %v with the call already ended: it waited for the ACK", took)
	default:
	}
	if v := value(u.m.ackTimeouts); v != 0 {
		t.Fatalf("Answer returned after %v with the ACK timeout already counted (%v): it waited for the ACK", took, v)
	}
	if f := c.Final(2 * time.Second); f == nil || f.Code() != 200 {
		t.Fatalf("PBX got %v, want 200", f)
	}
	select {
	case <-call.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the un-ACKed call was never ended")
	}
	waitFor(t, 10*time.Second, "BYE at the PBX", func() bool { return len(requestsFor(pbx, "BYE", c.CallID)) > 0 })
	if v := value(u.m.ackTimeouts); v != 1 {
		t.Errorf("critline_sip_ack_timeouts_total = %v, want 1", v)
	}
	t.Logf("Answer returned after %v without the ACK", took)
}

// In-dialog requests must carry both tags: a BYE with the wrong To-tag (or
// From-tag) gets 481 and leaves the call up; the right one ends it.
func TestByeNeedsBothTags(t *testing.T) {
	u, pbx := badUA(t, nil)
	c := pbx.Invite("270001", testpeer.CallOpts{})
	ic := <-u.incoming
	call, err := ic.Answer()
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Final(2 * time.Second); f == nil || f.Code() != 200 {
		t.Fatalf("PBX got %v, want 200", f)
	}
	if got := c.Bye("not-the-tag"); got != 481 {
		t.Fatalf("BYE with a wrong To-tag answered %d, want 481", got)
	}
	select {
	case <-call.Done():
		t.Fatal("a BYE with the wrong To-tag ended the call")
	case <-time.After(200 * time.Millisecond):
	}
	if got := c.Bye(""); got != 200 {
		t.Fatalf("BYE with the right tags answered %d, want 200", got)
	}
	select {
	case <-call.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the right BYE did not end the call")
	}
}

// A CANCEL sent just before its INVITE (the two race: UDP reorders, and
// sipgo takes each message on its own goroutine): the INVITE is refused
// with 487 and, when it reached the router first, the call is over at once
// (the port stops ringing), never left ringing until RingTimeout.
func TestCancelRacingInvite(t *testing.T) {
	u, pbx := badUA(t, nil)
	for i := range 20 {
		// Half of them with the CANCEL well ahead, so the overtaking case
		// is certainly taken.
		c := pbx.Invite("270001", testpeer.CallOpts{CancelFirst: true, CancelLead: time.Duration(i%2) * 30 * time.Millisecond})
		f := c.Final(3 * time.Second)
		if f == nil || f.Code() != 487 {
			t.Fatalf("try %d: the INVITE got %v, want 487", i, f)
		}
	}
	for {
		select {
		case ic := <-u.incoming:
			select {
			case <-ic.Canceled():
			case <-time.After(2 * time.Second):
				t.Fatalf("a cancelled call is still offered to its port: %s", ic.CallID)
			}
			continue
		default:
		}
		break
	}
	waitFor(t, 5*time.Second, "no calls left", func() bool { return u.callCount() == 0 })
	early := value(u.m.requestsRejected.WithLabelValues("487"))
	if early < 10 {
		t.Errorf("only %v INVITEs were refused for a CANCEL that came first, want at least 10", early)
	}
	t.Logf("%v of 20 INVITEs came after their CANCEL and were refused at once", early)
}

// memDialogs is a DialogStore in memory (the daemon uses a state file).
type memDialogs struct {
	mu   sync.Mutex
	data []byte
}

func (m *memDialogs) Save(v any) error {
	b, err := json.Marshal(v)
	m.mu.Lock()
	m.data = b
	m.mu.Unlock()
	return err
}

func (m *memDialogs) Load(v any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return fmt.Errorf("no dialogs: %w", fs.ErrNotExist)
	}
	return json.Unmarshal(m.data, v)
}

func (m *memDialogs) count() int {
	var s savedDialogs
	if m.Load(&s) != nil {
		return 0
	}
	return len(s.Dialogs)
}

// Calls in progress are kept in the DialogStore; a UA that finds dialogs
// left by a run that died ends each with BYE.
func TestLeftoverDialogsEndedAtStart(t *testing.T) {
	pbx := testpeer.StartBadPBX(t, "127.0.0.1", "")
	st := &memDialogs{}
	u := startUA(t, []Registrar{{Name: "pbx", Address: pbx.Addr}}, testLines, func(c *Config) { c.Dialogs = st })
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })

	in := pbx.Invite("270002", testpeer.CallOpts{})
	ic := <-u.incoming
	if _, err := ic.Answer(); err != nil {
		t.Fatal(err)
	}
	if f := in.Final(2 * time.Second); f == nil || f.Code() != 200 {
		t.Fatalf("inbound: %v", f)
	}
	out, err := u.Dial(context.Background(), 1, "07700900123", DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-out.Answered()
	waitFor(t, 5*time.Second, "both dialogs saved", func() bool { return st.count() == 2 })
	// The run dies here: what it saved is all the next one has.
	left := &memDialogs{data: append([]byte(nil), st.data...)}
	outID := out.CallID
	u2 := startUA(t, []Registrar{{Name: "pbx", Address: pbx.Addr}}, testLines, func(c *Config) { c.Dialogs = left })
	waitFor(t, 10*time.Second, "both leftovers ended with BYE", func() bool {
		return len(requestsFor(pbx, "BYE", in.CallID)) == 1 && len(requestsFor(pbx, "BYE", outID)) == 1
	})
	for _, id := range []string{in.CallID, outID} {
		bye := requestsFor(pbx, "BYE", id)[0]
		if testpeer.Tag(bye.Get("from")) == "" || testpeer.Tag(bye.Get("to")) == "" {
			t.Errorf("BYE for %s lacks a tag:\n%s", id, bye.Bytes())
		}
	}
	if bye := requestsFor(pbx, "BYE", in.CallID)[0]; testpeer.Tag(bye.Get("to")) != in.FromTag {
		t.Errorf("BYE of the inbound call: To-tag %q, want the PBX's %q", testpeer.Tag(bye.Get("to")), in.FromTag)
	}
	waitFor(t, 5*time.Second, "leftovers counted", func() bool { return value(u2.m.leftoversEnded) == 2 })
	waitFor(t, 5*time.Second, "the new run's book is empty", func() bool { return left.count() == 0 })
}
