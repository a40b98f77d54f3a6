package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/control"
)

// Trunk calls diverted, forwarded, transferred and waiting, on the real
// daemon with the pty modem simulator (issue 11 points 5 and 6).

// servicesConfig is examples/sim.toml with the edits given (old -> new,
// each applied once) and a profile override that parks a handset left off
// the hook within two seconds.
func servicesConfig(t *testing.T, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(simConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	dir := t.TempDir()
	prof := filepath.Join(dir, "fast-park.toml")
	if err := os.WriteFile(prof, []byte("[dialling]\ndialtone_timeout = \"1s\"\nunobtainable_timeout = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edits = append([]string{"profile = \"uk\"", "profile = \"uk\"\nprofile_file = \"" + prof + "\""}, edits...)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("examples/sim.toml has no %q to edit", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(dir, "critline.toml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func trunkState(st control.Status) control.Trunk {
	for _, tr := range st.Trunks {
		if tr.Name == "lte" {
			return tr
		}
	}
	return control.Trunk{}
}

func serviceSupport(st control.Status, name string) string {
	for _, s := range trunkState(st).Services {
		if s.Name == name {
			return s.Support
		}
	}
	return ""
}

// simCalls is the simulated network's list of calls ("none" when idle).
func (p *proc) simCalls() string {
	p.t.Helper()
	out := p.mustCtl("sim", "trunk", "status")
	_, rest, ok := strings.Cut(out, "calls: ")
	if !ok {
		return "none" // "call: none"
	}
	line, _, _ := strings.Cut(rest, "; voice")
	return line
}

var reAfter = regexp.MustCompile(`(deflection|transfer): (\S+) -> (\S+) after (\S+)(?: on ring (\d+))?`)

// redirects lists the simulated network's deflections and transfers.
func (p *proc) redirects() [][]string {
	p.t.Helper()
	return reAfter.FindAllStringSubmatch(p.mustCtl("sim", "trunk", "redirects"), -1)
}

// unreachable parks port 2 (handset left off the hook) and puts port 1 on
// its copper line (bypass): no port can ring.
func unreachable(t *testing.T, p *proc) {
	t.Helper()
	p.mustCtl("sim", "hook", "2", "off")
	p.mustCtl("lifeline", "1", "on")
	eventually(t, "port 2 parked, port 1 in bypass", func() bool {
		st := p.status()
		return portState(st, 2).Condition == "left-off-hook" && portState(st, 1).Relay == "bypass"
	})
}

func waitServices(t *testing.T, p *proc) {
	t.Helper()
	eventually(t, "survivable, services found", func() bool {
		st := p.status()
		return st.Mode == "survivable" && serviceSupport(st, "deflection") == "available" && serviceSupport(st, "call-waiting") == "working"
	})
}

// A trunk call for handsets that cannot be reached (one parked, one on its
// copper line) is deflected by the network to divert_to: AT+CTFR with the
// number, counted and shown, in answer to the call's first RING. Several
// calls measure RING -> AT+CTFR.
func TestTrunkCallDeflectedWhenNoPortCanRing(t *testing.T) {
	p := startDaemon(t, servicesConfig(t, "[survivability]\n", "[survivability]\ndivert_to = \"07700900555\"\n"))
	waitServices(t, p)
	st := p.status()
	if tr := trunkState(st); len(tr.Services) != 4 || tr.MissedCalls != 0 {
		t.Fatalf("trunk status %+v", tr)
	}
	if v := p.metric(`critline_trunk_service_supported{service="deflection",trunk="lte"}`); v != "1" {
		t.Fatalf("service metric %q", v)
	}
	unreachable(t, p)
	// A minute between RINGs: no load makes a deflection late enough to
	// meet a second one, so "on ring 2" (or the wait giving up first) means
	// it waited for more than the first RING.
	p.mustCtl("sim", "trunk", "timing", "ring", "60s")
	const runs = 5
	var lat []time.Duration
	for i := range runs {
		p.mustCtl("sim", "trunk", "ring", fmt.Sprintf("0770090011%d", i))
		eventually(t, "deflected", func() bool { return len(p.redirects()) == i+1 })
		r := p.redirects()[i]
		if r[1] != "deflection" || r[3] != "07700900555" || r[5] != "1" {
			t.Fatalf("redirect %v: want a deflection to 07700900555 on the first ring", r)
		}
		d, err := time.ParseDuration(r[4])
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, d)
		eventually(t, "the trunk is free", func() bool { return p.simCalls() == "none" && !trunkState(p.status()).InCall })
	}
	if !strings.Contains(p.mustCtl("sim", "trunk", "commands", "200"), `AT+CTFR="07700900555",129`) {
		t.Fatal("the simulator saw no AT+CTFR with the divert number")
	}
	t.Logf("RING -> AT+CTFR over %d calls: median %v (all %v)", runs, medianDur(lat), lat)
	// The port whose divert applied is the first that could not ring. The
	// daemon counts a deflection when the network's OK reaches it, which can
	// be a moment after the simulator shows the trunk free.
	p.waitMetric(`critline_trunk_diverts_total{method="deflection",result="ok",trunk="lte"}`, fmt.Sprint(runs))
	p.waitMetric(`critline_diverts_total{port="1",reason="bypass"}`, fmt.Sprint(runs))
	st = p.status()
	if serviceSupport(st, "deflection") != "working" || trunkState(st).MissedCalls != 0 {
		t.Fatalf("after deflections: %+v", trunkState(st))
	}
}

// Forwarding set on the ports applies to trunk calls: unconditional (both
// ports forwarded: deflected at once), busy (both handsets off-hook) and no
// answer (deflected once the ports have rung for the forward's time).
func TestForwardingOnTrunkCalls(t *testing.T) {
	p := startDaemon(t, servicesConfig(t))
	waitServices(t, p)

	p.mustCtl("forward", "1", "unconditional", "07700900771")
	p.mustCtl("forward", "2", "unconditional", "07700900772")
	p.mustCtl("sim", "trunk", "ring", "07700900111")
	eventually(t, "forwarded unconditionally", func() bool { return len(p.redirects()) == 1 })
	if r := p.redirects()[0]; r[3] != "07700900771" {
		t.Fatalf("forwarded to %s", r[3])
	}
	for _, pt := range p.status().Ports {
		if pt.State == "ringing" {
			t.Fatal("a forwarded port rang")
		}
	}
	p.mustCtl("forward", "1", "clear")
	p.mustCtl("forward", "2", "clear")

	p.mustCtl("forward", "1", "busy", "07700900773")
	p.mustCtl("sim", "hook", "1", "off")
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "both off-hook", func() bool {
		st := p.status()
		return portState(st, 1).Hook == "off" && portState(st, 2).Hook == "off"
	})
	p.mustCtl("sim", "trunk", "ring", "07700900222")
	eventually(t, "forwarded on busy", func() bool { return len(p.redirects()) == 2 })
	if r := p.redirects()[1]; r[3] != "07700900773" {
		t.Fatalf("forwarded to %s", r[3])
	}
	p.mustCtl("sim", "hook", "1", "on")
	p.mustCtl("sim", "hook", "2", "on")
	p.mustCtl("forward", "1", "clear")
	eventually(t, "idle", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
	})

	p.mustCtl("forward", "2", "no-answer", "07700900774", "--after", "5s")
	p.mustCtl("sim", "trunk", "ring", "07700900333")
	eventually(t, "both ports ring", func() bool {
		st := p.status()
		return portState(st, 1).State == "ringing" && portState(st, 2).State == "ringing"
	})
	eventually(t, "forwarded on no answer", func() bool { return len(p.redirects()) == 3 })
	r := p.redirects()[2]
	d, _ := time.ParseDuration(r[4])
	if r[3] != "07700900774" || d < 5*time.Second {
		t.Fatalf("no-answer forward %v", r)
	}
	eventually(t, "the ports stop ringing", func() bool {
		st := p.status()
		return portState(st, 1).State == "idle" && portState(st, 2).State == "idle"
	})
	// Counted when the network's OK to the deflection reaches the daemon,
	// which can be a moment after the ports stop ringing.
	for reason, want := range map[string]string{"forward-unconditional": "1", "forward-busy": "1", "forward-no-answer": "1"} {
		port := map[string]string{"forward-unconditional": "1", "forward-busy": "1", "forward-no-answer": "2"}[reason]
		p.waitMetric(fmt.Sprintf(`critline_diverts_total{port="%s",reason="%s"}`, port, reason), want)
	}
	if m := trunkState(p.status()).MissedCalls; m != 0 {
		t.Fatalf("%d missed calls counted for forwarded calls", m)
	}
}

