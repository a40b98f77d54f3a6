package sip

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// raw sends one datagram from a trusted address (127.0.0.1) and returns the
// first line of the final response carrying callID, "" when none came
// within wait.
func raw(t testing.TB, c *net.UDPConn, to *net.UDPAddr, msg, callID string, wait time.Duration) string {
	t.Helper()
	if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	deadline := time.Now().Add(wait)
	for {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		if bytes.HasPrefix(line, []byte("SIP/2.0 1")) || callID == "" || !bytes.Contains(buf[:n], []byte("Call-ID: "+callID+"\r\n")) {
			continue
		}
		return string(line)
	}
}

// rawUnanswered sends a datagram that must get no final answer, then an
// OPTIONS (Call-ID probe) that must: the UA reads its socket in order, so
// once the OPTIONS is answered the first datagram has been read and dealt
// with. It returns the final response to callID seen before that, ""
// when none: no waiting out a silence.
func rawUnanswered(t testing.TB, c *net.UDPConn, to *net.UDPAddr, msg, callID, probe string) string {
	t.Helper()
	if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(probe), to); err != nil {
		t.Fatal(err)
	}
	got := ""
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard only
	for {
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("the UA did not answer the OPTIONS sent after %q: %v", msg[:min(len(msg), 40)], err)
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		switch {
		case bytes.HasPrefix(line, []byte("SIP/2.0 1")):
		case bytes.Contains(buf[:n], []byte("Call-ID: probe\r\n")):
			return got
		case callID != "" && got == "" && bytes.Contains(buf[:n], []byte("Call-ID: "+callID+"\r\n")):
			got = string(line)
		}
	}
}

func sipMsg(start string, callID string, extra string, body string) string {
	return fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP 127.0.0.1:%%d;branch=z9hG4bK-%s\r\nFrom: <sip:x@127.0.0.1>;tag=f%s\r\nTo: <sip:270001@127.0.0.1>%s\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:x@127.0.0.1:%%d>\r\nMax-Forwards: 70\r\nContent-Length: %d\r\n\r\n%s",
		start, callID, callID, extra, callID, strings.Fields(start)[0], len(body), body)
}

// hostileSeeds are malformed and hostile messages from a registrar's
// address, with the status critline must answer ("" = drop or no answer).
func hostileSeeds() []struct{ msg, want string } {
	// h10 is well formed apart from its size: it may reach the router.
	goodSDP := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
	return []struct{ msg, want string }{
		{"\x00\x01\x02garbage\r\n\r\n", ""},
		{"INVITE sip:270001@127.0.0.1 SIP/2.0\r\nVia: broken\r\n\r\n", ""},
		{sipMsg("INVITE sip:999999@127.0.0.1 SIP/2.0", "h1", "", goodSDP), "SIP/2.0 404"},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h2", "", "v=0\r\nm=audio 99999 RTP/AVP x\r\n"), "SIP/2.0 488"},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h3", "", "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 18\r\n"), "SIP/2.0 488"},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h4", "", ""), "SIP/2.0 488"},
		{sipMsg("BYE sip:270001@127.0.0.1 SIP/2.0", "h5", ";tag=nope", ""), "SIP/2.0 481"},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h6", ";tag=nope", goodSDP), "SIP/2.0 481"},
		{sipMsg("CANCEL sip:270001@127.0.0.1 SIP/2.0", "h7", "", ""), "SIP/2.0 481"},
		{sipMsg("MESSAGE sip:270001@127.0.0.1 SIP/2.0", "h8", "", "hello"), "SIP/2.0 405"},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h9", "", strings.Repeat("a=x\r\n", 5000)), ""},
		{sipMsg("INVITE sip:270001@127.0.0.1 SIP/2.0", "h10", "\r\nX-Junk: "+strings.Repeat("A", 30000), goodSDP), ""},
		{"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-stray\r\nCall-ID: stray\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", ""},
		{"INVITE sip:270001@127.0.0.1 SIP/2.0\r\nContent-Length: -5\r\n\r\n", ""},
		{"ACK sip:270001@127.0.0.1 SIP/2.0\r\nCall-ID: nobody\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", ""},
	}
}

