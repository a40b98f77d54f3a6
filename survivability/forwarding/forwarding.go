package forwarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Kind is a kind of forwarding.
type Kind string

// Kinds of forwarding; the values are also the reason strings given to a
// NetworkForwarder.
const (
	Unconditional Kind = "unconditional"
	Busy          Kind = "busy"
	NoAnswer      Kind = "no-answer"
)

// Kinds lists every kind, in a fixed order.
func Kinds() []Kind { return []Kind{Unconditional, Busy, NoAnswer} }

// ParseKind accepts a kind as typed in the field tool.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "unconditional", "all", "always", "cfu":
		return Unconditional, nil
	case "busy", "cfb":
		return Busy, nil
	case "no-answer", "noanswer", "no-reply", "cfnr":
		return NoAnswer, nil
	}
	return "", fmt.Errorf("forwarding kind %q: use unconditional, busy or no-answer", s)
}

// Via says where a change came from (the via label of
// critline_forward_changes_total).
type Via string

// Sources of changes.
const (
	ViaCtl     Via = "ctl"     // critlinectl forward
	ViaRemote  Via = "remote"  // remote activation by DTMF
	ViaNetwork Via = "network" // read back from the mobile network
)

// Settings is one port's forwarding.
type Settings struct {
	Unconditional string        `json:"unconditional,omitempty"`
	Busy          string        `json:"busy,omitempty"`
	NoAnswer      string        `json:"no_answer,omitempty"`
	NoAnswerAfter time.Duration `json:"no_answer_after,omitempty"` // ring time before no-answer forwarding
	// Changed and By record the last change (By is "VIA:WHO").
	Changed time.Time `json:"changed,omitzero"`
	By      string    `json:"by,omitempty"`
}

// Active reports whether any forwarding is on (for the special dial tone
// and critline_forwarding_active).
func (s Settings) Active() bool { return s.Unconditional != "" || s.Busy != "" || s.NoAnswer != "" }

// Number returns the destination for kind ("" = off).
func (s Settings) Number(k Kind) string {
	switch k {
	case Unconditional:
		return s.Unconditional
	case Busy:
		return s.Busy
	case NoAnswer:
		return s.NoAnswer
	}
	return ""
}

func (s *Settings) set(k Kind, n string) {
	switch k {
	case Unconditional:
		s.Unconditional = n
	case Busy:
		s.Busy = n
	case NoAnswer:
		s.NoAnswer = n
	}
}

// NetworkForwarder mirrors forwarding into the mobile network (AT+CCFC on
// a cellular trunk). reason is one of the Net* reasons; ringTime applies to
// NetNoReply (0: the network's default). Calls may block; they are made
// from the manager's own goroutine, one at a time.
type NetworkForwarder interface {
	SetForwarding(ctx context.Context, reason string, number string, ringTime time.Duration) error
	ClearForwarding(ctx context.Context, reason string) error
}

// Checker is the toll-fraud guard as forwarding uses it
// (*guard.Guard's CheckNumber).
type Checker interface {
	CheckNumber(route, number string) (guard.Decision, error)
}

// Options are the manager's collaborators.
type Options struct {
	// Guard checks forward-to numbers (required).
	Guard Checker
	// Store persists settings, failures and lockouts
	// (store.Open(dir, "forwarding", log)); nil keeps them in memory.
	Store *store.File
	// Clock times lockouts, rate limits and dialogues; nil = hal.SystemClock.
	Clock hal.Clock
	// Now is the wall clock, used only to persist lockout expiry; nil = time.Now.
	Now func() time.Time
	// Log receives every change, failure and lockout; nil discards.
	Log *slog.Logger
	// Registerer takes the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Network mirrors the Mirror port's forwarding; nil = none.
	Network NetworkForwarder
	// NetworkPorts are the ports whose inbound calls arrive on Network's
	// SIM (the trunk's ports; every port when the trunk names none).
	// Network forwarding acts on every call to the SIM's number, so the
	// mirror works only when this is the mirrored port alone.
	NetworkPorts []int
}

// ErrNotSaved is wrapped by the error of a change that could not be
// written to the state directory. Such a change is not made: the forwarding
// in force and the one a restart brings back are always the same.
var ErrNotSaved = errors.New("the change could not be saved, so it was not made")

