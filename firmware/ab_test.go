package firmware

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestABInstallTrialHealthPassConfirms(t *testing.T) {
	r := newRig(t)
	aSum := fileSum(t, r.cfg.SlotA)
	payload := randBytes(11, 2<<20)
	var mu sync.Mutex
	var phases []string
	res, err := r.install(r.bundle("2.0.0", 4, payload), InstallOptions{Progress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}, bufSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Slot != "b" || fileSum(t, r.cfg.SlotB) != res.SHA256 || fileSum(t, r.cfg.SlotA) != aSum {
		t.Fatalf("install result %+v", res)
	}
	if strings.Join(phases, ",") != "write,verify" {
		t.Fatalf("progress phases %v", phases)
	}
	st := r.state()
	if st.Active != "a" || st.Trial != "b" || st.TriesLeft != 1 || st.B.State != SlotTrial || st.B.Version != "2.0.0" {
		t.Fatalf("after install: %+v", st)
	}

	// The bootloader's turn: a one-time trial boot of b.
	if slot, err := SelectBoot(r.cfg.StateFile); err != nil || slot != "b" {
		t.Fatalf("boot selected %q, %v", slot, err)
	}
	s, _ := ReadStatus(r.cfg)
	if !s.OnTrial || s.Running != "b" {
		t.Fatalf("status on trial: %+v", s)
	}
	// Installing again while on trial is refused.
	if _, err := r.install(r.bundle("2.0.1", 4, payload), InstallOptions{}); err == nil || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("install during trial: %v", err)
	}
	checks := 0
	err = ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error {
		checks++
		if checks < 3 {
			return errors.New("registrar not reachable yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st = r.state()
	if st.Active != "b" || st.Trial != "" || st.B.State != SlotGood || st.MinSecurityVersion != 4 || r.reboots != 0 {
		t.Fatalf("after confirm: %+v reboots %d", st, r.reboots)
	}
	if slot, _ := SelectBoot(r.cfg.StateFile); slot != "b" {
		t.Fatalf("next boot: %s", slot)
	}
	// A second start of the daemon does nothing.
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { t.Fatal("checked again"); return nil }); err != nil {
		t.Fatal(err)
	}
	// Now slot a is inactive; a lower security version is refused...
	_, err = r.install(r.bundle("1.9.0", 3, payload), InstallOptions{})
	if !errors.Is(err, ErrDowngrade) {
		t.Fatalf("downgrade: %v", err)
	}
	// ...unless forced, which is logged and recorded.
	res, err = r.install(r.bundle("1.9.0", 3, payload), InstallOptions{AllowDowngrade: true})
	if err != nil || !res.Downgrade || res.Slot != "a" {
		t.Fatalf("forced downgrade: %+v %v", res, err)
	}
	if !strings.Contains(r.logBuf.String(), "anti-rollback override") || !strings.Contains(r.state().LastResult, "FORCED DOWNGRADE") {
		t.Fatalf("forced downgrade not logged:\n%s", r.logBuf)
	}
}

func TestABHealthFailRollsBack(t *testing.T) {
	r := newRig(t)
	aSum := fileSum(t, r.cfg.SlotA)
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(12, 1<<20)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if slot, _ := SelectBoot(r.cfg.StateFile); slot != "b" {
		t.Fatalf("trial boot: %s", slot)
	}
	err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return errors.New("port 1 line test failed: no loop current") })
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "no loop current") {
		t.Fatalf("err = %v", err)
	}
	if r.reboots != 1 {
		t.Fatalf("reboots = %d", r.reboots)
	}
	st := r.state()
	if st.Active != "a" || st.Trial != "" || st.B.State != SlotBad || st.MinSecurityVersion != 0 || !strings.Contains(st.LastResult, "rolled back") {
		t.Fatalf("after rollback: %+v", st)
	}
	if slot, _ := SelectBoot(r.cfg.StateFile); slot != "a" {
		t.Fatalf("boot after rollback: %s", slot)
	}
	if fileSum(t, r.cfg.SlotA) != aSum {
		t.Fatal("slot a changed")
	}
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestABTrialNeverConfirmed: the new slot does not even get to the health
// check (kernel panic, daemon crash loop); the bootloader spends the one
// trial boot and falls back by itself, and the daemon on the old slot
// records it.
func TestABTrialNeverConfirmed(t *testing.T) {
	r := newRig(t)
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(13, 1<<20)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"b", "a", "a"} {
		if slot, _ := SelectBoot(r.cfg.StateFile); slot != want {
			t.Fatalf("boot %d: %s, want %s", i, slot, want)
		}
	}
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st := r.state()
	if st.Active != "a" || st.Trial != "" || st.B.State != SlotBad || !strings.Contains(st.LastResult, "never confirmed") {
		t.Fatalf("state %+v", st)
	}
}

