package firmware

import (
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serveStatus(t *testing.T, body string, code int) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sock
}

func TestDaemonCalls(t *testing.T) {
	ctx := t.Context()
	sock := serveStatus(t, `{"mode":"normal","ports":[{"id":1,"state":"idle"},{"id":2,"state":"connected","route":"sip"}]}`, 200)
	busy, detail, err := DaemonCalls(sock)(ctx)
	if err != nil || !busy || detail != "port 2 is connected" {
		t.Fatalf("busy=%v detail=%q err=%v", busy, detail, err)
	}
	sock = serveStatus(t, `{"ports":[{"id":1,"state":"idle"},{"id":2,"state":"parked"},{"id":3,"state":"stopped"}]}`, 200)
	if busy, _, err := DaemonCalls(sock)(ctx); err != nil || busy {
		t.Fatalf("idle: busy=%v err=%v", busy, err)
	}
	// No daemon: nothing to cut.
	if busy, detail, err := DaemonCalls(filepath.Join(t.TempDir(), "none.sock"))(ctx); err != nil || busy || detail != "daemon not running" {
		t.Fatalf("no daemon: %v %q %v", busy, detail, err)
	}
	// A socket file nobody listens on (daemon died).
	dead := filepath.Join(t.TempDir(), "dead.sock")
	ln, _ := net.Listen("unix", dead)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if busy, _, err := DaemonCalls(dead)(ctx); err != nil || busy {
		t.Fatalf("dead daemon: %v %v", busy, err)
	}
	// A daemon that answers nonsense: we cannot tell, so refuse.
	sock = serveStatus(t, `<html>`, 200)
	if _, _, err := DaemonCalls(sock)(ctx); err == nil {
		t.Fatal("nonsense accepted")
	}
	sock = serveStatus(t, `{}`, 500)
	if _, _, err := DaemonCalls(sock)(ctx); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("500: %v", err)
	}
	r := newRig(t)
	sock = serveStatus(t, `{"ports":[{"id":1,"state":"ringing"}]}`, 200)
	if _, err := r.install(r.bundle("2.0.0", 1, randBytes(1, 1000)), InstallOptions{Calls: DaemonCalls(sock)}); !errors.Is(err, ErrCallUp) {
		t.Fatalf("install during ringing: %v", err)
	}
}

func TestProgressPrinter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var plain strings.Builder
	p := NewProgressPrinter(&plain, false, clock)
	total := int64(100 << 20)
	for done := int64(0); done <= total; done += 1 << 20 {
		p.Update(Progress{Phase: "write", Done: done, Total: total})
		now = now.Add(50 * time.Millisecond) // 20 MiB/s
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d plain lines:\n%s", len(lines), plain.String())
	}
	if lines[5] != "writing:  50% 50.0 MiB/100.0 MiB  20.0 MiB/s  0:03 left" {
		t.Fatalf("line 5: %q", lines[5])
	}
	var tty strings.Builder
	p = NewProgressPrinter(&tty, true, clock)
	p.Update(Progress{Phase: "verify", Done: 0, Total: total})
	now = now.Add(time.Second)
	p.Update(Progress{Phase: "verify", Done: total / 4, Total: total})
	now = now.Add(3 * time.Second)
	p.Update(Progress{Phase: "verify", Done: total, Total: total})
	out := tty.String()
	if !strings.Contains(out, "\rverifying [#######.......................]  25% 25.0 MiB/100.0 MiB  25.0 MiB/s  0:03 left\x1b[K") ||
		!strings.HasSuffix(out, "100% 100.0 MiB/100.0 MiB  25.0 MiB/s  in 0:04\x1b[K\n") {
		t.Fatalf("bar: %q", out)
	}
}
