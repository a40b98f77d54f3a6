package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where nothing may be
// skipped for want of a tool.
func InCI() bool { return os.Getenv("CI") == "true" }

// LookTool returns the path of the named program. When it is missing the test
// is skipped, or failed under CI; debPackage names the Debian package that
// provides it (make test installs it).
func LookTool(t testing.TB, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, name+" not found on PATH: install it with 'apt-get install "+debPackage+"' (make test does this)")
	return ""
}

// Missing skips the test with why, or fails it under CI.
func Missing(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("required for CI: %s", why)
	}
	t.Skip(why)
}

// RequireRoot skips (or fails under CI) a test that needs root, e.g. for
// network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "this test needs root")
	}
}
