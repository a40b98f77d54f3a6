package pathtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a counter's or gauge's value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// count is how many series a collector has.
func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Window
		bad  bool
	}{
		{"01:00-05:00", Window{time.Hour, 5 * time.Hour}, false},
		{"22:30-04:15", Window{22*time.Hour + 30*time.Minute, 4*time.Hour + 15*time.Minute}, false},
		{"always", Window{}, false},
		{"00:00-24:00", Window{}, false},
		{"20:00-24:00", Window{20 * time.Hour, 0}, false},
		{" 1:00 - 2:00 ", Window{time.Hour, 2 * time.Hour}, false},
		{"05:00-05:00", Window{}, true},
		{"00:00-00:00", Window{}, true},
		{"25:00-01:00", Window{}, true},
		{"24:00-01:00", Window{}, true},
		{"01:60-02:00", Window{}, true},
		{"0100-0200", Window{}, true},
		{"night", Window{}, true},
		{"", Window{}, true},
	} {
		got, err := ParseWindow(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestWindowNext(t *testing.T) {
	loc := time.FixedZone("test", 0)
	at := func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, loc) }
	night, _ := ParseWindow("23:00-02:00")
	for _, tc := range []struct {
		w          Window
		from, want time.Time
		open       time.Duration
	}{
		{night, at(1, 12, 0), at(1, 23, 0), 3 * time.Hour},
		{night, at(1, 23, 30), at(1, 23, 30), 150 * time.Minute},
		{night, at(2, 1, 0), at(2, 1, 0), time.Hour},
		{night, at(2, 2, 0), at(2, 23, 0), 3 * time.Hour},
		{Window{}, at(2, 2, 0), at(2, 2, 0), 24 * time.Hour},
	} {
		got, open := tc.w.Next(tc.from)
		if !got.Equal(tc.want) || open != tc.open {
			t.Errorf("%v.Next(%v) = %v open %v; want %v open %v", tc.w, tc.from, got, open, tc.want, tc.open)
		}
	}
	if night.Length() != 3*time.Hour {
		t.Errorf("length %v", night.Length())
	}
}

// FuzzParseWindow: any text is a window or a clear error; a window parsed
// prints back to itself, and every moment's next opening is inside it.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"01:00-05:00", "22:00-02:00", "always", "00:00-24:00", "24:00-24:00", "1:5-2:00", "-", ":-:", "23:59-00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			if !strings.Contains(err.Error(), "window") && !strings.Contains(err.Error(), "time") {
				t.Fatalf("error does not say what is wrong: %v", err)
			}
			return
		}
		back, err := ParseWindow(w.String())
		if err != nil || back != w {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, w, w.String(), back, err)
		}
		from := time.Date(2026, 6, 1, 13, 7, 0, 0, time.UTC)
		at, open := w.Next(from)
		if !w.Contains(at) || at.Before(from) || at.Sub(from) > 24*time.Hour || open <= 0 {
			t.Fatalf("%v.Next(%v) = %v (open %v)", w, from, at, open)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	good := Config{}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if good.Interval > 72*time.Hour || good.Timeout >= 20*time.Second+1 {
		t.Fatalf("defaults %v / %v break the issue's bounds", good.Interval, good.Timeout)
	}
	bad := good
	bad.Interval, bad.Window, bad.Timeout, bad.MaxCallsPerDay, bad.RetryAfter = time.Second, "x", time.Minute, -1, 0
	err := bad.Validate()
	for _, key := range []string{"interval", "window", "timeout", "max_calls_per_day", "retry_after"} {
		if err == nil || !strings.Contains(err.Error(), "survivability.path_tests."+key+":") {
			t.Errorf("no problem reported for %s: %v", key, err)
		}
	}
}

var trunkPath = Path{Kind: KindTrunk, Name: "lte", Number: "07700900100"}

// run tests one path against a far end within d.
func run(t *testing.T, app *fakeApp, p Path, d time.Duration) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return runPath(ctx, app, p)
}