// Manager holds every port's forwarding and the remote-activation
// security state. Its methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	ports   map[int]*portCfg
	entries map[string]int  // what staff key in -> port
	exts    map[string]bool // which entries are extensions
	own     map[string]bool
	guard   Checker
	store   *store.File
	clock   hal.Clock
	now     func() time.Time
	log     *slog.Logger
	m       *metrics

	mu       sync.Mutex
	settings map[int]Settings
	sec      security

	saveMu  sync.Mutex
	unsaved bool // the last save failed: the disk lags what is in memory (lockouts)

	network       NetworkForwarder
	mirror        mirrorQueue
	mirrorPort    int    // the port mirrored into the network (0: none)
	mirrorRefused string // why a configured mirror is refused
}

type metrics struct {
	changes       *prometheus.CounterVec
	active        *prometheus.GaugeVec
	pinFails      prometheus.Counter
	lockouts      *prometheus.CounterVec
	mirrorFail    prometheus.Counter
	calls         *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	lockedCallers prometheus.GaugeFunc
}

// Results of remote-activation entries (critline_remote_attempts_total).
const (
	ResultAccepted    = "accepted"          // right PIN
	ResultWrongPIN    = "wrong-pin"         // wrong PIN: the caller waits, then may retry
	ResultUnknownExt  = "unknown-extension" // an extension that is not configured
	ResultLockedOut   = "locked-out"        // refused: the caller is locked out
	ResultWaiting     = "waiting"           // refused: too soon after a wrong entry
	ResultRateLimited = "rate-limited"      // refused: too many PIN checks from all callers
	ResultWithheld    = "withheld-refused"  // refused: number withheld and allow_withheld = false
	ResultDisabled    = "disabled"          // refused: remote activation is off
)

// Entries by which a caller reaches the dialogue (critline_remote_calls_total).
const (
	EntryService = "service-extension" // the SIP service extension
	EntryStaff   = "staff-number"      // a staff number on a trunk
	EntryTrunk   = "service-trunk"     // a trunk dedicated to remote activation
)

