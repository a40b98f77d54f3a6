package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testpeer"
)

// pbxConfig is the sim board with two ports registered on one PBX and the
// simulated modem as the trunk.
func pbxConfig(t testing.TB, registrars ...string) string {
	t.Helper()
	var regs strings.Builder
	for i, addr := range registrars {
		fmt.Fprintf(&regs, "[[sip.registrar]]\nname = \"pbx%d\"\naddress = %q\ntransport = \"udp\"\n\n", i+1, addr)
	}
	cfg := fmt.Sprintf(`[board]
kind = "sim"
profile = "uk"

[[port]]
id = 1
name = "Lodge desk"
extension = "270001"
password = "secret-1"
dial_plan = "999|112|0[1-9]xxxxxxxxx|2xxxxx"

[[port]]
id = 2
name = "Night porter"
extension = "270002"
password = "secret-2"
dial_plan = "999|112|0[1-9]xxxxxxxxx|2xxxxx"

[sip]
listen = "127.0.0.1:%d"
rtp_ports = "%d-%d"
probe_interval = "500ms"

%s
[[trunk]]
name = "lte"
kind = "sim"
variant = "simcom"

[survivability]
failback_after = "3s" # failbackPeriod in failover_bench_test.go
`, testpeer.FreeUDPPort(t, "127.0.0.1"), 20000+os.Getpid()%2000*10, 20000+os.Getpid()%2000*10+9, regs.String())
	path := filepath.Join(t.TempDir(), "critline.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func pbxUsers() map[string]string {
	return map[string]string{"270001": "secret-1", "270002": "secret-2"}
}

func portState(st control.Status, id int) control.Port {
	for _, p := range st.Ports {
		if p.ID == id {
			return p
		}
	}
	return control.Port{}
}

func registered(st control.Status) bool {
	for _, p := range st.Ports {
		if p.Registered == "" {
			return false
		}
	}
	return true
}

// The PBX dies during a call: the call stays up, the appliance goes
// survivable, the next call leaves by the trunk at once; when the PBX is
// back, ports return to it only after the fail-back period and only idle.
func TestPBXFailoverAndFailback(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "both lines registered, mode normal", func() bool {
		st := p.status()
		return st.Mode == "normal" && registered(st)
	})

	// A call between the two ports through the PBX.
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "270002")
	eventually(t, "port 2 rings", func() bool { return portState(p.status(), 2).State == "ringing" })
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "both connected", func() bool {
		st := p.status()
		return portState(st, 1).State == "connected" && portState(st, 2).State == "connected"
	})

	killed := time.Now()
	pbx.Kill()
	eventually(t, "mode survivable after the PBX died", func() bool { return p.status().Mode == "survivable" })
	toSurvivable := time.Since(killed)
	t.Logf("figure: PBX killed -> mode survivable in %v", toSurvivable.Round(10*time.Millisecond))
	if toSurvivable > 10*time.Second { // about 2 s at the default probe settings; the ceiling catches a large regression
		t.Errorf("PBX killed -> survivable took %v, ceiling 10s", toSurvivable)
	}
	if st := p.status(); portState(st, 1).State != "connected" || portState(st, 2).State != "connected" {
		t.Fatalf("the call in progress was cut: %+v", st.Ports)
	}

	// Clear the call; the next call goes out on the trunk.
	p.mustCtl("sim", "hook", "1", "on")
	p.mustCtl("sim", "hook", "2", "on")
	eventually(t, "both idle", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
	})
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "07700900123")
	eventually(t, "trunk call connected", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "connected" && pt.Route == "lte"
	})

	// The PBX comes back while the trunk call is up.
	back := time.Now()
	pbx.Start()
	eventually(t, "appliance back to normal", func() bool { return p.status().Mode == "normal" })
	toNormal := time.Since(back)
	t.Logf("figure: PBX back -> mode normal in %v (fail-back period 3s)", toNormal.Round(10*time.Millisecond))
	if toNormal > 15*time.Second { // the 3 s fail-back period plus the PBX's start-up
		t.Errorf("PBX back -> normal took %v, ceiling 15s", toNormal)
	}
	st := p.status()
	if pt := portState(st, 1); pt.State != "connected" || pt.Route != "lte" || pt.Mode != "survivable" {
		t.Fatalf("port 1 in a trunk call must stay on it and survivable until idle: %+v", pt)
	}
	if pt := portState(st, 2); pt.Mode != "normal" {
		t.Fatalf("idle port 2 should be back to normal: %+v", pt)
	}
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "port 1 back to normal once idle", func() bool { return portState(p.status(), 1).Mode == "normal" })
	// The call is counted once the trunk has confirmed the hang-up, which may
	// come after the port is idle.
	eventually(t, "the trunk call counted", func() bool {
		return p.metric(`critline_calls_total{direction="out",port="1",result="answered",route="lte"}`) == "1"
	})
}

// An emergency call on a single busy trunk pre-empts the call on it.
func TestEmergencyPreemptsTrunkCall(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "07700900123")
	eventually(t, "port 1 on the trunk", func() bool { return portState(p.status(), 1).State == "connected" })
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "dial tone on 2", func() bool { return portState(p.status(), 2).State == "dialtone" })
	p.mustCtl("sim", "dial", "2", "999")
	eventually(t, "port 2's emergency call up on the trunk", func() bool {
		pt := portState(p.status(), 2)
		return (pt.State == "connected" || pt.State == "ringback") && pt.Route == "lte"
	})
	if pt := portState(p.status(), 1); pt.State == "connected" {
		t.Fatalf("port 1's ordinary call was not pre-empted: %+v", pt)
	}
}

