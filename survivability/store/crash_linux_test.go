//go:build linux

package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// crashState is what the child saves: Check is derived from Seq and Pad so
// a mixture of two versions cannot pass.
type crashState struct {
	Seq   int    `json:"seq"`
	Pad   string `json:"pad"`
	Check string `json:"check"`
}

func makeCrashState(seq int) crashState {
	pad := strings.Repeat(strconv.Itoa(seq%10), 2000+seq%5000)
	sum := sha256.Sum256([]byte(fmt.Sprint(seq, pad)))
	return crashState{Seq: seq, Pad: pad, Check: hex.EncodeToString(sum[:])}
}

const childEnv = "CRITLINE_STORE_CRASH_CHILD"

// TestCrashChild is the child process of TestKillDuringSave: it saves
// versions in a loop and prints each sequence number once Save returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("child process of TestKillDuringSave")
	}
	f, err := Open(dir, "crash", nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	start, _ := strconv.Atoi(os.Getenv(childEnv + "_START"))
	for seq := start; ; seq++ {
		if err := f.Save(makeCrashState(seq)); err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("SAVED", seq)
	}
}

// TestKillDuringSave kills a saving process with SIGKILL at random moments
// and checks the state file always loads as a version the child saved: the
// last one it reported, or the one it was writing.
func TestKillDuringSave(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	rounds := 25
	if testing.Short() {
		rounds = 5
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next := 1
	lastGood := 0
	midWrite, renamedUnreported := 0, 0
	for r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, childEnv+"_START="+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		// Let the child save a random number of versions, then kill it
		// mid-stream: it keeps writing while we read, so the kill lands
		// at an arbitrary point of a Save.
		want := 1 + rng.IntN(40)
		reported := lastGood
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "ERR") {
				t.Fatalf("child: %s", line)
			}
			if n, ok := strings.CutPrefix(line, "SAVED "); ok {
				reported, _ = strconv.Atoi(n)
				want--
				if want == 0 {
					break
				}
			}
		}
		// A short random spin so the kill does not always land just after a
		// line was printed.
		for range rng.IntN(200000) {
			_ = rng.Uint64()
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// Drain what the child printed before it died.
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "SAVED "); ok {
				reported, _ = strconv.Atoi(n)
			}
		}
		cmd.Wait()

		if m, _ := filepath.Glob(filepath.Join(dir, ".crash.json.tmp-*")); len(m) > 0 {
			midWrite++
		}
		f, err := Open(dir, "crash", nil)
		if err != nil {
			t.Fatal(err)
		}
		var st crashState
		if err := f.Load(&st); err != nil {
			t.Fatalf("round %d: after SIGKILL the state does not load: %v", r, err)
		}
		if st != makeCrashState(st.Seq) {
			t.Fatalf("round %d: loaded version %d is not one the child saved", r, st.Seq)
		}
		if st.Seq != reported && st.Seq != reported+1 {
			t.Fatalf("round %d: loaded version %d, child last reported %d", r, st.Seq, reported)
		}
		if st.Seq == reported+1 {
			renamedUnreported++
		}
		lastGood = st.Seq
		next = st.Seq + 1
		if m, _ := filepath.Glob(filepath.Join(dir, ".crash.json.tmp-*")); len(m) > 1 {
			t.Fatalf("temporary files pile up after Open: %v", m)
		}
	}
	t.Logf("%d kills: %d left a half-written temporary file, %d landed after the rename but before Save returned; every time the file loaded (last version %d)",
		rounds, midWrite, renamedUnreported, lastGood)
}

const roChildEnv = "CRITLINE_STORE_RO_CHILD"

// TestReadOnlyChild runs in a private mount namespace (see
// TestReadOnlyDirectory) and tries to save into a read-only filesystem.
func TestReadOnlyChild(t *testing.T) {
	dir := os.Getenv(roChildEnv)
	if dir == "" {
		t.Skip("child process of TestReadOnlyDirectory")
	}
	// Put a valid state file there first, then make the mount read-only.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		fmt.Println("MOUNT", err)
		return
	}
	f, err := Open(dir, "forwarding", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save(state{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		fmt.Println("MOUNT", err)
		return
	}
	f, err = Open(dir, "forwarding", nil)
	if err != nil {
		fmt.Println("OPENERR", err)
		return
	}
	err = f.Save(state{Seq: 2})
	fmt.Println("SAVEERR", err)
	var st state
	fmt.Println("LOAD", f.Load(&st), st.Seq)
}

// TestReadOnlyDirectory checks Save in a read-only place fails with an error
// that names the file and the fix, and that Load still works there. As root
// permissions do not stop writes, so the child mounts a read-only tmpfs in
// its own mount namespace; otherwise the directory is made 0555.
func TestReadOnlyDirectory(t *testing.T) {
	if os.Getenv(roChildEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		f, _ := openT(t, dir)
		if err := f.Save(state{Seq: 1}); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
		err := f.Save(state{Seq: 2})
		if err == nil || !strings.Contains(err.Error(), f.Path()) || !strings.Contains(err.Error(), "writable") {
			t.Fatalf("Save into a read-only directory: %v", err)
		}
		var st state
		if err := f.Load(&st); err != nil || st.Seq != 1 {
			t.Fatalf("Load from a read-only directory: %+v %v", st, err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), roChildEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "MOUNT ") || strings.Contains(s, "operation not permitted") {
		testenv.Missing(t, "cannot mount a read-only tmpfs in a private mount namespace (needs CAP_SYS_ADMIN): "+s)
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, s)
	}
	if !strings.Contains(s, "SAVEERR store: save "+filepath.Join(dir, "forwarding.json")) ||
		!strings.Contains(s, "read-only") || !strings.Contains(s, "--state-dir") {
		t.Fatalf("Save on a read-only filesystem did not give a clear error:\n%s", s)
	}
	if !strings.Contains(s, "LOAD <nil> 1") {
		t.Fatalf("Load on a read-only filesystem failed:\n%s", s)
	}
	t.Logf("child said:\n%s", s)
}
