package sip

import (
	"log/slog"
	"os"
	"testing"
)

// testLogger logs to the test at debug level when SIP_TEST_LOG is set,
// else discards.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SIP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
