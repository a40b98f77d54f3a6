package main

// The SIP dialects of real PBXs, run against the daemon: sipp plays the
// PBX's side of each flow (testdata/dialects, one file per flow, named
// after the behaviour and the PBX it comes from, each citing its sources)
// through kamailio, which relays it untouched to the line.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// dialectRun is one sipp playing a PBX's side of a flow.
type dialectRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	dir  string
	out  *testenv.Buffer
	done chan error
	name string
	Addr string // its SIP address (UAS scenarios: where the PBX routes calls)
}

// dialectOpts shapes one run.
type dialectOpts struct {
	to      string   // UAC: the PBX's address to send to (kamailio); "" for a UAS
	service string   // UAC: the user called (the line's extension)
	repl    []string // {{KEY}}, value pairs substituted in the scenario
	port    int      // UAS: the SIP port to listen on (0: a free one)
	calls   int      // calls (or subscriptions) to take before ending (default 1)
}

// startDialect starts sipp on a testdata/dialects scenario. A UAC (o.to
// set) makes one call; a UAS waits for one.
func startDialect(t *testing.T, scenario string, o dialectOpts) *dialectRun {
	t.Helper()
	bin := testenv.LookTool(t, "sipp", "sip-tester")
	b, err := os.ReadFile(filepath.Join("testdata", "dialects", scenario))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(o.repl...).Replace(string(b))
	if i := strings.Index(text, "{{"); i >= 0 {
		t.Fatalf("%s: %q left unreplaced", scenario, text[i:min(len(text), i+20)])
	}
	dir := t.TempDir()
	path := filepath.Join(dir, scenario)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	port := o.port
	if port == 0 {
		port = testpeer.FreeUDPPort(t, "127.0.0.3")
	}
	args := []string{"-i", "127.0.0.3", "-p", strconv.Itoa(port), "-mi", "127.0.0.3", "-mp", strconv.Itoa(testpeer.FreeUDPPort(t, "127.0.0.3")),
		"-nostdin", "-trace_msg", "-trace_err", "-timeout", "60s", "-timeout_error", "-m", strconv.Itoa(max(o.calls, 1)), "-sf", path}
	if o.to != "" {
		args = append([]string{o.to, "-s", o.service}, args...)
	}
	r := &dialectRun{t: t, dir: dir, out: &testenv.Buffer{}, done: make(chan error, 1), name: scenario, Addr: fmt.Sprintf("127.0.0.3:%d", port)}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-r.done:
			r.done <- err
		default:
			syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		}
		if t.Failed() || os.Getenv("SIPP_DEBUG") != "" {
			t.Logf("sipp %s:\n%s", scenario, r.logs())
		}
	})
	return r
}

// logs are sipp's messages and errors, for a failure.
func (r *dialectRun) logs() string {
	var b strings.Builder
	for _, pat := range []string{"*_messages.log", "*_errors.log"} {
		files, _ := filepath.Glob(filepath.Join(r.dir, pat))
		for _, f := range files {
			m, _ := os.ReadFile(f)
			if len(m) > 12000 {
				m = m[len(m)-12000:]
			}
			b.Write(m)
		}
	}
	out := r.out.String()
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return b.String() + "\n" + out
}

// wait waits for sipp to end its call and fails the test unless the flow
// passed (every message as the scenario expects).
func (r *dialectRun) wait() {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			r.t.Fatalf("sipp %s: the flow failed (%v)", r.name, err)
		}
	case <-time.After(90 * time.Second): // a hang guard: sipp's own timeout is 60 s
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		r.t.Fatalf("sipp %s still running", r.name)
	}
}