// The trunk vanishing while the PBX is unreachable leaves no route: the
// appliance goes to lifeline; the idle handset with a copper line behind
// its relay (port 1 in examples/sim.toml) goes to it, the one without
// (port 2) stays on the board: bypass would leave it on nothing.
func TestTrunkVanishesToLifeline(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "trunk", "vanish")
	eventually(t, "lifeline, port 1 on its copper line", func() bool {
		st := p.status()
		return st.Mode == "lifeline" && portState(st, 1).Relay == "bypass"
	})
	if pt := portState(p.status(), 2); pt.Relay != "board" || pt.BehindRelay != "none" {
		t.Fatalf("port 2 has no copper line, yet: %+v", pt)
	}
	// The relay gauge follows the relay, and route_available is set once the
	// relays have moved: both may come a moment after the status above.
	p.waitMetric(`critline_relay_bypass{port="1"}`, "1")
	if v := p.metric(`critline_port_copper{port="2"}`); v != "0" {
		t.Fatalf("copper metric of port 2 %q", v)
	}
	p.waitMetric("critline_route_available", "0")
	p.mustCtl("sim", "trunk", "return")
	eventually(t, "survivable again with the handsets on the board", func() bool {
		st := p.status()
		return st.Mode == "survivable" && portState(st, 1).Relay == "board"
	})
}

// Mains off is survivable business as usual. On a low battery the handset
// with a copper line (port 1) goes to it once idle; the one without (port
// 2) keeps being served on the board over the trunk, and the appliance
// sheds what calls do not need (an inbound trunk call rings one port).
func TestBatteryLowKeepsServingWithoutCopper(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "power", "battery")
	eventually(t, "on battery", func() bool { return p.metric("critline_power_mains") == "0" })
	if st := p.status(); st.Mode != "survivable" || portState(st, 1).Relay != "board" {
		t.Fatalf("on battery alone must change nothing: %+v", st)
	}
	p.mustCtl("sim", "hook", "1", "off") // port 1 busy: its relay waits
	eventually(t, "dial tone on 1", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "power", "battery-low")
	eventually(t, "shedding, the trunk route kept", func() bool {
		st := p.status()
		return st.Power.Shedding && st.Mode == "survivable" && p.metric("critline_power_shedding") == "1"
	})
	st := p.status()
	if pt := portState(st, 1); pt.Relay != "board" {
		t.Fatalf("off-hook port 1 moved to bypass under the porter: %+v", pt)
	}
	if pt := portState(st, 1); pt.Mode != "lifeline" {
		t.Fatalf("port 1 (copper) should be on its way to the copper line: %+v", pt)
	}
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "port 1 in bypass once on-hook", func() bool { return portState(p.status(), 1).Relay == "bypass" })
	if pt := portState(p.status(), 2); pt.Relay != "board" || pt.Mode != "survivable" {
		t.Fatalf("port 2 (no copper) must stay on the board, served: %+v", pt)
	}
	// Port 2 still calls out over the trunk, 999 included.
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "dial tone on 2", func() bool { return portState(p.status(), 2).State == "dialtone" })
	p.mustCtl("sim", "dial", "2", "999")
	eventually(t, "port 2's emergency call up on the trunk", func() bool {
		pt := portState(p.status(), 2)
		return pt.State == "connected" && pt.Route == "lte"
	})
}

// The first call after the PBX dies, before any health check has noticed,
// still completes: the registrar rung times out at the first-response
// deadline and the trunk rung takes over within the same call.
func TestFirstCallDuringUndetectedOutage(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "0770090012")
	eventually(t, "ten digits collected", func() bool { return portState(p.status(), 1).Digits == "0770090012" })
	pbx.Kill()
	p.mustCtl("sim", "dial", "1", "3")
	eventually(t, "the first call completes over the trunk", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "connected" && pt.Route == "lte"
	})
	if v := p.metric(`critline_calls_total{direction="out",port="1",result="failed",route="pbx1"}`); v != "1" {
		t.Errorf("the failed registrar rung was not counted: %q", v)
	}
}

// An operator puts a port on the PSTN line; the choice and the mode
// history survive a restart.
func TestOperatorLifelineSurvivesRestart(t *testing.T) {
	dir, cfg := t.TempDir(), simConfig(t)
	p := startDaemonIn(t, cfg, dir)
	eventually(t, "survivable, handsets on the board", func() bool {
		st := p.status()
		return st.Mode == "survivable" && portState(st, 1).Relay == "board"
	})
	p.mustCtl("lifeline", "1", "on")
	eventually(t, "port 1 on the PSTN line", func() bool {
		pt := portState(p.status(), 1)
		return pt.Relay == "bypass" && pt.Lifeline
	})
	if pt := portState(p.status(), 2); pt.Relay != "board" {
		t.Fatalf("port 2 moved too: %+v", pt)
	}
	// The first mode is recorded once the first health checks are in.
	eventually(t, "the mode recorded", func() bool { return len(p.status().RecentModes) > 0 })
	if _, code := p.ctl("lifeline", "9", "on"); code != 1 {
		t.Fatalf("unknown port: exit %d", code)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done

	q := startDaemonIn(t, cfg, dir)
	eventually(t, "survivable again", func() bool { return q.status().Mode == "survivable" })
	st := q.status()
	if pt := portState(st, 1); pt.Relay != "bypass" || !pt.Lifeline {
		t.Fatalf("operator lifeline lost over a restart: %+v", pt)
	}
	// Before the restart one mode was recorded; this run adds its own once
	// its first health checks are in. Fewer than two: the history was lost.
	eventually(t, "the mode history kept over the restart, and this run's mode added", func() bool { return len(q.status().RecentModes) >= 2 })
	q.mustCtl("lifeline", "1", "off")
	eventually(t, "port 1 back on the board", func() bool { return portState(q.status(), 1).Relay == "board" })
}
