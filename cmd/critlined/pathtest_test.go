package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// The path tests (issue 17) on the real daemon: the pty modem simulator's
// test lines as the trunk's far end, kamailio with a sipp echo test as the
// registrar's test extension, the sim board's copper line.

const exampleTestLine = "07700900100" // examples/sim.toml's [[trunk]] test_number

// testPaths runs `critlinectl test paths --json` and returns the report
// and the exit code.
func (p *proc) testPaths(args ...string) (control.PathReport, int) {
	p.t.Helper()
	out, code := p.ctl(append([]string{"test", "paths", "--json"}, args...)...)
	var rep control.PathReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		p.t.Fatalf("test paths: exit %d, not a report: %v\n%s", code, err, out)
	}
	return rep, code
}

// row is a report's row for a path.
func row(t *testing.T, rep control.PathReport, path string) control.PathTest {
	t.Helper()
	for _, r := range rep.Paths {
		if r.Path == path {
			return r
		}
	}
	t.Fatalf("no row for %s in %+v", path, rep.Paths)
	return control.PathTest{}
}

// pathStatus is status's entry for a path.
func pathStatus(st control.Status, path string) control.PathStatus {
	for _, s := range st.PathTests {
		if s.Path == path {
			return s
		}
	}
	return control.PathStatus{}
}

// second sim trunk whose test line is a loop-back echoing DTMF.
const dtmfTrunk = `
[[trunk]]
name = "lte2"
kind = "sim"
variant = "quectel"
test_number = "1571"
test_expect = "dtmf"
`

