package forwarding

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Remote activation is defended per calling number, never per port: a
// wrong entry (a PIN, or an extension that is not configured) makes that
// caller wait before the next one, twice as long each time; MaxFailures
// of them lock the caller out, and each further lockout lasts twice as
// long as the one before. Callers who withhold their number share one
// record, so they are throttled together. PIN checks across all callers
// are also rate-limited. Nobody can deny a port its forwarding by calling
// with someone else's mistakes: only the number that made them waits.

// LockCaller is the only kind of lockout: a calling number.
const LockCaller = "caller"

// LockPort is the kind older versions used for a locked port. Ports are no
// longer locked; the name is kept so the field tool's request is answered
// with a clear error.
const LockPort = "port"

// callerMark is what the defence remembers of one calling number; all
// times are on the manager's monotonic clock.
type callerMark struct {
	fails   int           // wrong entries since the last success
	nextTry time.Duration // no entry is checked before this
	forget  time.Duration // fails are forgotten after this
	locked  time.Duration // locked out until this (0: not locked)
	strikes int           // lockouts so far; each doubles the next
	strikeF time.Duration // strikes are forgotten after this
}

func (c callerMark) empty(now time.Duration) bool {
	return (c.fails == 0 || now >= c.forget) && now >= c.locked && (c.strikes == 0 || now >= c.strikeF) && now >= c.nextTry
}

// security is the remote-activation defence state; guarded by Manager.mu.
type security struct {
	callers  map[string]callerMark
	attempts []time.Duration // recent PIN checks, all callers
}

func newSecurity() security {
	return security{callers: map[string]callerMark{}}
}

// savedCaller is a caller's record in the state file, with wall-clock
// times (the monotonic clock restarts with the machine).
type savedCaller struct {
	Key     string    `json:"key"`
	Fails   int       `json:"fails,omitempty"`
	NextTry time.Time `json:"next_try,omitzero"`
	Forget  time.Time `json:"forget,omitzero"`
	Locked  time.Time `json:"locked_until,omitzero"`
	Strikes int       `json:"strikes,omitempty"`
	StrikeF time.Time `json:"strikes_forget,omitzero"`
}

// savedMark is the state file's record of older versions (failure counts
// and lockouts of callers and ports); read once to carry caller lockouts
// over.
type savedMark struct {
	Kind  string    `json:"kind"`
	Key   string    `json:"key"`
	Count int       `json:"count,omitempty"`
	Until time.Time `json:"until"`
}

func (s *security) expire(now time.Duration) {
	for k, c := range s.callers {
		if c.empty(now) {
			delete(s.callers, k)
		}
	}
}