func newMetrics(reg prometheus.Registerer, locked func() float64) (*metrics, error) {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_forward_changes_total", Help: "Call-forwarding changes, by where they came from (ctl, remote, network).",
		}, []string{"via"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_forwarding_active", Help: "1 while any call forwarding is on for the port.",
		}, []string{"port"}),
		pinFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_pin_failures_total", Help: "Wrong remote-activation entries (wrong PIN or unknown extension).",
		}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_remote_lockouts_total", Help: "Remote-activation lockouts imposed, by what was locked (caller: a calling number).",
		}, []string{"kind"}),
		mirrorFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_forward_mirror_failures_total", Help: "Failed attempts to mirror forwarding into the mobile network.",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_remote_calls_total", Help: "Calls answered by the remote-activation dialogue, by entry (service-extension, staff-number, service-trunk).",
		}, []string{"entry"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_remote_attempts_total", Help: "Remote-activation entries and refusals, by result.",
		}, []string{"result"}),
		lockedCallers: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "critline_remote_locked_callers", Help: "Calling numbers locked out of remote activation now.",
		}, locked),
	}
	for _, v := range []Via{ViaCtl, ViaRemote, ViaNetwork} {
		m.changes.WithLabelValues(string(v))
	}
	m.lockouts.WithLabelValues(LockCaller)
	for _, e := range []string{EntryService, EntryStaff, EntryTrunk} {
		m.calls.WithLabelValues(e)
	}
	for _, r := range []string{ResultAccepted, ResultWrongPIN, ResultUnknownExt, ResultLockedOut, ResultWaiting, ResultRateLimited, ResultWithheld, ResultDisabled} {
		m.attempts.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.changes, m.active, m.pinFails, m.lockouts, m.mirrorFail, m.calls, m.attempts, m.lockedCallers} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("forwarding: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// persisted is the state file's payload.
type persisted struct {
	Ports   map[string]Settings `json:"ports"`
	Callers []savedCaller       `json:"callers,omitempty"`
	// Lockouts is read from older versions' files only.
	Lockouts []savedMark `json:"lockouts,omitempty"`
}

// New checks cfg, hashes plain PINs and restores the saved state. A state
// file that cannot be used is logged and the manager starts with no
// forwarding and no lockouts.
func New(cfg Config, opts Options) (*Manager, error) {
	ports, err := cfg.compile(true)
	if err != nil {
		return nil, err
	}
	if opts.Guard == nil {
		return nil, errors.New("forwarding: no toll-fraud guard given: forward-to numbers must be checked")
	}
	m := &Manager{cfg: cfg.withDefaults(), ports: ports, own: map[string]bool{}, guard: opts.Guard, store: opts.Store,
		clock: opts.Clock, now: opts.Now, log: opts.Log, settings: map[int]Settings{}, network: opts.Network}
	if m.clock == nil {
		m.clock = hal.SystemClock{}
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "forwarding")
	m.entries, m.exts = entryTable(m.ports)
	for _, n := range cfg.OwnNumbers {
		if d, err := normalizeDest(n); err == nil {
			m.own[d] = true
		}
	}
	if m.m, err = newMetrics(opts.Registerer, func() float64 { return float64(len(m.Lockouts())) }); err != nil {
		return nil, err
	}
	m.sec = newSecurity()
	m.restore()
	for id := range m.ports {
		m.setGauge(id)
	}
	m.mirrorPort, m.mirrorRefused = mirrorPolicy(m.ports, m.network, opts.NetworkPorts)
	switch {
	case m.mirrorPort != 0:
		m.mirror.start(m)
		st, _ := m.Get(m.mirrorPort)
		m.mirror.sync(st, true)
		m.log.Info("forwarding of this port is mirrored into the mobile network", "port", m.mirrorPort)
	case m.mirrorRefused != "" && m.network != nil:
		// The SIM may still hold a forward set before: it would take
		// every port's calls. Clear it.
		m.mirror.start(m)
		m.mirror.sync(Settings{}, true)
		m.log.Warn("forward_mirror refused; clearing any forwarding the SIM holds", "why", m.mirrorRefused)
	case m.mirrorRefused != "":
		m.log.Warn("forward_mirror refused", "why", m.mirrorRefused)
	}
	return m, nil
}

func (m *Manager) restore() {
	if m.store == nil {
		return
	}
	var p persisted
	err := m.store.Load(&p)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		m.log.Error("forwarding state not restored: starting with no forwarding and no lockouts", "err", err)
		return
	}
	for key, s := range p.Ports {
		id, err := strconv.Atoi(key)
		if _, ok := m.ports[id]; err != nil || !ok {
			m.log.Warn("saved forwarding for a port that is not configured: dropped", "port", key)
			continue
		}
		clean := Settings{NoAnswerAfter: s.NoAnswerAfter, Changed: s.Changed, By: s.By}
		for _, k := range Kinds() {
			if n := s.Number(k); n != "" {
				d, err := normalizeDest(n)
				if err != nil {
					m.log.Warn("saved forwarding number is not valid: dropped", "port", id, "kind", k, "err", err)
					continue
				}
				clean.set(k, d)
			}
		}
		if clean.NoAnswerAfter < 5*time.Second || clean.NoAnswerAfter > 2*time.Minute {
			clean.NoAnswerAfter = m.cfg.NoAnswerAfter
		}
		m.settings[id] = clean
		if clean.Active() {
			m.log.Info("call forwarding restored", "port", id, "unconditional", clean.Unconditional, "busy", clean.Busy, "no_answer", clean.NoAnswer)
		}
	}
	m.sec.restore(p, m.clock.Now(), m.now(), m.cfg)
	if n := len(m.Lockouts()); n > 0 {
		m.log.Info("remote-activation lockouts restored", "count", n)
	}
}

