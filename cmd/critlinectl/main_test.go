package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func runCtl(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// Every verb and sub-verb prints its usage on --help and -h (and "help
// VERB [SUB]") and exits 0, without a daemon or a configuration.
func TestEveryVerbHasHelp(t *testing.T) {
	t.Setenv("CRITLINE_SOCKET", filepath.Join(t.TempDir(), "none.sock")) // nothing may be asked of a daemon
	var cases [][]string
	cases = append(cases, []string{"--help"}, []string{"-h"}, []string{"help"})
	names := make([]string, 0)
	for name := range verbs() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := verbs()[name]
		cases = append(cases, []string{name, "--help"}, []string{name, "-h"}, []string{"help", name})
		if len(v.sub) == 0 && strings.Contains(v.usage, " ") && name != "status" && name != "lifeline" {
			t.Errorf("verb %s has arguments but no sub-verb help", name)
		}
		for sub := range v.sub {
			cases = append(cases, []string{name, sub, "--help"}, []string{name, sub, "-h"}, []string{"help", name, sub})
		}
	}
	for _, args := range cases {
		out, errOut, code := runCtl(args...)
		if code != 0 || !strings.HasPrefix(out, "usage: critlinectl") || errOut != "" {
			t.Errorf("critlinectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
			continue
		}
		// A sub-verb's help is its own, not the verb's overview.
		if len(args) == 3 && args[2] != "" && args[0] != "help" {
			if !strings.Contains(out, "critlinectl "+args[0]+" ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], args[1]) {
				t.Errorf("critlinectl %s: not the sub-verb's usage:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	// Verbs that parse flags list them.
	for _, args := range [][]string{{"firmware", "install", "--help"}, {"firmware", "status", "-h"}, {"test", "board", "--help"}} {
		if out, _, _ := runCtl(args...); !strings.Contains(out, "Flags:") || !strings.Contains(out, "-config") {
			t.Errorf("critlinectl %s lists no flags:\n%s", strings.Join(args, " "), out)
		}
	}
	if _, errOut, code := runCtl("frobnicate", "--help"); code != exitUsage || !strings.Contains(errOut, "unknown verb") {
		t.Errorf("unknown verb with --help: exit %d %q", code, errOut)
	}
}

// --socket naming a directory or a plain file says so, instead of blaming
// a dead daemon.
func TestSocketThatIsNotASocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{dir, dir + " is a directory, not a control socket"},
		{file, file + " is a regular file, not a control socket"},
	} {
		_, errOut, code := runCtl("--socket", tc.path, "status")
		if code != exitFail || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "died") {
			t.Errorf("--socket %s: exit %d %q", tc.path, code, errOut)
		}
	}
	// A directory holding the socket: the message points at it.
	sock := filepath.Join(dir, "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, errOut, _ := runCtl("--socket", dir, "status"); !strings.Contains(errOut, "try --socket "+sock) {
		t.Errorf("directory holding control.sock: %q", errOut)
	}
	// A socket nobody listens on is still a dead daemon.
	ln.Close()
	if _, errOut, code := runCtl("--socket", sock, "status"); code != exitFail || !strings.Contains(errOut, "systemctl status critlined") {
		t.Errorf("stale socket: exit %d %q", code, errOut)
	}
}

// firmware status, confirm and rollback without a configuration say what
// is missing and fail, rather than describe slots nobody configured.
func TestFirmwareWithoutConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "critline.toml")
	for _, verb := range []string{"status", "confirm", "rollback"} {
		out, errOut, code := runCtl("firmware", verb, "--config", missing)
		if code != exitFail || out != "" || !strings.Contains(errOut, "no firmware configuration: "+missing+" does not exist") {
			t.Errorf("firmware %s without config: exit %d\nstdout %q\nstderr %q", verb, code, out, errOut)
		}
	}
	out, errOut, code := runCtl("firmware", "status", "--config", "../../examples/sim.toml")
	if code != exitFail || out != "" || !strings.Contains(errOut, "sets no [firmware] slot_a and slot_b") {
		t.Errorf("firmware status on a config without slots: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	// With the slots given, status reads them (a fresh appliance: no state file yet).
	dir := t.TempDir()
	out, errOut, code = runCtl("firmware", "status", "--config", missing, "--slot-a", filepath.Join(dir, "a"), "--slot-b", filepath.Join(dir, "b"), "--state-file", filepath.Join(dir, "boot.state"))
	if code != 0 || !strings.Contains(out, "running slot:") {
		t.Errorf("firmware status with slots: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// config check exits 78 with the daemon's lines for a file the daemon
// refuses (the parity over every fixture is TestCheckConfigParity in
// cmd/critlined).
func TestConfigCheckRefusesWhatTheDaemonRefuses(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("[[port]]\nid = 1\nextension = \"270001\"\npin = \"111111\"\n[survivability.guard.default]\nmax_duration = \"99h\"\n"), 0o644)
	out, errOut, code := runCtl("config", "check", p)
	if code != 78 || out != "" {
		t.Fatalf("exit %d stdout %q", code, out)
	}
	for _, w := range []string{p + ":4: port[0].pin: the PIN is too easy to guess", p + ":6: survivability.guard.default.max_duration"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("missing %q in\n%s", w, errOut)
		}
	}
}
