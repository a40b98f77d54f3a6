package main

// The lodge's phones working together (issue 14 points 1, 2 and 4) on the
// real daemon: local calls through the PBX and without it, hunt groups
// reached from a trunk, from their own SIP line and from a port, outside
// members over SIP (kamailio routing to a sipp callee that echoes the
// audio) and through the mobile network (the pty modem simulator's call
// deflection and transfer), the sequential strategy's timing, hotline and
// warmline. Audio is checked by frequency across every bridged leg.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testpeer"
	"github.com/critline/critline/sip"
)

// editConfig applies edits (old, new, ...) to a configuration file, each
// once, and appends tail.
func editConfig(t *testing.T, path, tail string, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("%s has no %q to edit", path, edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	s += "\n" + tail
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// toneFile writes seconds of a sine at hz as a WAV file.
func toneFile(t testing.TB, hz, seconds float64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("tone-%.0f.wav", hz))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := audiofile.EncodeWAV(f, sine(hz, 0.3, seconds)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// blockShare is the share of the power of samples at hz (1 for a pure tone
// there), measured over 100 ms blocks: a frame dropped or inserted by a
// bridge breaks a tone's phase, which one measurement over the whole
// recording would take for a weaker tone.
func blockShare(s []int16, hz float64) float64 {
	var at, total float64
	for i := 0; i+800 <= len(s); i += 800 {
		b := s[i : i+800]
		p := goertzelPower(b, hz)
		var e float64
		for _, x := range b {
			e += float64(x) * float64(x)
		}
		at += p * e
		total += e
	}
	if total == 0 {
		return 0
	}
	return at / total
}

// listen records port's earpiece for seconds and returns it, the first
// 300 ms (the bridge and jitter buffers filling) left out.
func (p *proc) listen(port int, seconds float64) []int16 {
	p.t.Helper()
	out := filepath.Join(p.dir, fmt.Sprintf("heard-%d-%d.wav", port, time.Now().UnixNano()))
	p.mustCtl("sim", "listen", strconv.Itoa(port), "--seconds", fmt.Sprint(seconds), "--out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := audiofile.Decode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(s) > audiofile.SampleRate*3/10 {
		s = s[audiofile.SampleRate*3/10:]
	}
	return s
}

// crosses plays a tone into from's microphone and checks to's earpiece
// hears it (and not other).
func (p *proc) crosses(from, to int, hz, other float64) {
	p.t.Helper()
	p.mustCtl("sim", "play", strconv.Itoa(from), toneFile(p.t, hz, 4))
	heard := p.listen(to, 2)
	at, off := blockShare(heard, hz), blockShare(heard, other)
	p.t.Logf("port %d -> port %d: share at %.0f Hz %.2f, at %.0f Hz %.3f", from, to, hz, at, other, off)
	if at < 0.5 || off > 0.05 {
		p.t.Fatalf("port %d's %.0f Hz tone did not reach port %d: share %.2f (%.0f Hz: %.3f)", from, hz, to, at, other, off)
	}
}

// trunkHeard is the share of the trunk's far end's last second of audio
// at hz.
func (p *proc) trunkHeard(hz float64) float64 {
	p.t.Helper()
	out := p.mustCtl("sim", "trunk", "heard", fmt.Sprint(hz))
	_, v, ok := strings.Cut(out, fmt.Sprintf("share at %.0f Hz ", hz))
	if !ok {
		p.t.Fatalf("sim trunk heard %.0f: %s", hz, out)
	}
	f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return f
}

func groupStatus(st control.Status, name string) control.Group {
	for _, g := range st.Groups {
		if g.Name == name {
			return g
		}
	}
	return control.Group{}
}

// recordCallerID starts recording port's earpiece for seconds (start it
// before the call is dialled: UK caller ID comes before the first ring);
// the function returned waits for the recording and decodes the caller ID.
func (p *proc) recordCallerID(port int, seconds float64) func() dsp.CallerID {
	p.t.Helper()
	out := filepath.Join(p.dir, fmt.Sprintf("cid-%d-%d.wav", port, time.Now().UnixNano()))
	cmd := exec.Command(filepath.Join(p.bin, "critlinectl"), "--socket", p.socket, "sim", "listen", strconv.Itoa(port), "--seconds", fmt.Sprint(seconds), "--out", out)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	return func() dsp.CallerID {
		if err := cmd.Wait(); err != nil {
			p.t.Fatalf("sim listen: %v", err)
		}
		var got dsp.CallerID
		b, _ := os.ReadFile(out)
		s, _ := audiofile.Decode(b)
		dsp.NewCallerIDReceiver(dsp.V23, func(m []byte) { got, _ = dsp.ParseCallerID(m) }).Process(s)
		return got
	}
}

// histogramMean reads a histogram's mean from /metrics (seconds).
func (p *proc) histogramMean(name, labels string) (float64, int) {
	p.t.Helper()
	sum, _ := strconv.ParseFloat(p.metric(name+"_sum"+labels), 64)
	n, _ := strconv.Atoi(p.metric(name + "_count" + labels))
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// A porter dials another port's extension. With the PBX healthy
// (local_calls = "pbx-first", the default) the call goes through it, so it
// keeps its records; with the PBX gone it connects inside the appliance,
// with the caller's extension and name as caller ID and the profile's
// ringback. Either way each porter hears the other.
func TestLocalCallThroughThePBXAndWithout(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "registered", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })

	portToPort(t, p, "pbx1")
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="pbx1"}`); v != "1" {
		t.Fatalf("the PBX call booked %q", v)
	}

	pbx.Kill()
	eventually(t, "survivable", func() bool { return p.status().Mode == "survivable" })
	const runs = 3
	for range runs {
		portToPort(t, p, "local")
	}
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="local"}`); v != strconv.Itoa(runs) {
		t.Fatalf("local calls booked %q, want %d", v, runs)
	}
	mean, n := p.histogramMean("critline_call_setup_seconds", `{route="local"}`)
	t.Logf("local call setup (last digit to the called port ringing): mean %.1f ms over %d calls", 1000*mean, n)
	if n != runs {
		t.Fatalf("local call setup observed for %d calls, want %d", n, runs)
	}
}