// A network that refuses deflection: the call nobody can take is answered
// and handed over by explicit call transfer (hold, dial, join); with
// transfer refused too, a forwarded port rings after all; with no port and
// no service, the caller is refused at once and the call counted missed.
func TestDeflectionRefusedFallsBack(t *testing.T) {
	p := startDaemon(t, servicesConfig(t, "[survivability]\n", "[survivability]\ndivert_to = \"07700900555\"\n"))
	waitServices(t, p)
	unreachable(t, p)
	p.mustCtl("sim", "trunk", "service", "deflection", "refuse", "3")

	p.mustCtl("sim", "trunk", "ring", "07700900111")
	eventually(t, "transferred", func() bool { return len(p.redirects()) == 1 })
	if r := p.redirects()[0]; r[1] != "transfer" || r[2] != "07700900111" || r[3] != "07700900555" {
		t.Fatalf("redirect %v", r)
	}
	cmds := p.mustCtl("sim", "trunk", "commands", "200")
	for _, want := range []string{`AT+CTFR="07700900555",129`, "ATA", "AT+CHLD=2", "ATD07700900555;", "AT+CHLD=4"} {
		if !strings.Contains(cmds, want) {
			t.Fatalf("no %s:\n%s", want, cmds)
		}
	}
	eventually(t, "deflection shown refused", func() bool {
		st := p.status()
		return serviceSupport(st, "deflection") == "refused" && serviceSupport(st, "transfer") == "working" && p.simCalls() == "none"
	})
	if v := p.metric(`critline_trunk_service_supported{service="deflection",trunk="lte"}`); v != "0" {
		t.Fatalf("deflection metric %q", v)
	}
	// Counted once the transfer's OK reaches the daemon: the simulator (and
	// the modem's "working") can show it done a moment before.
	p.waitMetric(`critline_trunk_diverts_total{method="transfer",result="ok",trunk="lte"}`, "1")

	// Transfer refused too: nothing can send the call on and no port can
	// ring: refused at once, counted.
	p.mustCtl("sim", "trunk", "service", "transfer", "refuse", "257")
	p.mustCtl("sim", "trunk", "ring", "07700900222")
	eventually(t, "refused at once", func() bool { return trunkState(p.status()).MissedCalls == 1 })
	eventually(t, "no call left", func() bool { return p.simCalls() == "none" })
	tr := trunkState(p.status())
	if len(tr.RecentMissed) != 1 || tr.RecentMissed[0].Caller != "07700900222" || tr.RecentMissed[0].Reason != "divert-failed" {
		t.Fatalf("missed %+v", tr.RecentMissed)
	}
	p.waitMetric(`critline_missed_calls_total{reason="divert-failed",trunk="lte"}`, "1") // counted just after the status

	// A forwarded port that can ring rings when its forward cannot be
	// carried out.
	p.mustCtl("lifeline", "1", "off")
	p.mustCtl("forward", "1", "unconditional", "07700900771")
	eventually(t, "port 1 back on the board", func() bool { return portState(p.status(), 1).Relay == "board" })
	p.mustCtl("sim", "trunk", "ring", "07700900333")
	eventually(t, "the forwarded port rings after all", func() bool { return portState(p.status(), 1).State == "ringing" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "answered", func() bool { return strings.Contains(p.simCalls(), "connected") })
	p.mustCtl("sim", "hook", "1", "on")

}

// With no divert set and no port able to ring, the caller is refused at
// once (not left ringing) and the call counted missed.
func TestTrunkCallNoPortRefusedAtOnce(t *testing.T) {
	p := startDaemon(t, servicesConfig(t))
	waitServices(t, p)
	unreachable(t, p)
	p.mustCtl("sim", "trunk", "ring", "withheld")
	eventually(t, "counted missed", func() bool { return trunkState(p.status()).MissedCalls == 1 })
	eventually(t, "refused", func() bool { return p.simCalls() == "none" })
	tr := trunkState(p.status())
	if len(tr.RecentMissed) != 1 || tr.RecentMissed[0].Caller != "withheld" || tr.RecentMissed[0].Reason != "no-port" {
		t.Fatalf("missed %+v", tr.RecentMissed)
	}
	if len(p.redirects()) != 0 {
		t.Fatal("a call with nowhere to go was redirected")
	}
}

// A second caller while a porter talks on the trunk rings the other, idle
// port; when it answers, the first caller is held (the first porter hears
// the hold indication) and comes back when the second porter hangs up.
// Several calls measure how long the waiting caller waits before the port
// rings.
func TestSecondCallerRingsTheOtherPort(t *testing.T) {
	p := startDaemon(t, servicesConfig(t))
	waitServices(t, p)
	var waits []time.Duration
	for i := range 3 {
		p.mustCtl("sim", "trunk", "ring", "07700900111")
		eventually(t, "port 1 rings", func() bool { return portState(p.status(), 1).State == "ringing" })
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "first call connected", func() bool {
			return portState(p.status(), 1).State == "connected" && portState(p.status(), 2).State == "idle"
		})
		start := time.Now()
		p.mustCtl("sim", "trunk", "ring", "07700900222", "Bursar")
		eventually(t, "port 2 rings with the waiting call", func() bool { return portState(p.status(), 2).State == "ringing" })
		waits = append(waits, time.Since(start))
		if w := trunkState(p.status()).Waiting; w != "07700900222" {
			t.Fatalf("status waiting %q", w)
		}
		p.mustCtl("sim", "hook", "2", "off")
		eventually(t, "first held, second connected", func() bool {
			return p.simCalls() == `1: inbound from "07700900111", held; 2: inbound from "07700900222", connected`
		})
		if i == 0 {
			// Port 1 hears the hold indication (the call-waiting tone's 400 Hz).
			heard := listen(t, p, 1, 5)
			if at := goertzelPower(heard, 400); at < 0.01 {
				t.Fatalf("no hold indication on port 1: 400 Hz share %.3f", at)
			}
		}
		p.mustCtl("sim", "hook", "2", "on")
		eventually(t, "first caller back", func() bool {
			return p.simCalls() == `1: inbound from "07700900111", connected` && portState(p.status(), 1).State == "connected"
		})
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "all clear", func() bool { return p.simCalls() == "none" && portState(p.status(), 1).State == "idle" })
	}
	t.Logf("waiting caller to the other port ringing (status poll, 20 ms): median %v (all %v)", medianDur(waits), waits)
	if m := trunkState(p.status()).MissedCalls; m != 0 {
		t.Fatalf("%d missed", m)
	}
}

