package pathtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// recheck is how often a due test looks again whether the porters are
// still busy.
const recheck = 5 * time.Second

// startGrace is how long the schedule waits after a start (at most the
// interval) before its first test.
const startGrace = time.Minute

// Options build a Tester.
type Options struct {
	Config    Config // with defaults applied and validated
	Paths     []Path
	Appliance Appliance
	// Store keeps results across restarts; nil keeps nothing.
	Store      *store.File
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the wall clock (default time.Now); its location is the
	// window's.
	Now func() time.Time
	// Rand draws the spread, in [0, 1) (default math/rand/v2).
	Rand func() float64
}

// Tester runs the path tests on the schedule and on demand.
type Tester struct {
	o      Options
	log    *slog.Logger
	m      *metrics
	window Window

	run sync.Mutex // one test at a time

	mu        sync.Mutex
	st        saved
	postponed map[string]string // path -> why its due test waits
	wake      chan struct{}
	saveMu    sync.Mutex
}

// New builds the tester and loads the saved results. Nothing runs until
// Run (the schedule) or RunNow.
func New(o Options) (*Tester, error) {
	if o.Appliance == nil {
		return nil, errors.New("pathtest: no appliance")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	o.Config = o.Config.WithDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	w, _ := ParseWindow(o.Config.Window)
	seen := map[string]bool{}
	for _, p := range o.Paths {
		if seen[p.ID()] {
			return nil, fmt.Errorf("pathtest: path %s given twice", p.ID())
		}
		seen[p.ID()] = true
		if p.call() && (p.Name == "" || p.Number == "") {
			return nil, fmt.Errorf("pathtest: path %s has no number to call", p.ID())
		}
		if !slices.Contains(Expectations, p.expect()) {
			return nil, fmt.Errorf("pathtest: path %s: expect %q: use one of %s", p.ID(), p.Expect, strings.Join(Expectations, ", "))
		}
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("pathtest: registering metrics: %w", err)
	}
	t := &Tester{o: o, log: o.Logger.With("component", "pathtest"), m: m, window: w,
		postponed: map[string]string{}, wake: make(chan struct{}, 1)}
	t.load()
	now := o.Now()
	for _, p := range o.Paths {
		ps := t.st.Paths[p.ID()]
		if ps == nil {
			ps = &pathState{Since: now}
			t.st.Paths[p.ID()] = ps
		}
		if ps.Due.IsZero() {
			ps.Due = t.planLocked(ps, now)
		}
		testable := p.Kind != KindCopper || o.Appliance.CanSenseCopper(p.Port)
		m.init(p, ps, o.Config.Interval, testable)
	}
	return t, nil
}

// load reads the saved results; a missing or unusable file starts afresh.
func (t *Tester) load() {
	t.st = saved{Paths: map[string]*pathState{}}
	if t.o.Store == nil {
		return
	}
	var raw json.RawMessage
	err := t.o.Store.Load(&raw)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		t.log.Error("saved path test results unusable; starting afresh", "err", err)
		return
	}
	s, err := decodeSaved(raw)
	if err != nil {
		t.log.Error("saved path test results unusable; starting afresh", "err", err)
		return
	}
	t.st = s
}