// local_calls = "local": a porter's call to another port connects inside
// the appliance even while the PBX is up and both lines are registered
// (a site that keeps lodge-to-lodge calls off its PBX), and the appliance
// stays in normal mode.
func TestLocalCallsStayLocalWithThePBXUp(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, editConfig(t, pbxConfig(t, pbx.Addr), "", "[survivability]\n", "[survivability]\nlocal_calls = \"local\"\n"))
	eventually(t, "registered", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	const runs = 2
	for range runs {
		portToPort(t, p, "local")
	}
	if st := p.status(); st.Mode != "normal" || !registered(st) {
		t.Fatalf("after local calls: mode %s (%s), registered %v; want normal, every line registered", st.Mode, st.ModeReason, registered(st))
	}
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="local"}`); v != strconv.Itoa(runs) {
		t.Fatalf("local calls booked %q, want %d", v, runs)
	}
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="pbx1"}`); v != "" && v != "0" {
		t.Fatalf("%s calls went through the PBX", v)
	}
}

// portToPort makes one call from port 1 to port 2's extension and checks
// it goes by route: caller ID on port 2 (the caller's name too when the
// appliance connects it), ringback on port 1, audio both ways, both ports
// idle after.
func portToPort(t *testing.T, p *proc, route string) {
	t.Helper()
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	cid := p.recordCallerID(2, 4)
	p.mustCtl("sim", "dial", "1", "270002")
	eventually(t, "port 2 rings", func() bool { return portState(p.status(), 2).State == "ringing" })
	if id := cid(); id.Number != "270001" || (route == "local" && id.Name != "Lodge desk") {
		t.Fatalf("caller ID on port 2: %+v", id)
	}
	if r := portState(p.status(), 1).Route; r != route {
		t.Fatalf("the call goes by %q, want %q", r, route)
	}
	if st := portState(p.status(), 1).State; st != "ringback" {
		t.Fatalf("port 1 %s, want ringback", st)
	}
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "connected", func() bool {
		st := p.status()
		return portState(st, 1).State == "connected" && portState(st, 2).State == "connected"
	})
	p.crosses(1, 2, 697, 1209)
	p.crosses(2, 1, 1209, 697)
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "port 1 hears the end", func() bool { return portState(p.status(), 1).State != "connected" })
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "idle", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
	})
}

// sippEchoUAS runs a sipp callee that answers every call and sends back
// whatever audio it receives (-rtp_echo): a team member's mobile behind
// the PBX. It returns its address.
func sippEchoUAS(t *testing.T, scenario string) string {
	t.Helper()
	abs, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	return startSipp(t, sippSpec{args: []string{"-rtp_echo", "-sf", abs}}).addr()
}

const lodgeGroup = `
[[group]]
name = "lodge"
extension = "270000"
password = "group-secret"
%s
members = [%s]
`

