//go:build linux

package modemsim

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/critline/critline/internal/testenv"
)

func newSim(t *testing.T, v Variant) *Sim {
	t.Helper()
	s, err := New(Options{Dir: t.TempDir(), Variant: v, RingInterval: 50 * time.Millisecond,
		AlertAfter: 10 * time.Millisecond, AnswerAfter: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a bare serial client: what a driver sees.
type client struct {
	t   *testing.T
	p   serial.Port
	buf []byte
}

func dial(t *testing.T, path string) *client {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	p.SetReadTimeout(20 * time.Millisecond)
	c := &client{t: t, p: p}
	t.Cleanup(func() { p.Close() })
	return c
}

// until reads until want has been seen, returning everything read.
func (c *client) until(want string) string {
	c.t.Helper()
	b := make([]byte, 512)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if i := bytes.Index(c.buf, []byte(want)); i >= 0 {
			out := string(c.buf[:i+len(want)])
			c.buf = c.buf[i+len(want):]
			return out
		}
		n, err := c.p.Read(b)
		if err != nil {
			c.t.Fatalf("read: %v (have %q)", err, c.buf)
		}
		c.buf = append(c.buf, b[:n]...)
	}
	c.t.Fatalf("never saw %q; have %q", want, c.buf)
	return ""
}

func (c *client) cmd(s, want string) string {
	c.t.Helper()
	if _, err := c.p.Write([]byte(s + "\r")); err != nil {
		c.t.Fatal(err)
	}
	return c.until(want)
}

func TestATBasicsAndEcho(t *testing.T) {
	s := newSim(t, SIMCom)
	c := dial(t, s.ATPath())
	if got := c.cmd("AT+CSQ", "OK\r\n"); got != "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n" {
		t.Fatalf("with echo: %q", got)
	}
	c.cmd("ATE0", "OK\r\n")
	if got := c.cmd("AT+CREG?", "OK\r\n"); got != "\r\n+CREG: 0,1\r\n\r\nOK\r\n" {
		t.Fatalf("no echo: %q", got)
	}
	c.cmd("AT+CMEE=2", "OK\r\n")
	if got := c.cmd("AT+BOGUS", "\r\n"+"+CME ERROR: operation not supported\r\n"); got == "" {
		t.Fatal("no error")
	}
	if !strings.Contains(strings.Join(s.Commands(), "|"), "AT+BOGUS") {
		t.Fatal("command log")
	}
}

func TestRingCallAndVoice(t *testing.T) {
	s := newSim(t, SIMCom)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd("AT+CLIP=1", "OK\r\n")
	if _, err := s.Control([]string{"ring", "+441865270000"}); err != nil {
		t.Fatal(err)
	}
	c.until(`+CLIP: "+441865270000",145,"",0,"",0`)
	c.until("RING") // repeats
	c.cmd("ATA", "OK\r\n")
	c.until("VOICE CALL: BEGIN")
	s.Play(Tone(1000, 8000, 100*time.Millisecond))
	c.cmd("AT+CPCMREG=1", "OK\r\n")
	v := dial(t, s.PCMPath())
	b := make([]byte, 4096)
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); len(got) < 1600 && time.Now().Before(deadline); {
		n, _ := v.p.Read(b)
		got = append(got, b[:n]...)
	}
	if len(got) < 1600 || bytes.Equal(got[:320], make([]byte, 320)) {
		t.Fatalf("voice: %d bytes", len(got))
	}
	type heard struct {
		s   []int16
		err error
	}
	hc := make(chan heard, 1)
	go func() {
		x, err := s.Listen(ctxT(t), 100)
		hc <- heard{x, err}
	}()
	var h heard
	for got := false; !got; {
		if _, err := v.p.Write([]byte{1, 0, 2, 0}); err != nil {
			t.Fatal(err)
		}
		select {
		case h = <-hc:
			got = true
		case <-time.After(5 * time.Millisecond):
		}
	}
	if h.err != nil || len(h.s) != 100 || h.s[0] != 1 || h.s[1] != 2 {
		t.Fatalf("listen: %v %v", h.s, h.err)
	}
	if _, err := s.Control([]string{"hangup"}); err != nil {
		t.Fatal(err)
	}
	c.until("VOICE CALL: END")
	c.until("NO CARRIER")
}

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSMSPromptAndForwarding(t *testing.T) {
	s := newSim(t, Quectel)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd(`AT+CMGS="+447700900555"`, "> ")
	c.p.Write([]byte("mains lost\x1a"))
	c.until("+CMGS: 1")
	c.until("OK\r\n")
	if m := s.Messages(); len(m) != 1 || m[0].Text != "mains lost" || m[0].To != "+447700900555" {
		t.Fatalf("%+v", m)
	}
	c.cmd(`AT+CCFC=0,3,"+447700900555",145,1`, "OK\r\n")
	if got := c.cmd("AT+CCFC=0,2", "OK\r\n"); !strings.Contains(got, `+CCFC: 1,1,"+447700900555",145`) {
		t.Fatalf("query: %q", got)
	}
	out, _ := s.Control([]string{"forwarding"})
	if !strings.Contains(out, "unconditional: active to +447700900555") {
		t.Fatalf("forwarding verb: %q", out)
	}
}

func TestVanishReturnAndExclusiveCleared(t *testing.T) {
	s := newSim(t, SIMCom)
	at1, _ := s.TTYs()
	c := dial(t, s.ATPath())
	c.cmd("AT", "OK\r\n")
	c.p.Close()
	// The client's TIOCEXCL must not outlive its close (a non-root reopen
	// would get EBUSY). Root bypasses the flag, so read it back instead.
	fd, err := unix.Open(at1, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var ioctlErr error
	testenv.Eventually(t, 5*time.Second, "TIOCEXCL cleared", func() bool {
		v, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL)
		ioctlErr = err
		return err != nil || v == 0
	})
	if ioctlErr != nil {
		t.Fatal(ioctlErr)
	}

	c = dial(t, s.ATPath())
	if _, err := s.Control([]string{"vanish"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.ATPath()); !os.IsNotExist(err) {
		t.Fatalf("path still there: %v", err)
	}
	b := make([]byte, 64)
	var rerr error
	for deadline := time.Now().Add(5 * time.Second); rerr == nil && time.Now().Before(deadline); {
		_, rerr = c.p.Read(b)
	}
	if rerr == nil {
		t.Fatal("client read no error after vanish")
	}
	if _, err := s.Control([]string{"return"}); err != nil {
		t.Fatal(err)
	}
	at2, _ := s.TTYs()
	if target, _ := os.Readlink(s.ATPath()); target != at2 || filepath.Dir(s.ATPath()) == "" {
		t.Fatalf("symlink -> %q, tty %q", target, at2)
	}
	c = dial(t, s.ATPath())
	c.cmd("AT", "OK\r\n")
}

func TestControlErrors(t *testing.T) {
	s := newSim(t, SIMCom)
	for _, args := range [][]string{nil, {"frobnicate"}, {"ring"}, {"ring", "12ab"}, {"signal", "-200"}, {"ondial", "maybe"}, {"slow", "fast"}, {"answer"}, {"hangup"}, {"dtmf", "1"}, {"return"}, {"raw", `\q`}} {
		_, err := s.Control(args)
		if err == nil {
			t.Errorf("%v accepted", args)
			continue
		}
		if len(args) < 2 && (len(args) == 0 || args[0] == "frobnicate") && !strings.Contains(err.Error(), "ring, service, signal, slow") {
			t.Errorf("%v: error does not list the verbs: %v", args, err)
		}
	}
	out, err := s.Control([]string{"help"})
	if err != nil || len(strings.Split(out, "\n")) != len(Verbs()) {
		t.Fatalf("help: %v\n%s", err, out)
	}
	out, err = s.Control([]string{"status"})
	if err != nil || !strings.Contains(out, "plugged in") {
		t.Fatalf("status: %v %s", err, out)
	}
	s.Close()
	if _, err := s.Control([]string{"status"}); err == nil {
		t.Fatal("control after close")
	}
}

func TestGarbageAndWedge(t *testing.T) {
	s := newSim(t, Generic)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	if _, err := s.Control([]string{"garbage", "64"}); err != nil {
		t.Fatal(err)
	}
	c.cmd("AT", "OK\r\n")
	s.Control([]string{"wedge", "mid"})
	c.p.Write([]byte("AT+CSQ\r"))
	c.until("+CSQ: 20,99\r\n")
	c.p.Write([]byte("AT\r"))
	// The wedged module has read the AT (it logs every line it reads) and
	// dropped it. Once it answers again, the first result on the port must
	// be the next command's: an answer to the AT sent while wedged would
	// come before it.
	testenv.Eventually(t, 5*time.Second, "the wedged modem read the AT", func() bool {
		cmds := s.Commands()
		return len(cmds) > 0 && cmds[len(cmds)-1] == "AT"
	})
	s.Control([]string{"unwedge"})
	if got := c.cmd("AT+CGMI", "OK\r\n"); !strings.Contains(got, "+CGMI") && !strings.Contains(got, "INCORPORATED") || strings.Count(got, "OK") != 1 {
		t.Fatalf("after unwedge the first answer is not AT+CGMI's: %q (the wedged modem answered?)", got)
	}
}
