package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
	"github.com/critline/critline/sip/rtp"
	pionrtp "github.com/pion/rtp"
)

// keyPeer is the media end of a sipp caller: it records the appliance's
// audio (PCMA) and sends DTMF as RFC 4733 events.
type keyPeer struct {
	t     *testing.T
	conn  *net.UDPConn
	mu    sync.Mutex
	heard []int16
	from  *net.UDPAddr
	first time.Time // arrival of the first and the last audio packet
	last  time.Time
	seq   uint16
	ts    uint32
}

func newKeyPeer(t *testing.T) *keyPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &keyPeer{t: t, conn: c, seq: 1000, ts: 160000}
	t.Cleanup(func() { c.Close() })
	go r.read()
	return r
}

func (r *keyPeer) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *keyPeer) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		var p pionrtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.PayloadType != rtp.PTPCMA {
			continue
		}
		pcm := make([]int16, len(p.Payload))
		rtp.ALaw.Decode(pcm, p.Payload)
		r.mu.Lock()
		r.from = from
		r.heard = append(r.heard, pcm...)
		if r.first.IsZero() {
			r.first = time.Now()
		}
		r.last = time.Now()
		r.mu.Unlock()
	}
}

func (r *keyPeer) samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.heard...)
}

// keys sends DTMF keys as RFC 4733 events (payload type 101), each 100 ms
// with its three end packets, to where the appliance's audio comes from.
func (r *keyPeer) keys(s string) {
	r.t.Helper()
	r.mu.Lock()
	to := r.from
	r.mu.Unlock()
	if to == nil {
		r.t.Fatal("no audio from the appliance yet: nowhere to send keys")
	}
	send := func(code uint8, end bool, dur uint16, marker bool, ts uint32) {
		flags := byte(10) // volume -10 dBm0
		if end {
			flags |= 0x80
		}
		p := pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: 101, SequenceNumber: r.seq, Timestamp: ts, SSRC: 0x5eed, Marker: marker},
			Payload: []byte{code, flags, byte(dur >> 8), byte(dur)}}
		r.seq++
		b, _ := p.Marshal()
		if _, err := r.conn.WriteToUDP(b, to); err != nil {
			r.t.Fatal(err)
		}
	}
	for _, k := range s {
		code, ok := rtp.DigitEvent(k)
		if !ok {
			r.t.Fatalf("%q is not a DTMF key", k)
		}
		ts := r.ts
		r.ts += 8000
		for i := 1; i <= 5; i++ {
			send(code, false, uint16(160*i), i == 1, ts)
			time.Sleep(20 * time.Millisecond)
		}
		for range 3 {
			send(code, true, 800, false, ts)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

// sipCaller runs sipp through the PBX with a scenario from testdata whose
// {{NAME}} placeholders are filled in; the result arrives on the channel.
func sipCaller(t *testing.T, pbx *testpeer.Kamailio, scenario, user string, vars map[string]string) <-chan string {
	t.Helper()
	bin := testenv.LookTool(t, "sipp", "sip-tester")
	b, err := os.ReadFile(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, scenario)
	os.WriteFile(sf, []byte(s), 0o644)
	done := make(chan string, 1)
	cmd := exec.Command(bin, pbx.Addr, "-sf", sf, "-s", user, "-m", "1", "-i", "127.0.0.1", "-p", "0",
		"-timeout", "170s", "-timeout_error", "-trace_err")
	cmd.Dir = dir
	go func() {
		out, err := cmd.CombinedOutput()
		if err == nil {
			done <- ""
			return
		}
		logs, _ := filepath.Glob(filepath.Join(dir, "*errors.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			out = append(out, b...)
		}
		done <- err.Error() + "\n" + string(out)
	}()
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return done
}

// Issue 16, point 3 (and 1, 4) over SIP: the service extension is a line
// of its own on the PBX (kamailio); a member of staff dials it from any
// phone (sipp, with the test's RTP end sending RFC 4733 digits and
// recording the prompts); the porters' lines ring for nothing; the
// forwarding set sends the PBX's next call for the port elsewhere (302).
func TestServiceExtensionOverSIP(t *testing.T) {
	users := pbxUsers()
	users["270009"] = "service-secret"
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: users})
	cfg := remoteConfig(t, pbxConfig(t, pbx.Addr), `service_extension = "270009"
service_password = "service-secret"`, "")
	p := startDaemon(t, cfg)
	eventually(t, "lines and the service extension registered", func() bool {
		st := p.status()
		return st.Mode == "normal" && registered(st) && st.Remote != nil && st.Remote.ServiceRegistered == "pbx1"
	})
	if table := p.mustCtl("status"); !strings.Contains(table, "service extension 270009 registered on pbx1") {
		t.Errorf("status table:\n%s", table)
	}

	r := newKeyPeer(t)
	done := sipCaller(t, pbx, "uac-service.xml", "270009", map[string]string{"RTP_PORT": strconv.Itoa(r.port()), "CALLER": "07700900321"})
	h := newHeard(t, "en-GB")
	eventually(t, "the service extension answers", func() bool {
		select {
		case err := <-done:
			t.Fatalf("sipp ended before the call was answered: %s", err)
		default:
		}
		return len(r.samples()) > 0
	})
	h.waitFor(r.samples, "enter-extension")
	if st := p.status(); portState(st, 1).State != "idle" || portState(st, 2).State != "idle" {
		t.Fatalf("a porter's line rang for the service extension: %+v", st.Ports)
	}
	r.keys("270002")
	h.waitFor(r.samples, "enter-pin")
	r.keys("975319#")
	h.waitFor(r.samples, "menu")
	r.keys("3")
	h.waitFor(r.samples, "enter-number")
	r.keys("01865999000#")
	h.waitFor(r.samples, "confirm")
	r.keys("1")
	select {
	case err := <-done:
		if err != "" {
			t.Fatalf("sipp: %s", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the appliance never hung up")
	}
	h.samples, h.pos = r.samples(), 0
	h.expect("welcome", "enter-extension", "enter-pin", "forwarding-off", "menu", "enter-number", "forwarding-to")
	h.expect(digitNames("01865999000")...)
	h.expect("confirm", "forwarding-to")
	h.expect(digitNames("01865999000")...)
	h.expect("is-on", "goodbye")
	// The prompts were sent at the pace of speech, not in a burst that a
	// phone's jitter buffer would throw away.
	r.mu.Lock()
	span, audio := r.last.Sub(r.first), time.Duration(len(r.heard))*time.Second/8000
	r.mu.Unlock()
	t.Logf("%.1f s of audio arrived over %.1f s", audio.Seconds(), span.Seconds())
	if span < audio*8/10 {
		t.Errorf("%v of audio arrived in %v: the prompts are not paced", audio, span)
	}
	if pt := portState(p.status(), 2); pt.Forwarding != "no-answer(20s)->01865999000" {
		t.Fatalf("port 2 forwarding %q", pt.Forwarding)
	}
	if v := p.metric(`critline_remote_calls_total{entry="service-extension"}`); v != "1" {
		t.Errorf("remote calls %q", v)
	}
	if !strings.Contains(p.log.String(), "caller=07700900321") {
		t.Error("the caller's number is not in the log")
	}
}
