package sip

import (
	"log/slog"
	"time"

	"github.com/emiago/sipgo/sip"
)

// SetTimers sets sipgo's process-wide transaction timers from T1, T2 and T4
// (RFC 3261 defaults 500 ms, 4 s, 5 s; Timer B and F become 64*T1). The
// daemon calls it once at start-up, before New; nothing else in critline
// may change them (tests excepted). Zero arguments keep the defaults.
func SetTimers(t1, t2, t4 time.Duration) {
	if t1 <= 0 {
		t1 = 500 * time.Millisecond
	}
	if t2 <= 0 {
		t2 = 4 * time.Second
	}
	if t4 <= 0 {
		t4 = 5 * time.Second
	}
	sip.SetTimers(t1, t2, t4)
}

// SetLibraryLogger routes sipgo's own process-wide log output (transport
// and transaction layer messages that are not tied to a UA) to l. Like
// SetTimers it is process-wide: the daemon calls it once at start-up.
func SetLibraryLogger(l *slog.Logger) {
	if l != nil {
		sip.SetDefaultLogger(l)
	}
}
