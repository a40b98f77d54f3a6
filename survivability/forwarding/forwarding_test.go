package forwarding

import (
	"context"
	"errors"
	"github.com/critline/critline/internal/testenv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	pin1 = "246810"
	pin2 = "8675309"
)

// fastHash is a valid low-iteration hash so tests that try many PINs stay
// quick; production hashes use PINIterations.
func fastHash(t testing.TB, pin string) string {
	t.Helper()
	h, err := derive(pin, []byte("test-salt-16byte"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func baseConfig(t testing.TB) Config {
	return Config{
		Remote:     true,
		OwnNumbers: []string{"01865270000", "270001"},
		Ports: []Port{
			{ID: 1, Extension: "270001", PINHash: fastHash(t, pin1), Mirror: true},
			{ID: 2, Extension: "270002", PINHash: fastHash(t, pin2)},
		},
	}
}

type env struct {
	t      *testing.T
	dir    string
	clock  *hal.ManualClock
	wall   time.Time
	wmu    sync.Mutex
	guard  *guard.Guard
	net    *fakeNetwork
	serves []int // the ports the fake network's SIM receives calls for
}

func newEnv(t *testing.T) *env {
	g, err := guard.New(guard.Config{Routes: []guard.Route{{Name: "forward"}}}, guard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: t.TempDir(), clock: hal.NewManualClock(time.Hour), wall: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), guard: g, net: newFakeNetwork(), serves: []int{1}}
}

func (e *env) Now() time.Time { e.wmu.Lock(); defer e.wmu.Unlock(); return e.wall }

// advance moves both clocks.
func (e *env) advance(d time.Duration) {
	e.wmu.Lock()
	e.wall = e.wall.Add(d)
	e.wmu.Unlock()
	e.clock.Advance(d)
}

type mgr struct {
	*Manager
	reg *prometheus.Registry
	log *syncBuffer
}

type syncBuffer = testenv.Buffer

func (e *env) manager(cfg Config) mgr {
	e.t.Helper()
	st, err := store.Open(e.dir, "forwarding", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	logbuf := &syncBuffer{}
	m, err := New(cfg, Options{Guard: e.guard, Store: st, Clock: e.clock, Now: e.Now,
		Log: slog.New(slog.NewTextHandler(logbuf, nil)), Registerer: reg, Network: e.net, NetworkPorts: e.serves})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(m.Close)
	return mgr{m, reg, logbuf}
}

func (m mgr) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range s.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			return s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// fakeNetwork records what the manager mirrors; fail makes calls fail and
// block lets a test hold a call up.
type fakeNetwork struct {
	mu      sync.Mutex
	calls   []string
	fail    error
	block   chan struct{}
	entered chan string // each call, before it blocks
	seen    chan string // each call, once done
}

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{seen: make(chan string, 100), entered: make(chan string, 100)}
}

func (f *fakeNetwork) do(s string) error {
	f.mu.Lock()
	block, fail := f.block, f.fail
	f.mu.Unlock()
	f.entered <- s
	if block != nil {
		<-block
	}
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	f.seen <- s
	return fail
}

func (f *fakeNetwork) SetForwarding(_ context.Context, reason, number string, ring time.Duration) error {
	if ring > 0 {
		return f.do("set " + reason + " " + number + " " + ring.String())
	}
	return f.do("set " + reason + " " + number)
}

func (f *fakeNetwork) ClearForwarding(_ context.Context, reason string) error {
	return f.do("clear " + reason)
}

func (f *fakeNetwork) wait(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-f.seen:
			if got != w {
				t.Fatalf("network got %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
			t.Fatalf("network never got %q", w)
		}
	}
}

// started waits for the mirror's first sync: every reason cleared.
func (f *fakeNetwork) started(t *testing.T) {
	t.Helper()
	f.wait(t, "clear unconditional", "clear busy", "clear no-reply", "clear not-reachable")
}

func TestSetAndClear(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	e.net.started(t)
	ctx := context.Background()
	if s, _ := m.Get(1); s.Active() || s.NoAnswerAfter != DefaultNoAnswerAfter {
		t.Fatalf("fresh port: %+v", s)
	}
	if err := m.Set(ctx, 1, Unconditional, "07700 900123", 0, ViaCtl, "engineer"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, 2, NoAnswer, "01865 270999", 30*time.Second, ViaCtl, "engineer"); err != nil {
		t.Fatal(err)
	}
	s1, _ := m.Get(1)
	s2, _ := m.Get(2)
	if s1.Unconditional != "07700900123" || !s1.Active() || s1.By != "ctl:engineer" || !s1.Changed.Equal(e.Now()) {
		t.Fatalf("port 1: %+v", s1)
	}
	if s2.NoAnswer != "01865270999" || s2.NoAnswerAfter != 30*time.Second || s2.Number(NoAnswer) != "01865270999" {
		t.Fatalf("port 2: %+v", s2)
	}
	if got := m.metric(t, "critline_forwarding_active", "port", "1"); got != 1 {
		t.Errorf("forwarding_active{1} = %v", got)
	}
	if got := m.metric(t, "critline_forward_changes_total", "via", "ctl"); got != 2 {
		t.Errorf("changes{ctl} = %v", got)
	}
	// Setting the same again is not a change.
	m.Set(ctx, 1, Unconditional, "07700900123", 0, ViaCtl, "engineer")
	if got := m.metric(t, "critline_forward_changes_total", "via", "ctl"); got != 2 {
		t.Errorf("a no-op counted as a change: %v", got)
	}
	logs := m.log.String()
	for _, want := range []string{"call forwarding set", "port=1", "number=07700900123", "via=ctl", "who=engineer", "ring_time=30s"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// Port 1 mirrors, port 2 does not. Unconditional forwarding is never
	// the network's unconditional forward (which would swallow the call
	// that cancels it): it is forward on busy, on no reply after a short
	// ring, and when not reachable.
	e.net.wait(t, "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")
	if st := m.MirrorState(1); st != "on" {
		t.Errorf("MirrorState(1) = %q", st)
	}
	if st := m.MirrorState(2); st != "" {
		t.Errorf("MirrorState(2) = %q", st)
	}

	if err := m.Clear(ctx, 1, "", ViaRemote, "+447700900999"); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Get(1); s.Active() {
		t.Fatalf("cleared port still forwards: %+v", s)
	}
	e.net.wait(t, "clear busy", "clear no-reply", "clear not-reachable")
	if got := m.metric(t, "critline_forwarding_active", "port", "1"); got != 0 {
		t.Errorf("forwarding_active{1} = %v after clear", got)
	}
	if !strings.Contains(m.log.String(), "call forwarding cleared") {
		t.Error("clear not logged")
	}
	// A change read back from the network is not mirrored back.
	if err := m.Set(ctx, 1, Busy, "07700900123", 0, ViaNetwork, "modem"); err != nil {
		t.Fatal(err)
	}
	if got := m.metric(t, "critline_forward_changes_total", "via", "network"); got != 1 {
		t.Errorf("changes{network} = %v", got)
	}
	m.Close()
	if len(e.net.seen) != 0 {
		t.Errorf("a network-sourced change was mirrored back: %v", e.net.calls)
	}
}

func TestSetRefusals(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	ctx := context.Background()
	cases := []struct {
		port   int
		kind   Kind
		number string
		ring   time.Duration
		via    Via
		want   string
	}{
		{3, Unconditional, "07700900123", 0, ViaCtl, "no port 3"},
		{1, "sideways", "07700900123", 0, ViaCtl, "forwarding kind"},
		{1, Unconditional, "07700900123", 0, "carrier-pigeon", "change source"},
		{1, Unconditional, "999", 0, ViaCtl, "emergency number"},
		{1, Unconditional, "112", 0, ViaCtl, "emergency number"},
		{1, Unconditional, "09001234567", 0, ViaCtl, "toll-fraud guard (premium"},
		{1, Unconditional, "0033123456789", 0, ViaCtl, "toll-fraud guard (international"},
		{1, Unconditional, "+33123456789", 0, ViaCtl, "international"},
		{1, Unconditional, "01865270000", 0, ViaCtl, "own number"},
		{1, Unconditional, "270001", 0, ViaCtl, "own number"},
		{1, Unconditional, "12", 0, ViaCtl, "3 to 20 digits"},
		{1, Unconditional, "0770090012*", 0, ViaCtl, "only digits"},
		{1, Unconditional, "07700900123", 30 * time.Second, ViaCtl, "ring time"},
		{1, NoAnswer, "07700900123", time.Second, ViaCtl, "ring time"},
	}
	for _, tc := range cases {
		err := m.Set(ctx, tc.port, tc.kind, tc.number, tc.ring, tc.via, "test")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%d, %s, %q) = %v, want %q", tc.port, tc.kind, tc.number, err, tc.want)
		}
	}
	for _, p := range m.Ports() {
		if s, _ := m.Get(p); s.Active() {
			t.Errorf("a refused change took effect on port %d: %+v", p, s)
		}
	}
	if err := m.Clear(ctx, 9, "", ViaCtl, "x"); err == nil {
		t.Error("Clear of an unknown port")
	}
	if err := m.Clear(ctx, 1, "sideways", ViaCtl, "x"); err == nil {
		t.Error("Clear of an unknown kind")
	}
	if _, err := m.Get(9); err == nil {
		t.Error("Get of an unknown port")
	}
	if !strings.Contains(m.log.String(), "call forwarding refused") {
		t.Error("refusals not logged")
	}
}

func TestPersistence(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	ctx := context.Background()
	m.Set(ctx, 1, Unconditional, "07700900123", 0, ViaCtl, "a")
	m.Set(ctx, 2, NoAnswer, "07700900124", 45*time.Second, ViaRemote, "+447700900999")
	m.Close()

	// A restart (new process, new monotonic clock) restores it all.
	e.clock = hal.NewManualClock(0)
	m2 := e.manager(baseConfig(t))
	s1, _ := m2.Get(1)
	s2, _ := m2.Get(2)
	if s1.Unconditional != "07700900123" || s2.NoAnswer != "07700900124" || s2.NoAnswerAfter != 45*time.Second || s2.By != "remote:+447700900999" {
		t.Fatalf("after restart: %+v %+v", s1, s2)
	}
	if got := m2.metric(t, "critline_forwarding_active", "port", "2"); got != 1 {
		t.Errorf("gauge not restored: %v", got)
	}
	// A port that disappeared from the configuration is dropped.
	cfg := baseConfig(t)
	cfg.Ports = cfg.Ports[:1]
	m2.Close()
	m3 := e.manager(cfg)
	if !strings.Contains(m3.log.String(), "not configured") {
		t.Errorf("dropped port not logged:\n%s", m3.log)
	}
}

func TestCorruptStateStartsClean(t *testing.T) {
	e := newEnv(t)
	st, _ := store.Open(e.dir, "forwarding", nil)
	os.WriteFile(st.Path(), []byte(`{"format":"critline-state","version":1,"name":"forwarding"`), 0o600)
	m := e.manager(baseConfig(t))
	if s, _ := m.Get(1); s.Active() {
		t.Fatal(s)
	}
	if !strings.Contains(m.log.String(), "not restored") || !strings.Contains(m.log.String(), "truncated") {
		t.Errorf("corrupt state not reported:\n%s", m.log)
	}
	if err := m.Set(context.Background(), 1, Busy, "07700900123", 0, ViaCtl, "a"); err != nil {
		t.Fatal(err)
	}
}

// A change that cannot be saved is not made: what is in force and what a
// restart brings back never differ.
func TestSaveFailureRefusesChange(t *testing.T) {
	e := newEnv(t)
	m := e.manager(baseConfig(t))
	ctx := context.Background()
	if err := m.Set(ctx, 2, NoAnswer, "07700900999", 0, ViaCtl, "a"); err != nil {
		t.Fatal(err)
	}
	// Replace the state directory by a file so saving fails.
	os.RemoveAll(e.dir)
	os.WriteFile(e.dir, nil, 0o600)
	defer os.Remove(e.dir)
	err := m.Set(ctx, 2, Busy, "07700900123", 0, ViaCtl, "a")
	if !errors.Is(err, ErrNotSaved) || !strings.Contains(err.Error(), "NOT set") {
		t.Fatalf("Set: %v, want a refusal wrapping ErrNotSaved", err)
	}
	if s, _ := m.Get(2); s.Busy != "" {
		t.Fatal("the setting took effect although it was not saved")
	}
	err = m.Clear(ctx, 2, "", ViaCtl, "a")
	if !errors.Is(err, ErrNotSaved) || !strings.Contains(err.Error(), "NOT cleared") {
		t.Fatalf("Clear: %v, want a refusal wrapping ErrNotSaved", err)
	}
	if s, _ := m.Get(2); s.NoAnswer != "07700900999" {
		t.Fatal("the forwarding was cleared although that was not saved")
	}
	// Saving works again: the same change now goes through.
	os.Remove(e.dir)
	os.MkdirAll(e.dir, 0o750)
	if err := m.Clear(ctx, 2, "", ViaCtl, "a"); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Get(2); s.Active() {
		t.Fatalf("not cleared: %+v", s)
	}
}

func TestMirrorNeverBlocks(t *testing.T) {
	e := newEnv(t)
	e.net.block = make(chan struct{})
	e.net.fail = errors.New("+CME ERROR: 30")
	m := e.manager(baseConfig(t))
	ctx := context.Background()
	// The modem hangs; local changes still go through at once.
	for i, n := range []string{"07700900121", "07700900122", "07700900123"} {
		if err := m.Set(ctx, 1, Unconditional, n, 0, ViaCtl, "a"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-e.net.entered // the start-up sync is now stuck in the modem
		}
	}
	if s, _ := m.Get(1); s.Unconditional != "07700900123" {
		t.Fatal(s)
	}
	close(e.net.block)
	// The start-up sync's first call was in flight; everything queued
	// since collapses into the last wanted state.
	e.net.wait(t, "clear unconditional", "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")
	m.Close()
	if got := m.metric(t, "critline_forward_mirror_failures_total"); got != 4 {
		t.Errorf("mirror failures = %v", got)
	}
	if !strings.Contains(m.log.String(), "not mirrored") || !strings.Contains(m.log.String(), "CME ERROR") {
		t.Errorf("mirror failure not logged:\n%s", m.log)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := baseConfig(t).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{Ports: []Port{{ID: 1}}}).Validate(); err != nil {
		t.Fatalf("remote off, no PIN: %v", err)
	}
	cases := []struct {
		mod  func(*Config)
		want []string
	}{
		{func(c *Config) { c.Ports[0].PINHash = ""; c.Ports[0].PIN = "" }, []string{"port[0] (id 1).pin: remote activation is on, so every port needs a PIN"}},
		{func(c *Config) { c.Ports[0].PINHash = ""; c.Ports[0].PIN = "12345" }, []string{"port[0] (id 1).pin: the PIN has 5 digits"}},
		{func(c *Config) { c.Ports[0].PINHash = ""; c.Ports[0].PIN = "111111" }, []string{"too easy"}},
		{func(c *Config) { c.Ports[0].PIN = "246810" }, []string{"not both"}},
		{func(c *Config) { c.Ports[1].PINHash = "sha1$x" }, []string{"port[1] (id 2).pin_hash"}},
		{func(c *Config) { c.Ports[1].ID = 1 }, []string{"appears twice"}},
		{func(c *Config) { c.Ports[1].ID = 0 }, []string{"id must be"}},
		{func(c *Config) { c.Ports[1].Mirror = true }, []string{"forward_mirror: 2 ports"}},
		{func(c *Config) { c.MaxFailures = 21 }, []string{"survivability.forwarding.max_failures: 21"}},
		{func(c *Config) { c.LockoutMax = time.Minute; c.Lockout = time.Hour }, []string{"lockout_max: 1m0s is out of range"}},
		{func(c *Config) { c.ServiceExtension = "270001" }, []string{"service_extension: \"270001\" is port 1's extension"}},
		{func(c *Config) { c.ServiceExtension = "svc@pbx" }, []string{"service_extension: \"svc@pbx\" is not a SIP user"}},
		{func(c *Config) { c.ServicePassword = "x" }, []string{"credentials without a service_extension"}},
		{func(c *Config) { c.StaffNumbers = []string{"07700900123", "call me"} }, []string{"staff_numbers[1]: \"call me\" is not a telephone number"}},
		{func(c *Config) { c.Remote = false; c.StaffNumbers = []string{"07700900123"} }, []string{"remote activation is off: set remote = true"}},
		{func(c *Config) { c.Ports[1].Extension = "270001" }, []string{"\"270001\" is also port 1's"}},
		{func(c *Config) { c.MaxAttempts = -1 }, []string{"max_attempts"}},
		{func(c *Config) { c.Lockout = time.Second }, []string{"survivability.forwarding.lockout: 1s is out of range"}},
		{func(c *Config) { c.DigitTimeout = time.Hour }, []string{"digit_timeout"}},
		{func(c *Config) { c.SessionTimeout = 20 * time.Second; c.DigitTimeout = 30 * time.Second }, []string{"shorter than digit_timeout"}},
		{func(c *Config) { c.NoAnswerAfter = time.Second }, []string{"no_answer_after"}},
		{func(c *Config) { c.OwnNumbers = []string{"abc"} }, []string{"own number [0]"}},
	}
	for i, tc := range cases {
		c := baseConfig(t)
		c.Ports = append([]Port(nil), c.Ports...)
		tc.mod(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("case %d accepted", i)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("case %d: %v\ndoes not mention %q", i, err, w)
			}
		}
	}
	if _, err := New(baseConfig(t), Options{}); err == nil || !strings.Contains(err.Error(), "guard") {
		t.Errorf("New without a guard: %v", err)
	}
	// Plain PINs are hashed at New and never kept.
	c := baseConfig(t)
	c.Ports[0].PINHash, c.Ports[0].PIN = "", "975310"
	e := newEnv(t)
	m := e.manager(c)
	if m.ports[1].pin == nil || !m.ports[1].pin.Verify("975310") {
		t.Fatal("plain PIN not usable after hashing")
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"unconditional": Unconditional, "ALL": Unconditional, "busy": Busy, "no-answer": NoAnswer, "noanswer": NoAnswer, "cfnr": NoAnswer} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("x"); err == nil {
		t.Error("ParseKind(x)")
	}
}