// save writes the state; a failure is logged (results are a record, not
// a setting).
func (t *Tester) save() {
	if t.o.Store == nil {
		return
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	b, err := json.Marshal(t.st)
	t.mu.Unlock()
	if err == nil {
		err = t.o.Store.Save(json.RawMessage(b))
	}
	if err != nil {
		t.log.Error("saving path test results", "err", err)
	}
}

// planLocked is when a path is next due: its interval (or its retry)
// after the last test, or after Since for a path never tested, moved into
// the window, plus a random spread that stays inside the window. The
// interval is taken from the window opening before it where one is near,
// not the one after: a daily test found out of the window (run by hand at
// noon) comes back at the next night's window, not a day later.
func (t *Tester) planLocked(ps *pathState, now time.Time) time.Time {
	c := t.o.Config
	base := ps.LastTested
	if base.IsZero() {
		base = ps.Since
	}
	if ps.Retry {
		base = base.Add(c.RetryAfter)
	} else {
		closed := 24*time.Hour - t.window.Length()
		base = base.Add(c.Interval - min(closed, c.Interval/2))
	}
	if base.Before(now) {
		base = now
	}
	at, open := t.window.Next(base)
	spread := min(c.spread(), open)
	return at.Add(time.Duration(t.o.Rand() * float64(spread)))
}

// paths returns the configured paths with the given ids (all when none).
func (t *Tester) paths(ids []string) ([]Path, error) {
	if len(ids) == 0 {
		return t.o.Paths, nil
	}
	var out []Path
	for _, id := range ids {
		i := slices.IndexFunc(t.o.Paths, func(p Path) bool { return p.ID() == id })
		if i < 0 {
			var have []string
			for _, p := range t.o.Paths {
				have = append(have, p.ID())
			}
			return nil, fmt.Errorf("no path %q: this appliance tests %s", id, strings.Join(have, ", "))
		}
		out = append(out, t.o.Paths[i])
	}
	return out, nil
}

// manualIdleWait is how long an engineer's run waits for the porters to be
// idle before a path is skipped (the engineer may just have hung up).
const manualIdleWait = 3 * time.Second

// RunNow tests the paths (all, or those named) one after the other, now,
// and returns their results: the commissioning report's rows. A path
// whose test cannot start (a porter busy for more than a moment) is
// skipped. The daily cap does not refuse an engineer's run; its calls
// count.
func (t *Tester) RunNow(ctx context.Context, ids []string) ([]control.PathTest, error) {
	ps, err := t.paths(ids)
	if err != nil {
		return nil, err
	}
	out := make([]control.PathTest, 0, len(ps))
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		t.awaitIdle(ctx, manualIdleWait)
		out = append(out, t.test(ctx, p, TriggerManual))
	}
	return out, nil
}

// awaitIdle waits up to d for the porters to be idle.
func (t *Tester) awaitIdle(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		if idle, _ := t.o.Appliance.TestIdle(); idle || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// test runs one path's test (holding the run lock), books and returns it.
func (t *Tester) test(ctx context.Context, p Path, trigger string) control.PathTest {
	t.run.Lock()
	defer t.run.Unlock()
	tctx, cancel := context.WithTimeoutCause(ctx, t.o.Config.Timeout, fmt.Errorf("the test took longer than %s", t.o.Config.Timeout))
	defer cancel()
	actx, abort := context.WithCancelCause(tctx)
	defer abort(nil)
	stop := t.o.Appliance.OnActivity(func(why string) { abort(errActivity{why}) })
	defer stop()
	start := t.o.Now()
	t.log.Info("path test", "path", p.ID(), "target", p.target(), "trigger", trigger)
	o := runPath(actx, t.o.Appliance, p)
	r := o.toResult(p, start, trigger)
	t.book(p, o, r)
	return r
}

// book records a result: state, metrics, log, schedule.
func (t *Tester) book(p Path, o outcome, r control.PathTest) {
	now := t.o.Now()
	id := p.ID()
	t.mu.Lock()
	ps := t.st.Paths[id]
	today := now.Format(time.DateOnly)
	if t.st.Day != today {
		t.st.Day, t.st.CallsToday = today, 0
	}
	if o.called {
		t.st.CallsToday++
	}
	rr := r
	switch {
	case o.pre || r.Result == ResultSkipped:
		// Not a verdict: the schedule looks again soon. The last verdict
		// stays the path's result.
		if ps.Last == nil || ps.Last.Result == ResultSkipped {
			ps.Last = &rr
		}
		if r.Trigger != TriggerManual {
			t.postponed[id] = r.Detail
			ps.Due = now.Add(recheck)
		}
	default:
		ps.Last, ps.LastTested = &rr, now
		delete(t.postponed, id)
		switch r.Result {
		case ResultOK:
			ps.LastSuccess, ps.Failures, ps.Retry = now, 0, false
		case ResultFailed:
			ps.Failures++
			ps.Retry = r.Trigger != TriggerRetry
		default:
			ps.Retry = false
		}
		ps.Due = t.planLocked(ps, now)
	}
	snap := *ps
	t.mu.Unlock()
	t.m.book(p, r, snap, o.setup)
	lvl := slog.LevelInfo
	if r.Result == ResultFailed {
		lvl = slog.LevelWarn
	}
	t.log.Log(context.Background(), lvl, "path test result", "path", id, "result", r.Result, "detail", r.Detail,
		"setup_s", r.SetupSeconds, "seconds", r.Seconds, "trigger", r.Trigger, "next", snap.Due.Format(time.RFC3339))
	t.save()
	t.poke()
}

// poke wakes the schedule to look at the due times again.
func (t *Tester) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run runs the schedule until ctx ends: each path's test when it is due,
// inside the window, never while a porter is busy (it waits, looking
// again every few seconds), within the daily cap of test calls, and once
// more after a failure. It does nothing when the schedule is off.
func (t *Tester) Run(ctx context.Context) {
	if !t.o.Config.Scheduled() || len(t.o.Paths) == 0 {
		return
	}
	// The health checks settle first (a trunk registers within seconds of
	// a start): a test overdue at start waits for them, not fail for them.
	timer := time.NewTimer(min(startGrace, t.o.Config.Interval))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return
	case <-timer.C:
	}
	for {
		next := t.dueNext()
		timer.Reset(max(0, time.Until(next)))
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			continue
		case <-timer.C:
		}
		t.runDue(ctx)
	}
}

