//go:build linux

package modemsim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ptyPair is one pty: the simulator keeps the master (the modem's side) as
// a non-blocking *os.File, so deadlines work and Close interrupts a Read,
// and holds a slave fd of its own, so the client closing and reopening the
// port never hangs up the master.
type ptyPair struct {
	master  *os.File
	slaveFD int
	tty     string // /dev/pts/N
}

func openPty() (*ptyPair, error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fail := func(what string, err error) (*ptyPair, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("pty: %s: %w", what, err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fail("unlock", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		return fail("pts number", err)
	}
	tty := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(tty, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open "+tty, err)
	}
	// Raw before any client opens it: no echo, no CR/LF translation.
	t, err := unix.IoctlGetTermios(sfd, unix.TCGETS)
	if err == nil {
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(sfd, unix.TCSETS, t)
	}
	if err != nil {
		unix.Close(sfd)
		return fail("raw mode", err)
	}
	return &ptyPair{master: os.NewFile(uintptr(fd), "ptmx:"+tty), slaveFD: sfd, tty: tty}, nil
}

// clearExclusive undoes the TIOCEXCL a serial client sets, so the client
// can reopen the port (non-root opens of an exclusive tty get EBUSY).
func (p *ptyPair) clearExclusive() {
	_ = unix.IoctlSetInt(p.slaveFD, unix.TIOCNXCL, 0)
}

func (p *ptyPair) close() {
	p.master.Close()
	unix.Close(p.slaveFD)
}

// publish points the stable symlink link at target, atomically.
func publish(link, target string) error {
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("symlink %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("symlink %s: %w", link, err)
	}
	return nil
}

// closeWatch is an inotify watch on a pty's slave node that reports each
// time a client closes the port.
type closeWatch struct {
	f *os.File
}

// watchCloses starts watching p's slave node for closes.
func (p *ptyPair) watchCloses() (*closeWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, p.tty, unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", p.tty, err)
	}
	// Non-blocking, so the runtime poller waits for it and Close ends a Read.
	return &closeWatch{f: os.NewFile(uintptr(fd), "inotify:"+p.tty)}, nil
}

// wait blocks until the next close (true) or until the watch is closed.
func (w *closeWatch) wait(buf []byte) bool {
	_, err := w.f.Read(buf)
	return err == nil
}

func (w *closeWatch) close() { w.f.Close() }