// toneWAV writes an A-law WAV of a sine for sipp's rtp_stream.
func toneWAV(t *testing.T, hz, seconds float64) string {
	t.Helper()
	pcm := sine(hz, 0.25, seconds)
	data := make([]byte, len(pcm))
	for i, v := range pcm {
		data[i] = alaw(v)
	}
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(4 + 8 + 18 + 8 + len(data)))
	b.WriteString("WAVEfmt ")
	w(uint32(18))
	w(uint16(6)) // A-law
	w(uint16(1))
	w(uint32(8000))
	w(uint32(8000))
	w(uint16(1))
	w(uint16(8))
	w(uint16(0))
	b.WriteString("data")
	w(uint32(len(data)))
	b.Write(data)
	p := filepath.Join(t.TempDir(), fmt.Sprintf("tone%.0f.wav", hz))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// alaw is G.711 A-law (ITU-T G.711 table 1a).
func alaw(s int16) byte {
	v := int(s)
	sign := byte(0x80)
	if v < 0 {
		v, sign = -v-1, 0
	}
	v >>= 3
	var seg byte
	for seg = 0; seg < 8 && v > 0x1f<<seg; seg++ {
	}
	var out byte
	if seg >= 8 {
		out = 0x7f
	} else if seg == 0 {
		out = byte(v >> 1)
	} else {
		out = seg<<4 | byte((v>>seg)&0x0f)
	}
	return (out | sign) ^ 0x55
}

// dialectPBX is kamailio with the two lines' users, and routes for the
// numbers UAS scenarios answer.
func dialectPBX(t *testing.T, o testpeer.KamailioOptions) *testpeer.Kamailio {
	t.Helper()
	o.Users = pbxUsers()
	return testpeer.StartKamailio(t, o)
}

// dialectDaemon runs critlined registered with pbx; edits change the
// configuration (old, new pairs, as simConfigWith).
func dialectDaemon(t *testing.T, pbx *testpeer.Kamailio, edits ...string) *proc {
	t.Helper()
	cfg := pbxConfig(t, pbx.Addr)
	if len(edits) > 0 {
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for i := 0; i+1 < len(edits); i += 2 {
			if !strings.Contains(s, edits[i]) {
				t.Fatalf("the test configuration has no %q to edit", edits[i])
			}
			s = strings.Replace(s, edits[i], edits[i+1], 1)
		}
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startDaemon(t, cfg)
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	return p
}

// toneIn reports the power of hz in a recording, relative to all it holds.
func toneIn(audio []int16, hz float64) float64 { return goertzelPower(audio, hz) }

// answerAndHear lifts port's handset once it rings, and returns what its
// earpiece hears for seconds once connected (nothing for 0).
func answerAndHear(t *testing.T, p *proc, port, seconds int) []int16 {
	t.Helper()
	eventually(t, fmt.Sprintf("port %d rings", port), func() bool { return portState(p.status(), port).State == "ringing" })
	p.mustCtl("sim", "hook", strconv.Itoa(port), "off")
	eventually(t, fmt.Sprintf("port %d connected", port), func() bool { return portState(p.status(), port).State == "connected" })
	if seconds == 0 {
		return nil
	}
	return listen(t, p, port, seconds)
}

// wantTone fails unless hz dominates audio.
func wantTone(t *testing.T, what string, audio []int16, hz float64) {
	t.Helper()
	if pw := toneIn(audio, hz); pw < 0.5 || math.IsNaN(pw) {
		t.Fatalf("%s: %.0f Hz carries %.2f of the audio, want most of it", what, hz, pw)
	}
}

// A delayed offer from Cisco Unified CM: our offer in the 200, the answer
// in the ACK, the PBX's tone in the earpiece, its caller in status.
func TestLateOfferFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	s := startDialect(t, "late-offer-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001", repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	eventually(t, "port 1 rings with the caller in status", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "ringing" && pt.Caller == "01223337733" && pt.CallerName == "Bursar Office"
	})
	heard := answerAndHear(t, p, 1, 1)
	wantTone(t, "the earpiece, after an answer taken from the ACK", heard, 1004)
	if m := portState(p.status(), 1).Media; m != "rtp" {
		t.Errorf("media %q, want rtp", m)
	}
	s.wait()
	hangUpPort(t, p, 1)
}

// rtpSink is a UDP socket standing for where a PBX moves the media: it
// records the audio of the RTP that reaches it.
type rtpSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts int
	pt   int
	pcm  []int16
}