func (s *security) snapshot(mono time.Duration, wall time.Time) []savedCaller {
	s.expire(mono)
	at := func(t time.Duration) time.Time {
		if t <= mono {
			return time.Time{}
		}
		return wall.Add(t - mono).UTC()
	}
	out := make([]savedCaller, 0, len(s.callers))
	for k, c := range s.callers {
		sc := savedCaller{Key: k, Locked: at(c.locked), NextTry: at(c.nextTry)}
		if mono < c.forget {
			sc.Fails, sc.Forget = c.fails, at(c.forget)
		}
		if mono < c.strikeF {
			sc.Strikes, sc.StrikeF = c.strikes, at(c.strikeF)
		}
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b savedCaller) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// restore loads saved records. No wait lasts longer than its longest
// possible value from now, whatever the wall clock says (a board without
// a real-time clock may boot with its clock far behind).
func (s *security) restore(p persisted, mono time.Duration, wall time.Time, cfg Config) {
	left := func(t time.Time, limit time.Duration) time.Duration {
		if t.IsZero() {
			return 0
		}
		return max(0, min(t.Sub(wall), limit))
	}
	valid := func(k string) bool { return k != "" && len(k) <= 32 && (k == Withheld || normalizeCaller(k) == k) }
	for _, sc := range p.Callers {
		if !valid(sc.Key) {
			continue
		}
		c := callerMark{fails: min(max(sc.Fails, 0), 100), strikes: min(max(sc.Strikes, 0), 30)}
		if d := left(sc.NextTry, MaxFailureDelay); d > 0 {
			c.nextTry = mono + d
		}
		if d := left(sc.Forget, FailureMemory); d > 0 {
			c.forget = mono + d
		} else {
			c.fails = 0
		}
		if d := left(sc.Locked, cfg.LockoutMax); d > 0 {
			c.locked = mono + d
		}
		if d := left(sc.StrikeF, cfg.LockoutMax+StrikeMemory); d > 0 {
			c.strikeF = mono + d
		} else {
			c.strikes = 0
		}
		if !c.empty(mono) {
			s.callers[sc.Key] = c
		}
	}
	// Older state files: caller lockouts carry over; port lockouts are gone.
	for _, m := range p.Lockouts {
		if m.Kind != LockCaller || !valid(m.Key) {
			continue
		}
		if d := left(m.Until, cfg.LockoutMax); d > 0 {
			c := s.callers[m.Key]
			c.locked = max(c.locked, mono+d)
			c.strikes = max(c.strikes, 1)
			c.strikeF = max(c.strikeF, c.locked+StrikeMemory)
			s.callers[m.Key] = c
		}
	}
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

// failureDelay is the wait after the n-th wrong entry (n >= 1).
func failureDelay(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < MaxFailureDelay; i++ {
		d *= 2
	}
	return min(d, MaxFailureDelay)
}

// lockoutFor is the length of a caller's k-th lockout (k >= 1).
func lockoutFor(cfg Config, k int) time.Duration {
	d := cfg.Lockout
	for i := 1; i < k && d < cfg.LockoutMax; i++ {
		d *= 2
	}
	return min(d, cfg.LockoutMax)
}

// fail records a wrong entry from caller: it returns the wait before the
// next entry, or the lockout imposed (0 when none).
func (s *security) fail(caller string, now time.Duration, cfg Config) (wait, locked time.Duration) {
	c := s.callers[caller]
	if now >= c.forget {
		c.fails = 0
	}
	if now >= c.strikeF {
		c.strikes = 0
	}
	c.fails++
	c.forget = now + FailureMemory
	if c.fails >= cfg.MaxFailures {
		c.strikes++
		locked = lockoutFor(cfg, c.strikes)
		c.locked = now + locked
		c.strikeF = c.locked + StrikeMemory
		c.fails = 0
		c.nextTry = 0
		s.callers[caller] = c
		return 0, locked
	}
	wait = failureDelay(cfg.FailureDelay, c.fails)
	c.nextTry = now + wait
	s.callers[caller] = c
	return wait, 0
}

// succeed forgets a caller's wrong entries (not their earlier lockouts).
func (s *security) succeed(caller string, now time.Duration) {
	c, ok := s.callers[caller]
	if !ok {
		return
	}
	c.fails, c.nextTry, c.forget = 0, 0, 0
	if c.empty(now) {
		delete(s.callers, caller)
		return
	}
	s.callers[caller] = c
}

// lockedFor reports how long caller stays locked out (0: not locked).
func (s *security) lockedFor(caller string, now time.Duration) time.Duration {
	if c, ok := s.callers[caller]; ok && now < c.locked {
		return c.locked - now
	}
	return 0
}

// waitFor reports how long caller must wait before the next entry.
func (s *security) waitFor(caller string, now time.Duration) time.Duration {
	if c, ok := s.callers[caller]; ok && now < c.nextTry {
		return c.nextTry - now
	}
	return 0
}

// Lockout is one active remote-activation lockout.
type Lockout struct {
	Kind      string        // LockCaller
	Key       string        // the caller's number, or "withheld"
	Remaining time.Duration // until it lifts
	Strikes   int           // lockouts of this caller within StrikeMemory, this one included
}

// Lockouts lists the active lockouts (for status).
func (m *Manager) Lockouts() []Lockout {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	m.sec.expire(now)
	var out []Lockout
	for k, c := range m.sec.callers {
		if now < c.locked {
			out = append(out, Lockout{Kind: LockCaller, Key: k, Remaining: c.locked - now, Strikes: c.strikes})
		}
	}
	slices.SortFunc(out, func(a, b Lockout) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// ErrPortsNotLocked answers a request to unlock a port: ports are never
// locked out, only calling numbers.
var ErrPortsNotLocked = errors.New("ports are never locked out, only calling numbers: use critlinectl forward unlock caller NUMBER (or with no arguments to lift every lockout)")

// Unlock lifts lockouts and forgets wrong entries and earlier lockouts:
// kind LockCaller or "" (both mean callers), key a caller's number (or
// "withheld"; "" = every caller). who names the engineer, for the log. It
// returns how many lockouts it lifted. Like a forwarding change it is
// saved first: when it cannot be, nothing is lifted (an error wrapping
// ErrNotSaved), since a restart would bring the lockouts back.
func (m *Manager) Unlock(kind, key, who string) (int, error) {
	switch kind {
	case "", LockCaller:
	case LockPort:
		return 0, ErrPortsNotLocked
	default:
		return 0, errors.New("forwarding: unlock " + kind + ": use caller")
	}
	if key != "" {
		key = callerKey(key)
	}
	m.mu.Lock()
	now := m.clock.Now()
	n := 0
	lifted := map[string]callerMark{}
	for k, c := range m.sec.callers {
		if key != "" && k != key {
			continue
		}
		if now < c.locked {
			n++
		}
		lifted[k] = c
		delete(m.sec.callers, k)
	}
	m.mu.Unlock()
	if err := m.save(); err != nil {
		m.mu.Lock()
		for k, c := range lifted {
			if _, ok := m.sec.callers[k]; !ok {
				m.sec.callers[k] = c
			}
		}
		m.mu.Unlock()
		return 0, fmt.Errorf("forwarding: lockouts NOT lifted, nothing changed: %w", err)
	}
	m.log.Info("remote-activation lockouts lifted", "key", key, "lifted", n, "who", who)
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
	if id == Withheld {
		return Withheld
	}
	if n := normalizeCaller(id); n != "" {
		return n
	}
	return Withheld
}

// SameNumber reports whether two telephone numbers are the same line
// written in different forms: "+447700900123", "447700900123" and
// "07700900123" all match (the national number, with or without a country
// code); two numbers that both carry a country code ("+", "00") must agree
// on it. Numbers shorter than 7 digits match only exactly.
func SameNumber(a, b string) bool {
	a, b = normalizeCaller(a), normalizeCaller(b)
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	intl := func(s string) bool { return strings.HasPrefix(s, "+") || strings.HasPrefix(s, "00") }
	if intl(a) && intl(b) {
		// Both carry their country code: they must agree.
		x, y := strings.TrimLeft(strings.TrimPrefix(a, "+"), "0"), strings.TrimLeft(strings.TrimPrefix(b, "+"), "0")
		return x == y && len(x) >= 7
	}
	core := func(s string) string {
		for len(s) > 0 && (s[0] == '+' || s[0] == '0') {
			s = s[1:]
		}
		return s
	}
	a, b = core(a), core(b)
	if len(a) > len(b) {
		a, b = b, a
	}
	// a is the national significant number; b may carry a country code
	// of 1 to 3 digits in front of it.
	return len(a) >= 7 && len(b)-len(a) <= 3 && b[len(b)-len(a):] == a
}
