package main

// The flash-hook services on the real daemon (issue 14 point 3): call
// waiting on a SIP line, hold and swap by re-INVITE, transfer by REFER
// (attended with Replaces, blind) and joined in the appliance, three-way
// calling. kamailio is the PBX, sipp the callers and callees, the test
// serves their audio; every bridged leg is checked by frequency.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/testpeer"
	"github.com/critline/critline/survivability/store"
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

// dialogOf finds, in the daemon's record of its answered dialogs
// (state/dialogs.json), port's call whose remote URI names user.
func dialogOf(t *testing.T, p *proc, port int, user string) (callID, localTag, remoteTag string) {
	t.Helper()
	var saved struct {
		Dialogs []struct {
			Port      int    `json:"port"`
			CallID    string `json:"call_id"`
			LocalTag  string `json:"local_tag"`
			RemoteURI string `json:"remote_uri"`
			RemoteTag string `json:"remote_tag"`
		} `json:"dialogs"`
	}
	eventually(t, fmt.Sprintf("port %d's dialog with %s saved", port, user), func() bool {
		b, err := os.ReadFile(filepath.Join(p.dir, "state", "dialogs.json"))
		if err != nil || store.Decode("dialogs", b, &saved) != nil {
			return false
		}
		for _, d := range saved.Dialogs {
			if d.Port == port && strings.Contains(d.RemoteURI, "sip:"+user+"@") {
				callID, localTag, remoteTag = d.CallID, d.LocalTag, d.RemoteTag
				return true
			}
		}
		return false
	})
	return callID, localTag, remoteTag
}

// escapeHV is RFC 3261's escaping of a URI header value, as the appliance
// writes Replaces in Refer-To.
func escapeHV(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()[]/:+$", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// enquiryToPort2 makes port 1's enquiry call to port 2 through the PBX:
// R (the caller in the call is held), dial 270002, port 2 answers.
func (r *flashRig) enquiryToPort2(t *testing.T) {
	t.Helper()
	p := r.p
	p.flash(1, "")
	eventually(t, "R: recall dial tone with the call held", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "dialtone" && pt.Held != ""
	})
	p.mustCtl("sim", "dial", "1", "270002")
	r.answer(t, 2)
	eventually(t, "port 1 in the enquiry call", func() bool { return portState(p.status(), 1).State == "connected" })
}

// Attended transfer: the porter holds a caller (re-INVITE a=sendonly),
// makes an enquiry call to port 2 through the PBX, and hangs up. The
// caller gets a REFER whose Refer-To names port 2's line with Replaces of
// port 1's dialog with it (RFC 3891), reports the outcome with NOTIFYs,
// and gets the porter's BYE; the replaced dialog is ended. Port 1 is free
// at once.
func TestSIPAttendedTransferByREFER(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra := newRTPPeer(t, 697)
	a := r.caller(t, "uac-transferee.xml", "ACCEPT", "Porters Lodge", "07700900111", "270001", ra,
		"{{REFERTO}}", `sip:270002@[^?>]+[?]Replaces=[^>]+`)
	r.answer(t, 1)
	r.enquiryToPort2(t)
	hungUp := hangUpTransfersByREFER(t, p, a, "the transferee")
	tt := a.traceTimes("REFER sip:", "BYE sip:")
	if refer, bye := tt["REFER sip:"], tt["BYE sip:"]; !refer.IsZero() && !bye.IsZero() {
		t.Logf("figure: attended transfer: on-hook to REFER at the transferee %v (test clock vs sipp's, same host), REFER to the transferor's BYE %v (sipp trace)",
			refer.Sub(hungUp).Round(time.Millisecond), bye.Sub(refer).Round(time.Millisecond))
	}
	// The porter can use the line again at once.
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone on port 1", func() bool { return portState(p.status(), 1).State == "dialtone" })
}

