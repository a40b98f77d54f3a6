package sip

import (
	"log/slog"
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// testLogger logs to the test at debug level when SIP_TEST_LOG is set
// (SIP_TEST_LOG=2 also dumps every SIP message), else discards.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SIP_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	l := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if os.Getenv("SIP_TEST_LOG") == "2" {
		sip.SIPDebug = true
		sip.SetDefaultLogger(l)
	}
	return l
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