// listen records seconds of a port's earpiece.
func listen(t *testing.T, p *proc, port, seconds int) []int16 {
	t.Helper()
	f := filepath.Join(t.TempDir(), "heard.raw")
	p.mustCtl("sim", "listen", fmt.Sprint(port), "--seconds", fmt.Sprint(seconds), "--out", f)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return s
}

// recall dials R and a digit on a simulated handset.
func (p *proc) recall(port int, digit string) {
	p.t.Helper()
	p.mustCtl("sim", "flash", fmt.Sprint(port))
	time.Sleep(300 * time.Millisecond) // the flash (100 ms) and the clear window pass
	p.mustCtl("sim", "dial", fmt.Sprint(port), digit)
}

// With no other port free, the porter in the call hears the call-waiting
// tone; R2 takes the waiting caller with the first held, R2 swaps back, R1
// ends the current call and takes the other, R0 refuses a waiting caller
// (counted missed: rejected). A caller who gives up waiting is counted
// missed (unanswered).
func TestRecallCodesOnWaitingCalls(t *testing.T) {
	p := startDaemon(t, servicesConfig(t))
	waitServices(t, p)
	p.mustCtl("sim", "hook", "2", "off") // the night porter's handset is off the hook: not free
	eventually(t, "port 2 off-hook", func() bool { return portState(p.status(), 2).Hook == "off" })
	p.mustCtl("sim", "trunk", "ring", "07700900111")
	eventually(t, "port 1 rings", func() bool { return portState(p.status(), 1).State == "ringing" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "connected", func() bool { return portState(p.status(), 1).State == "connected" })

	p.mustCtl("sim", "trunk", "ring", "07700900222", "Bursar")
	eventually(t, "waiting", func() bool { return trunkState(p.status()).Waiting == "07700900222" })
	p.recall(1, "2")
	eventually(t, "R2: first held, second connected", func() bool {
		return p.simCalls() == `1: inbound from "07700900111", held; 2: inbound from "07700900222", connected`
	})
	p.recall(1, "2")
	eventually(t, "R2 again: swapped back", func() bool {
		return p.simCalls() == `1: inbound from "07700900111", connected; 2: inbound from "07700900222", held`
	})
	p.recall(1, "1")
	eventually(t, "R1: first ended, second connected", func() bool {
		return p.simCalls() == `2: inbound from "07700900222", connected`
	})
	if s := portState(p.status(), 1).State; s != "connected" {
		t.Fatalf("port 1 %s after R1", s)
	}

	p.mustCtl("sim", "trunk", "ring", "07700900333")
	eventually(t, "waiting", func() bool { return trunkState(p.status()).Waiting == "07700900333" })
	p.recall(1, "0")
	eventually(t, "R0: refused", func() bool { return p.simCalls() == `2: inbound from "07700900222", connected` })

	p.mustCtl("sim", "trunk", "ring", "07700900444")
	eventually(t, "waiting", func() bool { return trunkState(p.status()).Waiting == "07700900444" })
	p.mustCtl("sim", "trunk", "hangup", "waiting") // the caller gives up
	eventually(t, "missed calls counted", func() bool { return trunkState(p.status()).MissedCalls == 2 })
	tr := trunkState(p.status())
	if tr.RecentMissed[0].Reason != "rejected" || tr.RecentMissed[0].Caller != "07700900333" ||
		tr.RecentMissed[1].Reason != "unanswered" || tr.RecentMissed[1].Caller != "07700900444" {
		t.Fatalf("missed %+v", tr.RecentMissed)
	}
	for reason, want := range map[string]string{"rejected": "1", "unanswered": "1"} { // counted just after the status
		p.waitMetric(fmt.Sprintf(`critline_missed_calls_total{reason="%s",trunk="lte"}`, reason), want)
	}
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "all clear", func() bool { return p.simCalls() == "none" })
}
