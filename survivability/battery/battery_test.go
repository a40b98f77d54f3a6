package battery

import (
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var d dto.Metric
	if err := g.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetGauge().GetValue()
}

func newRec(t *testing.T, dir string, clk *clock, expected time.Duration) *Recorder {
	t.Helper()
	st, err := store.Open(dir, "battery", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Expected: expected, Store: st, Now: clk.Now, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	mains   = hal.PowerState{Mains: true}
	onBatt  = hal.PowerState{}
	battLow = hal.PowerState{BatteryLow: true}
)

// A run that lasts its expected time and ends with mains back is not
// early; one where battery low comes sooner is, and says when it came.
func TestRuns(t *testing.T) {
	clk := &clock{time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := newRec(t, t.TempDir(), clk, 2*time.Hour)
	r.Observe(mains)
	r.Observe(onBatt)
	if st := r.Status(); st.OnBatterySince == nil || len(st.Runs) != 0 {
		t.Fatalf("%+v", st)
	}
	clk.now = clk.now.Add(3 * time.Hour)
	r.Observe(mains)
	st := r.Status()
	if len(st.Runs) != 1 || st.Runs[0].Seconds != 3*3600 || st.Runs[0].EndedBy != EndedMains || st.Runs[0].Early || st.OnBatterySince != nil {
		t.Fatalf("a full run: %+v", st)
	}
	// Battery low after 40 minutes of a 2 h battery: early.
	r.Observe(onBatt)
	clk.now = clk.now.Add(40 * time.Minute)
	r.Observe(battLow)
	clk.now = clk.now.Add(5 * time.Minute)
	r.Observe(mains)
	st = r.Status()
	x := st.Runs[1]
	if !x.Early || x.BatteryLowAfterSeconds == nil || *x.BatteryLowAfterSeconds != 2400 || x.Seconds != 2700 {
		t.Fatalf("an early run: %+v", x)
	}
	if gauge(t, r.m.early) != 1 || gauge(t, r.m.lastRun) != 2700 {
		t.Fatal("metrics of the early run")
	}
}

// The power runs out: the daemon dies with the appliance. On the next
// start (mains back) the run is recorded up to its last heartbeat, ended
// by shutdown, early when short of the expected runtime.
func TestRunEndedByPowerLoss(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := newRec(t, dir, clk, 4*time.Hour)
	r.Observe(onBatt)
	clk.now = clk.now.Add(90 * time.Minute)
	r.mu.Lock()
	r.st.Open.Heartbeat = clk.now // Run's heartbeat
	r.mu.Unlock()
	r.save()
	// ... the power goes; hours later it comes back.
	clk.now = clk.now.Add(5 * time.Hour)
	r2 := newRec(t, dir, clk, 4*time.Hour)
	r2.Observe(mains)
	st := r2.Status()
	if len(st.Runs) != 1 {
		t.Fatalf("%+v", st)
	}
	x := st.Runs[0]
	if x.EndedBy != EndedShutdown || x.Seconds != 5400 || !x.Early {
		t.Fatalf("a run ended by the power: %+v", x)
	}
}

// A clean stop on battery is not a power loss; a quick restart on battery
// carries on the same run.
func TestStopAndRestartOnBattery(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := newRec(t, dir, clk, time.Hour)
	r.Observe(onBatt)
	clk.now = clk.now.Add(10 * time.Minute)
	r.Stop()
	clk.now = clk.now.Add(time.Minute)
	r2 := newRec(t, dir, clk, time.Hour)
	r2.Observe(onBatt)
	st := r2.Status()
	if len(st.Runs) != 0 || st.OnBatterySince == nil || !st.OnBatterySince.Equal(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("the run did not carry on: %+v", st)
	}
	r2.Stop()
	clk.now = clk.now.Add(time.Hour)
	r3 := newRec(t, dir, clk, time.Hour)
	r3.Observe(mains)
	st = r3.Status()
	if len(st.Runs) != 1 || st.Runs[0].EndedBy != EndedStopped || st.Runs[0].Early {
		t.Fatalf("a clean stop: %+v", st)
	}
}

// Without an expected runtime runs are recorded, never judged early.
func TestNoExpectedRuntime(t *testing.T) {
	clk := &clock{time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := newRec(t, t.TempDir(), clk, 0)
	r.Observe(onBatt)
	r.Observe(battLow)
	clk.now = clk.now.Add(time.Minute)
	r.Observe(mains)
	if st := r.Status(); len(st.Runs) != 1 || st.Runs[0].Early {
		t.Fatalf("%+v", st)
	}
}

// FuzzDecode: a payload is read or refused, never panics, and what is
// read is a record an appliance could have written.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"open":{"start":"2026-01-01T00:00:00Z","heartbeat":"2026-01-01T00:01:00Z"},"runs":[{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T01:00:00Z","ended_by":"mains"}]}`))
	f.Add([]byte(`{"runs":[{"start":"2026-01-01T01:00:00Z","end":"2026-01-01T00:00:00Z","ended_by":"mains"}]}`))
	f.Add([]byte(`{"runs":[{"ended_by":"meteor"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decode(b)
		if err != nil {
			return
		}
		if len(s.Runs) > keepRuns {
			t.Fatal("too many runs")
		}
		for _, x := range s.Runs {
			if x.End.Before(x.Start) {
				t.Fatalf("%+v", x)
			}
		}
	})
}
