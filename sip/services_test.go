package sip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/sip/rtp"
)

// Hold, resume, transfer and the flash passed to the PBX, against kamailio
// and sipp (issue 14 point 3).

func dialAnswered(t *testing.T, u *testUA, s *sippRun, number string) *Call {
	t.Helper()
	c, err := u.Dial(context.Background(), 1, number, DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v; sipp: %s", err, s.errors())
	}
	select {
	case <-c.Answered():
	case <-time.After(10 * time.Second):
		t.Fatalf("not answered; sipp: %s", s.errors())
	}
	return c
}

func answerIncoming(t *testing.T, u *testUA, s *sippRun) *Call {
	t.Helper()
	var ic *IncomingCall
	select {
	case ic = <-u.incoming:
	case <-time.After(10 * time.Second):
		t.Fatalf("no inbound call; sipp: %s", s.errors())
	}
	if err := ic.Ring(); err != nil {
		t.Fatal(err)
	}
	c, err := ic.Answer()
	if err != nil {
		t.Fatalf("answer: %v; sipp: %s", err, s.errors())
	}
	return c
}

// The line holds an outbound call (re-INVITE a=sendonly, which the far end
// answers a=recvonly) and takes it back (a=sendrecv), then hangs up.
func TestHoldAndResumeOutbound(t *testing.T) {
	s := startSipp(t, "-sf", scenario(t, "uas_hold.xml", ""), "-m", "1")
	k := startKamailio(t, kamOpts{Users: testUsers(), Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", s.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	c := dialAnswered(t, u, s, "9000")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Hold(ctx, true); err != nil {
		t.Fatalf("hold: %v; sipp: %s", err, s.errors())
	}
	t.Logf("figure: re-INVITE a=sendonly to its 2xx through kamailio: %v", time.Since(start).Round(time.Microsecond))
	if !c.Held() {
		t.Error("Held() false after Hold(true)")
	}
	if m, _ := c.Media().Media(); m.Direction != rtp.RecvOnly {
		t.Errorf("the far end's answer to our hold: %v, want recvonly", m.Direction)
	}
	if err := c.Hold(ctx, false); err != nil {
		t.Fatalf("resume: %v; sipp: %s", err, s.errors())
	}
	if c.Held() || c.RemoteHeld() {
		t.Errorf("after resume: held %v, held by the peer %v", c.Held(), c.RemoteHeld())
	}
	c.Hangup()
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
}

// The line holds an inbound call; the caller's session refresh (a=sendrecv)
// meanwhile is answered a=sendonly: our hold stays. The line then resumes.
func TestHoldKeptThroughPeerRefresh(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_held.xml", ""), "-s", "270001", "-m", "1")
	c := answerIncoming(t, u, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Hold(ctx, true); err != nil {
		t.Fatalf("hold: %v; sipp: %s", err, s.errors())
	}
	// The caller's refresh comes 200 ms after our hold's ACK.
	time.Sleep(600 * time.Millisecond)
	if !c.Held() {
		t.Fatal("the peer's refresh took our hold off")
	}
	if err := c.Hold(ctx, false); err != nil {
		t.Fatalf("resume: %v; sipp: %s", err, s.errors())
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's BYE did not end the call")
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
}

// sippLog returns what a sipp run logged with <log> (-trace_logs).
func sippLog(s *sippRun) string {
	logs, _ := filepath.Glob(filepath.Join(s.cmd.Dir, "*_logs.log"))
	var b strings.Builder
	for _, l := range logs {
		x, _ := os.ReadFile(l)
		b.Write(x)
	}
	return b.String()
}

// Attended transfer: the line has a caller (the transferee, sipp) and its
// own call to the target (sipp); it REFERs the caller to the target with
// Replaces naming its dialog with the target (RFC 3891), and the caller's
// NOTIFYs report success.
func TestReferAttended(t *testing.T) {
	target := startSipp(t, "-sf", scenario(t, "uas_echo.xml", ""), "-m", "1")
	k := startKamailio(t, kamOpts{Users: testUsers(), Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", target.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	refer := `sip:9000@[^?]+\?Replaces=[^%]+%3Bto-tag%3D[^%]+%3Bfrom-tag%3D[^>]+`
	caller := startSipp(t, k.Addr, "-sf", scenario(t, "uac_transferee.xml", "LINE", "{{REFERTO}}", refer, "{{FINAL}}", "200 OK"),
		"-s", "270001", "-m", "1", "-trace_logs")
	held := answerIncoming(t, u, caller)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := held.Hold(ctx, true); err != nil {
		t.Fatalf("hold: %v", err)
	}
	tc := dialAnswered(t, u, target, "9000")
	start := time.Now()
	if err := held.Refer(ctx, ReferTarget{Replaces: tc}); err != nil {
		t.Fatalf("refer: %v; sipp: %s", err, caller.errors())
	}
	t.Logf("figure: REFER to the final NOTIFY through kamailio: %v", time.Since(start).Round(time.Microsecond))
	held.Hangup()
	tc.Hangup()
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Fatalf("transferee: %v\n%s", err, caller.errors())
	}
	got := sippLog(caller)
	tc.mu.Lock()
	local, remote := tc.localTag, tc.remoteTag
	tc.mu.Unlock()
	want := "Replaces=" + escapeHeaderValue(tc.CallID+";to-tag="+remote+";from-tag="+local)
	if !strings.Contains(got, want) {
		t.Errorf("Refer-To does not name the target's dialog %q:\n%s", want, got)
	}
	if err := target.wait(t, 10*time.Second); err != nil {
		t.Errorf("target: %v\n%s", err, target.errors())
	}
}

// Blind transfer that fails: the transferee reports 486 Busy Here from the
// target; Refer says so and the call with the transferee stays up.
func TestReferBlindFailure(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	caller := startSipp(t, k.Addr, "-sf", scenario(t, "uac_transferee.xml", "CALLER", "{{REFERTO}}", `sip:2000@`, "{{FINAL}}", "486 Busy Here"),
		"-s", "270001", "-m", "1")
	c := answerIncoming(t, u, caller)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Hold(ctx, true); err != nil {
		t.Fatalf("hold: %v", err)
	}
	err := c.Refer(ctx, ReferTarget{Number: "2000"})
	if !errors.Is(err, ErrTransferFailed) || !strings.Contains(err.Error(), "486") {
		t.Fatalf("refer: %v, want ErrTransferFailed with 486", err)
	}
	if c.State() != StateAnswered {
		t.Fatalf("the call did not stay up after a failed transfer: %v", c.State())
	}
	if err := caller.wait(t, 10*time.Second); err != nil {
		t.Fatalf("transferee: %v\n%s", err, caller.errors())
	}
}

// A flash passed to the PBX in a SIP INFO, both ways analogue adapters
// send it.
func TestFlashByINFO(t *testing.T) {
	for _, tc := range []struct{ method, ctype, body string }{
		{FlashInfo, "application/hook-flash", `signal=hf`},
		{FlashDTMFRelay, "application/dtmf-relay", `Signal=!`},
	} {
		t.Run(tc.method, func(t *testing.T) {
			k := startKamailio(t, kamOpts{Users: testUsers()})
			lines := append([]Line(nil), testLines...)
			lines[0].Flash = tc.method
			u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, lines, nil)
			waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
			s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_info_flash.xml", "", "{{CTYPE}}", tc.ctype, "{{BODY}}", regexp.QuoteMeta(tc.body)),
				"-s", "270001", "-m", "1")
			c := answerIncoming(t, u, s)
			if err := c.Flash(); err != nil {
				t.Fatal(err)
			}
			if err := s.wait(t, 15*time.Second); err != nil {
				t.Fatalf("sipp: %v\n%s", err, s.errors())
			}
		})
	}
}

func TestParseSipfrag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int
		ok   bool
	}{
		{"SIP/2.0 200 OK\r\n", 200, true},
		{"SIP/2.0 100 Trying", 100, true},
		{"SIP/2.0 486 Busy Here\r\nVia: x\r\n", 486, true},
		{"", 0, false},
		{"HTTP/1.1 200 OK", 0, false},
		{"SIP/2.0 2000 OK", 0, false},
		{"SIP/2.0 abc", 0, false},
	} {
		n, err := parseSipfrag([]byte(tc.in))
		if (err == nil) != tc.ok || n.status != tc.code {
			t.Errorf("%q: %+v %v", tc.in, n, err)
		}
	}
}

