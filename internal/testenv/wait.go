package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds and fails the test when it still
// does not after within. It is a hang guard, never a timing assertion:
// within should be generous (seconds, not milliseconds), and a test that
// cares how long something took measures it and checks a ceiling itself.
// what names the awaited state for the failure message.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", within, what)
		}
		time.Sleep(pause)
		// Poll fast at first (most states settle within milliseconds),
		// then back off so a slow condition does not spin a CPU the
		// daemon under test needs.
		pause = min(2*pause, 20*time.Millisecond)
	}
}
