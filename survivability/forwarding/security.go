package forwarding

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Lockout kinds.
const (
	LockCaller = "caller"
	LockPort   = "port"
)

type markKey struct {
	kind string // LockCaller or LockPort
	key  string // caller number or port id
}

type failures struct {
	count int
	until time.Duration // forgotten after this (monotonic)
}

// security is the remote-activation defence state; guarded by Manager.mu.
type security struct {
	failures map[markKey]failures
	lockouts map[markKey]time.Duration // locked until (monotonic)
	attempts []time.Duration           // recent PIN attempts, all callers
}

func newSecurity() security {
	return security{failures: map[markKey]failures{}, lockouts: map[markKey]time.Duration{}}
}

// savedMark is a failure count or a lockout in the state file, with a wall
// clock expiry (the monotonic clock restarts with the machine).
type savedMark struct {
	Kind  string    `json:"kind"`
	Key   string    `json:"key"`
	Count int       `json:"count,omitempty"`
	Until time.Time `json:"until"`
}

func (s *security) snapshot(mono time.Duration, wall time.Time) (fails, locks []savedMark) {
	s.expire(mono)
	for k, f := range s.failures {
		fails = append(fails, savedMark{Kind: k.kind, Key: k.key, Count: f.count, Until: wall.Add(f.until - mono).UTC()})
	}
	for k, until := range s.lockouts {
		locks = append(locks, savedMark{Kind: k.kind, Key: k.key, Until: wall.Add(until - mono).UTC()})
	}
	order := func(a, b savedMark) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key)) }
	slices.SortFunc(fails, order)
	slices.SortFunc(locks, order)
	return fails, locks
}

// restore loads saved marks. A mark never lasts longer than max from now,
// whatever the wall clock says (a board without a real-time clock may boot
// with its clock far behind).
func (s *security) restore(p persisted, mono time.Duration, wall time.Time, max time.Duration) {
	left := func(until time.Time) time.Duration { return min(until.Sub(wall), max) }
	valid := func(m savedMark) bool {
		return (m.Kind == LockCaller || m.Kind == LockPort) && m.Key != "" && len(m.Key) <= 32
	}
	for _, m := range p.Failures {
		if d := left(m.Until); valid(m) && d > 0 && m.Count > 0 {
			s.failures[markKey{m.Kind, m.Key}] = failures{count: min(m.Count, 100), until: mono + d}
		}
	}
	for _, m := range p.Lockouts {
		if d := left(m.Until); valid(m) && d > 0 {
			s.lockouts[markKey{m.Kind, m.Key}] = mono + d
		}
	}
}

func (s *security) expire(now time.Duration) {
	for k, f := range s.failures {
		if now >= f.until {
			delete(s.failures, k)
		}
	}
	for k, until := range s.lockouts {
		if now >= until {
			delete(s.lockouts, k)
		}
	}
}

func (s *security) locked(k markKey, now time.Duration) bool {
	until, ok := s.lockouts[k]
	return ok && now < until
}

// allowAttempt applies the global rate limit and records the attempt.
func (s *security) allowAttempt(now, window time.Duration, max int) bool {
	keep := s.attempts[:0]
	for _, t := range s.attempts {
		if now-t < window {
			keep = append(keep, t)
		}
	}
	s.attempts = keep
	if len(s.attempts) >= max {
		return false
	}
	s.attempts = append(s.attempts, now)
	return true
}

// fail counts a failure against k and reports whether it reached max.
func (s *security) fail(k markKey, now, window time.Duration, max int) bool {
	f := s.failures[k]
	if now >= f.until {
		f = failures{}
	}
	f.count++
	f.until = now + window
	s.failures[k] = f
	return f.count >= max
}

func (s *security) lock(k markKey, now, d time.Duration) {
	s.lockouts[k] = now + d
	delete(s.failures, k)
}

// Lockout is one active remote-activation lockout.
type Lockout struct {
	Kind      string        // LockCaller or LockPort
	Key       string        // the caller's number or the port id
	Remaining time.Duration // until it lifts
}

// Lockouts lists the active lockouts (for status).
func (m *Manager) Lockouts() []Lockout {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	m.sec.expire(now)
	var out []Lockout
	for k, until := range m.sec.lockouts {
		out = append(out, Lockout{Kind: k.kind, Key: k.key, Remaining: until - now})
	}
	slices.SortFunc(out, func(a, b Lockout) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key)) })
	return out
}

// Unlock lifts lockouts and forgets failures: kind LockCaller or LockPort
// ("" = both), key a caller's number or a port id ("" = all of the kind).
// who names the engineer, for the log. It returns how many lockouts it
// lifted. Like a forwarding change it is saved first: when it cannot be,
// nothing is lifted (an error wrapping ErrNotSaved), since a restart would
// bring the lockouts back.
func (m *Manager) Unlock(kind, key, who string) (int, error) {
	if kind == LockCaller && key != "" {
		key = callerKey(key)
	}
	m.mu.Lock()
	n := 0
	match := func(k markKey) bool { return (kind == "" || k.kind == kind) && (key == "" || k.key == key) }
	locks, fails := map[markKey]time.Duration{}, map[markKey]failures{}
	for k, until := range m.sec.lockouts {
		if match(k) {
			locks[k] = until
			delete(m.sec.lockouts, k)
			n++
		}
	}
	for k, f := range m.sec.failures {
		if match(k) {
			fails[k] = f
			delete(m.sec.failures, k)
		}
	}
	m.mu.Unlock()
	if err := m.save(); err != nil {
		m.mu.Lock()
		for k, until := range locks {
			if _, ok := m.sec.lockouts[k]; !ok {
				m.sec.lockouts[k] = until
			}
		}
		for k, f := range fails {
			if _, ok := m.sec.failures[k]; !ok {
				m.sec.failures[k] = f
			}
		}
		m.mu.Unlock()
		return 0, fmt.Errorf("forwarding: lockouts NOT lifted, nothing changed: %w", err)
	}
	m.log.Info("remote-activation lockouts lifted", "kind", kind, "key", key, "lifted", n, "who", who)
	return n, nil
}

