package sip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/sip/rtp"
)

// TestInboundCall: sipp calls line 270001 through kamailio; the router
// rings, answers; the caller's tone and RFC 4733 digits (sipp's shipped
// captures) reach the line; the call clears from either side.
func TestInboundCall(t *testing.T) {
	for _, tc := range []struct{ who, transport string }{{"CALLER", "udp"}, {"LINE", "udp"}, {"CALLER", "tcp"}} {
		who := tc.who
		t.Run("hangup by "+strings.ToLower(who)+" line on "+tc.transport, func(t *testing.T) {
			k := startKamailio(t, kamOpts{Users: testUsers()})
			u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr, Transport: tc.transport}}, testLines, nil)
			waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
			scen := scenario(t, "uac_call.xml", who, "{{TONE}}", writeAlawWav(t, 697, 1.2))
			s := startSipp(t, k.Addr, "-sf", scen, "-s", "270001", "-m", "1")

			var ic *IncomingCall
			select {
			case ic = <-u.incoming:
			case <-time.After(10 * time.Second):
				t.Fatalf("no inbound call; sipp: %s", s.errors())
			}
			if ic.Port != 1 || ic.From != "07700900123" || ic.FromName != "Lodge Caller" || !ic.PeerEvents() {
				t.Errorf("incoming call %+v", ic)
			}
			if err := ic.Ring(); err != nil {
				t.Fatal(err)
			}
			c, err := ic.Answer()
			if err != nil {
				t.Fatalf("answer: %v; sipp: %s", err, s.errors())
			}
			if err := c.Flash(); err != nil {
				t.Errorf("flash on a call whose peer offered telephone-event: %v", err)
			}
			var digits strings.Builder
			stop := make(chan struct{})
			audio := make(chan []int16)
			go func() { audio <- pump(c, 400, stop) }()
			deadline := time.After(15 * time.Second)
		collect:
			for digits.Len() < 3 {
				select {
				case e := <-c.Media().Events():
					digits.WriteRune(e.Digit())
				case <-c.Done():
					break collect
				case <-deadline:
					break collect
				}
			}
			if who == "LINE" {
				if err := c.Hangup(); err != nil {
					t.Errorf("hangup: %v", err)
				}
			}
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("call did not clear")
			}
			close(stop)
			got := <-audio
			if err := s.wait(t, 15*time.Second); err != nil {
				t.Errorf("sipp failed: %v\n%s", err, s.errors())
			}
			if digits.String() != "12#" {
				t.Errorf("digits %q, want \"12#\" (from dtmf_2833_1, _2, _pound)", digits.String())
			}
			if hz := toneHz(got); math.Abs(hz-697) > 10 {
				t.Errorf("the line heard %.1f Hz, the caller played 697 Hz", hz)
			}
			st := c.Stats()
			t.Logf("caller tone at the line: %.1f Hz; digits %q; rtp %+v", toneHz(got), digits.String(), st)
			if c.Err() != nil {
				t.Errorf("normal clear reported %v", c.Err())
			}
			if !allRegistered(u.UA, "pbx") {
				t.Error("line lost its registration")
			}
		})
	}
}