// A modem that is still starting (or out of coverage) refuses the mirror:
// it is tried again, later and later, until the network takes it.
func TestMirrorRetriesUntilTheNetworkTakesIt(t *testing.T) {
	e := newEnv(t)
	e.net.fail = errors.New("trunk down: starting")
	m := e.manager(baseConfig(t))
	e.net.wait(t, "clear unconditional", "clear busy", "clear no-reply", "clear not-reachable")
	if err := m.Set(context.Background(), 1, Unconditional, "07700900123", 0, ViaCtl, "a"); err != nil {
		t.Fatal(err)
	}
	e.net.wait(t, "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")
	retrying := func(n int) { // the queue has taken in all the failures
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			m.mirror.mu.Lock()
			got := len(m.mirror.retry)
			m.mirror.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d reasons waiting for a retry, want %d", got, n)
			}
		}
	}
	retrying(4)
	e.advance(mirrorRetry) // still failing: the start-up clear of unconditional and the three sets again
	e.net.wait(t, "clear unconditional", "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")
	retrying(4)
	e.net.mu.Lock()
	e.net.fail = nil
	e.net.mu.Unlock()
	e.advance(mirrorRetry) // the wait has doubled: nothing yet
	if n := len(e.net.seen); n != 0 {
		t.Fatalf("retried before the doubled wait: %d calls", n)
	}
	e.advance(mirrorRetry)
	e.net.wait(t, "clear unconditional", "set busy 07700900123", "set no-reply 07700900123 5s", "set not-reachable 07700900123")
	if got := m.metric(t, "critline_forward_mirror_failures_total"); got != 11 {
		t.Errorf("mirror failures = %v", got)
	}
}
