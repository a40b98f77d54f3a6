package fxs

// The engine's health: whether the port can take and place calls now, and
// how often a call step stalled.

import (
	"context"
	"fmt"
	"time"
)

// EngineHealth is how a port's engine (its worker of call steps) has fared.
type EngineHealth struct {
	// State is "ok"; "stalled" while a call step has run longer than
	// StallAfter (until it is abandoned, within a fraction of StallAfter);
	// or "recovered" while an abandoned step is still running somewhere
	// (the port carries on).
	State string
	// Wedges counts the call steps abandoned because they stalled longer
	// than Config.StallAfter (each one recovered: the port carried on).
	Wedges uint64
	// Stuck is how many of those are still running somewhere.
	Stuck int
	// Last describes the last one: which step, for how long, when.
	Last string
}

// Engine returns the port engine's health.
func (p *Port) Engine() EngineHealth {
	w := &p.work
	w.mu.Lock()
	defer w.mu.Unlock()
	e := EngineHealth{State: "ok", Wedges: w.wedges, Stuck: w.stuck, Last: w.last}
	switch {
	case !w.busy.IsZero() && time.Since(w.busy) > w.stallAfter:
		e.State = "stalled"
	case w.stuck > 0:
		e.State = "recovered"
	}
	return e
}

// Probe proves that the port can take and place calls now: its lock is
// free and its worker runs a step within ctx. The daemon feeds the
// systemd watchdog only while every port passes.
func (p *Port) Probe(ctx context.Context) error {
	locked := make(chan bool, 1)
	go func() {
		p.mu.Lock()
		running := p.running && !p.closed
		p.mu.Unlock()
		locked <- running
	}()
	select {
	case running := <-locked:
		if !running {
			return fmt.Errorf("port %d: %w", p.id, ErrNotRunning)
		}
	case <-ctx.Done():
		return fmt.Errorf("port %d: the port's engine is locked up", p.id)
	}
	ran := make(chan struct{})
	p.work.push("probe", func() { close(ran) })
	select {
	case <-ran:
		return nil
	case <-ctx.Done():
		p.work.mu.Lock()
		job, since := p.work.cur, p.work.busy
		p.work.mu.Unlock()
		if since.IsZero() {
			return fmt.Errorf("port %d: the port's engine does not run", p.id)
		}
		return fmt.Errorf("port %d: the port's engine has been busy with %s for %s", p.id, job, time.Since(since).Round(time.Millisecond))
	}
}

// supervise checks the worker for a stalled step until ctx ends.
func (p *Port) supervise(ctx context.Context) {
	t := time.NewTicker(max(p.work.stallAfter/8, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.work.check(now)
		}
	}
}
