package main

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// Spoofed requests on the surfaces the PBX dialects added (over UDP, from
// the registrar's own address, which anyone on the LAN can forge): an
// unsolicited message-summary NOTIFY, other event packages (check-sync,
// refer), REFER, UPDATE and PRACK with and without offers, a late-offer
// INVITE requiring 100rel with a session timer. None places a trunk call
// or changes forwarding. What a forged NOTIFY can do over UDP (light the
// message lamp) is shown, and is why trusted_transports exists
// (TestOnlyTLSRequestsAreTrusted refuses it).
func TestSpoofedDialectRequestsNeverReachTheTrunk(t *testing.T) {
	r := startRig(t, rigOpts{})
	r.p.mustCtl("forward", "2", "busy", "07700900555")
	before := r.p.metric(`critline_forward_changes_total{via="ctl"}`)
	atds := r.atds()
	to := r.pbx.Registered("270001")
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n"
	i := 0
	send := func(method, ruser, extraTo string, headers [][2]string, ctype, body string) {
		i++
		m := &testpeer.Msg{Start: fmt.Sprintf("%s sip:%s@%s SIP/2.0", method, ruser, to)}
		m.Headers = [][2]string{
			{"via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-dialect%d", me, i)},
			{"max-forwards", "70"},
			{"from", fmt.Sprintf("<sip:07700900001@127.0.0.1>;tag=sp%d", i)},
			{"to", fmt.Sprintf("<sip:%s@127.0.0.1>%s", ruser, extraTo)},
			{"call-id", fmt.Sprintf("dialect-spoof-%d", i)},
			{"cseq", "1 " + method},
			{"contact", fmt.Sprintf("<sip:x@%s>", me)},
		}
		m.Headers = append(m.Headers, headers...)
		if body != "" {
			m.Headers = append(m.Headers, [2]string{"content-type", ctype})
			m.Body = body
		}
		c.WriteToUDP(m.Bytes(), to)
	}
	send("NOTIFY", "270001", "", [][2]string{{"event", "message-summary"}, {"subscription-state", "active"}},
		"application/simple-message-summary", "Messages-Waiting: yes\r\nMessage-Account: sip:09098790001@127.0.0.1\r\n")
	send("NOTIFY", "270001", "", [][2]string{{"event", "check-sync"}}, "", "")
	send("NOTIFY", "270001", "", [][2]string{{"event", "refer"}, {"subscription-state", "active"}}, "message/sipfrag", "SIP/2.0 200 OK\r\n")
	for _, target := range []string{"07700900123", "999", "09098790001"} {
		send("REFER", "270001", "", [][2]string{{"refer-to", fmt.Sprintf("<sip:%s@127.0.0.1>", target)}}, "", "")
		send("REFER", "270001", ";tag=x", [][2]string{{"refer-to", fmt.Sprintf("<sip:%s@127.0.0.1>", target)}}, "", "")
	}
	send("UPDATE", "270001", ";tag=x", nil, "application/sdp", sdp)
	send("UPDATE", "270001", "", nil, "", "")
	send("PRACK", "270001", ";tag=x", [][2]string{{"rack", "1 1 INVITE"}}, "application/sdp", sdp)
	send("SUBSCRIBE", "270001", "", [][2]string{{"event", "message-summary"}}, "", "")
	for _, ruser := range []string{"999", "07700900123", "*21*07700900666#"} {
		send("INVITE", ruser, "", [][2]string{{"require", "100rel"}, {"supported", "timer"}, {"session-expires", "90"}}, "", "")
	}
	send("INVITE", "270001", "", [][2]string{{"require", "100rel"}, {"session-expires", "90;refresher=uas"}}, "", "")
	// The spoofed INVITE to a line rings it (the UDP risk: any caller ID):
	// answered and hung up, it still places nothing on the trunk.
	eventually(t, "the forged NOTIFY lit the lamp (the documented UDP risk)", func() bool { return portState(r.p.status(), 1).MessageWaiting })
	if st := portState(r.p.status(), 1).State; st == "ringing" {
		r.p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "answered", func() bool { return portState(r.p.status(), 1).State == "connected" })
		r.onHook(1)
	}
	// The forged voicemail account (a premium number) is not dialled by
	// anything on its own; nothing to wait for: the assertion is that
	// nothing happened.
	time.Sleep(time.Second)
	if got := r.atds() - atds; got != 0 {
		t.Errorf("spoofed requests placed %d calls on the trunk", got)
	}
	if got := r.p.metric(`critline_forward_changes_total{via="ctl"}`); got != before {
		t.Errorf("forwarding changes %s -> %s", before, got)
	}
	for _, via := range []string{"remote", "network"} {
		if got := r.p.metric(fmt.Sprintf(`critline_forward_changes_total{via=%q}`, via)); got != "0" {
			t.Errorf("forwarding changed via %s: %s", via, got)
		}
	}
	if pt := portState(r.p.status(), 2); pt.Forwarding != "busy->07700900555" {
		t.Errorf("port 2 forwarding %q", pt.Forwarding)
	}
	for _, code := range []string{"489", "481"} {
		if v := r.p.metric(fmt.Sprintf(`critline_sip_requests_rejected_total{code=%q}`, code)); v == "" || v == "0" {
			t.Errorf("no %s answered to the spoofed requests", code)
		}
	}
}
