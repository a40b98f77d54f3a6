//go:build unix

package firmware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testenv"
)

// freePort finds a loopback port free for both UDP and TCP (SIP listens on
// both).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// TestDaemonCallsAgainstRealDaemon runs the real critlined on the simulated
// board and asks it, as `critlinectl firmware install` does, whether a call
// is up: idle lines let the install go on; a handset off the hook refuses
// it; a stopped daemon lets it go on again.
func TestDaemonCallsAgainstRealDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs critlined")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go is not on PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "critlined")
	if out, err := exec.Command(goTool, "build", "-o", bin, "../cmd/critlined").CombinedOutput(); err != nil {
		t.Fatalf("building critlined: %v\n%s", err, out)
	}
	cfgText, err := os.ReadFile("../examples/sim.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfgText = bytes.Replace(cfgText, []byte(`listen = "127.0.0.1:5060"`), []byte(fmt.Sprintf(`listen = "127.0.0.1:%d"`, freePort(t))), 1)
	cfgPath := filepath.Join(dir, "c.toml")
	writeFile(t, cfgPath, cfgText)
	sock := filepath.Join(dir, "control.sock")
	var log bytes.Buffer
	cmd := exec.Command(bin, "--config", cfgPath, "--control-socket", sock, "--state-dir", filepath.Join(dir, "state"), "--metrics-listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("critlined log:\n%s", log.String())
		}
	}()
	calls := DaemonCalls(sock)
	ctx := t.Context()
	// Wait for the daemon (bounded; not a timing assertion).
	waitFor := func(what string, ok func() (bool, error)) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			good, err := ok()
			if good {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: never happened (last error %v)", what, err)
			}
			select {
			case err := <-done:
				t.Fatalf("critlined exited: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("daemon answering /v1/status", func() (bool, error) {
		_, detail, err := calls(ctx)
		return err == nil && detail != "daemon not running", err
	})
	if busy, detail, err := calls(ctx); err != nil || busy {
		t.Fatalf("idle daemon: busy=%v %q %v", busy, detail, err)
	}
	// The handset is lifted on the board's side of the relay: wait until the
	// relay is energised (until a route is up the handset is on the line
	// behind it, where the board cannot see it).
	waitFor("port 1's relay on the board", func() (bool, error) {
		st, err := control.NewClient(sock).Status(ctx)
		return err == nil && len(st.Ports) > 0 && st.Ports[0].Relay == "board", err
	})
	hook(t, sock, `{"port":1,"state":"off"}`)
	var detail string
	waitFor("port 1 off the hook seen as a call", func() (bool, error) {
		busy, d, err := calls(ctx)
		detail = d
		return busy, err
	})
	if !strings.Contains(detail, "port 1 is") {
		t.Fatalf("detail %q", detail)
	}
	r := newRig(t)
	_, err = r.install(r.bundle("2.0.0", 1, randBytes(2, 4096)), InstallOptions{Calls: calls})
	if !errors.Is(err, ErrCallUp) {
		t.Fatalf("install with a handset off the hook: %v", err)
	}
	t.Logf("refused: %v", err)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("critlined stop: %v", err)
	}
	if busy, detail, err := calls(ctx); err != nil || busy || detail != "daemon not running" {
		t.Fatalf("after stop: %v %q %v", busy, detail, err)
	}
}

func hook(t *testing.T, sock, body string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Post("http://critlined/v1/sim/hook", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("sim hook: %s", resp.Status)
	}
}
