//go:build linux

package modem

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// openSerial opens a modem's serial port (its AT port or its PCM voice
// port) raw at baud, 8N1, without flow control, for this process alone
// (TIOCEXCL), with anything left in its input buffer discarded.
//
// On Linux the port is an *os.File in non-blocking mode, so a read waits in
// the Go runtime's poller (epoll), as a socket's does, and the port costs
// nothing while the modem is silent. go.bug.st/serial, used on other
// systems, reads with a blocking select(2): the runtime's monitor thread
// then watches every read in 20 µs steps until it takes the processor
// back, some fifty wake-ups per read, which was most of an idle
// appliance's CPU (issue 19). Close during a Read makes it return
// os.ErrClosed; a modem that goes away (USB unplugged, a pty's master
// closed) makes it return EIO or EOF.
func openSerial(path string, baud int) (io.ReadWriteCloser, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("%s is in use by another process (ModemManager? stop it or mask its udev rule): %w", path, err)
		case errors.Is(err, unix.EACCES):
			return nil, fmt.Errorf("%s: permission denied (the daemon's user needs the dialout group): %w", path, err)
		}
		return nil, err
	}
	if err := configureSerial(fd, baud); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if f == nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not a usable file descriptor", path)
	}
	return f, nil
}

// standardBauds are the rates termios names with a Bnnn constant.
var standardBauds = map[int]uint32{
	1200: unix.B1200, 2400: unix.B2400, 4800: unix.B4800, 9600: unix.B9600,
	19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600, 115200: unix.B115200,
	230400: unix.B230400, 460800: unix.B460800, 921600: unix.B921600,
	1000000: unix.B1000000, 3000000: unix.B3000000, 4000000: unix.B4000000,
}

// configureSerial puts the terminal fd in raw mode (cfmakeraw) at baud, 8N1,
// receiver on, modem-control lines ignored, no hardware or software flow
// control; takes it for this process alone; and flushes its input.
func configureSerial(fd, baud int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("not a serial port (TCGETS): %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.INPCK
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS | unix.CBAUD | unix.CBAUDEX
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	set := uint(unix.TCSETS)
	if rate, ok := standardBauds[baud]; ok {
		t.Cflag |= rate
		t.Ispeed, t.Ospeed = rate, rate
	} else {
		// Any other rate: termios2 with BOTHER (x/sys's Termios has the
		// termios2 layout on Linux).
		t.Cflag |= unix.BOTHER
		t.Ispeed, t.Ospeed = uint32(baud), uint32(baud)
		set = unix.TCSETS2
	}
	if err := unix.IoctlSetTermios(fd, set, t); err != nil {
		return fmt.Errorf("setting raw mode at %d baud: %w", baud, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
		return fmt.Errorf("taking the port for this process (TIOCEXCL): %w", err)
	}
	// Stale bytes from before an unplug or a restart.
	_ = unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH)
	return nil
}
