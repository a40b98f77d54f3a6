//go:build !linux

package testenv

import (
	"os"
	"testing"
)

// Nobody is the user and group id AsUnprivileged takes on Linux.
const Nobody = 65534

// AsUnprivileged runs f as it is when the test is not root; as root it
// needs Linux's per-thread file-system ids, so elsewhere the test is
// skipped (or failed under CI).
func AsUnprivileged(t testing.TB, f func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		Missing(t, "running as an ordinary user needs Linux's setfsuid")
		return
	}
	f()
}
