package guard

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// wall is a settable wall clock for the daily cap.
type wall struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wall) Now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wall) Add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = w.t.Add(d)
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.FixedZone("GMT", 0)
	}
	return l
}()

func testConfig() Config {
	return Config{
		Routes: []Route{
			{Name: "lte", Rewrite: []string{"2xxxxx -> 018652xxxxx", "+44* -> 0*"}, Deny: []string{"0800123456"},
				MaxDuration: time.Hour, DailyMinutes: 30},
			{Name: "fxo", Allow: []string{"0[1-9]xxxxxxxxx", "0870123456"}},
			{Name: "abroad", AllowInternational: true, AllowPremium: true, Deny: []string{"00881*"}},
			{Name: "forward", Allow: []string{"07xxxxxxxxx", "01865xxxxxx"}},
		},
	}
}

func newGuard(t *testing.T, cfg Config, st *store.File, w *wall) (*Guard, *prometheus.Registry, *bytes.Buffer) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	var logbuf bytes.Buffer
	opts := Options{Store: st, Registerer: reg, Log: slog.New(slog.NewTextHandler(&logbuf, nil)), Location: london}
	if w != nil {
		opts.Now = w.Now
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g, reg, &logbuf
}

func TestCheck(t *testing.T) {
	g, reg, logbuf := newGuard(t, testConfig(), nil, nil)
	cases := []struct {
		route, number string
		allowed       bool
		reason        Reason
		dial          string
		emergency     bool
	}{
		// Emergency numbers pass every policy, unrewritten.
		{"lte", "999", true, "", "999", true},
		{"lte", "112", true, "", "112", true},
		{"fxo", "999", true, "", "999", true},
		{"nowhere", "999", true, "", "999", true},
		// Rewriting happens before the checks.
		{"lte", "270001", true, "", "01865270001", false},
		{"lte", "+441865270001", true, "", "01865270001", false},
		{"lte", "01865 270001", true, "", "01865270001", false},
		// Premium and international are denied by default.
		{"lte", "09001234567", false, ReasonPremium, "09001234567", false},
		{"lte", "0871234567", false, ReasonPremium, "0871234567", false},
		{"lte", "118118", false, ReasonPremium, "118118", false},
		{"lte", "0033123456789", false, ReasonInternational, "0033123456789", false},
		{"lte", "+33123456789", false, ReasonInternational, "+33123456789", false},
		{"nowhere", "0033123456789", false, ReasonInternational, "0033123456789", false},
		{"nowhere", "07700900123", true, "", "07700900123", false},
		// Route deny list.
		{"lte", "0800123456", false, ReasonDenied, "0800123456", false},
		// Allow lists: only listed numbers; a generic allow does not open
		// premium, an explicit number inside the category does.
		{"fxo", "01865270001", true, "", "01865270001", false},
		{"fxo", "09001234567", false, ReasonPremium, "09001234567", false},
		{"fxo", "0870123456", true, "", "0870123456", false},
		{"fxo", "0870123457", false, ReasonPremium, "0870123457", false},
		{"fxo", "101", false, ReasonDenied, "101", false},
		// A route lifting the categories, with its own deny.
		{"abroad", "0033123456789", true, "", "0033123456789", false},
		{"abroad", "09001234567", true, "", "09001234567", false},
		{"abroad", "008816123456", false, ReasonDenied, "008816123456", false},
	}
	for _, tc := range cases {
		d, err := g.Check(tc.route, tc.number)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.route, tc.number, err)
		}
		if d.Allowed != tc.allowed || d.Reason != tc.reason || d.Number != tc.dial || d.Emergency != tc.emergency {
			t.Errorf("%s %s: %+v; want allowed=%v reason=%q dial=%q emergency=%v", tc.route, tc.number, d, tc.allowed, tc.reason, tc.dial, tc.emergency)
		}
		if d.Emergency && d.MaxDuration != 0 {
			t.Errorf("emergency call with a max duration %v", d.MaxDuration)
		}
		if !d.Emergency && d.Allowed && d.MaxDuration <= 0 {
			t.Errorf("%s %s allowed without a max duration", tc.route, tc.number)
		}
		if !d.Allowed && d.Rule == "" {
			t.Errorf("%s %s blocked without naming a rule", tc.route, tc.number)
		}
	}
	for reason, want := range map[Reason]float64{ReasonPremium: 5, ReasonInternational: 3, ReasonDenied: 3, ReasonCap: 0, ReasonInvalid: 0} {
		if got := metricValue(t, reg, "critline_fraud_blocked_total", "reason", string(reason)); got != want {
			t.Errorf("blocked{%s} = %v, want %v", reason, got, want)
		}
	}
	if !strings.Contains(logbuf.String(), "reason=premium") || !strings.Contains(logbuf.String(), "rule=\"premium 09*\"") {
		t.Errorf("block not logged with reason and rule:\n%s", logbuf)
	}
	if _, err := g.Check("lte", "12ab"); err == nil {
		t.Error("an undialable number was accepted")
	}
	if got := metricValue(t, reg, "critline_fraud_blocked_total", "reason", "invalid"); got != 1 {
		t.Errorf("invalid not counted: %v", got)
	}
	if g.MaxDuration("lte") != time.Hour || g.MaxDuration("nowhere") != DefaultMaxDuration {
		t.Error("MaxDuration")
	}
	if n, _ := g.Rewrite("lte", "999"); n != "999" {
		t.Error("an emergency number was rewritten")
	}
	if n, _ := g.Rewrite("lte", "299999"); n != "01865299999" {
		t.Errorf("Rewrite = %q", n)
	}
	if !g.IsEmergency(" 999") || g.IsEmergency("9999") {
		t.Error("IsEmergency")
	}
}

