package battery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// How a run ended (control.BatteryRun.EndedBy).
const (
	EndedMains    = "mains"    // the power came back
	EndedShutdown = "shutdown" // the appliance went down on battery (power ran out, or a crash)
	EndedStopped  = "stopped"  // the daemon was stopped cleanly on battery
)

// Heartbeat is how often a run in progress is saved: a run that ends with
// the power is recorded to within this.
const Heartbeat = time.Minute

// resumeGap: a restart within this of the last heartbeat, still on
// battery, continues the same run.
const resumeGap = 5 * time.Minute

// keepRuns is how many runs are kept.
const keepRuns = 50

// showRuns is how many status shows.
const showRuns = 10

// Options build a Recorder.
type Options struct {
	// Expected is how long the battery should carry the appliance (the
	// UPS's rated runtime at the appliance's load); 0: runs are recorded
	// but never judged early.
	Expected   time.Duration
	Store      *store.File // nil keeps nothing across restarts
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// run is one recorded run.
type run struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	LowAt   time.Time `json:"low_at,omitzero"`
	EndedBy string    `json:"ended_by"`
	Early   bool      `json:"early"`
}

// open is the run in progress.
type open struct {
	Start     time.Time `json:"start"`
	LowAt     time.Time `json:"low_at,omitzero"`
	Heartbeat time.Time `json:"heartbeat"`
	Stopped   bool      `json:"stopped,omitempty"` // the daemon stopped cleanly during it
}

// saved is the state file's payload.
type saved struct {
	Open *open `json:"open,omitempty"`
	Runs []run `json:"runs"`
}

// Recorder keeps the battery record.
type Recorder struct {
	o   Options
	log *slog.Logger
	m   metrics

	mu      sync.Mutex
	st      saved
	started bool // the first supply reading of this life is in
	saveMu  sync.Mutex
}

type metrics struct {
	runs     *prometheus.CounterVec
	lastRun  prometheus.Gauge
	early    prometheus.Gauge
	expected prometheus.Gauge
}

// New builds the recorder and loads the record.
func New(o Options) (*Recorder, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Expected < 0 {
		return nil, errors.New("battery: negative expected runtime")
	}
	r := &Recorder{o: o, log: o.Logger.With("component", "battery")}
	r.m = metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "critline_battery_runs_total",
			Help: "Runs on battery recorded, by how they ended: mains (power back), shutdown (the appliance went down on battery), stopped."}, []string{"ended_by"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "critline_battery_last_run_seconds",
			Help: "How long the last recorded run on battery lasted."}),
		early: prometheus.NewGauge(prometheus.GaugeOpts{Name: "critline_battery_last_run_early",
			Help: "1 when the last recorded run on battery ended early: battery low, or the appliance down, before [board] battery_runtime."}),
		expected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "critline_battery_expected_runtime_seconds",
			Help: "[board] battery_runtime: how long the battery should carry the appliance (0: not configured)."}),
	}
	for _, c := range []prometheus.Collector{r.m.runs, r.m.lastRun, r.m.early, r.m.expected} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("battery: registering metrics: %w", err)
		}
	}
	for _, e := range []string{EndedMains, EndedShutdown, EndedStopped} {
		r.m.runs.WithLabelValues(e)
	}
	r.m.expected.Set(o.Expected.Seconds())
	r.load()
	r.publishLocked()
	return r, nil
}

func (r *Recorder) load() {
	if r.o.Store == nil {
		return
	}
	var raw json.RawMessage
	err := r.o.Store.Load(&raw)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		r.log.Error("saved battery record unusable; starting afresh", "err", err)
		return
	}
	s, err := decode(raw)
	if err != nil {
		r.log.Error("saved battery record unusable; starting afresh", "err", err)
		return
	}
	r.st = s
}

// decode reads a payload and refuses one no appliance writes.
func decode(b []byte) (saved, error) {
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return saved{}, err
	}
	if len(s.Runs) > keepRuns {
		return saved{}, fmt.Errorf("%d runs: more than the %d kept", len(s.Runs), keepRuns)
	}
	for i, x := range s.Runs {
		if x.End.Before(x.Start) {
			return saved{}, fmt.Errorf("run %d ends before it starts", i)
		}
		switch x.EndedBy {
		case EndedMains, EndedShutdown, EndedStopped:
		default:
			return saved{}, fmt.Errorf("run %d: ended_by %q is unknown", i, x.EndedBy)
		}
	}
	if s.Open != nil && s.Open.Heartbeat.Before(s.Open.Start) {
		return saved{}, errors.New("the open run's heartbeat is before its start")
	}
	return s, nil
}

func (r *Recorder) save() {
	if r.o.Store == nil {
		return
	}
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	b, err := json.Marshal(r.st)
	r.mu.Unlock()
	if err == nil {
		err = r.o.Store.Save(json.RawMessage(b))
	}
	if err != nil {
		r.log.Error("saving the battery record", "err", err)
	}
}