func newRTPSink(t *testing.T) *rtpSink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	s := &rtpSink{conn: c, pt: -1}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 || buf[0]>>6 != 2 {
				continue
			}
			pt := int(buf[1] & 0x7f)
			s.mu.Lock()
			s.pkts++
			s.pt = pt
			for _, b := range buf[12:n] {
				switch pt {
				case 0:
					s.pcm = append(s.pcm, ulawDecode(b))
				case 8:
					s.pcm = append(s.pcm, alawDecode(b))
				}
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

func (s *rtpSink) port() string { return strconv.Itoa(s.conn.LocalAddr().(*net.UDPAddr).Port) }

func (s *rtpSink) state() (pkts, pt int, pcm []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pkts, s.pt, append([]int16(nil), s.pcm...)
}

func alawDecode(b byte) int16 {
	b ^= 0x55
	t := int16(b&0x0f) << 4
	seg := (b & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if b&0x80 != 0 {
		return t
	}
	return -t
}

func ulawDecode(b byte) int16 {
	b = ^b
	t := (int16(b&0x0f) << 3) + 0x84
	t <<= (b & 0x70) >> 4
	if b&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}

// playTone plays seconds of hz into a port's handset microphone.
func playTone(t *testing.T, p *proc, port int, hz, seconds float64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("mic%.0f.wav", hz))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	audiofile.EncodeWAV(f, sine(hz, 0.3, seconds))
	f.Close()
	p.mustCtl("sim", "play", strconv.Itoa(port), path)
}

// heardAtSink waits until the sink holds a second of audio and checks its
// tone.
func heardAtSink(t *testing.T, s *rtpSink, what string, hz float64) {
	t.Helper()
	eventually(t, what+": RTP arrives where the PBX moved the media", func() bool { _, _, pcm := s.state(); return len(pcm) >= 8000 })
	_, _, pcm := s.state()
	wantTone(t, what, pcm[len(pcm)-8000:], hz)
}

// hearEventually listens in half seconds until hz dominates the earpiece.
func hearEventually(t *testing.T, p *proc, port int, hz float64, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if toneIn(listen(t, p, port, 1), hz) > 0.5 {
			return
		}
	}
	t.Fatalf("%s: %.0f Hz never reached port %d's earpiece", what, hz, port)
}

// countIn counts what sipp's message log holds of s.
func (r *dialectRun) countIn(s string) int {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*_messages.log"))
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		n += strings.Count(string(b), s)
	}
	return n
}

// hangUpPort puts port's handset down and waits for idle.
func hangUpPort(t *testing.T, p *proc, port int) {
	t.Helper()
	p.mustCtl("sim", "hook", strconv.Itoa(port), "on")
	eventually(t, fmt.Sprintf("port %d idle", port), func() bool { return portState(p.status(), port).State == "idle" })
}

// A delayed-offer re-INVITE from Cisco Unified CM: our offer in the 200,
// the answer in the ACK moves the media; the handset's voice arrives there.
func TestReinviteWithoutSDPFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	sink := newRTPSink(t)
	s := startDialect(t, "reinvite-without-sdp-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001",
		repl: []string{"{{MOVED_IP}}", "127.0.0.1", "{{MOVED_PORT}}", sink.port()}})
	answerAndHear(t, p, 1, 0)
	playTone(t, p, 1, 697, 6)
	heardAtSink(t, sink, "the handset's voice after the re-INVITE without SDP", 697)
	if _, pt, _ := sink.state(); pt != 0 {
		t.Errorf("payload type %d at the new address, want 0 (PCMU, as the ACK's answer said)", pt)
	}
	s.wait()
	hangUpPort(t, p, 1)
}

// Asterisk's direct media: a re-INVITE moves the media to the other
// endpoint and another brings it back.
func TestDirectMediaFromAsterisk(t *testing.T) {
	directMedia(t, "direct-media-reinvite-asterisk.xml")
}

// The same with UPDATE (direct_media_method = update).
func TestDirectMediaUpdateFromAsterisk(t *testing.T) {
	directMedia(t, "direct-media-update-asterisk.xml")
}