// normalizeCaller reduces a caller ID to digits with an optional leading
// '+'; "" means withheld.
func normalizeCaller(id string) string {
	b := make([]byte, 0, len(id))
	for i := 0; i < len(id) && len(b) < 32; i++ {
		c := id[i]
		if c >= '0' && c <= '9' || c == '+' && len(b) == 0 {
			b = append(b, c)
		}
	}
	if len(b) == 1 && b[0] == '+' {
		return ""
	}
	return string(b)
}

// Withheld is the caller key of callers who withhold their number.
const Withheld = "withheld"

// callerKey is the key lockouts use for a caller ID.
func callerKey(id string) string {
	if n := normalizeCaller(id); n != "" {
		return n
	}
	return Withheld
}

// pinResult is the outcome of one remote PIN attempt.
type pinResult int

const (
	pinOK          pinResult = iota
	pinWrong                 // wrong, may try again
	pinWrongLocked           // wrong, and now locked out
	pinRefused               // not even checked: locked out or rate-limited
)

// callerLocked reports whether caller may not use remote activation now.
func (m *Manager) callerLocked(caller string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sec.locked(markKey{LockCaller, caller}, m.clock.Now())
}

// portOpen reports whether port takes remote activation, and whether it is
// locked out.
func (m *Manager) portOpen(port int) (ok, locked bool) {
	pc, exists := m.ports[port]
	if !exists || pc.pin == nil {
		return false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return true, m.sec.locked(markKey{LockPort, strconv.Itoa(port)}, m.clock.Now())
}

// badPort counts a caller's entry of a port that takes no remote
// activation and reports whether the caller is now locked out.
func (m *Manager) badPort(caller string, entered string) bool {
	m.mu.Lock()
	now := m.clock.Now()
	ck := markKey{LockCaller, caller}
	locked := m.sec.fail(ck, now, m.cfg.Lockout, m.cfg.MaxFailures)
	if locked {
		m.sec.lock(ck, now, m.cfg.Lockout)
	}
	m.mu.Unlock()
	m.m.pinFails.Inc()
	m.log.Warn("remote activation: unknown port entered", "caller", caller, "entered", entered)
	if locked {
		m.m.lockouts.WithLabelValues(LockCaller).Inc()
		m.log.Warn("remote activation: caller locked out", "caller", caller, "for", m.cfg.Lockout)
	}
	_ = m.save()
	return locked
}

// tryPIN checks a PIN for port from caller, applying lockouts and the rate
// limit, and records the outcome.
func (m *Manager) tryPIN(caller string, port int, pin string) pinResult {
	pc := m.ports[port]
	pk := markKey{LockPort, strconv.Itoa(port)}
	ck := markKey{LockCaller, caller}
	m.mu.Lock()
	now := m.clock.Now()
	if m.sec.locked(ck, now) || m.sec.locked(pk, now) {
		m.mu.Unlock()
		m.log.Warn("remote activation refused: locked out", "caller", caller, "port", port)
		return pinRefused
	}
	if !m.sec.allowAttempt(now, m.cfg.AttemptWindow, m.cfg.MaxAttempts) {
		m.mu.Unlock()
		m.log.Warn("remote activation refused: too many PIN attempts from all callers; waiting for the window to pass",
			"caller", caller, "port", port, "max_attempts", m.cfg.MaxAttempts, "window", m.cfg.AttemptWindow)
		return pinRefused
	}
	m.mu.Unlock()

	good := pc != nil && pc.pin != nil && pc.pin.Verify(pin)

	m.mu.Lock()
	now = m.clock.Now()
	if good {
		delete(m.sec.failures, ck)
		delete(m.sec.failures, pk)
		m.mu.Unlock()
		m.log.Info("remote activation: PIN accepted", "caller", caller, "port", port)
		_ = m.save()
		return pinOK
	}
	c := m.sec.fail(ck, now, m.cfg.Lockout, m.cfg.MaxFailures)
	p := m.sec.fail(pk, now, m.cfg.Lockout, m.cfg.MaxFailures)
	lock := c || p
	if lock {
		m.sec.lock(ck, now, m.cfg.Lockout)
		m.sec.lock(pk, now, m.cfg.Lockout)
	}
	m.mu.Unlock()
	m.m.pinFails.Inc()
	m.log.Warn("remote activation: wrong PIN", "caller", caller, "port", port)
	if lock {
		m.m.lockouts.WithLabelValues(LockCaller).Inc()
		m.m.lockouts.WithLabelValues(LockPort).Inc()
		m.log.Warn("remote activation: caller and port locked out", "caller", caller, "port", port, "for", m.cfg.Lockout)
	}
	_ = m.save()
	if lock {
		return pinWrongLocked
	}
	return pinWrong
}