// Blind transfer: the porter hangs up while the enquiry call still rings.
// The appliance cancels its own call to the target and REFERs the caller
// to the number dialled.
func TestSIPBlindTransferByREFER(t *testing.T) {
	uasPort := testpeer.FreeUDPPort(t, "127.0.0.3")
	target := sippUASAt(t, "testdata/uas-ring-until-cancel.xml", uasPort)
	r := startFlashRig(t, map[string]string{"290000": fmt.Sprintf("127.0.0.3:%d", uasPort)})
	p := r.p
	ra := newRTPPeer(t, 697)
	a := r.caller(t, "uac-transferee.xml", "ACCEPT", "Porters Lodge", "07700900111", "270001", ra,
		"{{REFERTO}}", `sip:290000@[^?>]+`)
	r.answer(t, 1)
	p.flash(1, "")
	eventually(t, "R: recall dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "290000")
	eventually(t, "the target rings", func() bool { return portState(p.status(), 1).State == "ringback" })
	p.mustCtl("sim", "hook", "1", "on")
	target.wait("the target: rung, then cancelled")
	a.wait("the transferee")
	eventually(t, "counted", func() bool { return p.metric(`critline_transfers_total{method="refer",port="1",result="ok"}`) == "1" })
	if got := a.logged(); strings.Contains(got, "Replaces") {
		t.Errorf("a blind transfer named a dialog to replace:\n%s", got)
	}
}

// The transferee refuses the REFER (603): the appliance joins the caller
// and port 2 itself. The caller is taken off hold, each hears the other by
// frequency, status shows the transfer, and port 2 hanging up ends the
// caller's call.
func TestSIPTransferRefusedIsJoinedInTheAppliance(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra := newRTPPeer(t, 697)
	a := r.caller(t, "uac-transferee.xml", "REFUSE", "Porters Lodge", "07700900111", "270001", ra,
		"{{REFERTO}}", `sip:270002@`)
	r.answer(t, 1)
	r.enquiryToPort2(t)
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "the transfer is joined in the appliance", func() bool {
		st := p.status()
		return len(st.Transfers) == 1 && st.Transfers[0].Method == "bridge" && st.Transfers[0].State == "joined"
	})
	eventually(t, "the caller taken off hold", func() bool { return strings.Contains(a.logged(), "REINVITE sendrecv") })
	p.portHears(t, 2, 697, 0.5)
	p.playTone(2, 1209, 4)
	ra.hears(t, "the transferred caller", 1209, 0.5)
	p.mustCtl("sim", "hook", "2", "on")
	a.wait("the transferred caller, ended when port 2 hung up")
	eventually(t, "the transfer is over", func() bool { return len(p.status().Transfers) == 0 })
	for _, m := range []string{
		`critline_transfers_total{method="refer",port="1",result="failed"}`,
		`critline_transfers_total{method="bridge",port="1",result="ok"}`,
	} {
		if v := p.metric(m); v != "1" {
			t.Errorf("%s = %q, want 1", m, v)
		}
	}
}

var reShare = regexp.MustCompile(`share at \d+ Hz ([0-9.]+)`)

// trunkHears waits until the trunk's far end hears hz as at least share
// of the last second's power.
func (p *proc) trunkHears(t *testing.T, hz, share float64) {
	t.Helper()
	var got float64
	eventually(t, fmt.Sprintf("the trunk's far end hears %.0f Hz", hz), func() bool {
		out := p.mustCtl("sim", "trunk", "heard", strconv.FormatFloat(hz, 'f', -1, 64))
		m := reShare.FindStringSubmatch(out)
		if m == nil {
			return false
		}
		got, _ = strconv.ParseFloat(m[1], 64)
		return got >= share
	})
	t.Logf("the trunk's far end hears %.0f Hz: share %.2f", hz, got)
}

// trunkCallOnPort1 puts a call from the simulated mobile network on port 1.
func (r *flashRig) trunkCallOnPort1(t *testing.T) {
	t.Helper()
	p := r.p
	p.mustCtl("sim", "trunk", "ring", "07700900999")
	r.answer(t, 1)
	eventually(t, "port 2 stops ringing", func() bool { return portState(p.status(), 2).State == "idle" })
	p.mustCtl("sim", "trunk", "tone", "697", "3")
	p.portHears(t, 1, 697, 0.5)
}

