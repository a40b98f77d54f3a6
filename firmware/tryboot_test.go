package firmware

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// piRig is a rig using the Raspberry Pi tryboot method: an autoboot.txt
// and a device-tree folder saying which partition the firmware booted.
func piRig(t *testing.T, autoboot string) *rig {
	r := newRig(t)
	r.cfg.Method = MethodTryboot
	r.cfg.Autoboot = filepath.Join(r.dir, "autoboot.txt")
	r.cfg.DeviceTree = filepath.Join(r.dir, "dt")
	if err := os.MkdirAll(r.cfg.DeviceTree, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.cfg.Autoboot, []byte(autoboot))
	r.firmwareBoots(2)
	return r
}

// firmwareBoots is the Pi firmware starting a partition.
func (r *rig) firmwareBoots(partition uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], partition)
	writeFile(r.t, filepath.Join(r.cfg.DeviceTree, "partition"), b[:])
}

func (r *rig) autoboot() Autoboot {
	r.t.Helper()
	a, err := ReadAutoboot(r.cfg.Autoboot)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

const piAutoboot = "# A/B boot, see docs/firmware.md\n[all]\ntryboot_a_b=1\nboot_partition=2\n"

func TestTrybootHealthPassConfirms(t *testing.T) {
	r := piRig(t, piAutoboot)
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(41, 128<<10)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if a := r.autoboot(); a.All != 2 || a.Tryboot != 3 || !a.TrybootAB {
		t.Fatalf("armed autoboot %+v", a)
	}
	text := string(mustRead(t, r.cfg.Autoboot))
	if !strings.Contains(text, "# A/B boot, see docs/firmware.md") {
		t.Fatalf("comment lost:\n%s", text)
	}
	r.firmwareBoots(3) // reboot "0 tryboot"
	if s, _ := ReadStatus(r.cfg); !s.OnTrial || s.Running != "b" || s.Autoboot == nil {
		t.Fatalf("status on trial: %+v", s)
	}
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if a := r.autoboot(); a.All != 3 || a.Tryboot != 2 {
		t.Fatalf("confirmed autoboot %+v:\n%s", a, mustRead(t, r.cfg.Autoboot))
	}
	if st := r.state(); st.Active != "b" || st.B.State != SlotGood {
		t.Fatalf("state %+v", st)
	}
	// The next update goes to slot a, partition 2.
	if res, err := r.install(r.bundle("2.1.0", 4, randBytes(42, 64<<10)), InstallOptions{}); err != nil || res.Slot != "a" {
		t.Fatalf("second install: %+v %v", res, err)
	}
	if a := r.autoboot(); a.All != 3 || a.Tryboot != 2 {
		t.Fatalf("second arm %+v", a)
	}
}

func TestTrybootHealthFailRollsBack(t *testing.T) {
	r := piRig(t, piAutoboot+"[tryboot]\nboot_partition=3\n")
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(43, 64<<10)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	r.firmwareBoots(3)
	err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return errors.New("no registrar or trunk reachable") })
	if !errors.Is(err, ErrRolledBack) || r.reboots != 1 {
		t.Fatalf("err %v reboots %d", err, r.reboots)
	}
	if a := r.autoboot(); a.All != 2 {
		t.Fatalf("autoboot after rollback %+v", a)
	}
	r.firmwareBoots(2) // the plain reboot starts [all] again
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { t.Fatal("checked"); return nil }); err != nil {
		t.Fatal(err)
	}
	if st := r.state(); st.Active != "a" || st.B.State != SlotBad || st.Trial != "" {
		t.Fatalf("state %+v", st)
	}
}

// TestTrybootCrashBeforeVerdict: the trial system dies after starting its
// checks; the Pi's one-shot tryboot brings the old partition back and the
// daemon there records the failed trial.
func TestTrybootCrashBeforeVerdict(t *testing.T) {
	r := piRig(t, piAutoboot)
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(44, 64<<10)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	r.firmwareBoots(3)
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the daemon dies
	if err := ConfirmWhenHealthy(ctx, r.cfg, func(ctx context.Context) error { return ctx.Err() }); err == nil || errors.Is(err, ErrRolledBack) {
		t.Fatalf("stopped daemon: %v", err)
	}
	r.firmwareBoots(2)
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := r.state(); st.Active != "a" || st.B.State != SlotBad || !strings.Contains(st.LastResult, "never confirmed") {
		t.Fatalf("state %+v", st)
	}
}

func TestTrybootNeedsABAutoboot(t *testing.T) {
	r := piRig(t, "[all]\nboot_partition=2\n")
	bBefore := fileSum(t, r.cfg.SlotB)
	_, err := r.install(r.bundle("2.0.0", 4, randBytes(45, 64<<10)), InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), "tryboot_a_b=1") {
		t.Fatalf("err %v", err)
	}
	if fileSum(t, r.cfg.SlotB) != bBefore {
		t.Fatal("slot written although no trial boot could be armed")
	}
	if st := r.state(); st.Trial != "" {
		t.Fatal("armed without an A/B autoboot.txt")
	}
}

func TestRebootIntoTrialRunsTrybootCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "reboot")
	cfg := Config{Method: MethodTryboot, TrybootCommand: []string{"/bin/sh", "-c", `printf '%s' "$1" > "$0"`, out, "0 tryboot"}}
	if err := RebootIntoTrial(cfg); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, out)); got != "0 tryboot" {
		t.Fatalf("reboot argument %q", got)
	}
	cfg = Config{RebootCommand: []string{"/bin/sh", "-c", "exit 3"}}
	if err := RebootIntoTrial(cfg); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("failing reboot command: %v", err)
	}
}

func FuzzAutoboot(f *testing.F) {
	f.Add([]byte(piAutoboot))
	f.Add([]byte(piAutoboot + "[tryboot]\nboot_partition=3\n[none]\nboot_partition=9\n"))
	f.Add([]byte("boot_partition=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseAutoboot(data)
		if err != nil || !a.TrybootAB {
			return
		}
		dir := t.TempDir()
		p := filepath.Join(dir, "autoboot.txt")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := setAutoboot(p, 5, 6); err != nil {
			return // e.g. a line setAutoboot's own parse refuses
		}
		b, err := ReadAutoboot(p)
		if err != nil || b.All != 5 || b.Tryboot != 6 || !b.TrybootAB {
			t.Fatalf("after setAutoboot: %+v %v\n%s", b, err, mustRead(t, p))
		}
	})
}