// metricValue returns the value of the series of a metric with the given
// label value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func TestEmergencyNeverBlockedByAnyPolicy(t *testing.T) {
	cfg := Config{
		Emergency: []string{"999", "112"},
		Premium:   []string{"9*", "1*"},
		Default:   Route{Deny: []string{"*"}, Allow: []string{"0"}, Rewrite: []string{"9* -> 0*", "1xx -> 0xx"}, DailyMinutes: 1},
	}
	w := &wall{t: time.Date(2026, 3, 1, 12, 0, 0, 0, london)}
	g, _, _ := newGuard(t, cfg, nil, w)
	g.CallEnded("any", time.Hour) // cap used up
	for _, n := range []string{"999", "112"} {
		d, err := g.Check("any", n)
		if err != nil || !d.Allowed || !d.Emergency || d.Number != n {
			t.Errorf("%s: %+v %v", n, d, err)
		}
	}
	if d, _ := g.Check("any", "0"); d.Allowed {
		t.Errorf("deny * let 0 through: %+v", d)
	}
}

func TestDailyCapAndMidnight(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, "guard", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 23:00 local on the night the clocks go back (a 25-hour day).
	w := &wall{t: time.Date(2026, 10, 25, 23, 0, 0, 0, london)}
	g, reg, _ := newGuard(t, testConfig(), st, w)

	d, _ := g.Check("lte", "01865270001")
	if !d.Allowed || d.MaxDuration != 30*time.Minute {
		t.Fatalf("fresh day: %+v (max duration should be the 30 min left of the cap)", d)
	}
	g.CallStarted("lte")
	if _, _, active := g.Usage("lte"); active != 1 {
		t.Fatal("active call not counted")
	}
	g.CallEnded("lte", 20*time.Minute)
	d, _ = g.Check("lte", "01865270001")
	if !d.Allowed || d.MaxDuration != 10*time.Minute {
		t.Fatalf("10 min left: %+v", d)
	}
	if got := metricValue(t, reg, "critline_guard_minutes_today", "route", "lte"); got != 20 {
		t.Errorf("minutes gauge %v", got)
	}
	// A restart keeps the count.
	g2, _, logbuf := newGuard(t, testConfig(), st, w)
	g2.CallEnded("lte", 10*time.Minute)
	d, _ = g2.Check("lte", "01865270001")
	if d.Allowed || d.Reason != ReasonCap {
		t.Fatalf("cap used up after restart: %+v", d)
	}
	if d, _ := g2.Check("lte", "999"); !d.Allowed {
		t.Fatal("cap blocked an emergency call")
	}
	if d, _ := g2.CheckNumber("lte", "01865270001"); !d.Allowed {
		t.Fatal("CheckNumber applied the cap")
	}
	if d, _ := g2.Check("fxo", "01865270001"); !d.Allowed {
		t.Fatal("another route's cap was used up too")
	}
	if !strings.Contains(logbuf.String(), "reached its daily minutes cap") {
		t.Errorf("cap not logged:\n%s", logbuf)
	}
	// Still the same local day at 23:59.
	w.Add(59 * time.Minute)
	if d, _ := g2.Check("lte", "01865270001"); d.Allowed {
		t.Fatal("cap reset before midnight")
	}
	// Local midnight resets it.
	w.Add(2 * time.Minute)
	d, _ = g2.Check("lte", "01865270001")
	if !d.Allowed || d.MaxDuration != 30*time.Minute {
		t.Fatalf("after midnight: %+v", d)
	}
	used, limit, _ := g2.Usage("lte")
	if used != 0 || limit != 30*time.Minute {
		t.Fatalf("Usage after midnight: %v of %v", used, limit)
	}
	// A restart on the new day does not bring back yesterday's minutes.
	g3, _, _ := newGuard(t, testConfig(), st, w)
	if d, _ := g3.Check("lte", "01865270001"); !d.Allowed {
		t.Fatalf("yesterday's minutes restored on a new day: %+v", d)
	}
}

