package main

// Survivable mode when it matters (issue 11): 999 on a busy single trunk,
// a trunk that has lost its network, copper or none behind the relays,
// ports that cannot ring, every line on every PBX, and which way 999 goes.
// Every test runs the real daemon against kamailio, sipp and the pty modem
// simulator.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// survCfg is a sim-board appliance with two ports and the simulated LTE
// trunk.
type survCfg struct {
	registrars     []string // "name=host:port"
	register       string   // [sip] register; "" = default
	emergencyRoute string   // "" = default
	copper         [2]bool  // behind_relay of ports 1 and 2
	survivability  string   // extra [survivability] lines
}

func (c survCfg) write(t testing.TB) string {
	t.Helper()
	var regs strings.Builder
	for _, r := range c.registrars {
		name, addr, _ := strings.Cut(r, "=")
		fmt.Fprintf(&regs, "[[sip.registrar]]\nname = %q\naddress = %q\ntransport = \"udp\"\n\n", name, addr)
	}
	relay := func(copper bool) string {
		if copper {
			return "copper"
		}
		return "none"
	}
	sip := ""
	if c.register != "" {
		sip += fmt.Sprintf("register = %q\n", c.register)
	}
	surv := c.survivability
	if c.emergencyRoute != "" {
		surv += fmt.Sprintf("emergency_route = %q\n", c.emergencyRoute)
	}
	base := 20000 + os.Getpid()%2000*10
	cfg := fmt.Sprintf(`[board]
kind = "sim"
profile = "uk"

[[port]]
id = 1
name = "Lodge desk"
extension = "270001"
password = "secret-1"
dial_plan = "999|112|0[1-9]xxxxxxxxx|2xxxxx"
behind_relay = %q

[[port]]
id = 2
name = "Night porter"
extension = "270002"
password = "secret-2"
dial_plan = "999|112|0[1-9]xxxxxxxxx|2xxxxx"
behind_relay = %q

[sip]
listen = "127.0.0.1:%d"
rtp_ports = "%d-%d"
probe_interval = "500ms"
%s
%s
[[trunk]]
name = "lte"
kind = "sim"
variant = "simcom"

[survivability]
failback_after = "3s"
%s`, relay(c.copper[0]), relay(c.copper[1]), testpeer.FreeUDPPort(t, "127.0.0.1"), base, base+9, sip, regs.String(), surv)
	path := filepath.Join(t.TempDir(), "critline.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sippUAS runs a sipp far end (a scenario file) on 127.0.0.3 until the test
// ends; it returns its address.
func sippUAS(t *testing.T, scenario string) string {
	t.Helper()
	abs, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	return startSipp(t, sippSpec{args: []string{"-sf", abs}}).addr()
}

// within polls cond for up to d; it reports whether it held (the caller
// counts a failure instead of stopping a loop).
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// trunkIdle reports that the simulated modem carries no call.
func trunkIdle(p *proc) bool {
	out, _ := p.ctl("sim", "trunk", "status")
	return strings.Contains(out, "call: none")
}

// The emergency loop (issue 11 point 1): port 2 is on a call on the only
// trunk (inbound or outbound), port 1 dials an emergency number, with the
// PBX up (999 answered by the PBX; 112 refused by it with 503, so the call
// must hand over to the busy trunk and pre-empt) and then with the PBX
// down. Every emergency call must connect, every pre-empted porter must
// hear the call end, no call that needed no pre-emption may be cut, and no
// handset may be sent to the relay. At least 50 runs, zero failures.
func TestEmergencyLoop(t *testing.T) {
	runs := 52
	if s := os.Getenv("CRITLINE_EMERGENCY_RUNS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			runs = n
		}
	}
	answer := sippUAS(t, "testdata/uas-answer.xml")
	refuse := sippUAS(t, "testdata/uas-503.xml")
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers(),
		Routes: map[string]string{"999": answer, "112": refuse, "07700900503": refuse}})
	p := startDaemon(t, survCfg{registrars: []string{"pbx1=" + pbx.Addr}, copper: [2]bool{true, false}}.write(t))
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	p.mustCtl("sim", "trunk", "timing", "alert", "100ms")
	p.mustCtl("sim", "trunk", "timing", "answer", "300ms")

	type variant struct {
		pbxUp    bool
		inbound  bool   // port 2's trunk call came in (else port 2 dialled out)
		number   string // port 1 dials
		route    string // where port 1's emergency call must connect
		preempts bool   // port 2's call must be pre-empted
	}
	up := []variant{
		{true, true, "999", "pbx1", false},
		{true, true, "112", "lte", true},
		{true, false, "112", "lte", true},
		{true, false, "999", "pbx1", false},
	}
	down := []variant{
		{false, true, "999", "lte", true},
		{false, false, "999", "lte", true},
		{false, true, "112", "lte", true},
		{false, false, "112", "lte", true},
	}
	var failures []string
	var setup []float64
	fail := func(i int, v variant, format string, a ...any) {
		msg := fmt.Sprintf("run %d (%+v): %s", i, v, fmt.Sprintf(format, a...))
		failures = append(failures, msg)
		t.Log(msg)
	}
	reset := func() {
		p.ctl("sim", "hook", "1", "on")
		p.ctl("sim", "hook", "2", "on")
		within(10*time.Second, func() bool {
			st := p.status()
			return portState(st, 1).State == "idle" && portState(st, 2).State == "idle" && trunkIdle(p)
		})
		if !trunkIdle(p) {
			p.ctl("sim", "trunk", "hangup")
		}
	}
	half := runs / 2
	for i := 0; i < runs; i++ {
		if i == half {
			pbx.Kill()
			eventually(t, "survivable after the PBX died", func() bool { return p.status().Mode == "survivable" })
		}
		v := up[i%len(up)]
		if i >= half {
			v = down[i%len(down)]
		}
		// Port 2 on the trunk.
		if v.inbound {
			p.mustCtl("sim", "trunk", "ring", "07700900888")
			if !within(10*time.Second, func() bool { return portState(p.status(), 2).State == "ringing" }) {
				fail(i, v, "port 2 never rang for the trunk call: %+v", portState(p.status(), 2))
				reset()
				continue
			}
			p.mustCtl("sim", "hook", "2", "off")
		} else {
			p.mustCtl("sim", "hook", "2", "off")
			if !within(10*time.Second, func() bool { return portState(p.status(), 2).State == "dialtone" }) {
				fail(i, v, "no dial tone on port 2")
				reset()
				continue
			}
			num := "07700900123"
			if v.pbxUp {
				num = "07700900503" // the PBX refuses it: out by the trunk
			}
			p.mustCtl("sim", "dial", "2", num)
		}
		if !within(15*time.Second, func() bool {
			pt := portState(p.status(), 2)
			return pt.State == "connected" && pt.Route == "lte"
		}) {
			fail(i, v, "port 2 never got on the trunk: %+v", portState(p.status(), 2))
			reset()
			continue
		}
		// Port 1 dials the emergency number.
		p.mustCtl("sim", "hook", "1", "off")
		if !within(10*time.Second, func() bool { return portState(p.status(), 1).State == "dialtone" }) {
			fail(i, v, "no dial tone on port 1")
			reset()
			continue
		}
		dialled := time.Now()
		p.mustCtl("sim", "dial", "1", v.number)
		if !within(20*time.Second, func() bool {
			pt := portState(p.status(), 1)
			return pt.State == "connected" && pt.Route == v.route
		}) {
			fail(i, v, "the emergency call did not connect by %s: %+v", v.route, portState(p.status(), 1))
			reset()
			continue
		}
		setup = append(setup, time.Since(dialled).Seconds())
		st := p.status()
		if pt := portState(st, 1); pt.Relay != "board" {
			fail(i, v, "port 1 sent to the relay: %+v", pt)
		}
		if v.preempts {
			// The pre-empted porter hears the call end.
			if !within(10*time.Second, func() bool {
				s := portState(p.status(), 2).State
				return s == "unobtainable" || s == "congestion"
			}) {
				fail(i, v, "port 2 was not told its call ended: %+v", portState(p.status(), 2))
			}
		} else if pt := portState(st, 2); pt.State != "connected" || pt.Route != "lte" {
			fail(i, v, "port 2's trunk call was cut although the PBX took the emergency call: %+v", pt)
		}
		reset()
	}
	for _, r := range []string{"no-route", "every-route-failed"} {
		if v := p.metric(`critline_emergency_calls_failed_total{reason="` + r + `"}`); v != "0" {
			failures = append(failures, fmt.Sprintf("critline_emergency_calls_failed_total{reason=%q} = %s", r, v))
		}
	}
	sort.Float64s(setup)
	med := 0.0
	if len(setup) > 0 {
		med = setup[len(setup)/2]
	}
	t.Logf("figure: emergency loop: %d runs (%d with the PBX up, %d down), %d failures; median last digit -> emergency call connected %.2f s",
		runs, half, runs-half, len(failures), med)
	if len(failures) > 0 {
		t.Fatalf("%d of %d runs failed:\n%s", len(failures), runs, strings.Join(failures, "\n"))
	}
}

