//go:build linux

package gpio

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/critline/critline/hal"
	"golang.org/x/sys/unix"
)

// link polls an interface's carrier file. With no interface configured the
// link always reads up (nothing to watch; survivability relies on its
// reachability probes instead).
type link struct {
	path   string // root/IFACE/carrier, "" when not configured
	iface  string
	log    *slog.Logger
	events chan hal.LinkState
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

var _ hal.LinkSensor = (*link)(nil)

func newLink(root, iface string, every time.Duration, buffer int, log *slog.Logger) *link {
	l := &link{iface: iface, log: log, events: make(chan hal.LinkState, buffer), stop: make(chan struct{}), done: make(chan struct{})}
	if iface == "" {
		close(l.done)
		return l
	}
	l.path = filepath.Join(root, iface, "carrier")
	if _, err := os.Stat(filepath.Join(root, iface)); err != nil {
		log.Warn("gpio: LAN interface not present; link reads down until it appears", "interface", iface)
	}
	if every <= 0 {
		every = time.Second
	}
	first, err := l.Link()
	if err != nil {
		log.Warn("gpio: link", "err", err)
	}
	go l.poll(every, first)
	return l
}

// Link reads the carrier now. A missing interface, or one that is
// administratively down (the kernel refuses to read carrier), reads down.
func (l *link) Link() (hal.LinkState, error) {
	now := hal.SystemClock{}.Now()
	if l.path == "" {
		return hal.LinkState{Up: true, At: now}, nil
	}
	b, err := os.ReadFile(l.path)
	switch {
	case err == nil:
		return hal.LinkState{Up: bytes.Equal(bytes.TrimSpace(b), []byte("1")), At: now}, nil
	case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.EINVAL):
		return hal.LinkState{Up: false, At: now}, nil
	}
	return hal.LinkState{At: now}, fmt.Errorf("gpio: reading %s carrier: %w", l.iface, err)
}

func (l *link) Events() <-chan hal.LinkState { return l.events }

func (l *link) poll(every time.Duration, last hal.LinkState) {
	defer close(l.done)
	defer close(l.events)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		st, err := l.Link()
		if err != nil {
			l.log.Warn("gpio: link", "err", err)
			continue
		}
		if st.Up == last.Up {
			continue
		}
		last = st
		select {
		case l.events <- st:
		default:
			l.log.Warn("gpio: link event channel full, event dropped", "interface", l.iface)
		}
	}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
}