func TestCorruptUsageStartsFromZero(t *testing.T) {
	dir := t.TempDir()
	st, _ := store.Open(dir, "guard", nil)
	os.WriteFile(st.Path(), []byte(`{"format":"critline-state","version":1,"name":"guard","sha256":"00","payload":{}}`), 0o600)
	w := &wall{t: time.Date(2026, 1, 1, 9, 0, 0, 0, london)}
	g, _, logbuf := newGuard(t, testConfig(), st, w)
	if d, _ := g.Check("lte", "01865270001"); !d.Allowed {
		t.Fatal(d)
	}
	if !strings.Contains(logbuf.String(), "not restored") {
		t.Errorf("corrupt state not reported:\n%s", logbuf)
	}
	var u usage
	if err := st.Load(&u); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("corrupt file not set aside: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("the zero config (all defaults) is invalid: %v", err)
	}
	if err := testConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  Config
		want []string
	}{
		{Config{Profile: "fr"}, []string{"profile \"fr\""}},
		{Config{Emergency: []string{}}, []string{"survivability.guard.emergency: no emergency numbers"}},
		{Config{Emergency: []string{"99a", "*99"}}, []string{"emergency[0]: number \"99a\"", "emergency[1]: \"*99\": emergency numbers are plain digits"}},
		{Config{Premium: []string{"09[", "ok*"}}, []string{"survivability.guard.premium[0]: pattern \"09[\"", "premium[1]"}},
		{Config{International: []string{""}}, []string{"international[0]: empty pattern"}},
		{Config{Routes: []Route{{}}}, []string{"route[0]: name is empty"}},
		{Config{Routes: []Route{{Name: "a"}, {Name: "a"}}}, []string{"route[1]: route \"a\" is configured twice"}},
		{Config{Routes: []Route{{Name: "default"}}}, []string{"reserved"}},
		{Config{Routes: []Route{{Name: "a", Allow: []string{"1", "x."}, Deny: []string{"[]"}, Rewrite: []string{"2x -> 0"}}}},
			[]string{"route[0].allow[1]: pattern \"x.\"", "route[0].deny[0]", "route[0].rewrite[0]: rewrite \"2x -> 0\": the template has 0 x"}},
		{Config{Routes: []Route{{Name: "a", MaxDuration: -time.Second, DailyMinutes: -1}}}, []string{"route[0].max_duration", "route[0].daily_minutes: -1"}},
		{Config{Routes: []Route{{Name: "a", MaxDuration: 48 * time.Hour, DailyMinutes: LimitDailyMinutes + 1}}}, []string{"max_duration: 48h0m0s", "daily_minutes: 100001"}},
		{Config{Default: Route{MaxDuration: time.Millisecond}}, []string{"survivability.guard.default.max_duration: 1ms is too short"}},
	}
	for i, tc := range cases {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("case %d accepted", i)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("case %d: %q does not mention %q", i, err, w)
			}
		}
		if _, nerr := New(tc.cfg, Options{}); nerr == nil {
			t.Errorf("case %d: New accepted what Validate refused", i)
		}
	}
}

func TestProfiles(t *testing.T) {
	us, _, _ := newGuard(t, Config{Profile: "us"}, nil, nil)
	for n, want := range map[string]Reason{"911": "", "19005551234": ReasonPremium, "01133123": ReasonInternational, "5551234": ""} {
		d, _ := us.Check("t", n)
		if d.Reason != want {
			t.Errorf("us %s: %+v", n, d)
		}
	}
	etsi, _, _ := newGuard(t, Config{Profile: "etsi"}, nil, nil)
	if d, _ := etsi.Check("t", "0900123"); !d.Allowed {
		t.Errorf("etsi has no premium list: %+v", d)
	}
	if d, _ := etsi.Check("t", "999"); d.Emergency {
		t.Errorf("999 is not an etsi emergency number")
	}
	none, _, _ := newGuard(t, Config{Premium: []string{}, International: []string{}}, nil, nil)
	if d, _ := none.Check("t", "0033123"); !d.Allowed {
		t.Errorf("empty international list still blocks: %+v", d)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, Options{Registerer: reg}); err == nil {
		t.Fatal("duplicate registration not reported")
	}
}

func FuzzCheck(f *testing.F) {
	for _, n := range []string{"999", "270001", "+441865270001", "09001234567", "0033", "+", "", "12ab", "*67#", "2xxxxx"} {
		f.Add("lte", n)
		f.Add("fxo", n)
	}
	g, err := New(testConfig(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route, number string) {
		d, err := g.Check(route, number)
		if err != nil {
			if d.Allowed || d.Reason != ReasonInvalid {
				t.Fatalf("error %v with decision %+v", err, d)
			}
			return
		}
		if d.Allowed == (d.Reason != "") {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if g.IsEmergency(number) && !d.Allowed {
			t.Fatalf("emergency number %q blocked", number)
		}
		if d.Allowed && !d.Emergency {
			// Nothing in the premium or international categories gets
			// through on lte.
			if route == "lte" && (strings.HasPrefix(d.Number, "09") || strings.HasPrefix(d.Number, "00") || strings.HasPrefix(d.Number, "+")) {
				t.Fatalf("lte allowed %q", d.Number)
			}
			if _, err := NormalizeNumber(d.Number); err != nil {
				t.Fatalf("allowed an undialable %q", d.Number)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	g, err := New(testConfig(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Check("lte", "270001")
		g.Check("fxo", "09001234567")
	}
}