// A trunk is a route only while it can call (issue 11 point 2). With no
// network at all it is none: critline_trunk_up 0, no route for ordinary or
// emergency calls, lifeline; a 999 fails (alerted) and the port with a
// copper line drops to it. In limited service it carries 999 only. Figures:
// `network off` to critline_trunk_up 0 and to the mode change (medians).
func TestTrunkWithoutNetwork(t *testing.T) {
	p := startDaemon(t, survCfg{copper: [2]bool{true, false}}.write(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	var toMetric, toMode []float64
	for run := 0; run < 5; run++ {
		off := time.Now()
		p.mustCtl("sim", "trunk", "network", "off")
		var m, md float64
		for (m == 0 || md == 0) && time.Since(off) < 20*time.Second {
			if m == 0 && p.metric(`critline_trunk_up{trunk="lte"}`) == "0" {
				m = time.Since(off).Seconds()
			}
			if md == 0 && p.status().Mode == "lifeline" {
				md = time.Since(off).Seconds()
			}
			time.Sleep(5 * time.Millisecond)
		}
		if m == 0 || md == 0 {
			t.Fatalf("run %d: network off: trunk_up 0 after %v s, lifeline after %v s", run, m, md)
		}
		toMetric, toMode = append(toMetric, m), append(toMode, md)
		p.mustCtl("sim", "trunk", "network", "up")
		eventually(t, "survivable again", func() bool {
			return p.status().Mode == "survivable" && p.metric(`critline_trunk_up{trunk="lte"}`) == "1"
		})
	}
	sort.Float64s(toMetric)
	sort.Float64s(toMode)
	t.Logf("figure: network off -> critline_trunk_up 0 in %.3f s, -> mode lifeline in %.3f s (medians of %d)", toMetric[2], toMode[2], len(toMode))

	// No network at all.
	p.mustCtl("sim", "trunk", "network", "off")
	eventually(t, "no service, no emergency route", func() bool {
		st := p.status()
		return st.Mode == "lifeline" && len(st.Trunks) == 1 && st.Trunks[0].Service == "none" && !st.EmergencyRouteAvailable &&
			p.metric("critline_emergency_route_available") == "0"
	})
	st := p.status()
	if tr := st.Trunks[0]; tr.Up || !tr.ModemUp || tr.EmergencyCalls || st.RouteAvailable {
		t.Fatalf("trunk with no network: %+v, route_available %v", tr, st.RouteAvailable)
	}
	for _, m := range []string{`critline_trunk_up{trunk="lte"}`, `critline_trunk_emergency_up{trunk="lte"}`, "critline_route_available"} {
		if v := p.metric(m); v != "0" {
			t.Errorf("%s = %q with no network", m, v)
		}
	}
	if v := p.metric(`critline_trunk_modem_up{trunk="lte"}`); v != "1" {
		t.Errorf("critline_trunk_modem_up = %q: the modem still answers", v)
	}
	// Port 2 (no copper) stays on the board in lifeline; port 1 (copper)
	// is on its copper line.
	eventually(t, "port 1 on copper, port 2 on the board", func() bool {
		st := p.status()
		return portState(st, 1).Relay == "bypass" && portState(st, 2).Relay == "board"
	})
	// 999 from port 2 finds the trunk without any network: it fails, is
	// counted, and the porter hears congestion (no copper to go to).
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "dial tone on 2", func() bool { return portState(p.status(), 2).State == "dialtone" })
	p.mustCtl("sim", "dial", "2", "999")
	eventually(t, "the failed emergency call counted", func() bool {
		return p.metric(`critline_emergency_calls_failed_total{reason="every-route-failed"}`) == "1"
	})
	eventually(t, "port 2 hears congestion, still on the board", func() bool {
		pt := portState(p.status(), 2)
		return pt.State == "congestion" && pt.Relay == "board"
	})
	p.mustCtl("sim", "hook", "2", "on")

	// Limited service: emergency calls only.
	p.mustCtl("sim", "trunk", "network", "limited")
	eventually(t, "limited service", func() bool {
		st := p.status()
		return st.Trunks[0].Service == "limited" && st.Trunks[0].EmergencyCalls && !st.Trunks[0].Up && st.Mode == "lifeline" &&
			st.EmergencyRouteAvailable && !st.RouteAvailable
	})
	if v := p.metric(`critline_trunk_emergency_up{trunk="lte"}`); v != "1" {
		t.Fatalf("critline_trunk_emergency_up = %q in limited service", v)
	}
	table := p.mustCtl("status")
	for _, w := range []string{"limited: 999 only", "ordinary calls NO, emergency calls yes (pbx-first)", "board (no copper)"} {
		if !strings.Contains(table, w) {
			t.Errorf("status table lacks %q:\n%s", w, table)
		}
	}
	eventually(t, "port 2 idle", func() bool { return portState(p.status(), 2).State == "idle" })
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "dial tone on 2", func() bool { return portState(p.status(), 2).State == "dialtone" })
	p.mustCtl("sim", "dial", "2", "07700900123")
	eventually(t, "an ordinary call has no route", func() bool { return portState(p.status(), 2).State == "congestion" })
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "port 2 idle", func() bool { return portState(p.status(), 2).State == "idle" })
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "dial tone on 2", func() bool { return portState(p.status(), 2).State == "dialtone" })
	p.mustCtl("sim", "dial", "2", "999")
	eventually(t, "999 in limited service", func() bool {
		pt := portState(p.status(), 2)
		return pt.State == "connected" && pt.Route == "lte"
	})
	if v := p.metric(`critline_emergency_calls_failed_total{reason="every-route-failed"}`); v != "1" {
		t.Fatalf("a 999 that connected counted as failed: %q", v)
	}
}

