//go:build linux

package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

const straceChildEnv = "CRITLINE_STORE_STRACE_CHILD"

// TestStraceChild saves once; TestSaveSyscallOrder traces it.
func TestStraceChild(t *testing.T) {
	dir := os.Getenv(straceChildEnv)
	if dir == "" {
		t.Skip("child process of TestSaveSyscallOrder")
	}
	f, err := Open(dir, "forwarding", nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("SAVE-BEGIN")
	if err := f.Save(state{Seq: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestSaveSyscallOrder checks, with strace, that Save makes the new state
// durable in the right order: data written to a temporary file in the same
// directory, that file fsynced, renamed over the state file, then the
// directory fsynced. This is what makes a power cut leave the old or the
// new file; kill -9 alone cannot show it, since the page cache survives.
func TestSaveSyscallOrder(t *testing.T) {
	if os.Getenv(straceChildEnv) != "" {
		t.Skip("in the child")
	}
	strace := testenv.LookTool(t, "strace", "strace")
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-o", out, "-e", "trace=openat,write,fsync,fdatasync,rename,renameat,renameat2,close",
		os.Args[0], "-test.run=^TestStraceChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), straceChildEnv+"="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "PTRACE") || strings.Contains(string(b), "Operation not permitted") {
			testenv.Missing(t, "strace cannot trace here: "+string(b))
		}
		t.Fatalf("strace: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the calls about our files, in order, as abstract steps.
	tmpRe := regexp.MustCompile(`openat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `/\.forwarding\.json\.tmp-\d+", [^)]*\) = (\d+)`)
	dirRe := regexp.MustCompile(`openat\(AT_FDCWD, "` + regexp.QuoteMeta(dir) + `", [^)]*\) = (\d+)`)
	var steps []string
	tmpFD, dirFD := "", ""
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, ' '); i > 0 {
			line = strings.TrimSpace(line[i:]) // drop the pid
		}
		switch {
		case tmpRe.MatchString(line):
			tmpFD = tmpRe.FindStringSubmatch(line)[1]
			steps = append(steps, "create-temp")
		case dirRe.MatchString(line) && tmpFD == "closed":
			dirFD = dirRe.FindStringSubmatch(line)[1]
			steps = append(steps, "open-dir")
		case tmpFD != "" && strings.HasPrefix(line, "write("+tmpFD+","):
			steps = append(steps, "write-temp")
		case tmpFD != "" && strings.HasPrefix(line, "fsync("+tmpFD+")"):
			steps = append(steps, "fsync-temp")
		case strings.HasPrefix(line, "rename") && strings.Contains(line, ".forwarding.json.tmp-") && strings.Contains(line, dir+`/forwarding.json"`):
			steps = append(steps, "rename")
		case dirFD != "" && strings.HasPrefix(line, "fsync("+dirFD+")"):
			steps = append(steps, "fsync-dir")
		case tmpFD != "" && strings.HasPrefix(line, "close("+tmpFD+")"):
			tmpFD = "closed" // the descriptor number is reused next
		}
	}
	got := strings.Join(compact(steps), " ")
	want := "create-temp write-temp fsync-temp rename open-dir fsync-dir"
	if got != want {
		t.Fatalf("Save's durable-write order is\n  %s\nwant\n  %s\ntrace:\n%s", got, want, raw)
	}
}

// compact merges repeated steps (a write may take several calls).
func compact(s []string) []string {
	var out []string
	for _, x := range s {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}
