package fxs

// The worker runs calls into the Router and Call outside the port's lock,
// and makes sure none of them can wedge the port.

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultStallAfter is how long one job of a port's worker (placing,
// answering or hanging up a call) may run before the port is declared
// wedged. Every job is bounded by the network's own timeouts well below it
// (a modem command is given 5 s).
const DefaultStallAfter = 8 * time.Second

// job is one call into a Router or Call.
type job struct {
	name string // route, hangup, answer, recall, digit, probe
	f    func()
}

// worker runs jobs in order on one goroutine (the runner). A job that runs
// longer than stallAfter wedges the port: the worker abandons it (its
// goroutine carries on and its outcome is ignored, as for a call the porter
// has left), counts and logs it, and a new runner takes the queue, so the
// port keeps taking and placing calls (999 included) without a restart. A
// panic in a job is logged and does not take the line down.
type worker struct {
	log        *slog.Logger
	stallAfter time.Duration
	wake       chan struct{}

	mu      sync.Mutex
	ctx     context.Context
	runDone chan struct{} // closed when the current runner returns
	q       []job
	gen     uint64    // the current runner; older ones exit after their job
	busy    time.Time // when the current runner's job started; zero when idle
	cur     string    // that job's name
	stuck   int       // abandoned jobs still running
	wedges  uint64    // stalls detected since start
	last    string    // the last stall, for status
	stopped bool
}

func (w *worker) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("panic in a router or call handler; the port carries on", "panic", r)
		}
	}()
	f()
}

func (w *worker) push(name string, f func()) {
	w.mu.Lock()
	w.q = append(w.q, job{name, f})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// start starts the first runner; the worker runs until ctx ends.
func (w *worker) start(ctx context.Context) {
	w.mu.Lock()
	w.ctx = ctx
	w.spawnLocked()
	w.mu.Unlock()
}

func (w *worker) spawnLocked() {
	gen, done := w.gen, make(chan struct{})
	w.runDone = done
	go func() {
		defer close(done)
		for w.runQueued(gen) {
			select {
			case <-w.wake:
			case <-w.ctx.Done():
				return
			}
		}
	}()
}

// stop waits (at most stallAfter) for the current runner after ctx ended,
// then runs what is still queued (hang-ups at shutdown), again giving up on
// a job that stalls: a stuck call step never holds up the daemon's exit.
func (w *worker) stop() {
	w.mu.Lock()
	done := w.runDone
	w.mu.Unlock()
	select {
	case <-done:
	case <-time.After(w.stallAfter):
		w.log.Error("a call step was still running at shutdown; leaving it behind")
	}
	w.drain()
}

// runQueued runs the queue as runner gen; it reports false when gen was
// retired meanwhile.
func (w *worker) runQueued(gen uint64) bool {
	for {
		w.mu.Lock()
		if w.gen != gen {
			w.mu.Unlock()
			return false
		}
		if len(w.q) == 0 {
			w.mu.Unlock()
			return true
		}
		j := w.q[0]
		w.q = w.q[1:]
		w.busy, w.cur = time.Now(), j.name
		w.mu.Unlock()
		w.call(j.f)
		w.mu.Lock()
		if w.gen != gen {
			w.stuck--
			w.mu.Unlock()
			w.log.Warn("an abandoned call step of the port finished at last", "job", j.name)
			return false
		}
		w.busy = time.Time{}
		w.mu.Unlock()
	}
}

// drain runs the last orders at shutdown, giving up on one that stalls.
func (w *worker) drain() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.mu.Lock()
		w.stopped = true
		q := w.q
		w.q = nil
		w.mu.Unlock()
		for _, j := range q {
			w.call(j.f)
		}
	}()
	select {
	case <-done:
	case <-time.After(w.stallAfter):
		w.log.Error("a hang-up at shutdown did not finish; leaving it behind")
	}
}

// check declares the port wedged when the running job has run longer than
// stallAfter, and hands the queue to a new runner. It reports whether it
// did. Run calls it periodically.
func (w *worker) check(now time.Time) bool {
	w.mu.Lock()
	if w.stopped || w.busy.IsZero() || now.Sub(w.busy) < w.stallAfter {
		w.mu.Unlock()
		return false
	}
	took, name := now.Sub(w.busy), w.cur
	w.gen++
	w.stuck++
	w.wedges++
	w.last = name + " stuck " + took.Round(time.Second).String() + " at " + now.Format(time.RFC3339)
	w.busy = time.Time{}
	w.spawnLocked()
	w.mu.Unlock()
	w.log.Error("port wedged: a call step is stuck; abandoning it so the port carries on", "job", name, "stuck_for", took.Round(time.Millisecond))
	return true
}