// A port that cannot ring is never offered a call (issue 11 point 4): SIP
// gets 480 at once (no divert set) so the PBX can apply its own divert; a
// trunk call skips it, and is rejected at once when no port can ring.
func TestPortThatCannotRing(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	cfg := survCfg{registrars: []string{"pbx1=" + pbx.Addr}, copper: [2]bool{true, false}}.write(t)
	prof := filepath.Join(filepath.Dir(cfg), "fast-park.toml")
	os.WriteFile(prof, []byte("[dialling]\ndialtone_timeout = \"1s\"\nunobtainable_timeout = \"1s\"\n"), 0o644)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "profile = \"uk\"\n", "profile = \"uk\"\nprofile_file = \""+prof+"\"\n", 1)), 0o644)
	p := startDaemon(t, cfg)
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })

	// Port 1 on its copper line (operator lifeline): SIP 480 at once.
	p.mustCtl("lifeline", "1", "on")
	eventually(t, "port 1 in bypass", func() bool { return portState(p.status(), 1).Relay == "bypass" })
	start := time.Now()
	ok, out := sippCall(t, pbx, "testdata/uac-expect-480.xml", "270001")
	if !ok {
		t.Fatalf("a port in bypass was not refused with 480:\n%s", out)
	}
	t.Logf("figure: INVITE to a port in bypass -> 480 in %v", time.Since(start).Round(time.Millisecond))
	// Counted once the 480 is handed over, which the caller may see first.
	p.waitMetric(`critline_calls_total{direction="in",port="1",result="unavailable",route="pbx1"}`, "1")
	// The port without copper cannot be forced onto a line it has not got.
	if out, code := p.ctl("lifeline", "2", "on"); code == 0 || !strings.Contains(out, "no copper line") {
		t.Fatalf("lifeline on a port without copper: exit %d %s", code, out)
	}

	// Port 2 left off the hook (parked): 480 too.
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "port 2 parked", func() bool { return portState(p.status(), 2).State == "parked" })
	if ok, out := sippCall(t, pbx, "testdata/uac-expect-480.xml", "270002"); !ok {
		t.Fatalf("a parked port was not refused with 480:\n%s", out)
	}

	// A trunk call while no port can ring: rejected at once, never rung.
	p.mustCtl("sim", "trunk", "ring", "07700900999")
	eventually(t, "the trunk call rejected", func() bool { return trunkIdle(p) })
	if st := p.status(); portState(st, 1).State == "ringing" || portState(st, 2).State == "ringing" {
		t.Fatalf("a port that cannot ring rang: %+v", st.Ports)
	}
	if !strings.Contains(p.log.String(), "no port can ring") {
		t.Fatal("the rejected trunk call was not logged")
	}

	// Port 2 back: a trunk call rings it, and only it.
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "port 2 idle", func() bool { return portState(p.status(), 2).State == "idle" })
	p.mustCtl("sim", "trunk", "ring", "07700900999")
	eventually(t, "port 2 rings", func() bool { return portState(p.status(), 2).State == "ringing" })
	if pt := portState(p.status(), 1); pt.State == "ringing" {
		t.Fatalf("port 1 in bypass rang: %+v", pt)
	}
	p.mustCtl("sim", "trunk", "hangup")
	eventually(t, "port 2 stops ringing", func() bool { return portState(p.status(), 2).State == "idle" })
}

