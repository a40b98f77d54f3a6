package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress reports how far an install or verify has come.
type Progress struct {
	Phase string // "write" (payloads into the slot) or "verify" (read-back)
	Done  int64
	Total int64
}

// InstallOptions tune Install.
type InstallOptions struct {
	// Keys are the trusted keys (required).
	Keys *Keyring
	// Calls tells whether a call is up; nil skips the check. Now installs
	// even while a call is up.
	Calls CallQuery
	Now   bool
	// AllowDowngrade installs a bundle whose security version is lower than
	// the installed one; the override is logged and recorded.
	AllowDowngrade bool
	// Progress, when set, is called as bytes are written and read back.
	Progress func(Progress)

	bufSize int // tests: smaller chunks, more progress events
}

// InstallResult describes a completed install.
type InstallResult struct {
	Slot      string
	Path      string
	Manifest  *Manifest
	Signer    TrustedKey
	SHA256    string // of the whole image written
	Bytes     int64
	Downgrade bool // installed under AllowDowngrade
}

// runningSlot is the slot the system runs now.
func runningSlot(cfg Config, st *State) string {
	if s := bootSlotHint(cfg); s != "" {
		return s
	}
	if st.Booted != "" {
		return st.Booted
	}
	return st.Active
}

// bootSlotHint is what the boot firmware or kernel command line says about
// the running slot ("" when they say nothing).
func bootSlotHint(cfg Config) string {
	if cfg.Method == MethodTryboot {
		if s := dtBootSlot(cfg); s != "" {
			return s
		}
	}
	return cmdlineSlot(cfg.Cmdline)
}

// cmdlineSlot reads critline.slot=a|b from the kernel command line file.
func cmdlineSlot(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 64<<10 {
		return ""
	}
	for _, f := range strings.Fields(string(data)) {
		if v, ok := strings.CutPrefix(f, "critline.slot="); ok && (v == "a" || v == "b") {
			return v
		}
	}
	return ""
}

