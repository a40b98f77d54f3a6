package sip

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A registrar that stays down is one WARN per line, not one per retry; a
// different error is news; the recovery says how many attempts failed.
func TestRegistrationFailuresLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var f failureLog
	timeout := errors.New("registrar chorus: sip: no response in time")
	for range 5 {
		f.failed(log, 1, 0, "chorus", timeout)
	}
	f.failed(log, 1, 1, "cloud", timeout) // another registrar: its own run
	refused := errors.New("registrar chorus: 503 Service Unavailable")
	f.failed(log, 1, 0, "chorus", refused)
	f.succeeded(log, 1, 0, "chorus")
	f.succeeded(log, 1, 0, "chorus") // nothing to end
	f.failed(log, 1, 0, "chorus", timeout)

	var warn, debug, info []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		switch {
		case strings.Contains(l, "level=WARN"):
			warn = append(warn, l)
		case strings.Contains(l, "level=DEBUG"):
			debug = append(debug, l)
		case strings.Contains(l, "level=INFO"):
			info = append(info, l)
		}
	}
	if len(warn) != 4 || !strings.Contains(warn[0], "registrar=chorus failures=1") || !strings.Contains(warn[1], "registrar=cloud failures=1") ||
		!strings.Contains(warn[2], "failures=6") || !strings.Contains(warn[2], "503") || !strings.Contains(warn[3], "failures=1") {
		t.Errorf("WARN lines:\n%s", strings.Join(warn, "\n"))
	}
	if len(debug) != 4 || !strings.Contains(debug[3], "failures=5") {
		t.Errorf("DEBUG lines:\n%s", strings.Join(debug, "\n"))
	}
	if len(info) != 1 || !strings.Contains(info[0], "failed_attempts=6") {
		t.Errorf("INFO lines:\n%s", strings.Join(info, "\n"))
	}
}