func TestCallOutcomes(t *testing.T) {
	tone, echo, dtmf := trunkPath, trunkPath, trunkPath
	tone.Expect, echo.Expect, dtmf.Expect = ExpectTone, ExpectEcho, ExpectDTMF
	for _, tc := range []struct {
		name   string
		p      Path
		far    farEnd
		place  error
		result string
		detail string
		audio  bool
	}{
		{"a test line's tone", tone, farEnd{toneHz: 1004, answerAfter: 50 * time.Millisecond}, nil, ResultOK, "1004 Hz tone", true},
		{"any audio", trunkPath, farEnd{toneHz: 440}, nil, ResultOK, "audio at", true},
		{"tone expected, other tone", tone, farEnd{toneHz: 440}, nil, ResultFailed, "expected a 1004 Hz tone", true},
		{"silence", trunkPath, farEnd{}, nil, ResultFailed, "silence", false},
		{"loop-back echo", echo, farEnd{echo: true}, nil, ResultOK, "probe echoed", true},
		{"echo expected, tone heard", echo, farEnd{toneHz: 1004}, nil, ResultFailed, "expected our 1400 Hz probe", true},
		{"DTMF echoed", dtmf, farEnd{echoDTMF: true}, nil, ResultOK, "DTMF 1379 sent and echoed", false},
		{"DTMF not echoed", dtmf, farEnd{}, nil, ResultFailed, "none came back", false},
		{"DTMF in-band, echoed", dtmf, farEnd{noEvents: true, echo: true}, nil, ResultOK, "DTMF 1379 sent and echoed", true},
		{"busy", trunkPath, farEnd{end: hal.ErrBusy}, nil, ResultFailed, "not answered: busy", false},
		{"no answer", trunkPath, farEnd{end: hal.ErrNoAnswer}, nil, ResultFailed, "not answered: no answer", false},
		{"never answers", trunkPath, farEnd{never: true}, nil, ResultFailed, "not answered within", false},
		{"cleared mid-test", trunkPath, farEnd{hangAfter: 100 * time.Millisecond}, nil, ResultFailed, "cleared", false},
		{"audio not wired", trunkPath, farEnd{noMedia: true}, nil, ResultCannotTest, "cannot be checked", false},
		{"guard refuses", trunkPath, farEnd{}, fmt.Errorf("trunk lte: %w: premium", ErrBlocked), ResultFailed, "toll-fraud guard", false},
		{"trunk down", trunkPath, farEnd{}, fmt.Errorf("trunk lte: %w: no network", hal.ErrTrunkDown), ResultFailed, "cannot call", false},
		{"trunk in use", trunkPath, farEnd{}, fmt.Errorf("trunk lte: %w", ErrRouteBusy), ResultSkipped, "not tested", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app := &fakeApp{far: tc.far, placeErr: tc.place}
			d := 5 * time.Second
			if tc.far.never {
				d = time.Second
			}
			o := run(t, app, tc.p, d)
			if o.result != tc.result || !strings.Contains(o.detail, tc.detail) {
				t.Fatalf("%s: %q; want %s containing %q", o.result, o.detail, tc.result, tc.detail)
			}
			if (o.audio != nil) != tc.audio {
				t.Fatalf("audio level %v, want one: %v", o.audio, tc.audio)
			}
			if tc.result == ResultOK && o.setup <= 0 {
				t.Fatal("no setup time for an answered call")
			}
			t.Logf("%s: %s", o.result, o.detail)
		})
	}
}