// A trunk call for a group with a port and a team member's mobile: while
// the PBX is up the appliance calls the mobile over SIP and, answered,
// relays the trunk's voice to it (the caller's tone comes back through
// sipp's echo, so audio crossed both legs both ways); with the PBX gone the
// mobile network takes the caller to the member, by call deflection, and
// by answer and explicit call transfer where deflection is refused.
func TestGroupOutsideMemberOverSIPThenByTheNetwork(t *testing.T) {
	mobile := sippEchoUAS(t, "testdata/uas-answer.xml")
	users := pbxUsers()
	users["270000"] = "group-secret"
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: users, Routes: map[string]string{"07700900444": mobile}})
	cfg := editConfig(t, pbxConfig(t, pbx.Addr), fmt.Sprintf(lodgeGroup, `ring_time = "3s"`, `{ port = 1 }, { number = "07700900444" }`),
		`variant = "simcom"`, "variant = \"simcom\"\ngroup = \"lodge\"")
	p := startDaemon(t, cfg)
	eventually(t, "registered, the group's line too", func() bool {
		st := p.status()
		return st.Mode == "normal" && registered(st) && groupStatus(st, "lodge").Line == "registered" &&
			serviceSupport(st, "deflection") == "available"
	})

	p.mustCtl("sim", "trunk", "ring", "07700900123")
	eventually(t, "the mobile answered over SIP; port 1 stopped ringing", func() bool {
		return strings.Contains(p.simCalls(), "connected") && portState(p.status(), 1).State == "idle"
	})
	if v := p.metric(`critline_group_answered_total{group="lodge",member="number:07700900444"}`); v != "1" {
		t.Fatalf("answered by the mobile: %q", v)
	}
	p.mustCtl("sim", "trunk", "tone", "697", "4")
	var share float64
	eventually(t, "the caller's tone comes back through the mobile's echo", func() bool {
		share = p.trunkHeard(697)
		return share > 0.5
	})
	t.Logf("trunk caller -> relay -> SIP -> mobile (echo) -> SIP -> relay -> trunk caller: share at 697 Hz %.2f", share)
	p.mustCtl("sim", "trunk", "hangup")
	eventually(t, "over; the group has no call", func() bool { return trunkIdle(p) && groupStatus(p.status(), "lodge").Calls == 0 })

	pbx.Kill()
	eventually(t, "survivable", func() bool { return p.status().Mode == "survivable" })
	before := len(p.redirects())
	p.mustCtl("sim", "trunk", "ring", "07700900124")
	eventually(t, "port 1 rings", func() bool { return portState(p.status(), 1).State == "ringing" })
	eventually(t, "deflected to the mobile after the port's ring time", func() bool {
		r := p.redirects()
		return len(r) > before && r[len(r)-1][1] == "deflection" && r[len(r)-1][3] == "07700900444"
	})
	eventually(t, "gone from the appliance", func() bool { return trunkIdle(p) && portState(p.status(), 1).State == "idle" })
	p.groupDiverted(1)

	p.mustCtl("sim", "trunk", "service", "deflection", "refuse")
	before = len(p.redirects())
	p.mustCtl("sim", "trunk", "ring", "07700900125")
	eventually(t, "answered and transferred to the mobile", func() bool {
		r := p.redirects()
		return len(r) > before && r[len(r)-1][1] == "transfer" && r[len(r)-1][3] == "07700900444"
	})
	eventually(t, "gone from the appliance", func() bool { return trunkIdle(p) })
	p.groupDiverted(2)
	if m := trunkState(p.status()).MissedCalls; m != 0 {
		t.Fatalf("%d missed calls", m)
	}
}

// groupDiverted waits for the lodge group's diverted count to reach n (the
// daemon books it when the network's answer to the divert is in, which can
// be a moment after the call has left the trunk) and checks no call was
// booked abandoned.
func (p *proc) groupDiverted(n int) {
	p.t.Helper()
	p.waitMetric(`critline_group_calls_total{group="lodge",result="diverted"}`, strconv.Itoa(n))
	if a := p.metric(`critline_group_calls_total{group="lodge",result="abandoned"}`); a != "" && a != "0" {
		p.t.Fatalf("abandoned %s: a call the network took was booked as abandoned", a)
	}
}

