package survivability

// Whether every port's engine can take and place calls: the daemon's
// watchdog and the operator's view of a port that wedged.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/critline/critline/fxs"
	"github.com/prometheus/client_golang/prometheus"
)

// Probe proves that every port can take and place calls now: the
// appliance's own lock is free and each port's engine runs a step, within
// ctx. The daemon feeds the systemd watchdog only while it passes, so an
// engine that stays wedged gets the daemon restarted; one that recovers by
// itself (a stalled step is abandoned after the port's stall limit) does
// not.
func (a *Appliance) Probe(ctx context.Context) error {
	free := make(chan struct{})
	go func() {
		a.mu.Lock()
		_ = a.running // the lock is the point
		a.mu.Unlock()
		close(free)
	}()
	select {
	case <-free:
	case <-ctx.Done():
		return errors.New("the appliance's state is locked up")
	}
	errs := make([]error, len(a.order))
	var wg sync.WaitGroup
	for i, id := range a.order {
		p := a.ports[id]
		wg.Go(func() { errs[i] = p.fx.Probe(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// engineState is a port's engine as status shows it: "ok", "stalled"
// (a call step has run too long and is about to be abandoned) or
// "recovered" (one was abandoned and is still stuck; the port carries on).
func engineState(e fxs.EngineHealth) string {
	if e.Wedges > 0 && e.State != "ok" {
		return fmt.Sprintf("%s (%d wedged since start; last: %s)", e.State, e.Wedges, e.Last)
	}
	return e.State
}

// engineCollector exports critline_port_wedged_total from the ports'
// engines.
type engineCollector struct {
	a    *Appliance
	desc *prometheus.Desc
}

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	for _, id := range c.a.order {
		e := c.a.ports[id].fx.Engine()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(e.Wedges), strconv.Itoa(id))
	}
}

// registerEngine registers the ports' engine metrics.
func (a *Appliance) registerEngine(reg prometheus.Registerer) error {
	return reg.Register(engineCollector{a: a, desc: prometheus.NewDesc("critline_port_wedged_total",
		"Call steps (placing, answering, hanging up a call) of the port that stalled and were abandoned so the port carried on.",
		[]string{"port"}, nil)})
}
