package main

// Persistence that tells the truth, and the smaller holes (issue 12 points
// 6 and 7), on the real daemon.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// tinyFS mounts a tmpfs of size bytes at dir for the test (root only).
func tinyFS(t *testing.T, dir string, size string) {
	t.Helper()
	testenv.RequireRoot(t)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0750", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs: "+err.Error()+": "+string(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// fill writes a file in dir until the filesystem is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 512)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// stopDaemon ends a daemon with SIGTERM and waits for it.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Fatal("critlined did not stop on SIGTERM")
	}
}

// On a full state filesystem every operator change that cannot be saved is
// refused (non-zero exit, the reason given) and nothing changes; after a
// restart the appliance is exactly as the field tool said. Nothing is
// silently lost or resurrected.
func TestFullStateFilesystemRefusesChanges(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	tinyFS(t, state, "64k")
	cfg := simConfigWith(t, "# No copper behind this relay: the handset stays on the board as long as the\n# board has power, and calls (999 above all) leave by whatever route is left.\nbehind_relay = \"none\"", "behind_relay = \"copper\"") // lifeline needs copper behind the relay
	p := startDaemonIn(t, cfg, dir)
	p.mustCtl("forward", "1", "unconditional", "07700900555")
	filler := fill(t, state)

	out, code := p.ctl("forward", "2", "unconditional", "07700900666")
	if code == 0 || !strings.Contains(out, "NOT set") || !strings.Contains(out, "no space left") {
		t.Errorf("forward on a full disk: exit %d\n%s", code, out)
	}
	out, code = p.ctl("forward", "1", "clear")
	if code == 0 || !strings.Contains(out, "NOT cleared") || !strings.Contains(out, "no space left") {
		t.Errorf("forward clear on a full disk: exit %d\n%s", code, out)
	}
	out, code = p.ctl("lifeline", "2", "on")
	if code == 0 || !strings.Contains(out, "NOT changed") || !strings.Contains(out, "no space left") {
		t.Errorf("lifeline on a full disk: exit %d\n%s", code, out)
	}
	st := p.status()
	if f := portState(st, 1).Forwarding; f != "all->07700900555" {
		t.Errorf("port 1 forwarding %q: the refused clear took effect", f)
	}
	if f := portState(st, 2).Forwarding; f != "" {
		t.Errorf("port 2 forwarding %q: the refused change took effect", f)
	}
	if portState(st, 2).Lifeline {
		t.Error("port 2 lifeline forced: the refused change took effect")
	}

	// After a restart with space again: exactly what the tool reported.
	os.Remove(filler)
	p.stop()
	p = startDaemonIn(t, cfg, dir)
	st = p.status()
	if f := portState(st, 1).Forwarding; f != "all->07700900555" {
		t.Errorf("after restart port 1 forwarding %q", f)
	}
	if f := portState(st, 2).Forwarding; f != "" || portState(st, 2).Lifeline {
		t.Errorf("after restart port 2 %+v", portState(st, 2))
	}
	// With space the same changes go through.
	p.mustCtl("forward", "1", "clear")
	p.mustCtl("lifeline", "2", "on")
	p.stop()
	p = startDaemonIn(t, cfg, dir)
	if st := p.status(); portState(st, 1).Forwarding != "" || !portState(st, 2).Lifeline {
		t.Errorf("saved changes not restored: %+v", st.Ports)
	}
}

// A state file that is a FIFO (start-up used to hang, deaf to SIGTERM) or
// a directory (never set aside; every save failed) is set aside at start;
// the daemon runs and saves normally.
func TestSpecialStateFilesSetAside(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "appliance.json", "junk"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"forwarding.json", "dialogs.json", "guard.json"} {
		if err := syscall.Mkfifo(filepath.Join(state, name), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	p := startDaemonIn(t, simConfigWith(t, "# No copper behind this relay: the handset stays on the board as long as the\n# board has power, and calls (999 above all) leave by whatever route is left.\nbehind_relay = \"none\"", "behind_relay = \"copper\""), dir) // lifeline needs copper behind the relay
	p.mustCtl("forward", "1", "busy", "07700900555")
	p.mustCtl("lifeline", "2", "on")
	for _, name := range []string{"forwarding", "appliance", "guard"} {
		m, _ := filepath.Glob(filepath.Join(state, name+".json.corrupt-*"))
		if len(m) != 1 {
			t.Errorf("%s.json not set aside: %v", name, m)
		}
		if name == "guard" {
			continue // nothing to save until a trunk call
		}
		if st, err := os.Stat(filepath.Join(state, name+".json")); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s.json is not a saved regular file now: %v", name, err)
		}
	}
	if !strings.Contains(p.log.String(), "not a regular file") {
		t.Error("setting aside not logged")
	}
	start := time.Now()
	p.stop()
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
}

