//go:build unix

package firmware

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The kill -9 test and the install benchmark run Install in a child
// process: the test binary itself, re-executed with FIRMWARE_TEST_CHILD set.
const childEnv = "FIRMWARE_TEST_CHILD"

type childJob struct {
	Cfg     Config
	PubPEM  []byte
	Bundle  string
	BufSize int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	pub, err := ParsePublicKey(job.PubPEM)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	f, err := os.Open(job.Bundle)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	defer f.Close()
	out := bufio.NewWriter(os.Stdout)
	_, err = Install(context.Background(), job.Cfg, bufio.NewReaderSize(f, 64<<10), InstallOptions{
		Keys:    NewKeyring(TrustedKey{Source: "test", Key: pub}),
		bufSize: job.BufSize,
		Progress: func(p Progress) {
			fmt.Fprintf(out, "P %s %d\n", p.Phase, p.Done)
			out.Flush()
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child install:", err)
		return 1
	}
	fmt.Fprintln(out, "DONE")
	out.Flush()
	return 0
}

func (r *rig) childCmd(bundlePath string, bufSize int) *exec.Cmd {
	r.t.Helper()
	pem, err := MarshalPublicKey(r.priv.Public().(ed25519.PublicKey))
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := r.cfg
	cfg.Logger, cfg.Reboot = nil, nil
	spec, err := json.Marshal(childJob{Cfg: cfg, PubPEM: pem, Bundle: bundlePath, BufSize: bufSize})
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	return cmd
}

// TestKillDuringInstall kills an installing child process with SIGKILL at
// random points (counted in progress lines, not time): the active slot must
// stay bit for bit the same, status must report the interruption, nothing
// may be armed, and a later install must succeed.
func TestKillDuringInstall(t *testing.T) {
	r := newRig(t)
	aSum := fileSum(t, r.cfg.SlotA)
	payload := randBytes(21, 4<<20)
	bundle := filepath.Join(r.dir, "update.crfw")
	writeFile(t, bundle, r.bundle("2.0.0", 4, payload))
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	const chunk = 64 << 10
	events := 2 * len(payload) / chunk // write + verify progress lines
	kills := 0
	for i := range 8 {
		k := rng.IntN(events + 4)
		if i == 7 {
			k = events // the last verify line: the kill races the final state write
		}
		cmd := r.childCmd(bundle, chunk)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		lines := 0
		finished := false
		for lines < k && sc.Scan() {
			lines++
			if sc.Text() == "DONE" {
				finished = true
			}
		}
		if !finished {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			kills++
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		if fileSum(t, r.cfg.SlotA) != aSum {
			t.Fatalf("round %d (killed after %d progress lines): the active slot a changed", i, lines)
		}
		s, err := ReadStatus(r.cfg)
		if err != nil {
			t.Fatalf("round %d: status: %v", i, err)
		}
		st := s.State
		// The install is done once its last state write lands; a kill
		// after that, before the child prints DONE, is a finished install,
		// and the trial it armed is meant to boot.
		committed := st.Install == "" && st.B.State == SlotTrial && st.B.SHA256 != "" && fileSum(t, r.cfg.SlotB) == st.B.SHA256
		done := cmd.ProcessState.Success() || committed
		t.Logf("round %d: killed after %d lines, exit %v, slot b %s, interrupted %v", i, lines, cmd.ProcessState, st.B.State, s.Interrupted)
		switch {
		case done:
			if st.Trial != "b" || st.B.State != SlotTrial {
				t.Fatalf("round %d: completed install left %+v", i, st)
			}
		case st.Install != "":
			if !s.Interrupted || s.InstallRunning || !strings.Contains(s.String(), "INTERRUPTED") {
				t.Fatalf("round %d: status does not report the interruption:\n%s", i, s)
			}
			if st.Trial != "" {
				t.Fatalf("round %d: trial armed by an interrupted install", i)
			}
		}
		if st.Active != "a" {
			t.Fatalf("round %d: active slot is %s", i, st.Active)
		}
		if slot, err := peekBoot(r.cfg.StateFile); err != nil || (slot == "b" && !done && st.Trial != "") {
			t.Fatalf("round %d: the bootloader would start %s (%v)", i, slot, err)
		}
	}
	t.Logf("%d of 8 installs killed", kills)
	res, err := r.install(mustRead(t, bundle), InstallOptions{})
	if err != nil {
		t.Fatalf("install after interruptions: %v", err)
	}
	if fileSum(t, r.cfg.SlotB) != res.SHA256 || fileSum(t, r.cfg.SlotA) != aSum {
		t.Fatal("final install wrong")
	}
	if s, _ := ReadStatus(r.cfg); s.Interrupted {
		t.Fatal("still reported interrupted")
	}
}

// peekBoot says which slot the bootloader would start, without changing
// the state.
func peekBoot(path string) (string, error) {
	st, err := LoadState(path)
	if err != nil {
		return "", err
	}
	if st.Trial != "" && st.TriesLeft > 0 {
		return st.Trial, nil
	}
	return st.Active, nil
}
