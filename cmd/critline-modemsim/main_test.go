//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/critline/critline/internal/testenv"
)

func TestRunPrintsPathsAndTakesVerbs(t *testing.T) {
	dir := t.TempDir()
	in, w := io.Pipe()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- run([]string{"-dir", dir, "-name", "lte"}, in, syncWriter{&out}, &errb) }()

	// The AT port answers through the real serial code path.
	var p serial.Port
	var err error
	testenv.Eventually(t, 5*time.Second, "the AT port "+dir+"/lte opening", func() bool {
		p, err = serial.Open(dir+"/lte", &serial.Mode{BaudRate: 115200})
		return err == nil
	})
	defer p.Close()
	p.SetReadTimeout(100 * time.Millisecond)
	if _, err := p.Write([]byte("ATE0\r")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 256)
	for deadline := time.Now().Add(5 * time.Second); !bytes.Contains(got, []byte("OK")) && time.Now().Before(deadline); {
		n, _ := p.Read(buf)
		got = append(got, buf[:n]...)
	}
	if !bytes.Contains(got, []byte("OK")) {
		t.Fatalf("AT port said %q", got)
	}

	io.WriteString(w, "signal -80\nbogus\nquit\n")
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	o := out.String()
	for _, want := range []string{"AT port:  " + dir + "/lte -> /dev/pts/", "PCM port: " + dir + "/lte-pcm", "signal -79 dBm"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if !strings.Contains(errb.String(), `unknown verb "bogus"`) {
		t.Errorf("stderr: %s", errb.String())
	}
	if _, err := os.Lstat(dir + "/lte"); err == nil {
		t.Error("AT symlink left behind")
	}
}

type syncWriter struct{ b *bytes.Buffer }

func (s syncWriter) Write(p []byte) (int, error) { return s.b.Write(p) }