// A caller through the PBX dials the group's own number (its SIP line): the
// sequential group rings port 1, then port 2, which answers; the porter's
// tone crosses the SIP call to the caller and back (sipp's echo). The
// caller hangs up and the porter hears the end.
func TestGroupOwnSIPLine(t *testing.T) {
	users := pbxUsers()
	users["270000"] = "group-secret"
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: users})
	cfg := editConfig(t, pbxConfig(t, pbx.Addr),
		fmt.Sprintf(lodgeGroup, "strategy = \"sequential\"\nring_time = \"2s\"", `{ port = 1 }, { port = 2 }`))
	p := startDaemon(t, cfg)
	eventually(t, "the group's line registered", func() bool {
		st := p.status()
		return st.Mode == "normal" && registered(st) && groupStatus(st, "lodge").Line == "registered"
	})
	scenario, _ := filepath.Abs("testdata/uac-talk-bye.xml")
	caller := startSipp(t, sippSpec{args: []string{pbx.Addr, "-sf", scenario, "-s", "270000", "-m", "1", "-rtp_echo", "-timeout", "40s", "-timeout_error"}})
	eventually(t, "port 1 rings first", func() bool { return portState(p.status(), 1).State == "ringing" })
	eventually(t, "then port 2", func() bool {
		st := p.status()
		return portState(st, 2).State == "ringing" && portState(st, 1).State == "idle"
	})
	if g := groupStatus(p.status(), "lodge"); g.Calls != 1 || !slices.Equal(g.Ringing, []string{"port:2"}) {
		t.Fatalf("group status %+v", g)
	}
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "connected", func() bool { return portState(p.status(), 2).State == "connected" })
	p.mustCtl("sim", "play", "2", toneFile(t, 1004, 4))
	heard := p.listen(2, 2)
	share := blockShare(heard, 1004)
	t.Logf("port 2 -> SIP -> caller (echo) -> SIP -> port 2: share at 1004 Hz %.2f", share)
	if share < 0.5 {
		t.Fatalf("the porter's tone did not come back from the caller: share %.2f", share)
	}
	caller.wait("the group's caller")
	eventually(t, "port 2 hears the caller hang up", func() bool { return portState(p.status(), 2).State != "connected" })
	if v := p.metric(`critline_group_answered_total{group="lodge",member="port:2"}`); v != "1" {
		t.Fatalf("answered by port 2: %q", v)
	}
	p.mustCtl("sim", "hook", "2", "on")
}

// ringSpan is one stretch of a port ringing, in board seconds.
type ringSpan struct {
	port       int
	start, end float64
}

// TestSequentialGroupFollowsItsTiming: a sequential group of two ports
// (ring_time 2s, timeout 9s) on the trunk rings port 1, port 2, port 1...
// each for its ring time, and at the timeout sends the caller to the
// overflow number (deflected by the network). The board's own timestamps
// (sim watch) measure it; bounds are generous, the figures are logged.
func TestSequentialGroupFollowsItsTiming(t *testing.T) {
	// examples/sim.toml's own lodge group, sequential over ports 1 and 2,
	// with the trunk naming it, shorter times and an overflow.
	cfg := servicesConfig(t, `number = "07700900001"`, "number = \"07700900001\"\ngroup = \"lodge\"",
		`ring_time = "15s"`, `ring_time = "2s"`, `timeout = "60s"`, `timeout = "9s"`,
		`# overflow = "07700900333"`, `overflow = "07700900333"`)
	p := startDaemon(t, cfg)
	waitServices(t, p)
	var rings, overflows []float64
	for run := range 3 {
		spans, after := p.watchGroupCall(t, fmt.Sprintf("0770090010%d", run))
		for i, s := range spans {
			want := 1 + i%2
			if s.port != want {
				t.Fatalf("run %d: member %d was port %d, want %d (spans %+v)", run, i, s.port, want, spans)
			}
			if i < len(spans)-1 {
				rings = append(rings, s.end-s.start)
			}
		}
		overflows = append(overflows, after)
		if len(spans) < 4 {
			t.Fatalf("run %d: %d members rang in 9 s with a 2 s ring time: %+v", run, len(spans), spans)
		}
	}
	slices.Sort(rings)
	slices.Sort(overflows)
	t.Logf("sequential group, ring_time 2s: each member rang median %.3f s (min %.3f, max %.3f, %d rings); timeout 9s: overflow deflected after median %.3f s of the call (min %.3f, max %.3f)",
		rings[len(rings)/2], rings[0], rings[len(rings)-1], len(rings), overflows[len(overflows)/2], overflows[0], overflows[len(overflows)-1])
	if m := rings[len(rings)/2]; m < 1.5 || m > 3 {
		t.Fatalf("median ring per member %.3f s for a ring time of 2 s", m)
	}
	if m := overflows[len(overflows)/2]; m < 8 || m > 13 {
		t.Fatalf("median time to the overflow %.3f s for a timeout of 9 s", m)
	}
	if v := p.metric(`critline_group_calls_total{group="lodge",result="overflow"}`); v != "3" {
		t.Fatalf("overflows booked %q", v)
	}
}

