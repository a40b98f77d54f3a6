package firmware

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// reboot runs the configured reboot.
func reboot(cfg Config) error {
	if cfg.Reboot != nil {
		return cfg.Reboot()
	}
	out, err := exec.Command(cfg.RebootCommand[0], cfg.RebootCommand[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("reboot command %q failed: %w: %s", strings.Join(cfg.RebootCommand, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Reboot runs the configured reboot command (firmware.reboot_command).
func Reboot(cfg Config) error { return reboot(cfg.withDefaults()) }

func stamp() string { return time.Now().UTC().Format(time.RFC3339) }

// onTrial reports whether the running slot is a trial boot not yet
// confirmed.
func onTrial(st *State, running string) bool {
	return st.Trial != "" && running == st.Trial && running != st.Active
}

// Confirm makes the running trial slot the active one, so it boots from now
// on, and raises the minimum accepted security version to its own.
func Confirm(cfg Config, why string) error {
	cfg = cfg.withDefaults()
	st, release, err := lockState(cfg)
	if err != nil {
		return err
	}
	defer release()
	running := runningSlot(cfg, st)
	if !onTrial(st, running) {
		return fmt.Errorf("%w: the running slot %s is not on trial (active slot %s, trial %q)", ErrNothingToDo, running, st.Active, st.Trial)
	}
	si := st.Slot(running)
	old := st.Active
	if err := armBoot(cfg, running, ""); err != nil {
		return fmt.Errorf("not confirmed: %w", err)
	}
	st.Active, st.Trial, st.TriesLeft = running, "", 0
	si.State = SlotGood
	if si.SecurityVersion > st.MinSecurityVersion {
		st.MinSecurityVersion = si.SecurityVersion
	}
	st.LastResult = fmt.Sprintf("%s confirmed slot %s (%s) %s; slot %s kept for rollback", stamp(), running, si.Version, why, old)
	if err := SaveState(cfg.StateFile, st); err != nil {
		return err
	}
	cfg.Logger.Info("firmware: slot confirmed", "slot", running, "version", si.Version, "why", why, "min_security_version", st.MinSecurityVersion)
	return nil
}

// ConfirmWhenHealthy is called by the daemon once after start-up. When the
// system runs a trial boot it calls check until it passes or
// cfg.HealthTimeout has passed (pausing cfg.HealthRetry between attempts):
// on a pass the slot is confirmed; otherwise the slot is marked bad, the
// trial disarmed, the reboot command run (back into the old slot), and an
// error wrapping ErrRolledBack returned. Outside a trial boot it returns nil
// at once, after recording a trial the bootloader already gave up on. If ctx
// ends first (the daemon stops) nothing is decided: the bootloader falls back
// by itself when the trial boots are spent.
func ConfirmWhenHealthy(ctx context.Context, cfg Config, check func(context.Context) error) error {
	cfg = cfg.withDefaults()
	st, err := loadState(cfg)
	if err != nil {
		return err
	}
	running := runningSlot(cfg, st)
	if !onTrial(st, running) {
		if st.Trial != "" && running == st.Active && st.TriesLeft == 0 {
			return recordFailedTrial(cfg)
		}
		return nil
	}
	if cfg.Method == MethodTryboot && st.TriesLeft > 0 {
		// The Pi's tryboot is one-shot by itself; record that the trial
		// has begun, so that a crash before the verdict is seen as a
		// failed trial from the old slot.
		if err := spendTrial(cfg); err != nil {
			return err
		}
	}
	cfg.Logger.Info("firmware: trial boot: waiting for health checks before confirming", "slot", running,
		"version", st.Slot(running).Version, "timeout", cfg.HealthTimeout)
	hctx, cancel := context.WithTimeout(ctx, cfg.HealthTimeout)
	defer cancel()
	var lastErr error
	for attempt := 1; ; attempt++ {
		lastErr = check(hctx)
		if lastErr == nil {
			return Confirm(cfg, fmt.Sprintf("after passing health checks (attempt %d)", attempt))
		}
		cfg.Logger.Warn("firmware: trial boot health check failed", "slot", running, "attempt", attempt, "err", lastErr)
		t := time.NewTimer(cfg.HealthRetry)
		select {
		case <-t.C:
			continue
		case <-hctx.Done():
			t.Stop()
		}
		break
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped before the trial slot passed its health checks: %w", ctx.Err())
	}
	return rollBackTrial(cfg, running, lastErr)
}

func spendTrial(cfg Config) error {
	st, release, err := lockState(cfg)
	if err != nil {
		return err
	}
	defer release()
	st.TriesLeft = 0
	return SaveState(cfg.StateFile, st)
}

func rollBackTrial(cfg Config, slot string, cause error) error {
	st, release, err := lockState(cfg)
	if err != nil {
		return err
	}
	si := st.Slot(slot)
	si.State = SlotBad
	st.Trial, st.TriesLeft = "", 0
	st.LastResult = fmt.Sprintf("%s rolled back: slot %s (%s) failed its health checks within %s: %v; rebooting into slot %s",
		stamp(), slot, si.Version, cfg.HealthTimeout, cause, st.Active)
	err = SaveState(cfg.StateFile, st)
	release()
	if err != nil {
		return err
	}
	cfg.Logger.Error("firmware: trial slot unhealthy: rolling back", "slot", slot, "version", si.Version, "back_to", st.Active, "err", cause)
	if err := reboot(cfg); err != nil {
		return fmt.Errorf("%w (%v), but %w", ErrRolledBack, cause, err)
	}
	return fmt.Errorf("%w: %w", ErrRolledBack, cause)
}

// recordFailedTrial notes that the bootloader spent the trial boots and fell
// back to the active slot without the trial slot being confirmed (it did not
// come up, or crashed before its health checks passed).
func recordFailedTrial(cfg Config) error {
	st, release, err := lockState(cfg)
	if err != nil {
		return err
	}
	defer release()
	if st.Trial == "" {
		return nil
	}
	trial := st.Trial
	si := st.Slot(trial)
	si.State = SlotBad
	st.Trial = ""
	st.LastResult = fmt.Sprintf("%s rolled back: trial boot of slot %s (%s) was never confirmed; the bootloader returned to slot %s",
		stamp(), trial, si.Version, st.Active)
	cfg.Logger.Error("firmware: trial slot never confirmed; running the old slot", "slot", trial, "version", si.Version, "active", st.Active)
	return SaveState(cfg.StateFile, st)
}

// RollbackResult says what Rollback did.
type RollbackResult struct {
	Message     string
	NeedsReboot bool
}

// Rollback undoes the last install: it disarms a trial not yet booted, or
// abandons the running trial (a reboot returns to the active slot), or, on a
// confirmed system, makes the other slot active again when it holds a
// confirmed image (a reboot starts it). A rollback below the minimum
// security version needs allowDowngrade, which is logged.
func Rollback(cfg Config, allowDowngrade bool) (*RollbackResult, error) {
	cfg = cfg.withDefaults()
	st, release, err := lockState(cfg)
	if err != nil {
		return nil, err
	}
	defer release()
	running := runningSlot(cfg, st)
	res := &RollbackResult{}
	switch {
	case onTrial(st, running):
		si := st.Slot(running)
		si.State = SlotBad
		st.Trial, st.TriesLeft = "", 0
		res.Message = fmt.Sprintf("abandoned the trial of slot %s (%s); reboot to return to slot %s", running, si.Version, st.Active)
		res.NeedsReboot = true
	case st.Trial != "":
		si := st.Slot(st.Trial)
		res.Message = fmt.Sprintf("disarmed the trial boot of slot %s (%s); slot %s stays active", st.Trial, si.Version, st.Active)
		si.State = SlotBad
		st.Trial, st.TriesLeft = "", 0
	default:
		prev := other(st.Active)
		si := st.Slot(prev)
		if si.State != SlotGood {
			return nil, fmt.Errorf("%w: slot %s holds no confirmed image to roll back to (it is %s)", ErrNothingToDo, prev, si.State)
		}
		if si.SecurityVersion < st.MinSecurityVersion {
			if !allowDowngrade {
				return nil, fmt.Errorf("%w: slot %s (%s) has security version %d, the appliance accepts %d or higher: force with --allow-downgrade, which is logged",
					ErrDowngrade, prev, si.Version, si.SecurityVersion, st.MinSecurityVersion)
			}
			cfg.Logger.Warn("firmware: anti-rollback override: rolling back to a lower security version",
				"slot", prev, "version", si.Version, "security_version", si.SecurityVersion, "min_security_version", st.MinSecurityVersion)
		}
		if err := armBoot(cfg, prev, ""); err != nil {
			return nil, err
		}
		res.Message = fmt.Sprintf("slot %s (%s) is active again; reboot to start it", prev, si.Version)
		if si.SecurityVersion < st.MinSecurityVersion {
			res.Message += fmt.Sprintf(" (FORCED DOWNGRADE of security version %d below %d)", si.SecurityVersion, st.MinSecurityVersion)
		}
		st.Active = prev
		res.NeedsReboot = running != prev
	}
	st.LastResult = stamp() + " rollback: " + res.Message
	if err := SaveState(cfg.StateFile, st); err != nil {
		return nil, err
	}
	cfg.Logger.Warn("firmware: rollback", "result", res.Message)
	return res, nil
}

// Status is the firmware state as a field engineer needs it.
type Status struct {
	State          *State                `json:"-"`
	Running        string                `json:"running"`
	Active         string                `json:"active"`
	Trial          string                `json:"trial"`
	TriesLeft      int                   `json:"tries_left"`
	OnTrial        bool                  `json:"on_trial"`
	InstallRunning bool                  `json:"install_running"`
	Interrupted    bool                  `json:"interrupted"`
	Install        string                `json:"install,omitempty"`
	InstallVersion string                `json:"install_version,omitempty"`
	MinSecurity    uint64                `json:"min_security_version"`
	LastResult     string                `json:"last_result"`
	Slots          map[string]SlotStatus `json:"slots"`
	Method         string                `json:"method"`
	Autoboot       *Autoboot             `json:"autoboot,omitempty"`
	AutobootErr    string                `json:"autoboot_error,omitempty"`
}

// SlotStatus is one slot in Status.
type SlotStatus struct {
	Path            string `json:"path"`
	State           string `json:"state"`
	Version         string `json:"version"`
	SecurityVersion uint64 `json:"security_version"`
	Size            int64  `json:"size"`
	SHA256          string `json:"sha256"`
}

// ReadStatus reads the state file and tells an install in progress from an
// interrupted one (its lock is no longer held).
func ReadStatus(cfg Config) (*Status, error) {
	cfg = cfg.withDefaults()
	st, err := loadState(cfg)
	if err != nil {
		return nil, err
	}
	s := &Status{State: st, Running: runningSlot(cfg, st), Active: st.Active, Trial: st.Trial, TriesLeft: st.TriesLeft,
		Install: st.Install, InstallVersion: st.InstallVersion, MinSecurity: st.MinSecurityVersion, LastResult: st.LastResult,
		Slots: map[string]SlotStatus{}}
	s.OnTrial = onTrial(st, s.Running)
	s.Method = cfg.Method
	if cfg.Method == MethodTryboot {
		if a, err := ReadAutoboot(cfg.Autoboot); err != nil {
			s.AutobootErr = err.Error()
		} else {
			s.Autoboot = &a
		}
	}
	if st.Install != "" {
		s.InstallRunning = lockHeld(cfg.StateFile + ".lock")
		s.Interrupted = !s.InstallRunning
	}
	for _, n := range []string{"a", "b"} {
		si := st.Slot(n)
		s.Slots[n] = SlotStatus{Path: cfg.slotPath(n), State: si.State, Version: si.Version, SecurityVersion: si.SecurityVersion, Size: si.Size, SHA256: si.SHA256}
	}
	return s, nil
}

// String renders the status for people.
func (s *Status) String() string {
	var b strings.Builder
	row := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-22s "+format+"\n", append([]any{k + ":"}, args...)...)
	}
	running := s.Running
	if s.OnTrial {
		running += " (TRIAL BOOT, not confirmed yet)"
	}
	row("running slot", "%s", running)
	row("active slot", "%s", s.Active)
	switch {
	case s.Trial == "":
		row("trial boot", "none armed")
	case s.OnTrial:
		row("trial boot", "slot %s running; confirm or roll back", s.Trial)
	default:
		row("trial boot", "slot %s armed, %d boot(s) left: reboot to try it", s.Trial, s.TriesLeft)
	}
	switch {
	case s.Interrupted:
		row("install", "INTERRUPTED while writing slot %s (version %s): that slot is incomplete and will not boot; slot %s is untouched; run the install again",
			s.Install, s.InstallVersion, other(s.Install))
	case s.InstallRunning:
		row("install", "in progress: writing slot %s (version %s)", s.Install, s.InstallVersion)
	default:
		row("install", "none running")
	}
	for _, n := range []string{"a", "b"} {
		sl := s.Slots[n]
		v := sl.Version
		if v == "" {
			v = "-"
		}
		row("slot "+n, "%-8s version %s, security %d, %d bytes  (%s)", sl.State, v, sl.SecurityVersion, sl.Size, sl.Path)
	}
	row("min security version", "%d", s.MinSecurity)
	row("trial method", "%s", s.Method)
	switch {
	case s.AutobootErr != "":
		row("autoboot.txt", "UNREADABLE: %s", s.AutobootErr)
	case s.Autoboot != nil:
		row("autoboot.txt", "normal boot: partition %d, tryboot: partition %d, tryboot_a_b=%v", s.Autoboot.All, s.Autoboot.Tryboot, s.Autoboot.TrybootAB)
	}
	if s.LastResult != "" {
		row("last result", "%s", s.LastResult)
	}
	return b.String()
}

// lockState takes the state file's lock and reads the state; release gives
// the lock back.
func lockState(cfg Config) (st *State, release func(), err error) {
	lock, err := acquireLock(cfg.StateFile + ".lock")
	if err != nil {
		return nil, nil, err
	}
	if st, err = loadState(cfg); err != nil {
		lock.release()
		return nil, nil, err
	}
	return st, lock.release, nil
}