// Every line is registered with every registrar at once (issue 11 point
// 7): a call from the cloud PBX reaches the port while the campus PBX
// lives; status and metrics show each line's registration per registrar.
// With register = "first" the cloud PBX cannot reach it.
func TestEveryLineOnEveryPBX(t *testing.T) {
	campus := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	cloud := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, survCfg{registrars: []string{"campus=" + campus.Addr, "cloud=" + cloud.Addr}}.write(t))
	eventually(t, "both lines on both PBXs", func() bool {
		st := p.status()
		for _, pt := range st.Ports {
			if len(pt.Registrations) != 2 || !pt.Registrations[0].Registered || !pt.Registrations[1].Registered {
				return false
			}
		}
		return st.Mode == "normal"
	})
	st := p.status()
	if pt := portState(st, 2); pt.Registered != "campus" || pt.Registrations[1].Registrar != "cloud" {
		t.Fatalf("port 2: %+v", pt)
	}
	for _, r := range st.Registrars {
		if !r.Active {
			t.Errorf("registrar %s not shown active: %+v", r.Name, r)
		}
	}
	for _, port := range []string{"1", "2"} {
		for _, r := range []string{"campus", "cloud"} {
			if v := p.metric(`critline_line_registered{port="` + port + `",registrar="` + r + `"}`); v != "1" {
				t.Errorf("critline_line_registered{port=%s,registrar=%s} = %q", port, r, v)
			}
		}
	}
	rang := make(chan bool, 1)
	go func() {
		rang <- within(10*time.Second, func() bool { return portState(p.status(), 2).State == "ringing" })
	}()
	ok, out := sippCall(t, cloud, "testdata/uac-ring-cancel.xml", "270002")
	if !ok || !<-rang {
		t.Fatalf("the cloud PBX's call did not ring port 2 while the campus PBX lives:\n%s", out)
	}
	if !strings.Contains(p.log.String(), `registrar=cloud`) {
		t.Error("no log of the cloud PBX's call")
	}

	// First-only: the lines are on the campus PBX alone.
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	q := startDaemon(t, survCfg{registrars: []string{"campus=" + campus.Addr, "cloud=" + cloud.Addr}, register: "first"}.write(t))
	eventually(t, "lines on campus only", func() bool {
		st := q.status()
		pt := portState(st, 2)
		return registered(st) && len(pt.Registrations) == 2 && pt.Registrations[0].Registered && !pt.Registrations[1].Registered
	})
	if v := q.metric(`critline_line_registered{port="2",registrar="cloud"}`); v != "0" {
		t.Fatalf("critline_line_registered{port=2,registrar=cloud} = %q with register = first", v)
	}
}

