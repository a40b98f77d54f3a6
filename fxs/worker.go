package fxs

// The worker runs calls into the Router and Call outside the port's lock.

import (
	"context"
	"log/slog"
	"sync"
)

// worker runs calls into Router and Call in order, outside the port's lock.
// A panic in one of them is logged and does not take the line down.
type worker struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
	log  *slog.Logger
}

func (w *worker) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("panic in a router or call handler; the port carries on", "panic", r)
		}
	}()
	f()
}

func (w *worker) push(f func()) {
	w.mu.Lock()
	w.q = append(w.q, f)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	for {
		w.mu.Lock()
		q := w.q
		w.q = nil
		w.mu.Unlock()
		for _, f := range q {
			w.call(f)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			// Last orders: hang-ups queued at shutdown.
			w.mu.Lock()
			q := w.q
			w.q = nil
			w.mu.Unlock()
			for _, f := range q {
				w.call(f)
			}
			return
		}
	}
}