func directMedia(t *testing.T, scenario string) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	sink := newRTPSink(t)
	s := startDialect(t, scenario, dialectOpts{to: pbx.Addr, service: "270001",
		repl: []string{"{{MOVED_IP}}", "127.0.0.1", "{{MOVED_PORT}}", sink.port(), "{{TONE}}", toneWAV(t, 1004, 1)}})
	answerAndHear(t, p, 1, 0)
	playTone(t, p, 1, 697, 8)
	heardAtSink(t, sink, "the handset's voice at the other endpoint", 697)
	hearEventually(t, p, 1, 1004, "the PBX's tone after the media came back")
	s.wait()
	hangUpPort(t, p, 1)
}

// Hold passed through by Asterisk (a=sendonly): nothing is sent to the
// held side; the resume (a=sendrecv) brings the handset's voice back.
func TestHoldResumeFromAsterisk(t *testing.T) {
	holdResume(t, "hold-resume-asterisk.xml")
}

// Cisco Unified CM's a=inactive hold, then the resume.
func TestHoldInactiveFromCUCM(t *testing.T) {
	holdResume(t, "hold-inactive-cucm.xml")
}

func holdResume(t *testing.T, scenario string) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	held, resumed := newRTPSink(t), newRTPSink(t)
	s := startDialect(t, scenario, dialectOpts{to: pbx.Addr, service: "270001",
		repl: []string{"{{MOVED_IP}}", "127.0.0.1", "{{MOVED_PORT}}", held.port(), "{{RESUME_IP}}", "127.0.0.1", "{{RESUME_PORT}}", resumed.port()}})
	answerAndHear(t, p, 1, 0)
	playTone(t, p, 1, 697, 8)
	heardAtSink(t, resumed, "the handset's voice after the resume", 697)
	if n, _, _ := held.state(); n != 0 {
		t.Errorf("%d RTP packets sent to a side that was on hold", n)
	}
	s.wait()
	hangUpPort(t, p, 1)
}

// Cisco Unified CM's UPDATE without SDP in the early dialog (connected
// name and number) is answered 200 and the call goes on.
func TestEarlyUpdateFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	s := startDialect(t, "update-connected-id-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001"})
	eventually(t, "the early UPDATE answered", func() bool { return s.countIn("SIP/2.0 200 OK") >= 1 && s.countIn("CSeq: 102 UPDATE") >= 2 })
	answerAndHear(t, p, 1, 0)
	s.wait()
	hangUpPort(t, p, 1)
}

// Asterisk with 100rel = required: the 180 is reliable and PRACKed.
func TestPrackRequiredFromAsterisk(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	s := startDialect(t, "prack-100rel-required-asterisk.xml", dialectOpts{to: pbx.Addr, service: "270001", repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	wantTone(t, "the earpiece after a reliable 180", answerAndHear(t, p, 1, 1), 1004)
	s.wait()
	hangUpPort(t, p, 1)
}

// Unified CM's delayed offer with 100rel: our offer in the reliable 180,
// the answer in the PRACK.
func TestLateOfferWithPrackFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	s := startDialect(t, "late-offer-prack-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001", repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	wantTone(t, "the earpiece after an answer taken from the PRACK", answerAndHear(t, p, 1, 1), 1004)
	s.wait()
	hangUpPort(t, p, 1)
}

// minSE lets the session-timer flows use seconds, not RFC 4028's 90.
var minSE = []string{"probe_interval = \"500ms\"\n", "probe_interval = \"500ms\"\nmin_se = \"2s\"\n"}

// FreeSWITCH leaves the refreshing to the line: it refreshes with UPDATE
// every half interval.
func TestSessionRefreshToFreeSWITCH(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx, minSE...)
	s := startDialect(t, "session-timer-uas-refresh-freeswitch.xml", dialectOpts{to: pbx.Addr, service: "270001"})
	answerAndHear(t, p, 1, 0)
	eventually(t, "two refreshes (UPDATE) from the line", func() bool { return s.countIn("UPDATE sip:") >= 2 })
	hangUpPort(t, p, 1)
	s.wait()
}

// Asterisk asks for too short a session interval: 422 with our Min-SE,
// and its second INVITE is taken.
func TestSessionTimer422ToAsterisk(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx, minSE...)
	s := startDialect(t, "session-timer-422-asterisk.xml", dialectOpts{to: pbx.Addr, service: "270001"})
	answerAndHear(t, p, 1, 0)
	s.wait()
	hangUpPort(t, p, 1)
	if v := p.metric(`critline_sip_requests_rejected_total{code="422"}`); v != "1" {
		t.Errorf("422s counted: %q, want 1", v)
	}
}