// Which way 999 goes (issue 11 point 8): pbx-first (the default) by the
// healthy PBX; trunk-first by the trunk; either hands over to the other at
// once when the first fails.
func TestEmergencyRoute(t *testing.T) {
	answer := sippUAS(t, "testdata/uas-answer.xml")
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers(), Routes: map[string]string{"999": answer, "112": answer}})
	call := func(p *proc, number, route string) {
		t.Helper()
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
		p.mustCtl("sim", "dial", "1", number)
		eventually(t, number+" connected by "+route, func() bool {
			pt := portState(p.status(), 1)
			return pt.State == "connected" && pt.Route == route
		})
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "idle", func() bool { return portState(p.status(), 1).State == "idle" && trunkIdle(p) })
	}
	p := startDaemon(t, survCfg{registrars: []string{"pbx1=" + pbx.Addr}}.write(t))
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	if st := p.status(); st.EmergencyRoute != "pbx-first" {
		t.Fatalf("default emergency route %q", st.EmergencyRoute)
	}
	call(p, "999", "pbx1")
	// The trunk cannot reach any network: still by the PBX.
	p.mustCtl("sim", "trunk", "network", "off")
	call(p, "112", "pbx1")
	p.mustCtl("sim", "trunk", "network", "up")
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done

	q := startDaemon(t, survCfg{registrars: []string{"pbx1=" + pbx.Addr}, emergencyRoute: "trunk-first"}.write(t))
	eventually(t, "registered, normal", func() bool { st := q.status(); return st.Mode == "normal" && registered(st) })
	call(q, "999", "lte")
	// The trunk's network refuses the call: handed to the PBX at once.
	q.mustCtl("sim", "trunk", "ondial", "reject")
	call(q, "999", "pbx1")
	q.mustCtl("sim", "trunk", "ondial", "answer")
	// The trunk has no network at all: the PBX takes it first.
	q.mustCtl("sim", "trunk", "network", "off")
	eventually(t, "no service", func() bool { return q.status().Trunks[0].Service == "none" })
	call(q, "999", "pbx1")
	eventually(t, "two emergency calls counted on pbx1", func() bool {
		return q.metric(`critline_emergency_calls_total{route="pbx1"}`) == "2"
	})
}

