package fxs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func withStall(d time.Duration) harnessOpt { return func(c *Config) { c.StallAfter = d } }

// A call step that never returns (a router waiting for a PBX that said 100
// Trying and died) wedges the port only for StallAfter: the step is
// abandoned and counted, the probe reports it meanwhile, and the porter's
// next call (999) is routed.
func TestWedgedStepIsAbandoned(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"), withStall(300*ms))
	forever := make(chan struct{})
	t.Cleanup(func() { close(forever) })
	var routes atomic.Int32
	second := make(chan RouteRequest, 1)
	h.p.router = routerFunc(func(ctx context.Context, req RouteRequest, p Progress) (Call, error) {
		if routes.Add(1) == 1 {
			<-forever // ignores ctx: the bug this guards against
			return nil, errors.New("too late")
		}
		second <- req
		return &fakeCall{}, nil
	})
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf("21234")
	h.waitState(StateRouting)
	waitFor(t, func() bool { return routes.Load() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 100*ms)
	err := h.p.Probe(ctx)
	cancel()
	if err == nil {
		t.Fatal("Probe passed while the port's worker was stuck")
	}
	t.Logf("probe while stuck: %v", err)

	h.onHook()
	h.waitState(StateIdle)
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf("999")
	select {
	case req := <-second:
		if req.Number != "999" || !req.Emergency {
			t.Fatalf("second route %+v", req)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("999 was never routed: the port stayed wedged")
	}
	if e := h.p.Engine(); e.Wedges != 1 || e.Stuck != 1 || e.Last == "" {
		t.Errorf("engine health %+v, want one wedge, still stuck", e)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.p.Probe(ctx); err != nil {
		t.Errorf("Probe after recovery: %v", err)
	}
}

// Stopping a port whose worker is stuck returns anyway.
func TestStopWithStuckStep(t *testing.T) {
	h := newHarness(t, "uk", withPlan("2xxxx"), withStall(200*ms))
	forever := make(chan struct{})
	t.Cleanup(func() { close(forever) })
	h.p.router = routerFunc(func(ctx context.Context, req RouteRequest, p Progress) (Call, error) {
		<-forever
		return nil, errors.New("too late")
	})
	h.offHook()
	h.waitState(StateDialTone)
	h.dtmf("21234")
	h.waitState(StateRouting)
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with a stuck call step")
	}
}
