package control

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Connections that go quiet are closed: one that never sends a request,
// and one left idle after a request (keep-alive).
func TestControlConnectionsTimeOut(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(NewHandler(stubDaemon{}, nil, slog.New(slog.DiscardHandler)), 300*time.Millisecond, context.Background())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		return err == nil // EOF: the server closed it (a deadline error means it did not)
	}
	silent, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if !closedWithin(silent, HeaderTimeout+5*time.Second) {
		t.Error("a connection that never sent a request was kept open")
	}

	idle, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /v1/version HTTP/1.1\r\nHost: critline\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("version: %v %v", res, err)
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	res.Body.Close()
	if !closedWithin(idle, 5*time.Second) {
		t.Error("an idle keep-alive connection was kept open")
	}
}

type stubDaemon struct{}

func (stubDaemon) Status() Status   { return Status{Mode: "normal"} }
func (stubDaemon) Version() Version { return Version{Version: strings.Repeat("v", 3)} }