// Unified CM, the refresher, stops refreshing (it crashed): the line ends
// the call before the interval runs out, instead of a dead call holding
// the port.
func TestSessionExpiryFromCUCM(t *testing.T) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx, minSE...)
	s := startDialect(t, "session-timer-expiry-cucm.xml", dialectOpts{to: pbx.Addr, service: "270001"})
	answerAndHear(t, p, 1, 0)
	s.wait()
	eventually(t, "the call ended at the port", func() bool { return portState(p.status(), 1).State != "connected" })
	if v := p.metric("critline_sip_session_expired_total"); v != "1" {
		t.Errorf("critline_sip_session_expired_total %q, want 1", v)
	}
	hangUpPort(t, p, 1)
}

// A call forwarded twice by Unified CM: status shows the number first
// dialled, from the bottom Diversion header.
func TestDiversionFromCUCM(t *testing.T) {
	originallyCalled(t, "diversion-cucm.xml", "1020")
}

// A call retargeted by Teams: status shows the number first called, from
// History-Info's first entry.
func TestHistoryInfoFromTeams(t *testing.T) {
	originallyCalled(t, "history-info-teams.xml", "+441223330100")
}

func originallyCalled(t *testing.T, scenario, want string) {
	pbx := dialectPBX(t, testpeer.KamailioOptions{})
	p := dialectDaemon(t, pbx)
	s := startDialect(t, scenario, dialectOpts{to: pbx.Addr, service: "270001"})
	eventually(t, "the originally called number in status while the line rings", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "ringing" && pt.OriginallyCalled == want
	})
	s.wait()
	eventually(t, "cleared when the call is gone", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "idle" && pt.OriginallyCalled == "" && pt.Caller == ""
	})
}

// vmConfig has port 1's voicemail on *97 and every line subscribed to
// message waiting at the PBX.
var vmConfig = []string{
	"transport = \"udp\"\n", "transport = \"udp\"\nmwi_subscribe = true\n",
	"password = \"secret-1\"\n", "password = \"secret-1\"\nvoicemail = \"*97\"\n",
}

// Asterisk's voicemail, subscribed to: the lamp and status follow its
// NOTIFYs, and the porter reaches the voicemail on the access code.
func TestMessageWaitingSubscribedToAsterisk(t *testing.T) {
	vmPort := testpeer.FreeUDPPort(t, "127.0.0.3")
	vm := startDialect(t, "mwi-subscribe-asterisk.xml", dialectOpts{port: vmPort, calls: 2, repl: []string{"{{GAP}}", "6000"}})
	mailbox := sippUAS(t, "testdata/uas-answer.xml")
	pbx := dialectPBX(t, testpeer.KamailioOptions{SubscribeTo: vm.Addr, Routes: map[string]string{"*97": mailbox}})
	p := dialectDaemon(t, pbx, vmConfig...)
	eventually(t, "messages waiting in status, counted", func() bool {
		pt := portState(p.status(), 1)
		return pt.MessageWaiting && pt.Messages == "2 new, 8 old"
	})
	p.waitMetric(`critline_message_waiting{port="1"}`, "1") // set just after the status
	// The access code reaches the Message-Account the NOTIFY named.
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "*97")
	eventually(t, "connected to the voicemail", func() bool { return portState(p.status(), 1).State == "connected" })
	hangUpPort(t, p, 1)
	eventually(t, "messages no longer waiting after the second NOTIFY", func() bool {
		pt := portState(p.status(), 1)
		return !pt.MessageWaiting && pt.Messages == ""
	})
	vm.wait()
}