// TestOutboundCall: a line calls 9000, which kamailio routes to sipp's UAS
// with RTP echo: the tone the line sends comes back at its frequency, so
// it reached the far end; the line hangs up.
func TestOutboundCall(t *testing.T) {
	s := startSippUAS(t)
	k := startKamailio(t, kamOpts{Users: testUsers(), Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", s.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })

	start := time.Now()
	c, err := u.Dial(context.Background(), 2, "9000", DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v; sipp: %s", err, s.errors())
	}
	select {
	case <-c.Answered():
	case <-c.Done():
		t.Fatalf("call failed: %v", c.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("not answered")
	}
	answered := time.Since(start)
	t.Logf("dial to answer: %v", answered)
	if answered > 5*time.Second { // a local PBX and callee: tens of ms; the ceiling catches a large regression only
		t.Errorf("dial to answer took %v", answered)
	}
	if err := c.Flash(); !errors.Is(err, rtp.ErrNoEvents) {
		t.Errorf("flash towards a peer without telephone-event: %v, want rtp.ErrNoEvents", err)
	}
	stop := make(chan struct{})
	time.AfterFunc(1500*time.Millisecond, func() { close(stop) })
	got := pump(c, 1004, stop)
	if err := c.Hangup(); err != nil {
		t.Errorf("hangup: %v", err)
	}
	if hz := toneHz(got); math.Abs(hz-1004) > 10 {
		t.Errorf("echo from the far end is %.1f Hz, the line sent 1004 Hz", hz)
	}
	t.Logf("line tone echoed by sipp: %.1f Hz; rtp %+v", toneHz(got), c.Stats())
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp uas: %v\n%s", err, s.errors())
	}
}

func startSippUAS(t testing.TB) *sippRun {
	return startSipp(t, "-sf", scenario(t, "uas_echo.xml", ""), "-rtp_echo", "-m", "1")
}

// TestOutboundFailuresAreTyped: 404, 503 and silence come back as distinct
// errors, the silence one within the first-response deadline.
func TestOutboundFailuresAreTyped(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	dead := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t, "127.0.0.1"))
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}, {Name: "dead", Address: dead}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	ctx := context.Background()

	_, err := u.Dial(ctx, 1, "4040", DialOptions{})
	var se *StatusError
	if !errors.Is(err, ErrRejected) || !errors.As(err, &se) || se.Code != 404 {
		t.Errorf("unknown number: %v, want a 404 StatusError matching ErrRejected", err)
	}
	_, err = u.Dial(ctx, 1, "5030", DialOptions{})
	if !errors.Is(err, ErrServerFailure) || errors.Is(err, ErrRejected) {
		t.Errorf("503: %v, want ErrServerFailure", err)
	}
	start := time.Now()
	_, err = u.Dial(ctx, 1, "9000", DialOptions{Registrar: "dead", FirstResponse: 300 * time.Millisecond})
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("dead registrar: %v, want ErrTimeout", err)
	}
	t.Logf("dead registrar reported after %v: %v", took, err)
	if took > 10*300*time.Millisecond { // FirstResponse is 300 ms
		t.Errorf("a dead registrar took %v to report, with a 300 ms first-response deadline", took)
	}
	_, err = u.Dial(ctx, 9, "9000", DialOptions{})
	if !errors.Is(err, ErrUnknownPort) {
		t.Errorf("unknown port: %v", err)
	}
	// Nothing left behind.
	waitFor(t, 5*time.Second, "no calls tracked", func() bool {
		u.callMu.Lock()
		defer u.callMu.Unlock()
		return len(u.calls) == 0
	})
	if n := u.rtp.InUse(); n != 0 {
		t.Errorf("%d RTP ports still open", n)
	}
}

// TestInviteToRingLatency: many INVITEs from sipp; the router rejects each
// at once. Prints p50/p99 of INVITE arrival -> router asked to ring.
func TestInviteToRingLatency(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) {
		c.OnIncoming = func(ic *IncomingCall) {
			d := time.Since(ic.Received)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			go ic.Reject(486, "Busy Here")
		}
	})
	_ = u
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	calls := 200
	if testing.Short() {
		calls = 50
	}
	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_busy.xml", "", "{{CODE}}", "486"), "-s", "270001", "-m", fmt.Sprint(calls), "-r", "50", "-l", "10")
	if err := s.wait(t, 60*time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.errors())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < calls {
		t.Fatalf("router saw %d of %d calls", len(lat), calls)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("FIGURE INVITE received -> router ring request over %d calls: p50 %v p99 %v max %v",
		len(lat), p50, p99, lat[len(lat)-1])
	// Generous ceilings (typically well under a millisecond): only a large
	// regression fails.
	if p50 > 100*time.Millisecond || p99 > time.Second {
		t.Errorf("INVITE -> ring request: p50 %v (ceiling 100ms), p99 %v (ceiling 1s)", p50, p99)
	}
}