// A porter lifting a handset during a test call ends it at once: the test
// is skipped (and waits), never failed.
func TestActivityPreemptsTest(t *testing.T) {
	app := &fakeApp{far: farEnd{toneHz: 1004}}
	tr := newTester(t, app, nil, Config{}, []Path{trunkPath})
	go func() {
		for {
			app.mu.Lock()
			n := len(app.acts)
			app.mu.Unlock()
			if n > 0 {
				app.act("port 1 handset lifted")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	start := time.Now()
	rows, err := tr.RunNow(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.Result != ResultSkipped || !strings.Contains(r.Detail, "port 1 handset lifted") {
		t.Fatalf("%+v", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the test gave way after %v", d)
	}
	if app.busy = "port 1 handset off-hook"; true {
		rows, _ = tr.RunNow(context.Background(), nil)
		if rows[0].Result != ResultSkipped || !strings.Contains(rows[0].Detail, "off-hook") {
			t.Fatalf("a test started while a handset is off-hook: %+v", rows[0])
		}
	}
	app.mu.Lock()
	placed := len(app.placed)
	app.mu.Unlock()
	if placed != 1 {
		t.Fatalf("%d calls placed; the busy run must place none", placed)
	}
}

func TestCopperOutcomes(t *testing.T) {
	p := Path{Kind: KindCopper, Port: 1}
	for _, tc := range []struct {
		name   string
		r      CopperReading
		err    error
		result string
		detail string
	}{
		{"live", CopperReading{Volts: 50, Moved: true, Restored: true, OnLine: 200 * time.Millisecond}, nil, ResultOK, "line live: 50 V"},
		{"in use", CopperReading{Volts: 8, Moved: true}, nil, ResultOK, "in use"},
		{"dead", CopperReading{Volts: 0, Moved: true, Restored: true}, nil, ResultFailed, "no voltage"},
		{"no sensor", CopperReading{}, fmt.Errorf("port 1: %w", ErrCannotSense), ResultCannotTest, "cannot be proven here"},
		{"port busy", CopperReading{}, fmt.Errorf("port 1: %w: port 1 ringing", ErrRouteBusy), ResultSkipped, "not tested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, &fakeApp{copper: tc.r, copperE: tc.err}, p, time.Second)
			if o.result != tc.result || !strings.Contains(o.detail, tc.detail) {
				t.Fatalf("%s: %q; want %s containing %q", o.result, o.detail, tc.result, tc.detail)
			}
			if tc.result == ResultCannotTest && o.result == ResultOK {
				t.Fatal("a check the board cannot make reported ok")
			}
		})
	}
}

// clock is a settable wall clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTester(t *testing.T, app *fakeApp, clk *clock, c Config, paths []Path, extra ...func(*Options)) *Tester {
	t.Helper()
	o := Options{Config: c, Paths: paths, Appliance: app, Rand: func() float64 { return 0.5 }}
	if clk != nil {
		o.Now = clk.Now
	}
	for _, f := range extra {
		f(&o)
	}
	tr, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// The schedule: due after the interval, inside the window with the
// spread inside it; one retry after a failure; the daily cap; never while
// a porter is busy.
func TestSchedule(t *testing.T) {
	loc := time.FixedZone("test", 0)
	clk := &clock{time.Date(2026, 3, 1, 12, 0, 0, 0, loc)}
	app := &fakeApp{far: farEnd{toneHz: 1004}}
	hour := time.Hour
	c := Config{Interval: 24 * time.Hour, Window: "01:00-05:00", Spread: &hour, RetryAfter: 10 * time.Minute, MaxCallsPerDay: 2}
	reg := prometheus.NewRegistry()
	tr := newTester(t, app, clk, c, []Path{trunkPath}, func(o *Options) { o.Registerer = reg })
	due := func() time.Time { tr.mu.Lock(); defer tr.mu.Unlock(); return tr.st.Paths["trunk:lte"].Due }
	// Never tested: its first test is an interval after it was first seen,
	// at the window's next opening, half the spread in (Rand 0.5).
	if want := time.Date(2026, 3, 2, 1, 30, 0, 0, loc); !due().Equal(want) {
		t.Fatalf("first due %v, want %v", due(), want)
	}
	// A porter busy when it is due: it waits, and looks again soon.
	clk.now = due()
	app.busy = "port 2 ringing"
	tr.runDue(context.Background())
	if n := len(app.placed); n != 0 {
		t.Fatal("a test call while a port rings")
	}
	if st := tr.Status()[0]; !strings.Contains(st.Postponed, "port 2 ringing") {
		t.Fatalf("status does not say why the test waits: %+v", st)
	}
	if v := value(t, tr.m.postponed.WithLabelValues("trunk:lte", "in-use")); v != 1 {
		t.Fatalf("postponed_total %v", v)
	}
	if !due().Equal(clk.now.Add(recheck)) {
		t.Fatalf("a postponed test is due again at %v", due())
	}
	// Idle again: it runs, and fails (silence); the retry is due 10 min on.
	app.busy = ""
	app.far = farEnd{}
	clk.now = due()
	tr.runDue(context.Background())
	st := tr.Status()[0]
	if st.Last == nil || st.Last.Result != ResultFailed || st.Last.Trigger != TriggerScheduled || st.ConsecutiveFailures != 1 || st.Postponed != "" {
		t.Fatalf("after the failure: %+v %+v", st, st.Last)
	}
	if want := clk.now.Add(10 * time.Minute).Add(30 * time.Minute); !due().Equal(want) {
		t.Fatalf("retry due %v, want %v (retry_after, then half the spread)", due(), want)
	}
	// The retry fails too: two failures (the alert's threshold), and no
	// third try before the interval.
	clk.now = due()
	tr.runDue(context.Background())
	st = tr.Status()[0]
	if st.Last.Trigger != TriggerRetry || st.ConsecutiveFailures != 2 {
		t.Fatalf("the retry: %+v %+v", st, st.Last)
	}
	if v := value(t, tr.m.failures.WithLabelValues("trunk:lte")); v != 2 {
		t.Fatalf("consecutive failures metric %v", v)
	}
	if !due().After(clk.now.Add(12 * time.Hour)) {
		t.Fatalf("after a failed retry the next test is due %v", due())
	}
	// The daily cap (2) is reached by the two calls: a test due today
	// waits for tomorrow.
	tr.mu.Lock()
	tr.st.Paths["trunk:lte"].Due = clk.now
	tr.mu.Unlock()
	tr.runDue(context.Background())
	if n := len(app.placed); n != 2 {
		t.Fatalf("%d calls placed with a cap of 2 a day", n)
	}
	if st := tr.Status()[0]; !strings.Contains(st.Postponed, "daily cap") || due().Day() != 3 {
		t.Fatalf("cap: %+v due %v", st, due())
	}
	// An engineer's run is never refused by the cap, and a success resets
	// the failures.
	app.far = farEnd{toneHz: 1004}
	rows, _ := tr.RunNow(context.Background(), []string{"trunk:lte"})
	if rows[0].Result != ResultOK || rows[0].Trigger != TriggerManual {
		t.Fatalf("manual run: %+v", rows[0])
	}
	st = tr.Status()[0]
	if st.ConsecutiveFailures != 0 || st.LastSuccess == nil || !st.LastSuccess.Equal(clk.now) {
		t.Fatalf("after a success: %+v", st)
	}
	if _, err := tr.RunNow(context.Background(), []string{"trunk:nope"}); err == nil || !strings.Contains(err.Error(), "trunk:lte") {
		t.Fatalf("an unknown path: %v", err)
	}
	// Outside the window a due test moves to the next opening.
	clk.now = time.Date(2026, 3, 5, 9, 0, 0, 0, loc)
	tr.mu.Lock()
	tr.st.Paths["trunk:lte"].Due = clk.now
	tr.mu.Unlock()
	tr.runDue(context.Background())
	if d := due(); d.Hour() != 1 || d.Day() != 6 {
		t.Fatalf("out of the window: due %v", d)
	}
}

// Results are kept across restarts: last result, last success, failures,
// the due time and the day's calls.
func TestResultsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	st := func() *store.File {
		f, err := store.Open(dir, "pathtests", nil)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	app := &fakeApp{far: farEnd{toneHz: 1004}, sense: true, copper: CopperReading{Volts: 50, Moved: true, Restored: true}}
	paths := []Path{trunkPath, {Kind: KindCopper, Port: 1}}
	tr := newTester(t, app, nil, Config{}, paths, func(o *Options) { o.Store = st() })
	if _, err := tr.RunNow(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	before := tr.Status()
	reg := prometheus.NewRegistry()
	tr2 := newTester(t, app, nil, Config{}, paths, func(o *Options) { o.Store = st(); o.Registerer = reg })
	after := tr2.Status()
	for i := range before {
		b, a := before[i], after[i]
		if a.Last == nil || a.Last.Result != ResultOK || a.Last.Detail != b.Last.Detail || !a.LastSuccess.Equal(*b.LastSuccess) || !a.NextTest.Equal(*b.NextTest) {
			t.Fatalf("path %s after a restart: %+v, before %+v", b.Path, a, b)
		}
	}
	if v := value(t, tr2.m.lastSuccess.WithLabelValues("trunk:lte")); v != float64(before[0].LastSuccess.UnixNano())/1e9 {
		t.Fatalf("last success metric after a restart: %v", v)
	}
	tr2.mu.Lock()
	calls := tr2.st.CallsToday
	tr2.mu.Unlock()
	if calls != 1 {
		t.Fatalf("calls today after a restart: %d", calls)
	}
}

// A copper line the board cannot sense is never "ok", never due for a
// "not proven" alert (no interval series).
func TestCannotSenseCopper(t *testing.T) {
	app := &fakeApp{copperE: fmt.Errorf("port 1: %w", ErrCannotSense)}
	reg := prometheus.NewRegistry()
	tr := newTester(t, app, nil, Config{}, []Path{{Kind: KindCopper, Port: 1}}, func(o *Options) { o.Registerer = reg })
	if n := count(tr.m.interval); n != 0 {
		t.Fatalf("%d interval series for a path the board cannot test", n)
	}
	rows, _ := tr.RunNow(context.Background(), nil)
	if rows[0].Result != ResultCannotTest {
		t.Fatalf("%+v", rows[0])
	}
	if st := tr.Status()[0]; st.NextTest != nil || st.LastSuccess != nil {
		t.Fatalf("%+v", st)
	}
}

// FuzzDecodeSaved: a state payload is read or refused, never panics, and
// what is read holds no impossible values.
func FuzzDecodeSaved(f *testing.F) {
	f.Add([]byte(`{"paths":{"trunk:lte":{"since":"2026-01-01T00:00:00Z","failures":1,"retry":true}},"day":"2026-01-01","calls_today":3}`))
	f.Add([]byte(`{"paths":{"a":null}}`))
	f.Add([]byte(`{"paths":{"a":{"last":{"path":"b"}}}}`))
	f.Add([]byte(`{"calls_today":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSaved(b)
		if err != nil {
			return
		}
		if s.Paths == nil || s.CallsToday < 0 {
			t.Fatalf("%+v", s)
		}
		for id, p := range s.Paths {
			if p == nil || p.Failures < 0 || (p.Last != nil && p.Last.Path != id) {
				t.Fatalf("%q: %+v", id, p)
			}
		}
	})
}
