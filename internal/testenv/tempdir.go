package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SearchableTempDir is t.TempDir made searchable by every user (0755, and
// its parent, which the testing package creates 0700), for files another
// user (AsUnprivileged, the daemon's user) must reach.
func SearchableTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
