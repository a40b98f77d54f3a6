package forwarding

import (
	"strconv"
	"strings"
	"time"
)

// verdict is the outcome of one remote-activation entry.
type verdict struct {
	result string        // one of the Result* constants; "" = go on
	wait   time.Duration // ResultWrongPIN, ResultUnknownExt, ResultWaiting: before the next entry
	locked time.Duration // ResultLockedOut: how long the caller stays locked out
	fresh  bool          // ResultLockedOut: this entry was wrong and locked the caller out
}

// record counts and logs an entry. Every attempt is logged with who
// called, by which entry, for which port; never with the PIN.
func (m *Manager) record(v verdict, caller, entry string, port int, detail string) {
	m.m.attempts.WithLabelValues(v.result).Inc()
	attrs := []any{"caller", caller, "entry", entry, "result", v.result}
	if port != 0 {
		attrs = append(attrs, "port", port)
	}
	if detail != "" {
		attrs = append(attrs, "entered", detail)
	}
	switch v.result {
	case ResultAccepted:
		m.log.Info("remote activation: PIN accepted", attrs...)
	case ResultWrongPIN, ResultUnknownExt:
		m.log.Warn("remote activation: wrong entry", append(attrs, "next_entry_after", v.wait)...)
	default:
		if v.locked > 0 {
			attrs = append(attrs, "locked_for", v.locked)
		}
		if v.wait > 0 {
			attrs = append(attrs, "wait", v.wait)
		}
		m.log.Warn("remote activation refused", attrs...)
	}
}

// admit decides whether a caller may use the dialogue at all.
func (m *Manager) admit(caller string) verdict {
	m.mu.Lock()
	locked := m.sec.lockedFor(caller, m.clock.Now())
	m.mu.Unlock()
	switch {
	case !m.cfg.Remote:
		return verdict{result: ResultDisabled}
	case caller == Withheld && !m.cfg.allowWithheld():
		return verdict{result: ResultWithheld}
	case locked > 0:
		return verdict{result: ResultLockedOut, locked: locked}
	}
	return verdict{}
}

// CallerLocked reports whether a caller is locked out of remote
// activation now (the trunk then rings the porters instead).
func (m *Manager) CallerLocked(callerID string) bool {
	return m.admit(callerKey(callerID)).result == ResultLockedOut
}

// Enabled reports whether remote activation is on.
func (m *Manager) Enabled() bool { return m.cfg.Remote }

// IsStaff reports whether callerID is one of the configured staff numbers.
func (m *Manager) IsStaff(callerID string) bool {
	for _, s := range m.cfg.StaffNumbers {
		if SameNumber(s, callerID) {
			return true
		}
	}
	return false
}

// StaffNumbers is how many staff numbers are configured.
func (m *Manager) StaffNumbers() int { return len(m.cfg.StaffNumbers) }

// wait reports how long caller must wait before the next entry.
func (m *Manager) waitFor(caller string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sec.waitFor(caller, m.clock.Now())
}

// wrong records a wrong entry (result ResultWrongPIN or ResultUnknownExt):
// the caller waits longer each time and is locked out at MaxFailures.
func (m *Manager) wrong(caller, entry string, port int, result, detail string) verdict {
	m.mu.Lock()
	wait, locked := m.sec.fail(caller, m.clock.Now(), m.cfg)
	m.mu.Unlock()
	m.m.pinFails.Inc()
	v := verdict{result: result, wait: wait}
	m.record(v, caller, entry, port, detail)
	if locked > 0 {
		m.m.lockouts.WithLabelValues(LockCaller).Inc()
		m.log.Warn("remote activation: caller locked out", "caller", caller, "entry", entry, "for", locked)
		v = verdict{result: ResultLockedOut, locked: locked, fresh: true}
	}
	_ = m.save()
	return v
}

// tryPIN checks a PIN for port from caller: locked-out callers, callers
// who must still wait, and callers over the global rate limit are refused
// without a check. Staff numbers are exempt from the global limit (spread
// over many spoofed numbers, an attack would otherwise deny staff their
// forwarding); they keep their own per-number lockout.
func (m *Manager) tryPIN(caller, entry string, staff bool, port int, pin string) verdict {
	pc := m.ports[port]
	m.mu.Lock()
	now := m.clock.Now()
	var v verdict
	switch {
	case m.sec.lockedFor(caller, now) > 0:
		v = verdict{result: ResultLockedOut, locked: m.sec.lockedFor(caller, now)}
	case m.sec.waitFor(caller, now) > 0:
		v = verdict{result: ResultWaiting, wait: m.sec.waitFor(caller, now)}
	case !staff && !m.sec.allowAttempt(now, m.cfg.AttemptWindow, m.cfg.MaxAttempts):
		v = verdict{result: ResultRateLimited}
	}
	m.mu.Unlock()
	if v.result != "" {
		m.record(v, caller, entry, port, "")
		return v
	}
	if pc == nil || pc.pin == nil || !pc.pin.Verify(pin) {
		return m.wrong(caller, entry, port, ResultWrongPIN, "")
	}
	m.mu.Lock()
	m.sec.succeed(caller, m.clock.Now())
	m.mu.Unlock()
	v = verdict{result: ResultAccepted}
	m.record(v, caller, entry, port, "")
	_ = m.save()
	return v
}

// entryTable maps what staff may key in to a port: every port's extension
// and, where no extension is written the same, its id. Only ports with a
// PIN are in it.
func entryTable(ports map[int]*portCfg) (byKey map[string]int, exts map[string]bool) {
	byKey, exts = map[string]int{}, map[string]bool{}
	for id, p := range ports {
		if p.pin != nil && p.ext != "" {
			byKey[p.ext] = id
			exts[p.ext] = true
		}
	}
	for id, p := range ports {
		if k := strconv.Itoa(id); p.pin != nil && !exts[k] {
			byKey[k] = id
		}
	}
	return byKey, exts
}

// lookupEntry returns the port staff mean by entered.
func (m *Manager) lookupEntry(entered string) (int, bool) {
	id, ok := m.entries[entered]
	return id, ok
}

// completeExtension reports whether entered is an extension that no other
// entry continues, so it can be taken without waiting for "#".
func (m *Manager) completeExtension(entered string) bool {
	if !m.exts[entered] {
		return false
	}
	for k := range m.entries {
		if len(k) > len(entered) && strings.HasPrefix(k, entered) {
			return false
		}
	}
	return true
}