// watchGroupCall rings the trunk from caller and follows the ports with
// `sim watch` until the call is deflected to the overflow; it returns the
// stretches each port rang and how long after the call started (at the
// network) the deflection came.
func (p *proc) watchGroupCall(t *testing.T, caller string) ([]ringSpan, float64) {
	t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "critlinectl"), "--socket", p.socket, "sim", "watch")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(200 * time.Millisecond) // the watch is subscribed
	before := len(p.redirects())
	p.mustCtl("sim", "trunk", "ring", caller)
	eventually(t, "deflected to the overflow", func() bool { return len(p.redirects()) > before })
	eventually(t, "the ports stopped", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle" && trunkIdle(p)
	})
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Kill()
	cmd.Wait()
	var spans []ringSpan
	open := map[int]int{}
	for l := range lines {
		var ev struct {
			T     float64 `json:"t"`
			What  string  `json:"what"`
			Port  int     `json:"port"`
			State string  `json:"state"`
			Prev  string  `json:"prev"`
		}
		if json.Unmarshal([]byte(l), &ev) != nil || ev.What != "state" {
			continue
		}
		switch {
		case ev.State == "ringing":
			spans = append(spans, ringSpan{port: ev.Port, start: ev.T})
			open[ev.Port] = len(spans) - 1
		case ev.Prev == "ringing":
			if i, ok := open[ev.Port]; ok {
				spans[i].end = ev.T
				delete(open, ev.Port)
			}
		}
	}
	r := p.redirects()
	last := r[len(r)-1]
	if last[3] != "07700900333" {
		t.Fatalf("deflected to %s, want the overflow 07700900333", last[3])
	}
	after, err := time.ParseDuration(last[4])
	if err != nil {
		t.Fatalf("redirect %v: %v", last, err)
	}
	for _, s := range spans {
		if s.end == 0 || math.IsNaN(s.end) {
			t.Fatalf("port %d rang from %.3f and never stopped (%+v)", s.port, s.start, spans)
		}
	}
	return spans, after.Seconds()
}

// A hotline port rings its number the moment the handset is lifted; a
// warmline port gives dial tone, rings its number after the pause, and
// still lets the porter dial 999 first.
func TestHotlineAndWarmlineOnTheDaemon(t *testing.T) {
	cfg := simConfigWith(t,
		`behind_relay = "copper"`, "behind_relay = \"copper\"\nwarmline = \"270002\"\nwarmline_after = \"2s\"",
		`behind_relay = "none"`, "behind_relay = \"none\"\nhotline = \"270001\"")
	p := startDaemon(t, cfg)
	eventually(t, "survivable", func() bool { return p.status().Mode == "survivable" })
	for range 3 {
		p.mustCtl("sim", "hook", "2", "off")
		eventually(t, "the hotline rings port 1", func() bool {
			st := p.status()
			return portState(st, 1).State == "ringing" && portState(st, 2).State == "ringback"
		})
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "connected", func() bool { return portState(p.status(), 1).State == "connected" })
		p.crosses(2, 1, 697, 1209)
		p.mustCtl("sim", "hook", "1", "on")
		p.mustCtl("sim", "hook", "2", "on")
		eventually(t, "idle", func() bool {
			st := p.status()
			return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
		})
	}
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone on the warmline port", func() bool { return portState(p.status(), 1).State == "dialtone" })
	start := time.Now()
	eventually(t, "the warmline rings port 2", func() bool { return portState(p.status(), 2).State == "ringing" })
	t.Logf("warmline_after 2s: port 2 rang %s after the handset was lifted", time.Since(start).Round(10*time.Millisecond))
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "idle", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
	})
	for range 5 {
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
		p.mustCtl("sim", "dial", "1", "999")
		eventually(t, "999 goes out on the trunk", func() bool {
			pt := portState(p.status(), 1)
			return pt.Route == "lte" && pt.Digits == "999"
		})
		time.Sleep(2500 * time.Millisecond)
		if st := portState(p.status(), 2).State; st != "idle" {
			t.Fatalf("the warmline fired after 999 was dialled: port 2 %s", st)
		}
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "idle", func() bool { return portState(p.status(), 1).State == "idle" && trunkIdle(p) })
	}
}