// save persists the current state; called without m.mu held.
func (m *Manager) save() error {
	if m.store == nil {
		return nil
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	p := persisted{Ports: map[string]Settings{}}
	for id, s := range m.settings {
		if s.Active() {
			p.Ports[strconv.Itoa(id)] = s
		}
	}
	p.Callers = m.sec.snapshot(m.clock.Now(), m.now())
	m.mu.Unlock()
	err := m.store.Save(p)
	m.mu.Lock()
	m.unsaved = err != nil
	m.mu.Unlock()
	if err != nil {
		m.log.Error("forwarding state not saved", "err", err)
		return fmt.Errorf("%w: %w", ErrNotSaved, err)
	}
	return nil
}

func (m *Manager) setGauge(id int) {
	m.mu.Lock()
	on := m.settings[id].Active()
	m.mu.Unlock()
	v := 0.0
	if on {
		v = 1
	}
	m.m.active.WithLabelValues(strconv.Itoa(id)).Set(v)
}

// Ports lists the configured port ids in order.
func (m *Manager) Ports() []int { return slices.Sorted(maps.Keys(m.ports)) }

// Get returns a port's forwarding (zero Settings with the default ring
// time when none is on).
func (m *Manager) Get(port int) (Settings, error) {
	if _, ok := m.ports[port]; !ok {
		return Settings{}, fmt.Errorf("forwarding: no port %d (configured ports: %v)", port, m.Ports())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.settings[port]
	if s.NoAnswerAfter == 0 {
		s.NoAnswerAfter = m.cfg.NoAnswerAfter
	}
	return s, nil
}

// normalizeDest checks a forward-to number: digits with an optional
// leading '+', 3 to 20 of them, spaces and '-' ignored.
func normalizeDest(n string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == ' ' || c == '-':
		case c == '+' && sb.Len() == 0:
			sb.WriteByte(c)
		case c >= '0' && c <= '9':
			sb.WriteByte(c)
		default:
			return "", fmt.Errorf("forward-to number %q: only digits and a leading + are allowed", n)
		}
	}
	d := strings.TrimPrefix(sb.String(), "+")
	if len(d) < 3 || len(d) > 20 {
		return "", fmt.Errorf("forward-to number %q: use 3 to 20 digits", n)
	}
	return sb.String(), nil
}

// checkDest applies every rule a forward-to number must obey.
func (m *Manager) checkDest(number string) (string, error) {
	n, err := normalizeDest(number)
	if err != nil {
		return "", err
	}
	if m.own[n] {
		return "", fmt.Errorf("forward-to number %s is this appliance's own number: forwarding would loop", n)
	}
	d, err := m.guard.CheckNumber(m.cfg.Route, n)
	if err != nil {
		return "", fmt.Errorf("forward-to number %s: %w", n, err)
	}
	if d.Emergency {
		return "", fmt.Errorf("forward-to number %s is an emergency number: calls cannot be forwarded there", n)
	}
	if !d.Allowed {
		return "", fmt.Errorf("forward-to number %s refused by the toll-fraud guard (%s: %s): allow it under [[survivability.guard.route]] name = %q", n, d.Reason, d.Rule, m.cfg.Route)
	}
	return n, nil
}

// Set turns on forwarding of kind for port to number. ringTime applies to
// NoAnswer (0 = the configured default, else 5s..2m). who names the actor
// (a user, a caller's number). The change is saved, then takes effect and
// is logged and counted; one that cannot be saved is not made (an error
// wrapping ErrNotSaved). Mirroring into the network happens afterwards and
// never fails Set.
func (m *Manager) Set(ctx context.Context, port int, kind Kind, number string, ringTime time.Duration, via Via, who string) error {
	if _, ok := m.ports[port]; !ok {
		return fmt.Errorf("forwarding: no port %d (configured ports: %v)", port, m.Ports())
	}
	if _, err := ParseKind(string(kind)); err != nil {
		return fmt.Errorf("forwarding: %w", err)
	}
	if err := checkVia(via); err != nil {
		return err
	}
	if ringTime != 0 && (kind != NoAnswer || ringTime < 5*time.Second || ringTime > 2*time.Minute) {
		return fmt.Errorf("forwarding: ring time %v: give one only for no-answer, 5s to 2m", ringTime)
	}
	n, err := m.checkDest(number)
	if err != nil {
		m.log.Warn("call forwarding refused", "port", port, "kind", kind, "number", number, "via", via, "who", who, "err", err)
		return fmt.Errorf("forwarding: port %d: %w", port, err)
	}
	return m.change(port, []edit{{kind, n, ringTime}}, via, who)
}