func TestRollbackVerb(t *testing.T) {
	r := newRig(t)
	p := randBytes(14, 1<<20)
	if _, err := Rollback(r.cfg, false); !errors.Is(err, ErrNothingToDo) {
		t.Fatalf("rollback on a factory appliance: %v", err)
	}
	// Armed, not booted: rollback disarms.
	if _, err := r.install(r.bundle("2.0.0", 4, p), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := Rollback(r.cfg, false)
	if err != nil || res.NeedsReboot || r.state().Trial != "" {
		t.Fatalf("disarm: %+v %v", res, err)
	}
	// Install, boot, confirm; then roll back to a (factory, good).
	if _, err := r.install(r.bundle("2.0.0", 4, p), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	SelectBoot(r.cfg.StateFile)
	if err := Confirm(r.cfg, "by hand"); err != nil {
		t.Fatal(err)
	}
	// The factory image has security version 0 < 4.
	if _, err := Rollback(r.cfg, false); !errors.Is(err, ErrDowngrade) {
		t.Fatalf("rollback below min security version: %v", err)
	}
	res, err = Rollback(r.cfg, true)
	if err != nil || !res.NeedsReboot || r.state().Active != "a" {
		t.Fatalf("forced rollback: %+v %v", res, err)
	}
	if slot, _ := SelectBoot(r.cfg.StateFile); slot != "a" {
		t.Fatalf("boot after rollback: %s", slot)
	}
}

func TestInstallRefusedWhileCallUp(t *testing.T) {
	r := newRig(t)
	b := r.bundle("2.0.0", 4, randBytes(15, 64<<10))
	bBefore := fileSum(t, r.cfg.SlotB)
	busy := func(context.Context) (bool, string, error) { return true, "port 1 is connected", nil }
	_, err := r.install(b, InstallOptions{Calls: busy})
	if !errors.Is(err, ErrCallUp) || !strings.Contains(err.Error(), "port 1 is connected") || !strings.Contains(err.Error(), "--now") {
		t.Fatalf("err = %v", err)
	}
	if fileSum(t, r.cfg.SlotB) != bBefore {
		t.Fatal("slot b written while a call was up")
	}
	if _, err := r.install(b, InstallOptions{Calls: busy, Now: true}); err != nil {
		t.Fatalf("--now: %v", err)
	}
}

func TestStateParseFormat(t *testing.T) {
	st := defaultState()
	st.Trial, st.TriesLeft, st.LastResult = "b", 1, "line one\nline two"
	st.B = SlotInfo{State: SlotTrial, Version: "2.0.0", SecurityVersion: 4, Size: 10, SHA256: strings.Repeat("ab", 32)}
	back, err := ParseState(st.Format())
	if err != nil {
		t.Fatal(err)
	}
	if back.Trial != "b" || back.B != st.B || back.LastResult != "line one line two" {
		t.Fatalf("round trip: %+v", back)
	}
	for _, bad := range []string{"active=c\n", "trial=a\n", "tries_left=-1\n", "a_state=weird\n", "active=a\nactive=b\n", "just words\n", "format=2\n"} {
		if _, err := ParseState([]byte(bad)); !errors.Is(err, ErrBadState) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := ParseState([]byte("future_key=1\n")); err != nil {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := ParseState(bytes.Repeat([]byte("#"), maxStateFile+1)); !errors.Is(err, ErrBadState) {
		t.Errorf("huge: %v", err)
	}
}

func TestRunningSlotFromKernelCmdline(t *testing.T) {
	r := newRig(t)
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(16, 64<<10)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	// A bootloader that passes critline.slot= instead of writing booted=.
	writeFile(t, r.cfg.Cmdline, []byte("console=serial0,115200 root=/dev/mmcblk0p3 critline.slot=b rootwait\n"))
	s, err := ReadStatus(r.cfg)
	if err != nil || s.Running != "b" || !s.OnTrial {
		t.Fatalf("status %+v %v", s, err)
	}
	if err := ConfirmWhenHealthy(t.Context(), r.cfg, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := r.state(); st.Active != "b" || st.B.State != SlotGood {
		t.Fatalf("state %+v", st)
	}
}

func TestVerifySlot(t *testing.T) {
	r := newRig(t)
	if err := VerifySlot(r.cfg, "a"); !errors.Is(err, ErrNothingToDo) {
		t.Fatalf("factory slot: %v", err)
	}
	if _, err := r.install(r.bundle("2.0.0", 4, randBytes(17, 200<<10)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := VerifySlot(r.cfg, "b"); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, r.cfg.SlotB)
	data[1234] ^= 1
	writeFile(t, r.cfg.SlotB, data)
	if err := VerifySlot(r.cfg, "b"); !errors.Is(err, ErrReadback) {
		t.Fatalf("corrupted slot: %v", err)
	}
}

func TestCheckNotMounted(t *testing.T) {
	dir := t.TempDir()
	mounts := dir + "/mounts"
	writeFile(t, mounts, []byte("/dev/null /mnt/x ext4 rw 0 0\nproc /proc proc rw 0 0\n"))
	// /dev/null stands in for a block device here: it is not a regular file.
	if err := checkNotMounted("/dev/null", mounts); err == nil || !strings.Contains(err.Error(), "mounted on /mnt/x") {
		t.Fatalf("mounted device: %v", err)
	}
	if err := checkNotMounted("/dev/zero", mounts); err != nil {
		t.Fatalf("unmounted device: %v", err)
	}
	writeFile(t, dir+"/slot.img", nil)
	if err := checkNotMounted(dir+"/slot.img", mounts); err != nil {
		t.Fatalf("file slot: %v", err)
	}
}

// TestInstallNeverWritesTheSlotThatBootsNext: after a rollback made the
// other slot active (not rebooted yet), the non-running slot is the one the
// bootloader starts next, so an install must refuse to touch it.
func TestInstallNeverWritesTheSlotThatBootsNext(t *testing.T) {
	r := newRig(t)
	p := randBytes(18, 64<<10)
	if _, err := r.install(r.bundle("2.0.0", 0, p), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	SelectBoot(r.cfg.StateFile)
	if err := Confirm(r.cfg, "test"); err != nil {
		t.Fatal(err)
	}
	if res, err := Rollback(r.cfg, false); err != nil || !res.NeedsReboot {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	aSum := fileSum(t, r.cfg.SlotA)
	_, err := r.install(r.bundle("2.1.0", 0, p), InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), "boots next") {
		t.Fatalf("install before the rollback reboot: %v", err)
	}
	if fileSum(t, r.cfg.SlotA) != aSum {
		t.Fatal("the slot that boots next was written")
	}
}

// TestFactoryImageInSlotB: no state file yet, and the kernel says slot b
// runs: the factory image is in b, so the first install goes to a.
func TestFactoryImageInSlotB(t *testing.T) {
	r := newRig(t)
	writeFile(t, r.cfg.Cmdline, []byte("root=/dev/mmcblk0p3 critline.slot=b\n"))
	bSum := fileSum(t, r.cfg.SlotB)
	res, err := r.install(r.bundle("2.0.0", 1, randBytes(19, 64<<10)), InstallOptions{})
	if err != nil || res.Slot != "a" {
		t.Fatalf("install: %+v %v", res, err)
	}
	if st := r.state(); st.Active != "b" || st.B.State != SlotGood || st.Trial != "a" {
		t.Fatalf("state %+v", st)
	}
	if fileSum(t, r.cfg.SlotB) != bSum {
		t.Fatal("running slot b written")
	}
}