// dueNext is the earliest due time of every path.
func (t *Tester) dueNext() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next time.Time
	for _, p := range t.o.Paths {
		if d := t.st.Paths[p.ID()].Due; next.IsZero() || d.Before(next) {
			next = d
		}
	}
	// time.Until measures on the monotonic clock; the due times are wall
	// times (a clock step moves them, which is what a window wants).
	return time.Now().Add(next.Sub(t.o.Now()))
}

// runDue tests every path that is due now.
func (t *Tester) runDue(ctx context.Context) {
	for _, p := range t.o.Paths {
		if ctx.Err() != nil {
			return
		}
		now := t.o.Now()
		t.mu.Lock()
		ps := t.st.Paths[p.ID()]
		due := !ps.Due.After(now)
		retry := ps.Retry
		t.mu.Unlock()
		if !due {
			continue
		}
		if why := t.hold(p, now); why != "" {
			continue
		}
		trigger := TriggerScheduled
		if retry {
			trigger = TriggerRetry
		}
		t.test(ctx, p, trigger)
	}
}

// hold says why a due path must wait (and moves its due time), or "".
func (t *Tester) hold(p Path, now time.Time) string {
	id := p.ID()
	idle, busy := t.o.Appliance.TestIdle()
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.st.Paths[id]
	if !t.window.Contains(now) {
		ps.Due = t.planLocked(ps, now)
		return "outside the window"
	}
	if today := now.Format(time.DateOnly); t.st.Day != today {
		t.st.Day, t.st.CallsToday = today, 0
	}
	why := ""
	reason := ""
	switch {
	case p.call() && t.st.CallsToday >= t.o.Config.MaxCallsPerDay:
		why, reason = fmt.Sprintf("the daily cap of %d test calls is reached: tested tomorrow", t.o.Config.MaxCallsPerDay), "daily-cap"
		y, mo, d := now.Date()
		ps.Due = t.planLocked(ps, time.Date(y, mo, d+1, 0, 0, 0, 0, now.Location()))
	case !idle:
		why, reason = busy+": the test waits until the porters are idle", "in-use"
		ps.Due = now.Add(recheck)
	}
	if why == "" {
		return ""
	}
	if t.postponed[id] != why {
		t.log.Info("path test postponed", "path", id, "why", why)
	}
	t.postponed[id] = why
	t.m.postponed.WithLabelValues(id, reason).Inc()
	return why
}

// Status is each path's test state, for status.
func (t *Tester) Status() []control.PathStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]control.PathStatus, 0, len(t.o.Paths))
	for _, p := range t.o.Paths {
		ps := t.st.Paths[p.ID()]
		s := control.PathStatus{Path: p.ID(), Target: p.target(), ConsecutiveFailures: ps.Failures,
			IntervalSeconds: t.o.Config.Interval.Seconds(), Postponed: t.postponed[p.ID()]}
		if ps.Last != nil {
			l := *ps.Last
			s.Last = &l
		}
		if !ps.LastSuccess.IsZero() {
			ls := ps.LastSuccess
			s.LastSuccess = &ls
		}
		if t.o.Config.Scheduled() && (ps.Last == nil || ps.Last.Result != ResultCannotTest) {
			d := ps.Due
			s.NextTest = &d
		}
		out = append(out, s)
	}
	return out
}

// Paths returns the ids of the paths tested.
func (t *Tester) Paths() []string {
	out := make([]string, len(t.o.Paths))
	for i, p := range t.o.Paths {
		out[i] = p.ID()
	}
	return out
}
