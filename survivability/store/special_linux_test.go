package store

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A state file that is not a regular file (a FIFO, a directory, a link to a
// device) is set aside like a corrupt one: Load never blocks on it, and
// Save works again afterwards.
func TestNonRegularStateFileSetAside(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o640) }},
		{"directory", func(p string) error {
			if err := os.Mkdir(p, 0o750); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p, "x"), []byte("x"), 0o640)
		}},
		{"device", func(p string) error { return os.Symlink("/dev/zero", p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, logbuf := openT(t, dir)
			if err := tc.make(f.Path()); err != nil {
				t.Fatal(err)
			}
			var st state
			done := make(chan error, 1)
			go func() { done <- f.Load(&st) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked on the state file")
			}
			if !IsCorrupt(err) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("Load: %v, want a CorruptError saying it is not a regular file", err)
			}
			if _, err := os.Lstat(f.Path()); !os.IsNotExist(err) {
				t.Errorf("the %s is still at %s", tc.name, f.Path())
			}
			if !strings.Contains(logbuf.String(), "moved it aside") {
				t.Errorf("not logged: %s", logbuf)
			}
			if err := f.Save(state{Seq: 3}); err != nil {
				t.Fatalf("Save after setting aside: %v", err)
			}
			if err := f.Load(&st); err != nil || st.Seq != 3 {
				t.Fatalf("Load after Save: %v %+v", err, st)
			}
		})
	}
}

// Save over a directory in the state file's place sets it aside instead of
// failing for ever.
func TestSaveOverDirectory(t *testing.T) {
	f, _ := openT(t, t.TempDir())
	if err := os.MkdirAll(filepath.Join(f.Path(), "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(state{Seq: 1}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	var st state
	if err := f.Load(&st); err != nil || st.Seq != 1 {
		t.Fatalf("Load: %v %+v", err, st)
	}
}
