package firmware

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Slot states recorded in the boot-state file.
const (
	SlotEmpty   = "empty"   // never written by critline
	SlotPartial = "partial" // an install was writing it (interrupted if no install runs)
	SlotBad     = "bad"     // failed an install, a read-back or a trial boot
	SlotTrial   = "trial"   // written and verified, armed or on trial, not yet confirmed
	SlotGood    = "good"    // confirmed (or the factory image)
)

// SlotInfo is what the state file says about one slot.
type SlotInfo struct {
	State           string
	Version         string
	SecurityVersion uint64
	Size            int64
	SHA256          string // of the slot's first Size bytes, as written
}

// State is the boot-state file: the contract between critline and the
// bootloader script (docs/firmware.md). Lines are key=value; the
// bootloader reads active, trial and tries_left, and writes tries_left and
// booted.
type State struct {
	Active             string // slot that boots when no trial is armed: a | b
	Trial              string // slot armed for a trial boot, or ""
	TriesLeft          int    // trial boots left; the bootloader decrements it
	Booted             string // slot the bootloader last started, or ""
	MinSecurityVersion uint64 // lowest security version still accepted
	Install            string // slot an install is writing, or ""
	InstallVersion     string
	InstallStarted     time.Time
	LastResult         string
	A, B               SlotInfo
}

// Slot returns a pointer to the named slot's info.
func (s *State) Slot(name string) *SlotInfo {
	if name == "b" {
		return &s.B
	}
	return &s.A
}

// defaultState is the state of an appliance nothing has been installed on:
// it runs slot a, the factory image.
func defaultState() *State {
	return &State{Active: "a", A: SlotInfo{State: SlotGood}, B: SlotInfo{State: SlotEmpty}}
}

const maxStateFile = 16 << 10

// ParseState reads a boot-state file's contents. Unknown keys are ignored
// (a newer release may add some, and rolling back to this one must still
// work); known keys with bad values are refused with ErrBadState.
func ParseState(data []byte) (*State, error) {
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadState, len(data), maxStateFile)
	}
	st := defaultState()
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxStateFile)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d: %q is not key=value", ErrBadState, line, clip(t))
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("%w: line %d: %s already set on line %d", ErrBadState, line, clip(k), prev)
		}
		seen[k] = line
		if err := st.set(k, v); err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %v", ErrBadState, line, clip(k), err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	if st.Trial != "" && st.Trial == st.Active {
		return nil, fmt.Errorf("%w: trial and active are both slot %s", ErrBadState, st.Active)
	}
	return st, nil
}

func slotName(v string, empty bool) (string, error) {
	if v == "a" || v == "b" || (empty && v == "") {
		return v, nil
	}
	if empty {
		return "", fmt.Errorf("%q is not a, b or empty", clip(v))
	}
	return "", fmt.Errorf("%q is not a or b", clip(v))
}

func (st *State) set(k, v string) error {
	var err error
	u := func() uint64 {
		var n uint64
		n, err = strconv.ParseUint(v, 10, 63)
		return n
	}
	switch k {
	case "format":
		if v != "1" {
			return fmt.Errorf("format %q is not 1", clip(v))
		}
	case "active":
		st.Active, err = slotName(v, false)
	case "trial":
		st.Trial, err = slotName(v, true)
	case "tries_left":
		n := u()
		if err == nil && n > 100 {
			err = fmt.Errorf("%d is more than 100", n)
		}
		st.TriesLeft = int(n)
	case "booted":
		st.Booted, err = slotName(v, true)
	case "min_security_version":
		st.MinSecurityVersion = u()
	case "install":
		st.Install, err = slotName(v, true)
	case "install_version":
		st.InstallVersion = v
	case "install_started":
		if v != "" {
			st.InstallStarted, err = time.Parse(time.RFC3339, v)
		}
	case "last_result":
		st.LastResult = v
	default:
		slot, field, ok := strings.Cut(k, "_")
		if !ok || (slot != "a" && slot != "b") {
			return nil // unknown key: ignored
		}
		si := st.Slot(slot)
		switch field {
		case "state":
			switch v {
			case SlotEmpty, SlotPartial, SlotBad, SlotTrial, SlotGood:
				si.State = v
			default:
				err = fmt.Errorf("%q is not empty, partial, bad, trial or good", clip(v))
			}
		case "version":
			si.Version = v
		case "security_version":
			si.SecurityVersion = u()
		case "size":
			si.Size = int64(u())
		case "sha256":
			if v != "" && !isHex(v, 64) {
				err = fmt.Errorf("%q is not 64 hex digits", clip(v))
			}
			si.SHA256 = v
		}
	}
	return err
}