// A caller on the trunk transferred to port 2 (reached through the PBX):
// the appliance joins the trunk's voice channel and the SIP call, both
// ways by frequency; the trunk caller hanging up ends port 2's call.
func TestTransferTrunkCallToASIPLine(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	r.trunkCallOnPort1(t)
	r.enquiryToPort2(t)
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "joined in the appliance", func() bool {
		st := p.status()
		return len(st.Transfers) == 1 && st.Transfers[0].State == "joined"
	})
	p.mustCtl("sim", "trunk", "tone", "697", "5")
	p.portHears(t, 2, 697, 0.5)
	p.playTone(2, 1209, 4)
	p.trunkHears(t, 1209, 0.5)
	p.mustCtl("sim", "trunk", "hangup")
	eventually(t, "port 2's call ended with the trunk caller's", func() bool { return portState(p.status(), 2).State != "connected" })
	eventually(t, "counted", func() bool { return p.metric(`critline_transfers_total{method="bridge",port="1",result="ok"}`) == "1" })
}

// Three-way calling across a trunk call and a SIP call: R3 joins them, and
// each of the three parties hears the other two (port 1's porter 1004 Hz,
// the trunk caller 697 Hz, port 2's porter 1209 Hz).
func TestThreeWayTrunkAndSIP(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	r.trunkCallOnPort1(t)
	r.enquiryToPort2(t)
	p.flash(1, "3")
	eventually(t, "a three-way on port 1", func() bool { return portState(p.status(), 1).ThreeWay })
	p.mustCtl("sim", "trunk", "tone", "697", "12")
	threeWayHeard(t, p, 697, func(hz float64) { p.trunkHears(t, hz, 0.2) })
}

// threeWayHeard checks a three-way on port 1 with port 2 and a third party
// who sends farHz: the porters play 1004 Hz (port 1) and 1209 Hz (port 2);
// each of the three hears the other two (farHears checks the third party),
// neither porter hears themselves, and the conference was counted.
func threeWayHeard(t *testing.T, p *proc, farHz float64, farHears func(hz float64)) {
	t.Helper()
	p.playTone(1, 1004, 12)
	p.playTone(2, 1209, 12)
	p.portHears(t, 1, farHz, 0.2)
	p.portHears(t, 1, 1209, 0.2)
	p.portHears(t, 2, farHz, 0.2)
	p.portHears(t, 2, 1004, 0.2)
	farHears(1004)
	farHears(1209)
	for _, c := range []struct {
		who  string
		port int
		self float64
	}{{"port 1", 1, 1004}, {"port 2", 2, 1209}} {
		s := p.listenPort(c.port, 1)
		if share := goertzelPower(s, c.self); share > 0.1 {
			t.Errorf("%s hears itself: share %.2f at %.0f Hz", c.who, share, c.self)
		}
	}
	if v := p.metric(`critline_flash_services_total{port="1",service="conference"}`); v != "1" {
		t.Errorf("conference counted %q", v)
	}
}

// Three-way calling across two SIP calls: a caller through the PBX on
// port 1 is held (re-INVITE a=sendonly) while the porter calls port 2
// through the PBX; R3 takes the caller back (a=sendrecv) and joins the
// three in the appliance: each hears the other two (the caller 697 Hz,
// port 1's porter 1004 Hz, port 2's porter 1209 Hz), nobody hears
// themselves. The porter hanging up leaves the other two together
// (transfer_on_hangup, the default): both calls go through one registrar,
// so by REFER with Replaces of port 1's dialog with port 2, and port 1 is
// free at once.
func TestThreeWayOfTwoSIPCalls(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra := newRTPPeer(t, 697)
	a := r.caller(t, "uac-conferee.xml", "", "Porters Lodge", "07700900111", "270001", ra,
		"{{REFERTO}}", `sip:270002@[^?>]+[?]Replaces=[^>]+`)
	r.answer(t, 1)
	p.portHears(t, 1, 697, 0.5)
	r.enquiryToPort2(t)
	eventually(t, "the caller got the hold re-INVITE", func() bool { return strings.Contains(a.logged(), "REINVITE sendonly") })
	p.flash(1, "3")
	eventually(t, "a three-way on port 1", func() bool { return portState(p.status(), 1).ThreeWay })
	eventually(t, "the caller taken back (a=sendrecv)", func() bool { return strings.Contains(a.logged(), "REINVITE sendrecv") })
	m := ra.mark()
	threeWayHeard(t, p, 697, func(hz float64) { ra.hearsSince(t, "the caller", m, hz, 0.2) })
	hangUpTransfersByREFER(t, p, a, "the caller, transferred to port 2")
}

