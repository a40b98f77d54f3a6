package sip

import (
	"log/slog"
	"sync"
)

// failureLog keeps one line's run of failed registrations per registrar,
// so a registrar that stays unreachable is logged once at WARN (and again
// when the error changes), each retry at DEBUG with the count, and the
// recovery at INFO with how many attempts had failed.
type failureLog struct {
	mu    sync.Mutex
	last  map[int]string // registrar index -> the last error's text
	count map[int]int    // registrar index -> failures in a row
}

// failed logs one failed REGISTER of port with registrar idx.
func (f *failureLog) failed(log *slog.Logger, port, idx int, registrar string, err error) {
	f.mu.Lock()
	if f.last == nil {
		f.last, f.count = map[int]string{}, map[int]int{}
	}
	f.count[idx]++
	n := f.count[idx]
	repeat := f.last[idx] == err.Error()
	f.last[idx] = err.Error()
	f.mu.Unlock()
	if repeat {
		log.Debug("registration failed again", "port", port, "registrar", registrar, "failures", n, "err", err)
		return
	}
	log.Warn("registration failed", "port", port, "registrar", registrar, "failures", n, "err", err,
		"note", "repeats are logged at debug level until it changes")
}

// succeeded ends a run of failures with registrar idx.
func (f *failureLog) succeeded(log *slog.Logger, port, idx int, registrar string) {
	f.mu.Lock()
	n := f.count[idx]
	delete(f.count, idx)
	delete(f.last, idx)
	f.mu.Unlock()
	if n > 0 {
		log.Info("registration works again", "port", port, "registrar", registrar, "failed_attempts", n)
	}
}