// Format renders the state file.
func (st *State) Format() []byte {
	var b bytes.Buffer
	w := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, oneLine(v)) }
	b.WriteString("# critline boot state: read by the bootloader script (active, trial, tries_left;\n")
	b.WriteString("# it writes tries_left and booted) and rewritten atomically by critline. See docs/firmware.md.\n")
	w("format", "1")
	w("active", st.Active)
	w("trial", st.Trial)
	w("tries_left", strconv.Itoa(st.TriesLeft))
	w("booted", st.Booted)
	w("min_security_version", strconv.FormatUint(st.MinSecurityVersion, 10))
	w("install", st.Install)
	w("install_version", st.InstallVersion)
	started := ""
	if !st.InstallStarted.IsZero() {
		started = st.InstallStarted.UTC().Format(time.RFC3339)
	}
	w("install_started", started)
	w("last_result", st.LastResult)
	for _, name := range []string{"a", "b"} {
		si := st.Slot(name)
		w(name+"_state", si.State)
		w(name+"_version", si.Version)
		w(name+"_security_version", strconv.FormatUint(si.SecurityVersion, 10))
		w(name+"_size", strconv.FormatInt(si.Size, 10))
		w(name+"_sha256", si.SHA256)
	}
	return b.Bytes()
}

// oneLine keeps a value on one line and short.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 400 {
		s = s[:397] + "..."
	}
	return strings.TrimSpace(s)
}

// LoadState reads the state file; a missing file is the factory state.
func LoadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return defaultState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading boot state: %w", err)
	}
	st, err := ParseState(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (fix or remove the file; removing it means slot a is active)", path, err)
	}
	return st, nil
}

// SaveState writes the state file atomically: a temporary file in the same
// directory, synced, renamed over the old one, and the directory synced, so
// a power cut leaves either the old or the new state, never a mix.
func SaveState(path string, st *State) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	f, err := os.CreateTemp(dir, ".boot.state-*")
	if err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(st.Format()); err != nil {
		f.Close()
		return fmt.Errorf("boot state: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("boot state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("boot state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("boot state: syncing %s: %w", dir, err)
	}
	return nil
}

// SelectBoot is what the bootloader script does at every boot, in Go (for
// bootloaders that run a Go helper, and for simulated boots in tests): when a
// trial is armed and tries are left it spends one and boots the trial slot,
// otherwise it boots the active slot; it records the choice in booted.
func SelectBoot(path string) (string, error) {
	st, err := LoadState(path)
	if err != nil {
		return "", err
	}
	if st.Trial != "" && st.TriesLeft > 0 {
		st.TriesLeft--
		st.Booted = st.Trial
	} else {
		st.Booted = st.Active
	}
	if err := SaveState(path, st); err != nil {
		return "", err
	}
	return st.Booted, nil
}

// loadState is LoadState for an appliance configured by cfg: when no state
// file exists yet, the factory image is taken to be in the slot the system
// booted (device tree or kernel command line), or slot a when nothing says.
func loadState(cfg Config) (*State, error) {
	st, err := LoadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	if _, serr := os.Stat(cfg.StateFile); errors.Is(serr, os.ErrNotExist) {
		if s := bootSlotHint(cfg); s == "b" {
			st.Active, st.A, st.B = "b", SlotInfo{State: SlotEmpty}, SlotInfo{State: SlotGood}
		}
	}
	return st, nil
}