// hangUpTransfersByREFER hangs port 1 up with a caller (sipp run a, who)
// and port 2 on its line, and checks the attended transfer by REFER that
// follows: port 1 idle at once, the caller's REFER names port 1's dialog
// with port 2 (Replaces, RFC 3891), that dialog ends, the transfer is
// counted. It returns when port 1 was hung up.
func hangUpTransfersByREFER(t *testing.T, p *proc, a *sippRun, who string) time.Time {
	t.Helper()
	callID, local, remote := dialogOf(t, p, 1, "270002")
	hungUp := time.Now()
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "port 1 idle at once", func() bool { return portState(p.status(), 1).State == "idle" })
	a.wait(who)
	want := "Replaces=" + escapeHV(callID+";to-tag="+remote+";from-tag="+local)
	if got := a.logged(); !strings.Contains(got, want) {
		t.Fatalf("Refer-To does not name port 1's dialog with port 2 (%s):\n%s", want, got)
	}
	eventually(t, "the replaced dialog ended: port 2's call is over", func() bool { return portState(p.status(), 2).State != "connected" })
	eventually(t, "counted", func() bool { return p.metric(`critline_transfers_total{method="refer",port="1",result="ok"}`) == "1" })
	return hungUp
}

// The PBX's hold: a caller holds the line (re-INVITE a=sendonly), the
// appliance answers a=recvonly and stops sending; a=sendrecv takes it back
// and the caller hears the porter again.
func TestSIPCallerHoldsTheLine(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra := newRTPPeer(t, 697)
	a := r.caller(t, "uac-holds-the-line.xml", "", "Porters Lodge", "07700900111", "270001", ra,
		"{{HOLDS}}", "3", "{{RESUMES}}", "4", "{{HANGS}}", "3")
	r.answer(t, 1)
	p.playTone(1, 1004, 12)
	ra.hears(t, "the caller before holding", 1004, 0.5)
	eventually(t, "the caller's hold answered: nothing more sent to it", func() bool { return ra.quietFor(time.Second) })
	ra.hearsSince(t, "the caller after taking the call back", ra.mark(), 1004, 0.5)
	a.wait("the caller who held and took back the line")
	eventually(t, "port 1 hears the call end", func() bool { return portState(p.status(), 1).State != "connected" })
}

// Blind transfer of a trunk caller: the porter hangs up while port 2 still
// rings. The appliance keeps the call to port 2 and the caller hears
// ringing tone (UK 400+450 Hz) until port 2 answers; then the two are
// joined, both ways by frequency.
func TestBlindTransferOfATrunkCaller(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	r.trunkCallOnPort1(t)
	p.flash(1, "")
	eventually(t, "R: recall dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "270002")
	eventually(t, "port 2 rings", func() bool { return portState(p.status(), 2).State == "ringing" })
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "the transfer waits for port 2", func() bool {
		st := p.status()
		return len(st.Transfers) == 1 && st.Transfers[0].State == "ringing" && portState(st, 1).State == "idle"
	})
	p.trunkHears(t, 400, 0.2) // ringing tone: 400+450 Hz with its cadence
	p.trunkHears(t, 450, 0.2)
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "joined once port 2 answered", func() bool {
		st := p.status()
		return len(st.Transfers) == 1 && st.Transfers[0].State == "joined"
	})
	p.mustCtl("sim", "trunk", "tone", "697", "5")
	p.portHears(t, 2, 697, 0.5)
	p.playTone(2, 1209, 4)
	p.trunkHears(t, 1209, 0.5)
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "the trunk caller released when port 2 hung up", func() bool { return p.simCalls() == "none" })
}