// 3CX-style: 202 for a short while; the subscription is refreshed in its
// dialog before it runs out.
func TestMessageWaitingRefreshedTo3CX(t *testing.T) {
	vmPort := testpeer.FreeUDPPort(t, "127.0.0.3")
	vm := startDialect(t, "mwi-subscribe-3cx.xml", dialectOpts{port: vmPort, calls: 2})
	pbx := dialectPBX(t, testpeer.KamailioOptions{SubscribeTo: vm.Addr})
	p := dialectDaemon(t, pbx, vmConfig[:2]...)
	eventually(t, "messages waiting on both lines", func() bool {
		st := p.status()
		return portState(st, 1).MessageWaiting && portState(st, 2).MessageWaiting
	})
	vm.wait() // both subscriptions refreshed and notified again
	// Each NOTIFY is counted after its 200 OK, which ends sipp's scenario.
	p.waitMetric(`critline_sip_mwi_notifies_total{kind="subscribed",registrar="pbx1"}`, "4")
}

// listenNoFatal is listen for a goroutine: nil on failure.
func listenNoFatal(p *proc, port, seconds int) []int16 {
	f := filepath.Join(p.dir, fmt.Sprintf("heard-%d-%d.raw", port, time.Now().UnixNano()))
	if _, code := p.ctl("sim", "listen", strconv.Itoa(port), "--seconds", strconv.Itoa(seconds), "--out", f); code != 0 {
		return nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return s
}

// dialOut lifts port's handset and dials number.
func dialOut(t *testing.T, p *proc, port int, number string) {
	t.Helper()
	p.mustCtl("sim", "hook", strconv.Itoa(port), "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), port).State == "dialtone" })
	p.mustCtl("sim", "dial", strconv.Itoa(port), number)
}

// statesUntil polls a port's state until stop says so, and returns every
// state seen on the way.
func statesUntil(t *testing.T, p *proc, port int, stop func(string) bool) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st := portState(p.status(), port).State
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if stop(st) {
			return seen
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("port %d never settled; states %v", port, seen)
	return nil
}

// Asterisk redirects our call (302): it is followed through the guard,
// the porter on ringback all along, and connects.
func TestRedirectFollowedFromAsterisk(t *testing.T) {
	far := startDialect(t, "redirect-302-asterisk.xml", dialectOpts{calls: 2})
	pbx := dialectPBX(t, testpeer.KamailioOptions{Routes: map[string]string{"205000": far.Addr, "205055": far.Addr}})
	p := dialectDaemon(t, pbx)
	dialOut(t, p, 1, "205000")
	seen := statesUntil(t, p, 1, func(s string) bool {
		return s == "connected" || s == "unobtainable" || s == "congestion" || s == "busy"
	})
	for _, s := range seen {
		if s != "collecting" && s != "dialtone" && s != "routing" && s != "ringback" && s != "connected" {
			t.Fatalf("the porter heard %s while the call was redirected (states %v)", s, seen)
		}
	}
	if seen[len(seen)-1] != "connected" {
		t.Fatalf("redirected call not connected: states %v", seen)
	}
	if v := p.metric(`critline_sip_redirects_total{registrar="pbx1",result="followed"}`); v != "1" {
		t.Errorf("redirects followed: %q", v)
	}
	hangUpPort(t, p, 1)
	far.wait()
}

// FreeSWITCH redirects our call to a premium-rate number: the guard
// refuses it, the porter hears number unobtainable, nothing more leaves.
func TestRedirectToPremiumRefusedFromFreeSWITCH(t *testing.T) {
	far := startDialect(t, "redirect-302-premium-freeswitch.xml", dialectOpts{})
	pbx := dialectPBX(t, testpeer.KamailioOptions{Routes: map[string]string{"205000": far.Addr}})
	p := dialectDaemon(t, pbx)
	dialOut(t, p, 1, "205000")
	eventually(t, "number unobtainable", func() bool { return portState(p.status(), 1).State == "unobtainable" })
	far.wait()
	if v := p.metric(`critline_sip_redirects_total{registrar="pbx1",result="refused"}`); v != "1" {
		t.Errorf("redirects refused: %q", v)
	}
	if n := far.countIn("INVITE sip:09098790001"); n != 0 {
		t.Errorf("%d INVITEs to the premium-rate target", n)
	}
	if v := p.metric(`critline_fraud_blocked_total{reason="premium"}`); v != "1" {
		t.Errorf("critline_fraud_blocked_total{reason=\"premium\"} = %q", v)
	}
	hangUpPort(t, p, 1)
}

// FreeSWITCH's reliable 183 with early media: PRACKed, heard, then
// answered; the ACK and our BYE keep CSeq order.
func TestEarlyMediaWithPrackFromFreeSWITCH(t *testing.T) {
	far := startDialect(t, "prack-183-early-media-freeswitch.xml", dialectOpts{repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	pbx := dialectPBX(t, testpeer.KamailioOptions{Routes: map[string]string{"205000": far.Addr}})
	p := dialectDaemon(t, pbx)
	dialOut(t, p, 1, "205000")
	eventually(t, "early media", func() bool { return portState(p.status(), 1).State == "early-media" })
	wantTone(t, "the early media after PRACK", listen(t, p, 1, 1), 1004)
	eventually(t, "answered", func() bool { return portState(p.status(), 1).State == "connected" })
	hangUpPort(t, p, 1)
	far.wait()
	// The ACK carries the INVITE's CSeq (RFC 3261 13.2.2.4), not the
	// PRACK's, and our BYE one above the PRACK's.
	seq := func(method string) int {
		m := regexp.MustCompile(`CSeq: (\d+) ` + method).FindStringSubmatch(far.messages())
		if m == nil {
			t.Fatalf("no %s in sipp's log", method)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	inv, prack, ack, bye := seq("INVITE"), seq("PRACK"), seq("ACK"), seq("BYE")
	if ack != inv || prack <= inv || bye <= prack {
		t.Fatalf("CSeqs: INVITE %d, PRACK %d, ACK %d, BYE %d: want ACK = INVITE < PRACK < BYE", inv, prack, ack, bye)
	}
}

// messages is sipp's message log.
func (r *dialectRun) messages() string {
	files, _ := filepath.Glob(filepath.Join(r.dir, "*_messages.log"))
	var b strings.Builder
	for _, f := range files {
		m, _ := os.ReadFile(f)
		b.Write(m)
	}
	return b.String()
}

// Asterisk's 422 to our INVITE: asked again with its Min-SE.
func TestSessionTimer422FromAsteriskOnOurCall(t *testing.T) {
	far := startDialect(t, "session-timer-422-outbound-asterisk.xml", dialectOpts{})
	pbx := dialectPBX(t, testpeer.KamailioOptions{Routes: map[string]string{"205000": far.Addr}})
	p := dialectDaemon(t, pbx)
	dialOut(t, p, 1, "205000")
	eventually(t, "answered after the 422", func() bool { return portState(p.status(), 1).State == "connected" })
	hangUpPort(t, p, 1)
	far.wait()
}

// Asterisk leaves the refreshing to us without UPDATE: re-INVITEs.
func TestSessionRefreshByReinviteToAsterisk(t *testing.T) {
	far := startDialect(t, "session-timer-uac-refresh-asterisk.xml", dialectOpts{})
	pbx := dialectPBX(t, testpeer.KamailioOptions{Routes: map[string]string{"205000": far.Addr}})
	p := dialectDaemon(t, pbx, minSE...)
	dialOut(t, p, 1, "205000")
	eventually(t, "answered", func() bool { return portState(p.status(), 1).State == "connected" })
	eventually(t, "two refresh re-INVITEs", func() bool { return far.countIn("INVITE sip:") >= 3 })
	hangUpPort(t, p, 1)
	far.wait()
}
