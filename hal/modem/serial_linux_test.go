//go:build linux

package modem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newPty returns a pty's master and its slave's path.
func newPty(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// The port is raw: every byte passes unchanged both ways (no echo, no CR/LF
// mapping, no signals), at a standard and at a non-standard rate.
func TestOpenSerialRaw(t *testing.T) {
	for _, baud := range []int{115200, 250000} {
		t.Run(fmt.Sprint(baud), func(t *testing.T) {
			m, path := newPty(t)
			p, err := openSerial(path, baud)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			tio, err := unix.IoctlGetTermios(int(p.(*os.File).Fd()), unix.TCGETS2)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Ospeed != uint32(baud) || tio.Lflag&(unix.ECHO|unix.ICANON) != 0 || tio.Cflag&unix.CSIZE != unix.CS8 {
				t.Errorf("termios: speed %d lflag %#x cflag %#x", tio.Ospeed, tio.Lflag, tio.Cflag)
			}
			all := []byte("AT\r\n\x00\xff\x03\x1a\rRING\r\n")
			if _, err := m.Write(all); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(all))
			if _, err := io.ReadFull(p, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("modem to driver: %q, want %q", got, all)
			}
			if _, err := p.Write(all); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(m, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("driver to modem: %q, want %q", got, all)
			}
		})
	}
}

// A Read waiting on a silent modem ends at once when the port is closed
// (the driver reopening it) and when the modem goes away (the pty's master
// closed, as a USB module unplugged).
func TestOpenSerialReadEnds(t *testing.T) {
	for _, how := range []string{"closed", "unplugged"} {
		t.Run(how, func(t *testing.T) {
			for range 50 {
				m, path := newPty(t)
				p, err := openSerial(path, 115200)
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					_, err := p.Read(make([]byte, 64))
					done <- err
				}()
				time.Sleep(time.Millisecond)
				if how == "closed" {
					p.Close()
				} else {
					m.Close()
				}
				select {
				case err := <-done:
					if err == nil {
						t.Fatal("Read returned no error")
					}
					if how == "closed" && !errors.Is(err, os.ErrClosed) {
						t.Fatalf("Read after Close: %v, want os.ErrClosed", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Read did not end")
				}
				p.Close()
			}
		})
	}
}

// A path that is not a serial port is refused with the reason.
func TestOpenSerialNotATerminal(t *testing.T) {
	f := filepath.Join(t.TempDir(), "modem")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openSerial(f, 115200)
	if err == nil || !strings.Contains(err.Error(), "not a serial port") {
		t.Fatalf("openSerial(regular file) = %v", err)
	}
	if _, err := openSerial(filepath.Join(t.TempDir(), "absent"), 115200); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("openSerial(absent) = %v", err)
	}
}
