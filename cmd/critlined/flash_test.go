package main

// The flash-hook services on the real daemon (issue 14 point 3): call
// waiting on a SIP line, hold and swap by re-INVITE, transfer by REFER
// (attended with Replaces, blind) and joined in the appliance, three-way
// calling. kamailio is the PBX, sipp the callers and callees, the test
// serves their audio; every bridged leg is checked by frequency.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/testpeer"
)

// flashRig is the daemon on the sim board with both lines registered on
// kamailio (and the simulated trunk).
type flashRig struct {
	pbx *testpeer.Kamailio
	p   *proc
}

func startFlashRig(t *testing.T, routes map[string]string) *flashRig {
	t.Helper()
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers(), Routes: routes})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "both lines registered, mode normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	return &flashRig{pbx: pbx, p: p}
}

// caller starts a sipp caller of port user with its audio on peer.
func (r *flashRig) caller(t *testing.T, scenario, keep, name, number, user string, peer *rtpPeer, repl ...string) *sippRun {
	t.Helper()
	repl = append(repl, "{{NAME}}", name, "{{NUMBER}}", number, "{{RTPPORT}}", strconv.Itoa(peer.Port))
	return sippUAC(t, r.pbx, scenarioFile(t, scenario, keep, repl...), user)
}

// answer lifts port's handset on a ringing call and waits for the call.
func (r *flashRig) answer(t *testing.T, port int) {
	t.Helper()
	eventually(t, fmt.Sprintf("port %d rings", port), func() bool { return portState(r.p.status(), port).State == "ringing" })
	r.p.mustCtl("sim", "hook", strconv.Itoa(port), "off")
	eventually(t, fmt.Sprintf("port %d connected", port), func() bool { return portState(r.p.status(), port).State == "connected" })
}

// cwTone reports the loudest 400 Hz (UK call-waiting tone) in audio, dBm0.
func cwTone(audio []int16) float64 {
	best := -100.0
	for i := 0; i+800 <= len(audio); i += 160 {
		best = max(best, dsp.ToneLevelDBm0(audio[i:i+800], 400))
	}
	return best
}

// A second INVITE to a port in a call waits instead of getting busy: 180,
// the call-waiting tone in the porter's ear and status. R2 takes it (the
// first caller is held: re-INVITE a=sendonly) and each caller is heard by
// frequency; R2 again swaps (held a=sendonly, back a=sendrecv); R1 ends
// the current call (BYE) and takes the other back; hanging up ends it.
func TestSIPCallWaitingSwapRelease(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra, rb := newRTPPeer(t, 697), newRTPPeer(t, 1209)
	a := r.caller(t, "uac-held-and-back.xml", "", "Porters Lodge", "07700900111", "270001", ra)
	r.answer(t, 1)
	p.portHears(t, 1, 697, 0.5)
	p.playTone(1, 1004, 3)
	ra.hears(t, "caller A", 1004, 0.5)

	heard := make(chan []int16, 1)
	go func() { heard <- p.listenPort(1, 3) }()
	time.Sleep(300 * time.Millisecond) // the recording has begun
	b := r.caller(t, "uac-held-and-back.xml", "", "Bursar", "07700900222", "270001", rb)
	eventually(t, "the second call waits on port 1", func() bool { return portState(p.status(), 1).Waiting == "07700900222" })
	if l := cwTone(<-heard); l < -26 {
		t.Fatalf("no call-waiting tone in the porter's ear: 400 Hz at most %.1f dBm0", l)
	}

	// R2: take the waiting call; A is held.
	p.flash(1, "2")
	eventually(t, "R2: A held, B current", func() bool {
		pt := portState(p.status(), 1)
		return pt.Held == "07700900111" && pt.Waiting == "" && pt.State == "connected"
	})
	eventually(t, "A got the hold re-INVITE", func() bool { return strings.Contains(a.logged(), "REINVITE sendonly") })
	p.portHears(t, 1, 1209, 0.5)
	p.playTone(1, 1004, 3)
	rb.hears(t, "caller B", 1004, 0.5)
	if !ra.quietFor(time.Second) {
		t.Error("the held caller still receives audio")
	}

	// R2 again: back to A, B held.
	p.flash(1, "2")
	eventually(t, "R2: B held, A current", func() bool { return portState(p.status(), 1).Held == "07700900222" })
	eventually(t, "B held, A taken back", func() bool {
		return strings.Contains(b.logged(), "REINVITE sendonly") && strings.Contains(a.logged(), "REINVITE sendrecv")
	})
	p.portHears(t, 1, 697, 0.5)

	// R1: end A, take B back.
	p.flash(1, "1")
	a.wait("caller A ended by R1")
	eventually(t, "R1: B current, nothing held", func() bool { pt := portState(p.status(), 1); return pt.Held == "" && pt.State == "connected" })
	eventually(t, "B taken back", func() bool { return strings.Contains(b.logged(), "REINVITE sendrecv") })
	p.portHears(t, 1, 1209, 0.5)
	p.mustCtl("sim", "hook", "1", "on")
	b.wait("caller B ended by the porter's hang-up")
	for svc, want := range map[string]string{"waiting": "1", "waiting-answered": "1", "swap": "1", "released": "1"} {
		if v := p.metric(`critline_flash_services_total{port="1",service="` + svc + `"}`); v != want {
			t.Errorf("critline_flash_services_total{service=%q} %q, want %s", svc, v, want)
		}
	}
}

// R0 turns a waiting caller away: 486 Busy Here; the call in progress
// goes on.
func TestSIPCallWaitingRefused(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra, rb := newRTPPeer(t, 697), newRTPPeer(t, 1209)
	r.caller(t, "uac-held-and-back.xml", "", "Porters Lodge", "07700900111", "270001", ra)
	r.answer(t, 1)
	b := r.caller(t, "uac-waiting-refused.xml", "", "Bursar", "07700900222", "270001", rb)
	eventually(t, "the second call waits", func() bool { return portState(p.status(), 1).Waiting != "" })
	p.flash(1, "0")
	b.wait("the waiting caller refused with 486")
	if pt := portState(p.status(), 1); pt.State != "connected" || pt.Waiting != "" {
		t.Fatalf("after R0: %+v", pt)
	}
	p.portHears(t, 1, 697, 0.5)
	if v := p.metric(`critline_calls_total{direction="in",port="1",result="busy",route="pbx1"}`); v != "1" {
		t.Errorf("the refused waiting call counted %q as busy", v)
	}
}
