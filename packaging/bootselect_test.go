package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/critline/critline/firmware"
)

// TestBootselectMatchesGo runs the shell boot counter a bootloader or
// initramfs would run (critline-bootselect) and firmware.SelectBoot side by
// side over a series of boots: both must choose the same slot and leave the
// same state.
func TestBootselectMatchesGo(t *testing.T) {
	script, err := filepath.Abs("critline-bootselect")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shState, goState := filepath.Join(dir, "sh.state"), filepath.Join(dir, "go.state")

	if out, err := exec.Command("sh", script, filepath.Join(dir, "none")).Output(); err != nil || strings.TrimSpace(string(out)) != "a" {
		t.Fatalf("no state file: %q %v", out, err)
	}
	arm := func(active, trial string, tries int) {
		st, err := firmware.ParseState([]byte("active=" + active + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		st.Trial, st.TriesLeft = trial, tries
		if trial != "" {
			st.Slot(trial).State = firmware.SlotTrial
		}
		for _, p := range []string{shState, goState} {
			if err := firmware.SaveState(p, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	boot := func(want string) {
		t.Helper()
		out, err := exec.Command("sh", script, shState).CombinedOutput()
		if err != nil {
			t.Fatalf("critline-bootselect: %v\n%s", err, out)
		}
		goSlot, err := firmware.SelectBoot(goState)
		if err != nil {
			t.Fatal(err)
		}
		shSlot := strings.TrimSpace(string(out))
		if shSlot != want || goSlot != want {
			t.Fatalf("boot: shell chose %q, Go chose %q, want %q", shSlot, goSlot, want)
		}
		shSt, err := firmware.LoadState(shState)
		if err != nil {
			t.Fatalf("state after the shell script: %v", err)
		}
		goSt, _ := firmware.LoadState(goState)
		if !reflect.DeepEqual(shSt, goSt) {
			t.Fatalf("states differ:\nshell: %+v\nGo:    %+v", shSt, goSt)
		}
		if left, _ := filepath.Glob(shState + ".bootselect.*"); len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	}
	arm("a", "b", 1)
	boot("b") // the one trial boot
	boot("a") // not confirmed: back to the active slot
	boot("a")
	arm("b", "a", 2)
	boot("a")
	boot("a")
	boot("b")
	arm("b", "", 0)
	boot("b")
	// A damaged tries_left counts as no tries.
	data, _ := os.ReadFile(shState)
	os.WriteFile(shState, []byte(strings.Replace(string(data), "trial=", "trial=a", 1)+"\n"), 0o644)
	os.WriteFile(shState, []byte(strings.Replace(string(mustRead(t, shState)), "tries_left=0", "tries_left=x", 1)), 0o644)
	if out, _ := exec.Command("sh", script, shState).Output(); strings.TrimSpace(string(out)) != "b" {
		t.Fatalf("damaged tries_left: booted %q", out)
	}
}
