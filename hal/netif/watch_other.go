//go:build !linux

package netif

import (
	"errors"
	"log/slog"
)

// Watcher follows some interfaces (Linux only).
type Watcher struct{}

// Watch fails: rtnetlink is Linux's.
func Watch([]string, *slog.Logger) (*Watcher, error) {
	return nil, errors.New("netif: watching network interfaces needs Linux")
}

// State is never reached off Linux.
func (w *Watcher) State(name string) State { return State{Name: name} }

// Subscribe returns a closed channel off Linux.
func (w *Watcher) Subscribe(string) <-chan State {
	ch := make(chan State)
	close(ch)
	return ch
}

// Close does nothing off Linux.
func (w *Watcher) Close() error { return nil }