// TestHostileRequests: every hostile message is refused or dropped, none
// reaches the router, the lines stay registered, nothing is left running.
func TestHostileRequests(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	before := runtime.NumGoroutine()
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(u.Addr())
	lp := c.LocalAddr().(*net.UDPAddr).Port
	for i, h := range hostileSeeds() {
		msg := strings.ReplaceAll(h.msg, "%d", fmt.Sprint(lp))
		id := ""
		if m := regexp.MustCompile(`Call-ID: (\S+)`).FindStringSubmatch(msg); m != nil {
			id = m[1]
		}
		var got string
		if h.want != "" {
			got = raw(t, c, to, msg, id, 5*time.Second) // returns at the answer; the wait is a hang guard
		} else {
			probe := strings.ReplaceAll(sipMsg("OPTIONS sip:127.0.0.1 SIP/2.0", "probe", "", ""), "%d", fmt.Sprint(lp))
			probe = strings.Replace(probe, "branch=z9hG4bK-probe", fmt.Sprintf("branch=z9hG4bK-probe%d", i), 1)
			got = rawUnanswered(t, c, to, msg, id, probe)
		}
		if h.want != "" && !strings.HasPrefix(got, h.want) {
			t.Errorf("seed %d: answered %q, want %q", i, got, h.want)
		}
		if h.want == "" && strings.HasPrefix(got, "SIP/2.0 2") {
			t.Errorf("seed %d: accepted with %q", i, got)
		}
	}
	for len(u.incoming) > 0 {
		ic := <-u.incoming
		if ic.CallID != "h10" {
			t.Errorf("a hostile INVITE reached the router: %+v", ic)
		}
		ic.Reject(486, "Busy Here")
	}
	if !allRegistered(u.UA, "pbx") {
		t.Errorf("lines lost registration: %+v", u.Lines())
	}
	if got := raw(t, c, to, strings.ReplaceAll(sipMsg("OPTIONS sip:127.0.0.1 SIP/2.0", "alive", "", ""), "%d", fmt.Sprint(lp)), "alive", time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("UA does not answer OPTIONS after the hostile messages: %q", got)
	}
	u.Close()
	k.Kill()
	var after int
	for range 100 {
		after = runtime.NumGoroutine()
		if after <= before {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the UA, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// FuzzRequest throws arbitrary datagrams at a running UA from a trusted
// address: it must never panic and must keep answering OPTIONS.
func FuzzRequest(f *testing.F) {
	for _, h := range hostileSeeds() {
		f.Add([]byte(h.msg))
	}
	dead := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(f, "127.0.0.1"))
	u := startUA(f, []Registrar{{Name: "pbx", Address: dead}}, testLines, func(c *Config) {
		c.OnIncoming = func(ic *IncomingCall) { go ic.Reject(486, "Busy Here") }
	})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(u.Addr())
	lp := fmt.Sprint(c.LocalAddr().(*net.UDPAddr).Port)
	n := 0
	f.Fuzz(func(t *testing.T, b []byte) {
		msg := strings.ReplaceAll(string(b), "%d", lp)
		c.WriteToUDP([]byte(msg), to)
		n++
		if n%50 != 1 { // check liveness now and then: a round trip per input is slow
			return
		}
		probe := strings.ReplaceAll(sipMsg("OPTIONS sip:127.0.0.1 SIP/2.0", fmt.Sprintf("alive%d", n), "", ""), "%d", lp)
		c.WriteToUDP([]byte(probe), to)
		buf := make([]byte, 65536)
		deadline := time.Now().Add(2 * time.Second)
		for {
			c.SetReadDeadline(deadline)
			k, _, err := c.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("UA stopped answering OPTIONS after %q", b)
			}
			if bytes.Contains(buf[:k], []byte(fmt.Sprintf("alive%d", n))) && bytes.HasPrefix(buf[:k], []byte("SIP/2.0 200")) {
				return
			}
		}
	})
}