// An emergency call that finds no working route hands the handset to the
// copper line where the port has one (the porter redials on the exchange's
// dial tone), and only there; the relay comes back once that call is over.
func TestFailedEmergencyCallUsesCopperOnlyWhereThereIsSome(t *testing.T) {
	p := startDaemon(t, survCfg{copper: [2]bool{true, false}}.write(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "trunk", "ondial", "reject") // the network refuses every call
	for _, port := range []string{"1", "2"} {
		p.mustCtl("sim", "hook", port, "off")
		eventually(t, "dial tone on "+port, func() bool { return portState(p.status(), atoi(port)).State == "dialtone" })
		p.mustCtl("sim", "dial", port, "999")
	}
	eventually(t, "both failures counted", func() bool {
		return p.metric(`critline_emergency_calls_failed_total{reason="every-route-failed"}`) == "2"
	})
	eventually(t, "port 1 on its copper line, port 2 on the board hearing congestion", func() bool {
		st := p.status()
		return portState(st, 1).Relay == "bypass" && portState(st, 2).Relay == "board" && portState(st, 2).State == "congestion"
	})
	p.mustCtl("sim", "hook", "1", "on") // the call on the copper line is over
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "port 1 back on the board", func() bool { return portState(p.status(), 1).Relay == "board" })
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
