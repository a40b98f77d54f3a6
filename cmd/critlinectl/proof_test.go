package main

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/control"
)

// Status shows each path's last test, when it was proven, and the last run
// on battery, for a person on site.
func TestStatusShowsProof(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at, next := now.Add(-2*time.Hour), now.Add(13*time.Hour)
	low := 1800.0
	st := control.Status{
		PathTests: []control.PathStatus{
			{Path: "trunk:lte", Target: "07700900100", Last: &control.PathTest{Path: "trunk:lte", Result: "ok", Detail: "answered in 1.8 s", At: at}, LastSuccess: &at, NextTest: &next},
			{Path: "copper:1", Target: "port 1", Postponed: "port 1 handset off-hook: the test waits until the porters are idle"},
		},
		Battery: &control.Battery{ExpectedRuntimeSeconds: 7200, Runs: []control.BatteryRun{{Start: at, End: at.Add(time.Hour), Seconds: 3600, BatteryLowAfterSeconds: &low, EndedBy: "mains", Early: true}}},
	}
	var b strings.Builder
	printProof(&b, st, now)
	out := b.String()
	for _, want := range []string{"trunk:lte", "2h0m0s ago", "OK", "copper:1", "waiting", "handset off-hook", "never",
		"battery low after 30m0s", "ENDED EARLY", "expected runtime 2h0m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}