// The far end of a call cut by SIGKILL is told: the next run ends the
// dialogs the previous one left up (an answered inbound call and an
// answered outbound call) with BYE.
func TestCallsLeftUpByKillAreEnded(t *testing.T) {
	dir := t.TempDir()
	r := startRig(t, rigOpts{dir: dir})
	in := r.pbx.Invite("270001", testpeer.CallOpts{})
	eventually(t, "port 1 rings", func() bool { return portState(r.p.status(), 1).State == "ringing" })
	r.p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "port 1 answered", func() bool { return portState(r.p.status(), 1).State == "connected" })
	var outID string
	r.pbx.OnInvite(func(m *testpeer.Msg) testpeer.Plan {
		outID = m.CallID()
		return testpeer.Plan{Trying: true, Ring: true, Final: 200}
	})
	r.offHook(2)
	r.p.mustCtl("sim", "dial", "2", "7001")
	eventually(t, "port 2 answered", func() bool { return portState(r.p.status(), 2).State == "connected" })
	saved := filepath.Join(dir, "state", "dialogs.json")
	eventually(t, "both calls saved", func() bool {
		b, _ := os.ReadFile(saved)
		return strings.Contains(string(b), in.CallID) && outID != "" && strings.Contains(string(b), outID)
	})
	r.p.kill()
	p := startDaemonIn(t, r.cfg, dir)
	eventually(t, "both far ends told with BYE", func() bool { return len(byes(r.pbx, in.CallID)) == 1 && len(byes(r.pbx, outID)) == 1 })
	eventually(t, "counted", func() bool { return p.metric("critline_sip_leftover_dialogs_ended_total") == "2" })
	if b := byes(r.pbx, in.CallID)[0]; testpeer.Tag(b.Get("to")) != in.FromTag {
		t.Errorf("BYE of the inbound call has To-tag %q, want the PBX's %q", testpeer.Tag(b.Get("to")), in.FromTag)
	}
}

// --config /dev/zero is refused at once with a reason (it used to run out
// of memory).
func TestConfigFileSizeCapped(t *testing.T) {
	bin := buildBinaries(t)
	for _, args := range [][]string{{"--config", "/dev/zero"}, {"--check-config", "--config", "/dev/zero"}} {
		cmd := exec.Command(filepath.Join(bin, "critlined"), args...)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: still reading", args)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 78 || !strings.Contains(string(out), "/dev/zero is larger than 1024 KiB") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// The control socket closes connections left idle (after idle_timeout) and
// keeps serving.
func TestControlSocketIdleConnectionsClosed(t *testing.T) {
	r := startRig(t, rigOpts{idle: "1s"})
	c, err := net.Dial("unix", r.p.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /v1/version HTTP/1.1\r\nHost: critline\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("version: %v %v", res, err)
	}
	res.Body.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("the idle connection was not closed: %v", err)
	}
	t.Logf("idle control connection closed after %v (idle_timeout 1s)", time.Since(start).Round(time.Millisecond))
	r.p.status()
}

// A RING with caller ID for which the modem then lists no call rings the
// ports briefly; it is counted against the ports it rang, never as a call
// on port "0".
func TestSpuriousRingNotCountedOnPortZero(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "trunk", "raw", `\r\nRING\r\n\r\n+CLIP: "07700900123",129,,,,0\r\n`)
	eventually(t, "the phantom call ended", func() bool {
		return p.metric(`critline_trunk_calls_total{direction="in",result="missed",trunk="lte"}`) == "1"
	})
	eventually(t, "counted against the ports it rang", func() bool {
		return p.metric(`critline_calls_total{direction="in",port="1",result="cancelled",route="lte"}`) == "1"
	})
	if v := p.metric(`critline_calls_total{direction="in",port="0",result="cancelled",route="lte"}`); v != "" {
		t.Errorf("a call counted on port 0: %s", v)
	}
}

// On battery low with a porter in a call, the relay move that waits for
// on-hook is logged once, not every second.
func TestRelayWaitLoggedOnce(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	// Port 1 has copper behind its relay, so a low battery wants it in bypass.
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone on 1", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "power", "battery-low")
	const msg = "relay move waits for on-hook"
	eventually(t, "the wait logged", func() bool { return strings.Contains(p.log.String(), msg) })
	// Every link change re-evaluates the relays: the wait must not be
	// logged again, however often that happens.
	for range 3 {
		p.mustCtl("sim", "link", "down")
		eventually(t, "LAN down", func() bool { return !p.status().LAN.Up })
		p.mustCtl("sim", "link", "up")
		eventually(t, "LAN up", func() bool { return p.status().LAN.Up })
	}
	if n := strings.Count(p.log.String(), msg); n != 1 {
		t.Errorf("%q logged %d times over six re-evaluations", msg, n)
	}
}
