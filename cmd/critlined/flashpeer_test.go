package main

// Far ends for the flash-hook service tests: sipp callers and callees
// through kamailio for the signalling, and an RTP endpoint served by the
// test for each one's audio (sipp can play audio but not tell what it
// hears), so a tone played into one party can be looked for at the
// others by its frequency.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
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

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
	"github.com/critline/critline/sip/rtp"
)

// rtpPeer is a far end's audio: it sends a tone (A-law, 20 ms packets) to
// wherever the appliance sends from, and records what it receives.
type rtpPeer struct {
	t    testing.TB
	conn *net.UDPConn
	Port int
	hz   float64

	mu     sync.Mutex
	remote netip.AddrPort
	heard  []int16
	last   time.Time // the last packet received
	done   chan struct{}
}

func newRTPPeer(t testing.TB, hz float64) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.3:0")))
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{t: t, conn: c, Port: c.LocalAddr().(*net.UDPAddr).Port, hz: hz, done: make(chan struct{})}
	go p.receive()
	go p.send()
	t.Cleanup(func() { close(p.done); c.Close() })
	return p
}

func (p *rtpPeer) receive() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[1]&0x7f != rtp.PTPCMA {
			continue // events, or another payload
		}
		s := make([]int16, n-12)
		rtp.ALaw.Decode(s, buf[12:n])
		p.mu.Lock()
		p.remote = from
		p.heard = append(p.heard, s...)
		p.last = time.Now()
		p.mu.Unlock()
	}
}

func (p *rtpPeer) send() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	pkt := make([]byte, 12+160)
	for n := 0; ; n++ {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		to := p.remote
		p.mu.Unlock()
		if !to.IsValid() || p.hz == 0 {
			continue
		}
		pkt[0], pkt[1] = 0x80, rtp.PTPCMA
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], 0x5eed0001)
		for i := 0; i < 160; i++ {
			v := 0.3 * 32767 * math.Sin(2*math.Pi*p.hz*float64(n*160+i)/8000)
			pkt[12+i] = rtp.ALaw.EncodeSample(int16(v))
		}
		seq++
		ts += 160
		_, _ = p.conn.WriteToUDPAddrPort(pkt, to)
	}
}

// mark returns how much has been heard so far, for since.
func (p *rtpPeer) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.heard)
}

// quietFor reports whether nothing has arrived for d.
func (p *rtpPeer) quietFor(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.last) >= d
}

// hears waits until the last second the peer received carries hz as at
// least share of its power.
func (p *rtpPeer) hears(t testing.TB, who string, hz, share float64) {
	p.hearsSince(t, who, 0, hz, share)
}

// hearsSince is hears counting only what arrived after mark m.
func (p *rtpPeer) hearsSince(t testing.TB, who string, m int, hz, share float64) {
	t.Helper()
	var got float64
	eventually(t, fmt.Sprintf("%s hears %.0f Hz", who, hz), func() bool {
		p.mu.Lock()
		s := p.heard[max(m, len(p.heard)-8000):]
		p.mu.Unlock()
		if len(s) < 8000 {
			return false
		}
		got = goertzelPower(s, hz)
		return got >= share
	})
	t.Logf("%s hears %.0f Hz: share %.2f", who, hz, got)
}

// sippRun is a sipp far end running in the background.
type sippRun struct {
	t    testing.TB
	cmd  *exec.Cmd
	dir  string
	out  *testenv.Buffer
	done chan struct{}
	err  error
}

// sippUAC calls user through the PBX with scenario (one call), from
// 127.0.0.3: everything it says to the appliance goes through the PBX.
func sippUAC(t testing.TB, pbx *testpeer.Kamailio, scenario, user string, args ...string) *sippRun {
	t.Helper()
	return startSippRun(t, append([]string{pbx.Addr, "-sf", scenario, "-s", user, "-m", "1"}, args...))
}

// sippUAS answers calls the PBX routes to it, with scenario; its address
// is returned for the PBX's routes.
func sippUASAt(t testing.TB, scenario string, port int) *sippRun {
	t.Helper()
	abs, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	return startSippRun(t, []string{"-sf", abs, "-p", strconv.Itoa(port), "-m", "1"})
}

func startSippRun(t testing.TB, args []string) *sippRun {
	t.Helper()
	return startSipp(t, sippSpec{args: append([]string{"-timeout", "60s", "-timeout_error", "-trace_logs"}, args...)})
}

// sippSpec says how to run sipp: on ip (default 127.0.0.3), inside network
// namespace ns (default here), with args (-sf, -s, -m, ...; -p when a fixed
// port is wanted).
type sippSpec struct {
	ip, ns string
	args   []string
}

// startSipp runs sipp in the background until it ends or the test does
// (then its process group is killed); when the test failed its message
// trace and output are logged. Every sipp the tests run starts here.
func startSipp(t testing.TB, sp sippSpec) *sippRun {
	t.Helper()
	bin := testenv.LookTool(t, "sipp", "sip-tester")
	ip := sp.ip
	if ip == "" {
		ip = "127.0.0.3"
	}
	s := &sippRun{t: t, dir: t.TempDir(), out: &testenv.Buffer{}, done: make(chan struct{})}
	var mp, port string
	if sp.ns == "" {
		mp = strconv.Itoa(testpeer.FreeUDPPort(t, ip))
		port = strconv.Itoa(testpeer.FreeUDPPort(t, ip))
	} else {
		mp, port = "6000", "5060" // the namespace is the test's own
	}
	base := []string{"-i", ip, "-mi", ip, "-mp", mp, "-nostdin", "-trace_msg", "-trace_err"}
	if !contains(sp.args, "-p") {
		base = append(base, "-p", port)
	}
	argv := append([]string{bin}, append(base, sp.args...)...)
	if sp.ns != "" {
		argv = append([]string{"ip", "netns", "exec", sp.ns}, argv...)
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
		if t.Failed() || os.Getenv("SIPP_DEBUG") != "" {
			t.Logf("sipp %v:\n%s\n%s", sp.args, s.messages(), s.out.String())
		}
	})
	return s
}