// early judges a run.
func (r *Recorder) early(x run) bool {
	if r.o.Expected <= 0 {
		return false
	}
	if !x.LowAt.IsZero() && x.LowAt.Sub(x.Start) < r.o.Expected {
		return true
	}
	return x.EndedBy == EndedShutdown && x.End.Sub(x.Start) < r.o.Expected
}

// closeLocked ends the open run.
func (r *Recorder) closeLocked(end time.Time, by string) run {
	o := r.st.Open
	x := run{Start: o.Start, End: end, LowAt: o.LowAt, EndedBy: by}
	if x.End.Before(x.Start) {
		x.End = x.Start
	}
	x.Early = r.early(x)
	r.st.Runs = append(r.st.Runs, x)
	if len(r.st.Runs) > keepRuns {
		r.st.Runs = slices.Clone(r.st.Runs[len(r.st.Runs)-keepRuns:])
	}
	r.st.Open = nil
	r.m.runs.WithLabelValues(by).Inc()
	r.publishLocked()
	return x
}

// publishLocked sets the last run's gauges.
func (r *Recorder) publishLocked() {
	if n := len(r.st.Runs); n > 0 {
		x := r.st.Runs[n-1]
		r.m.lastRun.Set(x.End.Sub(x.Start).Seconds())
		r.m.early.Set(b2f(x.Early))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Observe takes a supply reading (the first of the daemon's life settles a
// run a previous life left open).
func (r *Recorder) Observe(ps hal.PowerState) {
	now := r.o.Now()
	var ended *run
	r.mu.Lock()
	if !r.started {
		r.started = true
		if o := r.st.Open; o != nil {
			if !ps.Mains && now.Sub(o.Heartbeat) < resumeGap {
				o.Stopped = false // the same outage goes on
				r.log.Info("battery: carrying on the run on battery begun before the restart", "since", o.Start)
			} else {
				by := EndedShutdown
				if o.Stopped {
					by = EndedStopped
				}
				x := r.closeLocked(o.Heartbeat, by)
				ended = &x
			}
		}
	}
	changed := ended != nil
	switch {
	case !ps.Mains && r.st.Open == nil:
		r.st.Open = &open{Start: now, Heartbeat: now}
		changed = true
	case ps.Mains && r.st.Open != nil:
		x := r.closeLocked(now, EndedMains)
		ended = &x
		changed = true
	}
	if o := r.st.Open; o != nil && ps.BatteryLow && o.LowAt.IsZero() {
		o.LowAt = now
		changed = true
		if r.o.Expected > 0 && now.Sub(o.Start) < r.o.Expected {
			r.log.Warn("battery low earlier than expected: the battery may need replacing", "after", now.Sub(o.Start).Round(time.Second), "expected", r.o.Expected)
		}
	}
	r.mu.Unlock()
	if ended != nil {
		lvl := slog.LevelInfo
		if ended.Early {
			lvl = slog.LevelWarn
		}
		r.log.Log(context.Background(), lvl, "battery run recorded", "seconds", math.Round(ended.End.Sub(ended.Start).Seconds()),
			"battery_low", !ended.LowAt.IsZero(), "ended_by", ended.EndedBy, "early", ended.Early)
	}
	if changed {
		r.save()
	}
}

// Run saves the run in progress every Heartbeat until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			o := r.st.Open
			if o != nil {
				o.Heartbeat = r.o.Now()
			}
			r.mu.Unlock()
			if o != nil {
				r.save()
			}
		}
	}
}

// Stop records a clean stop: a run in progress is saved as stopped now,
// so the next start does not take it for a power loss.
func (r *Recorder) Stop() {
	r.mu.Lock()
	o := r.st.Open
	if o != nil {
		o.Heartbeat, o.Stopped = r.o.Now(), true
	}
	r.mu.Unlock()
	if o != nil {
		r.save()
	}
}

// Status is the record for status.
func (r *Recorder) Status() *control.Battery {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &control.Battery{ExpectedRuntimeSeconds: r.o.Expected.Seconds(), Runs: []control.BatteryRun{}}
	if o := r.st.Open; o != nil {
		s := o.Start
		b.OnBatterySince = &s
	}
	for _, x := range r.st.Runs[max(0, len(r.st.Runs)-showRuns):] {
		br := control.BatteryRun{Start: x.Start, End: x.End, Seconds: math.Round(x.End.Sub(x.Start).Seconds()*10) / 10,
			EndedBy: x.EndedBy, Early: x.Early}
		if !x.LowAt.IsZero() {
			v := math.Round(x.LowAt.Sub(x.Start).Seconds()*10) / 10
			br.BatteryLowAfterSeconds = &v
		}
		b.Runs = append(b.Runs, br)
	}
	return b
}
