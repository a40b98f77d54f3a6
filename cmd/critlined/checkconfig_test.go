package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs a built binary in dir and returns its stdout, stderr and exit
// code.
func runIn(t *testing.T, dir, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// `critlined --check-config` and `critlinectl config check` agree on every
// example and every broken fixture: same exit code (0 or 78), same lines.
func TestCheckConfigParity(t *testing.T) {
	bin := buildBinaries(t)
	examples, _ := filepath.Glob("../../examples/*.toml")
	broken, _ := filepath.Glob("../../internal/configcheck/testdata/broken/*.toml")
	if len(examples) < 2 || len(broken) < 10 {
		t.Fatalf("examples %v, fixtures %v", examples, broken)
	}
	for _, f := range append(examples, broken...) {
		dir, name := filepath.Dir(f), filepath.Base(f)
		want := 78
		if strings.Contains(f, "examples") {
			want = 0
		}
		t.Run(name, func(t *testing.T) {
			dOut, dErr, dCode := runIn(t, dir, filepath.Join(bin, "critlined"), "--check-config", "--config", name)
			cOut, cErr, cCode := runIn(t, dir, filepath.Join(bin, "critlinectl"), "config", "check", name)
			if dCode != want || cCode != want {
				t.Errorf("exit codes: critlined %d, critlinectl %d, want %d\ncritlined:\n%s%s\ncritlinectl:\n%s%s", dCode, cCode, want, dOut, dErr, cOut, cErr)
			}
			if dOut != cOut || dErr != cErr {
				t.Errorf("the commands disagree\ncritlined stdout:\n%s\ncritlinectl stdout:\n%s\ncritlined stderr:\n%s\ncritlinectl stderr:\n%s", dOut, cOut, dErr, cErr)
			}
			if want == 0 && !strings.HasPrefix(dOut, name+": valid (") {
				t.Errorf("stdout %q", dOut)
			}
			if want != 0 && (dErr == "" || dOut != "") {
				t.Errorf("a refused file: stdout %q, stderr %q", dOut, dErr)
			}
		})
	}
}