// Every answer a trunk's far end can give, through the real daemon and
// the real serial code: a test line's tone, a loop-back echoing DTMF,
// no answer, busy, an answer with no audio; the copper line live and cut.
// The report is the commissioning report's JSON; results stay across a
// restart.
func TestPathTestsOnTheTrunks(t *testing.T) {
	cfg := simConfigWith(t, "[survivability]\n", dtmfTrunk+"\n[survivability]\n")
	dir := t.TempDir()
	p := startDaemonIn(t, cfg, dir)
	eventually(t, "survivable on the trunks", func() bool {
		st := p.status()
		return st.Mode == "survivable" && len(st.Trunks) == 2 && st.Trunks[0].Up && st.Trunks[1].Up
	})

	rep, code := p.testPaths()
	if code != 0 || len(rep.Paths) != 3 || rep.Board != "sim" || rep.Host == "" {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	tone := row(t, rep, "trunk:lte")
	if tone.Result != "ok" || !strings.Contains(tone.Detail, "1004 Hz tone") || tone.SetupSeconds <= 0 || tone.AudioDBm0 == nil || *tone.AudioDBm0 < -20 || tone.Target != exampleTestLine {
		t.Fatalf("the test line's tone: %+v", tone)
	}
	dtmf := row(t, rep, "trunk:lte2")
	if dtmf.Result != "ok" || !strings.Contains(dtmf.Detail, "DTMF 1379 sent and echoed") {
		t.Fatalf("the loop-back's DTMF: %+v", dtmf)
	}
	cu := row(t, rep, "copper:1")
	if cu.Result != "ok" || cu.LineVolts == nil || *cu.LineVolts < 40 {
		t.Fatalf("the copper line: %+v", cu)
	}
	for _, r := range rep.Paths {
		if r.Seconds >= 20 {
			t.Errorf("%s took %.1f s: a test must stay under 20 s", r.Path, r.Seconds)
		}
	}
	t.Logf("trunk tone test: setup %.2f s, %.1f dBm0, %.1f s in all; DTMF loop-back: setup %.2f s, %.1f s; copper: %.2f s",
		tone.SetupSeconds, *tone.AudioDBm0, tone.Seconds, dtmf.SetupSeconds, dtmf.Seconds, cu.Seconds)
	// A test call is nobody's call: no porter's call was counted.
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="lte"}`); v != "" && v != "0" {
		t.Fatalf("a test call counted as port 1's: %s", v)
	}
	cmds := p.mustCtl("sim", "trunk", "--trunk", "lte", "commands", "100")
	if !strings.Contains(cmds, "ATD"+exampleTestLine+";") {
		t.Fatalf("no test call on the trunk:\n%s", cmds)
	}

	// The far end does not answer, is busy, answers with silence.
	lte := func(args ...string) { p.mustCtl(append([]string{"sim", "trunk", "--trunk", "lte"}, args...)...) }
	lte("timing", "noanswer", "2s")
	for _, c := range []struct {
		setup  []string
		detail string
	}{
		{[]string{"ondial", "noanswer"}, "not answered: no answer"},
		{[]string{"ondial", "busy"}, "not answered: busy"},
		{[]string{"ondial", "answer"}, "silence"},
	} {
		lte(c.setup...)
		if c.detail == "silence" {
			lte("responder", exampleTestLine, "off")
		}
		rep, code := p.testPaths("trunk:lte")
		r := row(t, rep, "trunk:lte")
		if code != 1 || r.Result != "failed" || !strings.Contains(r.Detail, c.detail) || len(rep.Paths) != 1 {
			t.Fatalf("%v: exit %d, %+v", c.setup, code, r)
		}
		t.Logf("%v: %s (%.1f s)", c.setup, r.Detail, r.Seconds)
	}
	lte("responder", exampleTestLine, "tone")
	p.mustCtl("sim", "copper", "1", "dead")
	rep, _ = p.testPaths("copper:1")
	if r := row(t, rep, "copper:1"); r.Result != "failed" || !strings.Contains(r.Detail, "no voltage") {
		t.Fatalf("a cut copper line: %+v", r)
	}
	p.mustCtl("sim", "copper", "1", "live")
	if out, code := p.ctl("test", "paths", "trunk:nope"); code != 1 || !strings.Contains(out, "no path") || !strings.Contains(out, "trunk:lte2") {
		t.Fatalf("an unknown path: exit %d %s", code, out)
	}

	// Status: the last result per path; metrics: counts, last success.
	st := pathStatus(p.status(), "trunk:lte")
	if st.Last == nil || st.Last.Result != "failed" || st.ConsecutiveFailures != 3 || st.LastSuccess == nil {
		t.Fatalf("status of trunk:lte: %+v", st)
	}
	if v := p.metric(`critline_path_tests_total{path="trunk:lte",result="failed"}`); v != "3" {
		t.Fatalf("failed tests counted %q", v)
	}
	if v := p.metric(`critline_path_test_consecutive_failures{path="trunk:lte"}`); v != "3" {
		t.Fatalf("consecutive failures %q", v)
	}
	success := p.metric(`critline_path_test_last_success_timestamp_seconds{path="trunk:lte2"}`)
	if f, _ := strconv.ParseFloat(success, 64); f < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Fatalf("last success %q", success)
	}
	// Across a restart: the same last results and last success.
	before := p.status().PathTests
	p.stop()
	p = startDaemonIn(t, cfg, dir)
	after := p.status().PathTests
	for i := range before {
		if after[i].Last == nil || after[i].Last.Detail != before[i].Last.Detail || !after[i].LastSuccess.Equal(*before[i].LastSuccess) {
			t.Fatalf("%s after a restart: %+v; before: %+v", before[i].Path, after[i], before[i])
		}
	}
	if v := p.metric(`critline_path_test_last_success_timestamp_seconds{path="trunk:lte2"}`); v != success {
		t.Fatalf("last success after a restart %q, before %q", v, success)
	}
}

// The registrar's path test: a call through kamailio to its echo test (a
// sipp UAS echoing RTP) proves the PBX carries calls and audio both ways,
// with the setup time measured; a dead extension fails it.
func TestPathTestThroughThePBX(t *testing.T) {
	echo := sippEchoUAS(t, "testdata/uas-echo.xml")
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers(), Routes: map[string]string{"6000": echo}})
	cfg := pbxConfig(t, pbx.Addr)
	b, _ := os.ReadFile(cfg)
	s := strings.Replace(string(b), "transport = \"udp\"\n", "transport = \"udp\"\ntest_extension = \"6000\"\ntest_expect = \"echo\"\n", 1)
	os.WriteFile(cfg, []byte(s), 0o644)
	p := startDaemon(t, cfg)
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	var setups []float64
	for range 3 {
		rep, code := p.testPaths("registrar:pbx1")
		r := row(t, rep, "registrar:pbx1")
		if code != 0 || r.Result != "ok" || !strings.Contains(r.Detail, "1400 Hz probe echoed") || r.SetupSeconds <= 0 || !strings.Contains(r.Detail, "from line 27000") {
			t.Fatalf("exit %d: %+v", code, r)
		}
		setups = append(setups, r.SetupSeconds)
		t.Logf("registrar path: %s (setup %.3f s, %.1f s in all)", r.Detail, r.SetupSeconds, r.Seconds)
	}
	sort.Float64s(setups)
	t.Logf("setup time through kamailio to the echo test: median %.3f s", setups[1])
	if v := p.metric(`critline_path_test_setup_seconds_count{path="registrar:pbx1"}`); v != "3" {
		t.Fatalf("setup histogram count %q", v)
	}
	// The echo test gone from the PBX: the path fails, with the PBX's answer.
	pbx.Kill()
	rep, code := p.testPaths("registrar:pbx1")
	if r := row(t, rep, "registrar:pbx1"); code != 1 || r.Result != "failed" {
		t.Fatalf("PBX down: exit %d %+v", code, r)
	} else {
		t.Logf("PBX down: %s", r.Detail)
	}
}

// A scheduled test never starts while a handset is off-hook: lifted during
// the window, the due tests wait (status says why, the metric counts it,
// the trunk places no call and the relay does not move); replaced, they
// run.
func TestScheduledTestWaitsForAHandset(t *testing.T) {
	cfg := simConfigWith(t, "# [survivability.path_tests]\n# enabled = true", "[survivability.path_tests]\ninterval = \"10s\"\nwindow = \"always\"\nspread = \"0s\"\nretry_after = \"5s\"\ntimeout = \"10s\"\nenabled = true")
	p := startDaemon(t, cfg)
	p.mustCtl("sim", "hook", "1", "off") // lifted before the first test falls due
	eventually(t, "port 1 off-hook", func() bool { return portState(p.status(), 1).Hook == "off" })
	watch := exec.Command(filepath.Join(p.bin, "critlinectl"), "--socket", p.socket, "sim", "watch", "1")
	var moves testenv.Buffer
	watch.Stdout = &moves
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { watch.Process.Kill(); watch.Wait() }()
	testenv.Eventually(t, 40*time.Second, "the due tests postponed twice for the handset", func() bool {
		v, _ := strconv.Atoi(p.metric(`critline_path_tests_postponed_total{path="trunk:lte",reason="in-use"}`))
		w, _ := strconv.Atoi(p.metric(`critline_path_tests_postponed_total{path="copper:1",reason="in-use"}`))
		return v >= 2 && w >= 2
	})
	st := pathStatus(p.status(), "trunk:lte")
	if !strings.Contains(st.Postponed, "port 1 handset off-hook") || st.Last != nil {
		t.Fatalf("status while waiting: %+v", st)
	}
	if cmds := p.mustCtl("sim", "trunk", "commands", "200"); strings.Contains(cmds, "ATD"+exampleTestLine) {
		t.Fatalf("a test call while a handset is off-hook:\n%s", cmds)
	}
	if strings.Contains(moves.String(), `"what":"relay"`) {
		t.Fatalf("the relay moved while a handset was off-hook:\n%s", moves.String())
	}
	p.mustCtl("sim", "hook", "1", "on")
	testenv.Eventually(t, 40*time.Second, "both tests run once the handset is back", func() bool {
		st := p.status()
		a, b := pathStatus(st, "trunk:lte"), pathStatus(st, "copper:1")
		return a.Last != nil && a.Last.Result == "ok" && a.Last.Trigger == "scheduled" && b.Last != nil && b.Last.Result == "ok" && a.Postponed == ""
	})
}

// A 999 dialled during a path test pre-empts the test at once: the
// porter's lifting the handset ends the test call, and the emergency call
// goes out on the trunk. Every run, many times over. What proves the
// pre-emption is the order of events (the 999 connected on the only trunk
// while the test call held it, and the test reported itself given up for
// port 1), not a timing: the timings are logged as a ratio for the reader.
func TestEmergencyPreemptsPathTest(t *testing.T) {
	runs := 8
	if s := os.Getenv("CRITLINE_EMERGENCY_RUNS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			runs = min(n, 50)
		}
	}
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "trunk", "timing", "answer", "300ms")
	// call999 lifts port 1's handset, dials 999 and waits for it to be
	// connected on the trunk; it returns how long that took.
	call999 := func() time.Duration {
		start := time.Now()
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
		p.mustCtl("sim", "dial", "1", "999")
		eventually(t, "999 connected on the trunk", func() bool {
			out, _ := p.ctl("sim", "trunk", "status")
			return portState(p.status(), 1).State == "connected" && strings.Contains(out, `"999", connected`)
		})
		d := time.Since(start)
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "idle again", func() bool { return portState(p.status(), 1).State == "idle" && trunkIdle(p) })
		return d
	}
	var took, base []time.Duration
	for i := range runs {
		base = append(base, call999()) // the same 999 with no test under way
		done := make(chan control.PathReport, 1)
		go func() {
			out, _ := exec.Command(filepath.Join(p.bin, "critlinectl"), "--socket", p.socket, "test", "paths", "--json", "trunk:lte").Output()
			var rep control.PathReport
			json.Unmarshal(out, &rep)
			done <- rep
		}()
		eventually(t, "the test call connected", func() bool {
			out, _ := p.ctl("sim", "trunk", "status")
			return strings.Contains(out, `"`+exampleTestLine+`", connected`)
		})
		took = append(took, call999())
		rep := <-done
		if r := row(t, rep, "trunk:lte"); r.Result != "skipped" || !strings.Contains(r.Detail, "port 1") {
			t.Fatalf("run %d: the test was not given up for the porter: %+v", i, r)
		}
	}
	slices.Sort(took)
	slices.Sort(base)
	t.Logf("%d runs: handset lifted to 999 connected on the trunk (dial tone and keying 999 included): during a test call median %v (max %v); with no test median %v (max %v); ratio %.2f",
		runs, took[runs/2], took[runs-1], base[runs/2], base[runs-1], took[runs/2].Seconds()/base[runs/2].Seconds())
}

// The battery record: an outage with battery low before the expected
// runtime is an early run (shown, counted, alerted); a run the appliance
// did not survive is recorded at its next start.
func TestBatteryRunsRecorded(t *testing.T) {
	cfg := simConfig(t)
	dir := t.TempDir()
	p := startDaemonIn(t, cfg, dir)
	p.mustCtl("sim", "power", "battery")
	eventually(t, "on battery", func() bool { b := p.status().Battery; return b != nil && b.OnBatterySince != nil })
	p.mustCtl("sim", "power", "battery-low")
	p.mustCtl("sim", "power", "mains")
	eventually(t, "the run recorded", func() bool { b := p.status().Battery; return len(b.Runs) == 1 })
	r := p.status().Battery.Runs[0]
	if !r.Early || r.EndedBy != "mains" || r.BatteryLowAfterSeconds == nil || p.status().Battery.ExpectedRuntimeSeconds != 7200 {
		t.Fatalf("an early run: %+v", r)
	}
	if v := p.metric("critline_battery_last_run_early"); v != "1" {
		t.Fatalf("critline_battery_last_run_early %q", v)
	}
	// The power goes for good during the next run: the daemon dies with it.
	p.mustCtl("sim", "power", "battery")
	eventually(t, "on battery again", func() bool { return p.status().Battery.OnBatterySince != nil })
	p.kill()
	p = startDaemonIn(t, cfg, dir) // mains is back
	b := p.status().Battery
	if len(b.Runs) != 2 || b.Runs[1].EndedBy != "shutdown" || !b.Runs[1].Early || b.OnBatterySince != nil {
		t.Fatalf("after the power loss: %+v", b)
	}
	if v := p.metric(`critline_battery_runs_total{ended_by="shutdown"}`); v != "1" {
		t.Fatalf("runs counted %q", v)
	}
}