// addr is the address sipp listens on (its -i and -p).
func (s *sippRun) addr() string {
	args := s.cmd.Args
	var ip, port string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-i":
			ip = args[i+1]
		case "-p":
			port = args[i+1]
		}
	}
	return ip + ":" + port
}

func contains(s []string, w string) bool {
	for _, x := range s {
		if x == w {
			return true
		}
	}
	return false
}

// wait waits for sipp to finish its call and fails the test if the
// scenario failed.
func (s *sippRun) wait(what string) {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.t.Fatalf("%s: sipp still running", what)
	}
	if s.err != nil {
		s.t.Fatalf("%s: sipp: %v\n%s\n%s", what, s.err, s.logs("_errors.log"), s.out.String())
	}
}

func (s *sippRun) logs(suffix string) string {
	files, _ := filepath.Glob(filepath.Join(s.dir, "*"+suffix))
	var b strings.Builder
	for _, f := range files {
		x, _ := os.ReadFile(f)
		b.Write(x)
	}
	return b.String()
}

// messages is sipp's message trace.
func (s *sippRun) messages() string { return s.logs("_messages.log") }

// logged is what the scenario logged with <log>.
func (s *sippRun) logged() string { return s.logs("_logs.log") }

var reTraceStamp = regexp.MustCompile(`(?m)^-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)`)

// traceTimes returns, from sipp's message trace, when the first message
// whose first line contains each of the given strings was sent or
// received (sipp stamps every message).
func (s *sippRun) traceTimes(firsts ...string) map[string]time.Time {
	out := map[string]time.Time{}
	msgs := s.messages()
	idx := reTraceStamp.FindAllStringSubmatchIndex(msgs, -1)
	for i, m := range idx {
		end := len(msgs)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05.000000", msgs[m[2]:m[3]], time.Local)
		if err != nil {
			continue
		}
		body := msgs[m[1]:end]
		// The message itself starts after sipp's "UDP message sent/received" line.
		lines := strings.Split(strings.TrimSpace(body), "\n")
		var first string
		for _, l := range lines[1:] {
			if l = strings.TrimSpace(l); l != "" {
				first = l
				break
			}
		}
		for _, f := range firsts {
			if _, seen := out[f]; !seen && strings.Contains(first, f) {
				out[f] = at
			}
		}
	}
	return out
}

// scenarioFile writes testdata/name with the {{..}} replacements, keeping
// one of its <!--BLOCK--> ... <!--/BLOCK--> alternatives (keep) and
// dropping the others.
func scenarioFile(t testing.TB, name, keep string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(repl...).Replace(string(b))
	for _, m := range regexp.MustCompile(`<!--([A-Z]+)-->`).FindAllStringSubmatch(s, -1) {
		if m[1] == keep {
			continue
		}
		s = regexp.MustCompile(`(?s)<!--`+m[1]+`-->.*?<!--/`+m[1]+`-->`).ReplaceAllString(s, "")
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listen records what a port's earpiece receives for seconds.
func (p *proc) listenPort(port int, seconds float64) []int16 {
	p.t.Helper()
	f := filepath.Join(p.t.TempDir(), fmt.Sprintf("earpiece-%d-%d.raw", port, time.Now().UnixNano()))
	p.mustCtl("sim", "listen", strconv.Itoa(port), "--seconds", strconv.FormatFloat(seconds, 'f', -1, 64), "--out", f)
	b, err := os.ReadFile(f)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := audiofile.Decode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// playTone plays a sine into a port's microphone for seconds; it returns
// at once, and micFree says when the microphone's queue is empty again
// (keyed digits queue behind it).
func (p *proc) playTone(port int, hz, seconds float64) {
	p.t.Helper()
	r, err := control.NewClient(p.socket).Play(context.Background(), port, sine(hz, 0.3, seconds))
	if err != nil {
		p.t.Fatal(err)
	}
	p.micMu.Lock()
	if p.micFree == nil {
		p.micFree = map[int]time.Time{}
	}
	p.micFree[port] = time.Now().Add(time.Duration(r.Seconds * float64(time.Second)))
	p.micMu.Unlock()
}

// waitMicFree waits until a tone played into port has played out, so a
// recall code keyed now is heard at once.
func (p *proc) waitMicFree(port int) {
	p.micMu.Lock()
	until := p.micFree[port]
	p.micMu.Unlock()
	if d := time.Until(until); d > 0 {
		time.Sleep(d + 100*time.Millisecond)
	}
}

// portHears records a port's earpiece until the tone at hz makes up at
// least share of its power (after the first half second).
func (p *proc) portHears(t testing.TB, port int, hz, share float64) {
	t.Helper()
	var got float64
	eventually(t, fmt.Sprintf("port %d hears %.0f Hz", port, hz), func() bool {
		s := p.listenPort(port, 1.5)
		got = goertzelPower(s[len(s)/3:], hz)
		return got >= share
	})
	t.Logf("port %d hears %.0f Hz: share %.2f", port, hz, got)
}

// flash presses R on a port and, when code is not empty, keys the code
// digit after it.
func (p *proc) flash(port int, code string) {
	p.t.Helper()
	p.waitMicFree(port)
	p.mustCtl("sim", "flash", strconv.Itoa(port)) // returns once the port has taken the R
	if code != "" {
		p.mustCtl("sim", "dial", strconv.Itoa(port), code)
	}
}
