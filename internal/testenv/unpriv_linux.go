package testenv

import (
	"runtime"
	"syscall"
	"testing"
)

// Nobody is the user and group id AsUnprivileged takes (Debian's nobody and
// nogroup).
const Nobody = 65534

// AsUnprivileged runs f with the file-system permissions of an ordinary
// user, so that a test of "permission denied" paths also runs as root (CI
// runs as root, and root reads any file). It is a no-op wrapper when the
// test is not root. f runs on its own locked OS thread whose file-system
// ids are set to Nobody (setfsuid/setfsgid are per thread, and dropping the
// fsuid from 0 also drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for that
// thread); the thread is thrown away afterwards, so the rest of the process
// keeps its privileges. f must do its file work on the calling goroutine
// and must not call t.Fatal (report through its return values instead).
// The directories f walks through must be searchable by others (0755):
// t.TempDir makes 0700 ones.
func AsUnprivileged(t testing.TB, f func()) {
	t.Helper()
	if syscall.Geteuid() != 0 {
		f()
		return
	}
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's exit ends the thread with it.
		runtime.LockOSThread()
		if err := syscall.Setfsgid(Nobody); err != nil {
			done <- err
			return
		}
		if err := syscall.Setfsuid(Nobody); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("dropping file-system privileges: %v", err)
	}
}