// Install writes the bundle read from r into the inactive slot, reads it
// back, and arms a one-time trial boot of it. Everything about the bundle
// that can be checked without its payloads (signature, trusted key,
// manifest, product, board, security version, slot size, no call up) is
// checked before the slot is opened; the running slot is never opened for
// writing. A failed or interrupted install leaves the slot marked partial
// or bad and nothing armed.
func Install(ctx context.Context, cfg Config, r io.Reader, opt InstallOptions) (*InstallResult, error) {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lock, err := acquireLock(cfg.StateFile + ".lock")
	if err != nil {
		return nil, err
	}
	defer lock.release()
	st, err := loadState(cfg)
	if err != nil {
		return nil, err
	}
	running := runningSlot(cfg, st)
	switch {
	case onTrial(st, running):
		return nil, fmt.Errorf("slot %s runs on trial and is not confirmed yet: run 'critlinectl firmware confirm' or 'critlinectl firmware rollback' before installing again", running)
	case running != st.Active:
		// The slot that is not running is the one set to boot next (after
		// a rollback, or a manual boot of the other slot): never write it.
		return nil, fmt.Errorf("slot %s runs, but slot %s is the active slot that boots next: reboot into slot %s first (or 'critlinectl firmware rollback' to make slot %s active) before installing", running, st.Active, st.Active, running)
	}
	target := other(running)
	path := cfg.slotPath(target)
	if same, _ := sameFile(path, cfg.slotPath(running)); same {
		return nil, fmt.Errorf("slot %s (%s) is the same device or file as the running slot %s: fix firmware.slot_a/slot_b", target, path, running)
	}

	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	m := h.Manifest
	signer, err := h.CheckTrust(opt.Keys)
	if err != nil {
		return nil, err
	}
	if !m.Supports(cfg.Board) {
		return nil, fmt.Errorf("%w: the bundle is for boards %s; this appliance is %q: use the bundle built for %q", ErrWrongBoard, strings.Join(m.Boards, ", "), cfg.Board, cfg.Board)
	}
	downgrade := false
	if m.SecurityVersion < st.MinSecurityVersion {
		if !opt.AllowDowngrade {
			return nil, fmt.Errorf("%w: the bundle's security version is %d, the appliance accepts %d or higher (version %s would reinstate fixed vulnerabilities): use a newer bundle, or force with --allow-downgrade, which is logged",
				ErrDowngrade, m.SecurityVersion, st.MinSecurityVersion, m.Version)
		}
		downgrade = true
		log.Warn("firmware: anti-rollback override: installing a lower security version",
			"version", m.Version, "security_version", m.SecurityVersion, "min_security_version", st.MinSecurityVersion, "slot", target)
	}
	capacity, err := slotCapacity(path)
	if err != nil {
		return nil, err
	}
	if err := checkNotMounted(path, "/proc/self/mounts"); err != nil {
		return nil, err
	}
	if err := checkAutoboot(cfg); err != nil {
		return nil, err
	}
	total := m.TotalSize()
	if capacity >= 0 && total > capacity {
		return nil, fmt.Errorf("%w: the bundle's image is %d bytes, slot %s (%s) holds %d", ErrSlotTooSmall, total, target, path, capacity)
	}
	if opt.Calls != nil && !opt.Now {
		busy, detail, err := opt.Calls(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot tell whether a call is up: %w; install with --now to go ahead anyway", err)
		}
		if busy {
			return nil, fmt.Errorf("%w (%s): try again when the lines are idle, or install with --now (the install does not touch the running system; only the reboot would end the call)", ErrCallUp, detail)
		}
	}

	// From here on the target slot changes: record that first, so a power
	// cut or kill -9 is reported by status and nothing boots the slot.
	st.Install, st.InstallVersion, st.InstallStarted = target, m.Version, time.Now()
	if st.Trial == target {
		st.Trial, st.TriesLeft = "", 0
	}
	*st.Slot(target) = SlotInfo{State: SlotPartial, Version: m.Version, SecurityVersion: m.SecurityVersion}
	if err := SaveState(cfg.StateFile, st); err != nil {
		return nil, err
	}
	log.Info("firmware: install started", "slot", target, "path", path, "version", m.Version,
		"security_version", m.SecurityVersion, "signer", signer.ID, "bytes", total)

	sum, err := writeSlot(ctx, path, h, r, opt, total)
	if err == nil {
		sum, err = readBack(path, m.Payloads, make([]byte, bufSize(opt)), func(done int64) {
			if opt.Progress != nil {
				opt.Progress(Progress{Phase: "verify", Done: done, Total: total})
			}
		})
	}
	if err == nil {
		if aerr := armBoot(cfg, st.Active, target); aerr != nil {
			err = fmt.Errorf("slot %s was written and verified, but arming its trial boot failed: %w", target, aerr)
		}
	}
	if err != nil {
		st.Install, st.InstallVersion, st.InstallStarted = "", "", time.Time{}
		st.Slot(target).State = SlotBad
		st.LastResult = fmt.Sprintf("%s install of %s into slot %s failed: %v", time.Now().UTC().Format(time.RFC3339), m.Version, target, err)
		if serr := SaveState(cfg.StateFile, st); serr != nil {
			err = errors.Join(err, serr)
		}
		log.Error("firmware: install failed", "slot", target, "version", m.Version, "err", err)
		return nil, err
	}

	st.Install, st.InstallVersion, st.InstallStarted = "", "", time.Time{}
	*st.Slot(target) = SlotInfo{State: SlotTrial, Version: m.Version, SecurityVersion: m.SecurityVersion, Size: total, SHA256: sum}
	st.Trial, st.TriesLeft = target, cfg.TrialTries
	st.LastResult = fmt.Sprintf("%s installed %s into slot %s (signed by %s); trial boot armed", time.Now().UTC().Format(time.RFC3339), m.Version, target, signer.ID)
	if downgrade {
		st.LastResult += fmt.Sprintf("; FORCED DOWNGRADE of security version %d below %d", m.SecurityVersion, st.MinSecurityVersion)
	}
	if err := SaveState(cfg.StateFile, st); err != nil {
		return nil, err
	}
	log.Info("firmware: installed; trial boot armed", "slot", target, "version", m.Version, "sha256", sum)
	return &InstallResult{Slot: target, Path: path, Manifest: m, Signer: signer, SHA256: sum, Bytes: total, Downgrade: downgrade}, nil
}

func bufSize(opt InstallOptions) int {
	if opt.bufSize > 0 {
		return opt.bufSize
	}
	return copyBufSize
}

// writeSlot streams the payloads from r into the slot, checking each digest.
func writeSlot(ctx context.Context, path string, h *Header, r io.Reader, opt InstallOptions, total int64) (string, error) {
	sw, err := openSlot(path)
	if err != nil {
		return "", err
	}
	defer sw.close()
	buf := make([]byte, bufSize(opt))
	whole := sha256.New()
	var off int64
	err = h.ReadPayloads(r, func(_ Payload, rd io.Reader) error {
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("install cancelled: %w", err)
			}
			n, rerr := rd.Read(buf)
			if n > 0 {
				if _, err := sw.f.WriteAt(buf[:n], off); err != nil {
					return fmt.Errorf("writing slot %s: %w", path, err)
				}
				whole.Write(buf[:n])
				off += int64(n)
				if opt.Progress != nil {
					opt.Progress(Progress{Phase: "write", Done: off, Total: total})
				}
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	})
	if err != nil {
		return "", err
	}
	if err := sw.finish(off); err != nil {
		return "", err
	}
	if err := sw.close(); err != nil {
		return "", fmt.Errorf("closing slot %s: %w", path, err)
	}
	return hex.EncodeToString(whole.Sum(nil)), nil
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
