package main

// No call may wedge a port (issue 12): the real daemon against a PBX that
// misbehaves on purpose (testpeer.BadPBX) and the pty modem simulator.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testpeer"
)

// rigOpts shape the daemon's configuration for a test against a BadPBX.
type rigOpts struct {
	netns    bool   // the PBX across a cable in a test network namespace
	progress string // [sip] progress_timeout ("" = the default)
	stall    string // [survivability] port_stall
	idle     string // [control] idle_timeout
	extra    string // more TOML at the end
	dir      string // socket and state here ("" = a fresh temporary folder)
}

// rig is the daemon, its PBX and, with netns, the cable between them.
type rig struct {
	t   *testing.T
	p   *proc
	pbx *testpeer.BadPBX
	lan *testpeer.NetNS
	cfg string
}

// badRigConfig writes the configuration: two ports on one registrar (the
// BadPBX) with the simulated modem as the trunk.
func badRigConfig(t *testing.T, listenIP, pbxAddr string, o rigOpts) string {
	t.Helper()
	var sipExtra, survExtra, ctl string
	if o.progress != "" {
		sipExtra = fmt.Sprintf("progress_timeout = %q\n", o.progress)
	}
	if o.stall != "" {
		survExtra = fmt.Sprintf("port_stall = %q\n", o.stall)
	}
	if o.idle != "" {
		ctl = fmt.Sprintf("[control]\nidle_timeout = %q\n", o.idle)
	}
	rtp := 22000 + os.Getpid()%1000*10
	cfg := fmt.Sprintf(`[board]
kind = "sim"
profile = "uk"

[[port]]
id = 1
name = "Lodge desk"
extension = "270001"
password = "secret-1"
dial_plan = "999|112|0[1-9]xxxxxxxxx|7xxx"

[[port]]
id = 2
name = "Night porter"
extension = "270002"
password = "secret-2"
dial_plan = "999|112|0[1-9]xxxxxxxxx|7xxx"

[sip]
listen = "%s:%d"
rtp_ports = "%d-%d"
probe_interval = "200ms"
%s
[[sip.registrar]]
name = "pbx1"
address = %q
transport = "udp"

[[trunk]]
name = "lte"
kind = "sim"
variant = "simcom"

[survivability]
failback_after = "1s"
%s
%s
%s`, listenIP, testpeer.FreeUDPPort(t, listenIP), rtp, rtp+9, sipExtra, pbxAddr, survExtra, ctl, o.extra)
	path := filepath.Join(t.TempDir(), "critline.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRig starts the PBX and the daemon and waits until both lines are
// registered and the PBX is trusted; dialled trunk calls ring.
func startRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	r := &rig{t: t}
	ip := "127.0.0.1"
	if o.netns {
		r.lan = testpeer.NewNetNS(t)
		r.pbx = testpeer.StartBadPBX(t, r.lan.PeerIP, r.lan.Name)
		ip = r.lan.HostIP
	} else {
		r.pbx = testpeer.StartBadPBX(t, "127.0.0.1", "")
	}
	r.cfg = badRigConfig(t, ip, r.pbx.Addr, o)
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	r.p = startDaemonIn(t, r.cfg, o.dir)
	r.waitPBXTrusted()
	r.p.mustCtl("sim", "trunk", "ondial", "ring")
	return r
}

// waitPBXTrusted waits until the lines are registered and the registrar
// carries new calls again (up, past its fail-back period).
func (r *rig) waitPBXTrusted() {
	r.t.Helper()
	eventually(r.t, "lines registered with the PBX, PBX in use", func() bool {
		st := r.p.status()
		return st.Mode == "normal" && registered(st) && len(st.Registrars) == 1 && st.Registrars[0].Up && st.Registrars[0].Detail == ""
	})
}

// offHook lifts port's handset and waits for dial tone.
func (r *rig) offHook(port int) {
	r.t.Helper()
	r.p.mustCtl("sim", "hook", fmt.Sprint(port), "off")
	eventually(r.t, fmt.Sprintf("dial tone on port %d", port), func() bool { return portState(r.p.status(), port).State == "dialtone" })
}

// onHook replaces the handset and waits for the port to be idle.
func (r *rig) onHook(port int) {
	r.t.Helper()
	r.p.mustCtl("sim", "hook", fmt.Sprint(port), "on")
	eventually(r.t, fmt.Sprintf("port %d idle", port), func() bool { return portState(r.p.status(), port).State == "idle" })
}

// atds counts the ATD commands the modem has received.
func (r *rig) atds() int {
	r.t.Helper()
	n := 0
	for _, l := range strings.Split(r.p.mustCtl("sim", "trunk", "commands", "100000"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "ATD") {
			n++
		}
	}
	return n
}

// ringsOnTrunk reports whether port's call rings (or is answered) on the
// trunk.
func ringsOnTrunk(st control.Status, port int) bool {
	pt := portState(st, port)
	return (pt.State == "ringback" || pt.State == "connected") && pt.Route == "lte"
}

func medianDur(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// At least 50 wedge attempts of three kinds, the ports taking turns: the
// PBX answers 100 Trying and then (a) says nothing more, (b) dies, (c) is
// cut off by the LAN cable. Every call moves on to the trunk and rings
// there; afterwards 999 from every port connects, no port ever wedged (the
// cause is gone, not papered over by the stall guard), and every port's
// engine is ok.
func TestWedgeLoop(t *testing.T) {
	r := startRig(t, rigOpts{netns: true, progress: "1s"})
	kinds := []string{"100 then silence", "PBX killed after 100", "LAN cut after 100"}
	const rounds = 17 // x 3 kinds = 51 attempts
	var mu sync.Mutex
	var trying time.Time
	took := map[string][]time.Duration{}
	for i := range rounds * len(kinds) {
		kind := kinds[i%len(kinds)]
		port := 1 + i%2
		r.pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan {
			mu.Lock()
			trying = time.Now()
			mu.Unlock()
			p := testpeer.Plan{Trying: true}
			switch kind {
			case "PBX killed after 100":
				p.Then = r.pbx.Kill
			case "LAN cut after 100":
				p.Then = r.lan.Cut
			}
			return p
		})
		atds := r.atds()
		r.offHook(port)
		r.p.mustCtl("sim", "dial", fmt.Sprint(port), "7001")
		eventually(t, fmt.Sprintf("attempt %d (%s, port %d) rings on the trunk", i+1, kind, port), func() bool { return ringsOnTrunk(r.p.status(), port) })
		mu.Lock()
		took[kind] = append(took[kind], time.Since(trying))
		mu.Unlock()
		if got := r.atds(); got != atds+1 {
			t.Fatalf("attempt %d: %d ATD, want 1", i+1, got-atds)
		}
		r.onHook(port)
		switch kind {
		case "PBX killed after 100":
			r.pbx.Restart()
		case "LAN cut after 100":
			r.lan.Mend()
		}
		if kind != "100 then silence" {
			r.waitPBXTrusted()
		}
	}
	for _, k := range kinds {
		t.Logf("figure: %s -> ringing on the trunk: median %v over %d attempts (progress_timeout 1s)", k, medianDur(took[k]).Round(time.Millisecond), len(took[k]))
	}

	// 999 from every port connects.
	r.pbx.OnInvite(nil)
	r.p.mustCtl("sim", "trunk", "ondial", "answer")
	for _, port := range []int{1, 2} {
		r.offHook(port)
		r.p.mustCtl("sim", "dial", fmt.Sprint(port), "999")
		eventually(t, fmt.Sprintf("999 from port %d connected", port), func() bool { return portState(r.p.status(), port).State == "connected" })
		r.onHook(port)
	}
	st := r.p.status()
	for _, pt := range st.Ports {
		if pt.Engine != "ok" {
			t.Errorf("port %d engine %q after the loop", pt.ID, pt.Engine)
		}
		if v := r.p.metric(fmt.Sprintf(`critline_port_wedged_total{port="%d"}`, pt.ID)); v != "0" {
			t.Errorf("port %d wedged %s times: a cause is left", pt.ID, v)
		}
	}
	if v := r.p.metric(`critline_sip_invite_timeouts_total{registrar="pbx1",stage="progress"}`); v == "" || v == "0" {
		t.Errorf("progress timeouts not counted: %q", v)
	}
}

// The figure: with the default progress_timeout, how long from the PBX's
// 100 Trying (and then silence) to the call ringing on the trunk. Median of
// five; the ceiling only catches a gross regression.
func TestTryingThenSilenceToTrunkFigure(t *testing.T) {
	r := startRig(t, rigOpts{})
	var mu sync.Mutex
	var trying time.Time
	r.pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan {
		mu.Lock()
		trying = time.Now()
		mu.Unlock()
		return testpeer.Plan{Trying: true}
	})
	var took []time.Duration
	for i := range 5 {
		port := 1 + i%2
		r.offHook(port)
		r.p.mustCtl("sim", "dial", fmt.Sprint(port), "07700900123")
		deadline := time.Now().Add(30 * time.Second)
		for !ringsOnTrunk(r.p.status(), port) {
			if time.Now().After(deadline) {
				t.Fatalf("run %d never rang on the trunk", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		took = append(took, time.Since(trying))
		mu.Unlock()
		r.onHook(port)
	}
	m := medianDur(took)
	t.Logf("figure: 100 Trying then silence -> ringing on the trunk: median %v of %v (progress_timeout %v)", m.Round(time.Millisecond), took, "6s default")
	if m > 15*time.Second {
		t.Errorf("median %v: far beyond the 6s progress timeout", m)
	}
}

// The watchdog is fed only while every port can take and place calls. A
// port whose call step stalls (here: hanging up a trunk call on a modem
// that has gone silent, about 3 s, with port_stall shortened to 2 s)
// starves it; the step is abandoned, counted and reported, the port
// recovers by itself and the pings resume, without a restart.
func TestWatchdogStarvedWhilePortWedged(t *testing.T) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify.sock")
	ln, err := listenUnixgram(notify)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var pings []time.Time
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "WATCHDOG=1") {
				mu.Lock()
				pings = append(pings, time.Now())
				mu.Unlock()
			}
		}
	}()
	since := func(t0 time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, p := range pings {
			if p.After(t0) {
				n++
			}
		}
		return n
	}
	pbx := testpeer.StartBadPBX(t, "127.0.0.1", "")
	cfg := badRigConfig(t, "127.0.0.1", pbx.Addr, rigOpts{stall: "2s"})
	// WATCHDOG_USEC 600 ms: a ping every 300 ms, each probe given 150 ms.
	p := startDaemon(t, cfg, "NOTIFY_SOCKET="+notify, "WATCHDOG_USEC=600000")
	r := &rig{t: t, p: p, pbx: pbx}
	r.waitPBXTrusted()
	eventually(t, "watchdog fed", func() bool { return since(time.Time{}) > 2 })

	// A trunk call (the PBX refuses with 503), answered.
	pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { return testpeer.Plan{Final: 503} })
	p.mustCtl("sim", "trunk", "ondial", "answer")
	r.offHook(1)
	p.mustCtl("sim", "dial", "1", "07700900123")
	eventually(t, "port 1 connected on the trunk", func() bool { return ringsOnTrunk(p.status(), 1) && portState(p.status(), 1).State == "connected" })
	// The modem goes silent; the porter hangs up: AT+CHUP waits 5 s.
	p.mustCtl("sim", "trunk", "wedge")
	hung := time.Now()
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "the stalled hang-up is reported in status", func() bool {
		e := portState(p.status(), 1).Engine
		return strings.HasPrefix(e, "recovered") || strings.HasPrefix(e, "stalled")
	})
	eventually(t, "critline_port_wedged_total counts it", func() bool { return p.metric(`critline_port_wedged_total{port="1"}`) == "1" })
	// No ping went out while the port's engine was stuck: from the
	// hang-up until the stall was abandoned (2 s) the probe of port 1
	// failed. Pings are timed as the test reads them, so a busy machine
	// can only shorten the gap by delaying the pings before it; the bound
	// leaves room for that.
	mu.Lock()
	var gap time.Duration
	last := hung
	for _, pg := range pings {
		if pg.After(hung) {
			gap = max(gap, pg.Sub(last))
			last = pg
		}
	}
	mu.Unlock()
	if gap < 1200*time.Millisecond {
		t.Errorf("the watchdog was fed while port 1 was wedged: longest gap after the hang-up %v (pings every 300 ms)", gap)
	}
	var why string
	withheld := 0
	for _, l := range strings.Split(p.log.String(), "\n") {
		if strings.Contains(l, "withholding the watchdog ping") {
			withheld++
			if why == "" {
				why = l
			}
		}
	}
	if withheld < 3 || !strings.Contains(why, "port 1: the port's engine has been busy with hangup") || !strings.Contains(p.log.String(), "port wedged") {
		t.Errorf("the wedge was not logged as the reason (%d pings withheld): %q", withheld, why)
	}
	t.Logf("daemon: %s", why)
	// Recovered without a restart: pings resume, the port takes a call.
	p.mustCtl("sim", "trunk", "unwedge")
	resumed := time.Now()
	eventually(t, "pings resume", func() bool { return since(resumed) >= 3 })
	eventually(t, "port 1 idle", func() bool { return portState(p.status(), 1).State == "idle" })
	if p.cmd.ProcessState != nil {
		t.Fatal("the daemon exited")
	}
	pbx.OnInvite(nil)
	r.offHook(1)
	p.mustCtl("sim", "dial", "1", "999")
	eventually(t, "999 connects after the recovery", func() bool { return portState(p.status(), 1).State == "connected" })
	t.Logf("watchdog: longest gap between pings after the stall %v; pings resumed after unwedge", gap.Round(time.Millisecond))
}

// SIGTERM while a call is stuck behind a PBX that said 100 Trying and went
// silent: the daemon stops at once (it used to hang for over a minute).
func TestSIGTERMWithCallInSetup(t *testing.T) {
	r := startRig(t, rigOpts{progress: "60s"})
	r.pbx.OnInvite(func(*testpeer.Msg) testpeer.Plan { return testpeer.Plan{Trying: true} })
	r.offHook(1)
	r.p.mustCtl("sim", "dial", "1", "7001")
	eventually(t, "the INVITE at the PBX", func() bool { return len(r.pbx.Requests("INVITE")) == 1 })
	start := time.Now()
	r.p.stop()
	took := time.Since(start)
	t.Logf("stopped %v after SIGTERM with a call in set-up", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("SIGTERM took %v", took)
	}
}