// TestInboundRejectRedirectCancel: the router's other answers, and a caller
// who gives up while the line rings.
func TestInboundRejectRedirectCancel(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	next := func(s *sippRun) *IncomingCall {
		select {
		case ic := <-u.incoming:
			return ic
		case <-time.After(10 * time.Second):
			t.Fatalf("no inbound call; sipp: %s", s.errors())
			return nil
		}
	}

	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_busy.xml", "", "{{CODE}}", "486"), "-s", "270002", "-m", "1")
	if err := next(s).Reject(486, "Busy Here"); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("reject: sipp %v\n%s", err, s.errors())
	}

	s = startSipp(t, k.Addr, "-sf", scenario(t, "uac_busy.xml", "REDIRECT", "{{CODE}}", "302", "{{TARGET}}", "07700900999"), "-s", "270002", "-m", "1")
	if err := next(s).Redirect("07700900999"); err != nil {
		t.Fatal(err)
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("redirect: sipp %v\n%s", err, s.errors())
	}

	s = startSipp(t, k.Addr, "-sf", scenario(t, "uac_cancel.xml", ""), "-s", "270001", "-m", "1")
	ic := next(s)
	if err := ic.Ring(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ic.Canceled():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's CANCEL did not stop the ringing")
	}
	if _, err := ic.Answer(); !errors.Is(err, ErrCanceled) {
		t.Errorf("answering a canceled call: %v, want ErrCanceled", err)
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("cancel: sipp %v\n%s", err, s.errors())
	}
	if n := u.rtp.InUse(); n != 0 {
		t.Errorf("%d RTP ports open after the calls", n)
	}
}

// TestOutboundCancel: the line hangs up while the far end rings: CANCEL.
func TestOutboundCancel(t *testing.T) {
	s := startSipp(t, "-sf", scenario(t, "uas_ring.xml", ""), "-m", "1")
	k := startKamailio(t, kamOpts{Users: testUsers(), Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", s.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	c, err := u.Dial(context.Background(), 1, "9000", DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v; sipp: %s", err, s.errors())
	}
	if c.State() != StateRinging {
		t.Errorf("state %v after 180, want ringing", c.State())
	}
	c.Hangup() // the 180 is in: CANCEL may go at once
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("call did not end after CANCEL; sipp: %s", s.errors())
	}
	if !errors.Is(c.Err(), ErrCanceled) {
		t.Errorf("call ended with %v, want ErrCanceled", c.Err())
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
}

// TestOutboundEarlyMedia: 183 with SDP: Dial returns in early media and the
// stream already carries audio both ways (sipp echoes it) before the 200.
func TestOutboundEarlyMedia(t *testing.T) {
	s := startSipp(t, "-sf", scenario(t, "uas_early.xml", ""), "-rtp_echo", "-m", "1")
	k := startKamailio(t, kamOpts{Users: testUsers(), Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", s.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	c, err := u.Dial(context.Background(), 1, "9000", DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v; sipp: %s", err, s.errors())
	}
	if c.State() != StateEarlyMedia {
		t.Fatalf("state %v after 183 with SDP, want early-media", c.State())
	}
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	early := pump(c, 850, stop)
	if c.State() == StateAnswered {
		t.Fatal("answered too soon for an early-media check")
	}
	if hz := toneHz(early); math.Abs(hz-850) > 10 {
		t.Errorf("early media echo %.1f Hz, sent 850 Hz", hz)
	}
	select {
	case <-c.Answered():
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer after early media: %v", c.Err())
	}
	c.Hangup() // right behind the ACK: the test PBX relays in order
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
	t.Logf("early media echo at %.1f Hz before the answer", toneHz(early))
}

// TestInboundReinviteHold: the far end holds the call with a re-INVITE; the
// line answers recvonly and stops sending; the call then clears normally.
func TestInboundReinviteHold(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_reinvite.xml", ""), "-s", "270001", "-m", "1")
	var ic *IncomingCall
	select {
	case ic = <-u.incoming:
	case <-time.After(10 * time.Second):
		t.Fatalf("no inbound call; sipp: %s", s.errors())
	}
	ic.Ring()
	c, err := ic.Answer() // at once: the test PBX relays the 180 and the 200 in order
	if err != nil {
		t.Fatal(err)
	}
	go pump(c, 400, nil)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("call did not clear")
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
	if m, _ := c.Media().Media(); m.Direction != rtp.SendOnly {
		t.Errorf("media direction after hold %v, want sendonly (the peer's)", m.Direction)
	}
}