// mobile is a team member's phone behind the PBX: critline's own SIP user
// agent registered as NUMBER, answering every call, playing a tone into it
// and recording what it hears, one frame per 20 ms.
type mobile struct {
	ua    *sip.UA
	heard chan []int16
}

func startMobile(t *testing.T, pbxAddr, number, password string, hz float64) *mobile {
	t.Helper()
	lo := 40000 + os.Getpid()%1000*8
	m := &mobile{heard: make(chan []int16, 4)}
	ua, err := sip.New(sip.Config{
		Listen: "127.0.0.3:0", RTPPortMin: lo, RTPPortMax: lo + 7,
		Registrars: []sip.Registrar{{Name: "pbx", Address: pbxAddr}},
		Lines:      []sip.Line{{Port: 1, Extension: number, Password: password}},
		Registerer: prometheus.NewRegistry(),
		OnIncoming: func(ic *sip.IncomingCall) {
			go func() {
				_ = ic.Ring()
				call, err := ic.Answer()
				if err != nil {
					return
				}
				var f, g hal.Frame
				var got []int16
				tick := time.NewTicker(hal.FrameDuration)
				defer tick.Stop()
				for n := 0; ; n++ {
					select {
					case <-call.Done():
						m.heard <- got
						return
					case <-tick.C:
					}
					for i := range f {
						f[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n*hal.FrameSamples+i)/hal.SampleRate))
					}
					if call.Media().WriteFrame(&f) != nil || call.Media().ReadFrame(&g) != nil {
						m.heard <- got
						return
					}
					got = append(got, g[:]...)
				}
			}()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ua.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	m.ua = ua
	evs, unsub := ua.Subscribe(16)
	defer unsub()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-evs:
			if ls, ok := ev.(sip.LineStatus); ok && ls.Registered {
				return m
			}
		case <-deadline:
			t.Fatal("the mobile never registered")
		}
	}
}

// A caller through the PBX dials the group's own number; its only member is
// a team member's mobile behind the same PBX. The appliance answers the
// caller, calls the mobile over SIP and relays the two RTP streams, paced by
// a ticker (no device on either side): the mobile's tone goes to the caller
// (sipp, which echoes it) and comes back to the mobile, through both legs
// both ways. The caller hangs up; the mobile's call ends with it.
func TestGroupSIPCallerToAnOutsideMember(t *testing.T) {
	users := pbxUsers()
	users["270000"] = "group-secret"
	users["07700900444"] = "mobile-secret"
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: users})
	cfg := editConfig(t, pbxConfig(t, pbx.Addr), fmt.Sprintf(lodgeGroup, `timeout = "20s"`, `{ number = "07700900444" }`))
	p := startDaemon(t, cfg)
	mob := startMobile(t, pbx.Addr, "07700900444", "mobile-secret", 1209)
	eventually(t, "the group's line registered", func() bool {
		st := p.status()
		return st.Mode == "normal" && groupStatus(st, "lodge").Line == "registered"
	})
	scenario, _ := filepath.Abs("testdata/uac-talk-bye.xml")
	startSipp(t, sippSpec{args: []string{pbx.Addr, "-sf", scenario, "-s", "270000", "-m", "1", "-rtp_echo", "-timeout", "40s", "-timeout_error"}}).wait("the group's caller")
	var heard []int16
	select {
	case heard = <-mob.heard:
	case <-time.After(20 * time.Second):
		t.Fatal("the mobile's call did not end with the caller's")
	}
	if len(heard) > audiofile.SampleRate {
		heard = heard[audiofile.SampleRate:] // the relay, jitter buffers and echo settling
	}
	share := blockShare(heard, 1209)
	t.Logf("mobile -> SIP -> relay -> SIP -> caller (echo) -> SIP -> relay -> SIP -> mobile: %.1f s heard, share at 1209 Hz %.2f", float64(len(heard))/audiofile.SampleRate, share)
	if share < 0.5 {
		t.Fatalf("the mobile's tone did not come back through the relay: share %.2f", share)
	}
	if v := p.metric(`critline_group_answered_total{group="lodge",member="number:07700900444"}`); v != "1" {
		t.Fatalf("answered by the mobile: %q", v)
	}
	eventually(t, "the group has no call", func() bool { return groupStatus(p.status(), "lodge").Calls == 0 })
}