func FuzzParseSipfrag(f *testing.F) {
	for _, s := range []string{"SIP/2.0 200 OK\r\n", "SIP/2.0 100 Trying", "", "SIP/2.0", "SIP/2.0 999999999999999999999 x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseSipfrag(b)
		if err == nil && (n.status < 100 || n.status > 699) {
			t.Fatalf("accepted status %d", n.status)
		}
	})
}

func TestEscapeHeaderValue(t *testing.T) {
	got := escapeHeaderValue("a1b2@host;to-tag=x y;from-tag=z")
	if want := "a1b2%40host%3Bto-tag%3Dx%20y%3Bfrom-tag%3Dz"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

// Two lines of the UA in a call with each other through the PBX share the
// Call-ID: each side's in-dialog requests (re-INVITE, BYE) must reach its
// own call, not the other line's.
func TestCallBetweenTwoLinesOfTheUA(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	dialed := make(chan *Call, 1)
	go func() {
		c, err := u.Dial(context.Background(), 1, "270002", DialOptions{})
		if err != nil {
			t.Errorf("dial: %v", err)
		}
		dialed <- c
	}()
	var ic *IncomingCall
	select {
	case ic = <-u.incoming:
	case <-time.After(10 * time.Second):
		t.Fatal("line 2 was not called")
	}
	ic.Ring()
	in, err := ic.Answer()
	if err != nil {
		t.Fatal(err)
	}
	out := <-dialed
	if out == nil {
		t.FailNow()
	}
	waitFor(t, 10*time.Second, "answered", func() bool { return out.State() == StateAnswered })
	if out.CallID != in.CallID {
		t.Fatalf("Call-IDs %q and %q: the PBX is a proxy, they should be the same", out.CallID, in.CallID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Hold(ctx, true); err != nil {
		t.Fatalf("line 2 holds: %v", err)
	}
	if !out.RemoteHeld() || in.RemoteHeld() {
		t.Fatalf("line 1 held by the peer %v, line 2 %v", out.RemoteHeld(), in.RemoteHeld())
	}
	in.Hangup()
	select {
	case <-out.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("line 2's BYE did not end line 1's call")
	}
	if out.Err() != nil {
		t.Fatalf("line 1's call ended with %v, want a normal clear", out.Err())
	}
}
