//go:build linux

package netif

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Watcher follows some interfaces. Create it with Watch.
type Watcher struct {
	names []string
	log   *slog.Logger
	f     *os.File
	out   chan State
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu    sync.Mutex
	state map[string]State
	subs  map[string][]chan State
}

// Resync is how often every interface is read again whatever the events
// said: a safety net for events the kernel dropped.
const Resync = 10 * time.Second

// Watch starts following the named interfaces.
func Watch(names []string, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netif: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netif: netlink bind: %w", err)
	}
	w := &Watcher{names: names, log: log, f: os.NewFile(uintptr(fd), "rtnetlink"), out: make(chan State, 16),
		stop: make(chan struct{}), done: make(chan struct{}), state: map[string]State{}, subs: map[string][]chan State{}}
	for _, n := range names {
		w.state[n] = read(n)
	}
	go w.run()
	return w, nil
}

// State returns an interface's state as last read.
func (w *Watcher) State(name string) State {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.state[name]; ok {
		return s
	}
	return read(name)
}

// Subscribe returns a channel of one interface's changes (the newest wins
// when the reader falls behind); it is closed by Close.
func (w *Watcher) Subscribe(name string) <-chan State {
	ch := make(chan State, 1)
	w.mu.Lock()
	w.subs[name] = append(w.subs[name], ch)
	w.mu.Unlock()
	return ch
}

// Close stops the watcher and closes every subscription.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		close(w.stop)
		w.f.Close()
		<-w.done
	})
	return nil
}

func (w *Watcher) run() {
	defer close(w.done)
	defer func() {
		w.mu.Lock()
		for _, chs := range w.subs {
			for _, ch := range chs {
				close(ch)
			}
		}
		w.subs = nil
		w.mu.Unlock()
	}()
	msgs := make(chan struct{}, 1)
	go func() { // the reader: any link or address message makes the watcher look
		buf := make([]byte, 64*1024)
		for {
			n, err := w.f.Read(buf)
			if err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				if errors.Is(err, unix.ENOBUFS) { // the kernel dropped events: read everything again
					select {
					case msgs <- struct{}{}:
					default:
					}
					continue
				}
				w.log.Warn("netif: reading netlink", "err", err)
				time.Sleep(time.Second)
				continue
			}
			evs, err := parseEvents(buf[:n])
			if err != nil {
				w.log.Debug("netif: netlink message", "err", err)
			}
			if len(evs) > 0 || err != nil {
				select {
				case msgs <- struct{}{}:
				default:
				}
			}
		}
	}()
	t := time.NewTicker(Resync)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-msgs:
		case <-t.C:
		}
		for _, n := range w.names {
			w.update(read(n))
		}
	}
}

func (w *Watcher) update(s State) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.state[s.Name]; ok && old.Equal(s) {
		return
	}
	w.state[s.Name] = s
	for _, ch := range w.subs[s.Name] {
		select { // the newest wins
		case <-ch:
		default:
		}
		select {
		case ch <- s:
		default:
		}
	}
}

// read reads one interface now.
func read(name string) State {
	s := State{Name: name}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return s
	}
	s.Exists = true
	s.Up = ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
	addrs, err := ifi.Addrs()
	if err != nil {
		return s
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			s.Addrs = append(s.Addrs, p.Addr())
		}
	}
	return s
}
