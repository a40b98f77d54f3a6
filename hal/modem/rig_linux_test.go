//go:build linux

package modem

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim/modemsim"
	"github.com/critline/critline/internal/testenv"
)

// rig is a trunk driving a simulator over real ptys.
type rig struct {
	t   testing.TB
	sim *modemsim.Sim
	tr  *Trunk
	reg *prometheus.Registry

	mu   sync.Mutex
	seen []hal.TrunkEvent
	cond *sync.Cond
	done chan struct{}
}

// fastConfig shortens every timer so tests run quickly; no test asserts
// on how long anything took.
func fastConfig(name, dev, pcm string, v Variant) Config {
	return Config{
		Name: name, Device: dev, PCM: pcm, Variant: v,
		ProbeInterval:  150 * time.Millisecond,
		CommandTimeout: 400 * time.Millisecond,
		DialTimeout:    2 * time.Second,
		NetworkTimeout: 2 * time.Second,
		SMSTimeout:     2 * time.Second,
		WedgeAfter:     2,
		ReopenMin:      20 * time.Millisecond,
		ReopenMax:      200 * time.Millisecond,
		AbsentPoll:     20 * time.Millisecond,
		CallPoll:       150 * time.Millisecond,
		ClipWait:       150 * time.Millisecond,
		RingTimeout:    2 * time.Second,
		MaxJitter:      50, // a busy test machine may stall a reader; the rules are tested on a manual clock
	}
}

type rigOpt func(*modemsim.Options, *Config)

func newRig(t testing.TB, v Variant, opts ...rigOpt) *rig {
	t.Helper()
	so := modemsim.Options{
		Dir: t.TempDir(), Variant: modemsim.Variant(v),
		RingInterval: 300 * time.Millisecond, AlertAfter: 40 * time.Millisecond,
		AnswerAfter: 120 * time.Millisecond, NoAnswerAfter: 300 * time.Millisecond,
		Logger: quiet(),
	}
	cfg := fastConfig("lte", "", "", v)
	for _, o := range opts {
		o(&so, &cfg)
	}
	sim, err := modemsim.New(so)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device, cfg.PCM = sim.ATPath(), sim.PCMPath()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	r := &rig{t: t, sim: sim, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	cfg.Registerer = r.reg
	r.cond = sync.NewCond(&r.mu)
	r.tr, err = Open(cfg)
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		for ev := range r.tr.Events() {
			r.mu.Lock()
			r.seen = append(r.seen, ev)
			r.cond.Broadcast()
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		r.tr.Close()
		<-r.done
		sim.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.tr.WaitUp(ctx); err != nil {
		t.Fatalf("trunk never came up: %v (status %+v)", err, r.tr.Status())
	}
	r.waitStatus(0, "up", func(s hal.TrunkStatus) bool { return s.Up })
	// The service probe runs once the trunk is up; let it finish so a test
	// that wedges the modem or counts commands starts from quiet.
	eventually(t, "services probed", func() bool { return r.probed() })
	return r
}

// probed reports that the service probe has run to its end.
func (r *rig) probed() bool {
	for _, s := range r.tr.Services() {
		if s.Service == hal.ServiceCallWaiting {
			return s.Support != hal.SupportUnknown || s.Detail == "not registered on a network"
		}
	}
	return false
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func withSim(f func(*modemsim.Options)) rigOpt {
	return func(o *modemsim.Options, _ *Config) { f(o) }
}

func withConfig(f func(*Config)) rigOpt {
	return func(_ *modemsim.Options, c *Config) { f(c) }
}

// ctl runs a simulator verb.
func (r *rig) ctl(args ...string) string {
	r.t.Helper()
	out, err := r.sim.Control(args)
	if err != nil {
		r.t.Fatalf("sim %v: %v", args, err)
	}
	return out
}

// mark returns the position after the events seen so far.
func (r *rig) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// waitFor waits for an event after position from that matches; it returns
// the event and the position after it. Nothing here measures time: the
// timeout only stops a hung test.
func (r *rig) waitFor(from int, what string, match func(hal.TrunkEvent) bool) (hal.TrunkEvent, int) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	timer := time.AfterFunc(30*time.Second, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; ; {
		for ; i < len(r.seen); i++ {
			if match(r.seen[i]) {
				return r.seen[i], i + 1
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, e := range r.seen[from:] {
				got = append(got, describe(e))
			}
			r.t.Fatalf("no %s event; got: %s", what, strings.Join(got, "; "))
		}
		r.cond.Wait()
	}
}

func (r *rig) waitKind(from int, k hal.TrunkEventKind) (hal.TrunkEvent, int) {
	r.t.Helper()
	return r.waitFor(from, k.String(), func(e hal.TrunkEvent) bool { return e.Kind == k })
}

func (r *rig) waitStatus(from int, what string, f func(hal.TrunkStatus) bool) (hal.TrunkEvent, int) {
	r.t.Helper()
	return r.waitFor(from, what, func(e hal.TrunkEvent) bool { return e.Kind == hal.TrunkState && f(e.Status) })
}

func (r *rig) count(from int, k hal.TrunkEventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.seen[from:] {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func describe(e hal.TrunkEvent) string {
	s := e.Kind.String()
	switch e.Kind {
	case hal.TrunkIncoming:
		s += " " + e.CallerID
	case hal.TrunkEnded:
		if e.Reason != nil {
			s += " " + e.Reason.Error()
		}
	case hal.TrunkDigit:
		s += " " + string(e.Digit)
	case hal.TrunkState:
		if e.Status.Up {
			s += " up"
		} else {
			s += " down(" + e.Status.Detail + ")"
		}
	}
	return s
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// eventually is testenv.Eventually with this package's hang guard.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, what, cond)
}

// cur is the identity of the call in the trunk's foreground now (0 for
// none).
func (r *rig) cur() hal.TrunkCallID {
	r.tr.mu.Lock()
	defer r.tr.mu.Unlock()
	if c := r.tr.foregroundLocked(); c != nil {
		return c.id
	}
	return 0
}

func dialErr(_ hal.TrunkCallID, err error) error { return err }