// Clear turns off forwarding of kind for port ("" = every kind), as one
// change: saved first, not made when it cannot be saved (ErrNotSaved).
func (m *Manager) Clear(ctx context.Context, port int, kind Kind, via Via, who string) error {
	if _, ok := m.ports[port]; !ok {
		return fmt.Errorf("forwarding: no port %d (configured ports: %v)", port, m.Ports())
	}
	if err := checkVia(via); err != nil {
		return err
	}
	kinds := Kinds()
	if kind != "" {
		k, err := ParseKind(string(kind))
		if err != nil {
			return fmt.Errorf("forwarding: %w", err)
		}
		kinds = []Kind{k}
	}
	var edits []edit
	for _, k := range kinds {
		edits = append(edits, edit{kind: k})
	}
	return m.change(port, edits, via, who)
}

func checkVia(v Via) error {
	switch v {
	case ViaCtl, ViaRemote, ViaNetwork:
		return nil
	}
	return fmt.Errorf("forwarding: change source %q: use ctl, remote or network", v)
}

// edit is one kind of forwarding set to number ("" = off).
type edit struct {
	kind     Kind
	number   string
	ringTime time.Duration
}

// change applies edits to a port as one transaction: the new settings are
// saved first and only then in force; when they cannot be saved the port
// keeps its old settings and the error (wrapping ErrNotSaved) says why.
func (m *Manager) change(port int, edits []edit, via Via, who string) error {
	type applied struct {
		edit
		prev string
	}
	m.mu.Lock()
	old := m.settings[port]
	s := old
	var done []applied
	for _, e := range edits {
		prev, prevRing := s.Number(e.kind), s.NoAnswerAfter
		s.set(e.kind, e.number)
		if e.kind == NoAnswer && e.number != "" {
			s.NoAnswerAfter = e.ringTime
			if e.ringTime == 0 {
				s.NoAnswerAfter = m.cfg.NoAnswerAfter
			}
		}
		if prev != e.number || e.kind == NoAnswer && e.number != "" && prevRing != s.NoAnswerAfter {
			done = append(done, applied{e, prev})
		}
	}
	if len(done) == 0 && !m.unsaved {
		m.mu.Unlock()
		return nil
	}
	if len(done) > 0 {
		s.Changed = m.now().UTC()
		s.By = string(via) + ":" + who
		m.settings[port] = s
	}
	mirror := port == m.mirrorPort && via != ViaNetwork && len(done) > 0
	m.mu.Unlock()

	if err := m.save(); err != nil {
		m.mu.Lock()
		if m.settings[port] == s {
			m.settings[port] = old
		}
		m.mu.Unlock()
		what := "forwarding"
		if len(done) == 1 {
			if done[0].number != "" {
				what = fmt.Sprintf("%s forwarding to %s", done[0].kind, done[0].number)
			} else {
				what = fmt.Sprintf("%s forwarding (to %s)", done[0].kind, done[0].prev)
			}
		}
		m.log.Error("call forwarding change refused: it could not be saved", "port", port, "change", what, "via", via, "who", who, "err", err)
		verb := "set"
		if len(done) > 0 && done[0].number == "" {
			verb = "cleared"
		}
		return fmt.Errorf("forwarding: port %d: %s NOT %s, nothing changed: %w", port, what, verb, err)
	}
	for _, d := range done {
		m.m.changes.WithLabelValues(string(via)).Inc()
		if d.number == "" {
			m.log.Info("call forwarding cleared", "port", port, "kind", d.kind, "was", d.prev, "via", via, "who", who)
		} else {
			attrs := []any{"port", port, "kind", d.kind, "number", d.number, "was", d.prev, "via", via, "who", who}
			if d.kind == NoAnswer {
				attrs = append(attrs, "ring_time", s.NoAnswerAfter)
			}
			m.log.Info("call forwarding set", attrs...)
		}
	}
	if mirror {
		m.mirror.sync(s, false)
	}
	m.setGauge(port)
	return nil
}

// Close stops the network mirror after it has sent what is queued.
func (m *Manager) Close() {
	if m.mirror.done != nil {
		m.mirror.stop()
	}
}
