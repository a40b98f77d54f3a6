package firmware

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The Raspberry Pi tryboot method. The Pi firmware reads autoboot.txt from
// the first FAT partition:
//
//	[all]
//	tryboot_a_b=1
//	boot_partition=2
//	[tryboot]
//	boot_partition=3
//
// A normal boot starts [all]'s partition; `reboot "0 tryboot"` starts
// [tryboot]'s partition once, and the next boot is normal again. So arming
// is pointing [tryboot] at the new slot, confirming is pointing [all] at it,
// and rolling back is a plain reboot. The firmware tells which partition it
// booted in the device tree (chosen/bootloader/partition, a big-endian u32).

func (c Config) partitionOf(slot string) int {
	if slot == "b" {
		return c.PartitionB
	}
	return c.PartitionA
}

// dtBootSlot reads the booted partition from the device tree and maps it to
// a slot ("" when unknown).
func dtBootSlot(cfg Config) string {
	data, err := os.ReadFile(filepath.Join(cfg.DeviceTree, "partition"))
	if err != nil || len(data) != 4 {
		return ""
	}
	switch int(binary.BigEndian.Uint32(data)) {
	case cfg.PartitionA:
		return "a"
	case cfg.PartitionB:
		return "b"
	}
	return ""
}

// Autoboot is what autoboot.txt says.
type Autoboot struct {
	All       int  `json:"boot_partition"`         // [all] boot_partition; 0 = not set
	Tryboot   int  `json:"tryboot_boot_partition"` // [tryboot] boot_partition
	TrybootAB bool `json:"tryboot_a_b"`
}

// ReadAutoboot parses an autoboot.txt.
func ReadAutoboot(path string) (Autoboot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Autoboot{}, fmt.Errorf("autoboot.txt: %w", err)
	}
	return parseAutoboot(data)
}

func parseAutoboot(data []byte) (Autoboot, error) {
	var a Autoboot
	section := "all" // lines before any [section] apply to all
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			section = strings.ToLower(l[1 : len(l)-1])
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return a, fmt.Errorf("autoboot.txt line %d: %q is not key=value", n, clip(l))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "tryboot_a_b" && section == "all":
			a.TrybootAB = v == "1"
		case k == "boot_partition":
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 127 {
				return a, fmt.Errorf("autoboot.txt line %d: boot_partition %q is not a partition number", n, clip(v))
			}
			switch section {
			case "all":
				a.All = p
			case "tryboot":
				a.Tryboot = p
			}
		}
	}
	return a, sc.Err()
}

// setAutoboot points [all] at allPart and [tryboot] at trybootPart, keeping
// every other line, and replaces the file atomically.
func setAutoboot(path string, allPart, trybootPart int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("autoboot.txt: %w (the tryboot method needs the Pi's A/B autoboot.txt: see docs/firmware.md)", err)
	}
	cur, err := parseAutoboot(data)
	if err != nil {
		return err
	}
	if !cur.TrybootAB {
		return fmt.Errorf("%s has no tryboot_a_b=1 in [all]: set up the Pi's A/B boot first (docs/firmware.md)", path)
	}
	var out []string
	section := "all"
	done := map[string]bool{}
	partFor := func(section string) int {
		if section == "all" {
			return allPart
		}
		return trybootPart
	}
	flush := func() { // add boot_partition to a section that lacked it
		if (section == "all" || section == "tryboot") && !done[section] {
			out = append(out, fmt.Sprintf("boot_partition=%d", partFor(section)))
			done[section] = true
		}
	}
	for _, raw := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		l := strings.TrimSpace(raw)
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			flush()
			section = strings.ToLower(l[1 : len(l)-1])
			out = append(out, raw)
			continue
		}
		if k, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "boot_partition" && (section == "all" || section == "tryboot") {
			if done[section] {
				continue // a duplicate: drop it
			}
			out = append(out, fmt.Sprintf("boot_partition=%d", partFor(section)))
			done[section] = true
			continue
		}
		out = append(out, raw)
	}
	flush()
	if !done["tryboot"] {
		out = append(out, "[tryboot]", fmt.Sprintf("boot_partition=%d", trybootPart))
	}
	return writeAtomic(path, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

// writeAtomic replaces path with data: temporary file, sync, rename, sync
// of the directory.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// armBoot records, for the tryboot method, which partition the next
// tryboot starts and which one a normal boot starts.
func armBoot(cfg Config, active, trial string) error {
	if cfg.Method != MethodTryboot {
		return nil
	}
	next := trial
	if next == "" {
		next = other(active)
	}
	if err := setAutoboot(cfg.Autoboot, cfg.partitionOf(active), cfg.partitionOf(next)); err != nil {
		return fmt.Errorf("tryboot: %w", err)
	}
	return nil
}

// checkAutoboot tells, before an install writes anything, whether a trial
// boot can be armed.
func checkAutoboot(cfg Config) error {
	if cfg.Method != MethodTryboot {
		return nil
	}
	a, err := ReadAutoboot(cfg.Autoboot)
	if err != nil {
		return fmt.Errorf("tryboot: %w", err)
	}
	if !a.TrybootAB {
		return fmt.Errorf("tryboot: %s has no tryboot_a_b=1 in [all]: set up the Pi's A/B boot first (docs/firmware.md)", cfg.Autoboot)
	}
	return nil
}

// RebootIntoTrial reboots so that the armed trial slot starts: with the
// tryboot method the one-time "0 tryboot" reboot, otherwise the plain
// reboot command (the bootloader script takes the trial).
func RebootIntoTrial(cfg Config) error {
	cfg = cfg.withDefaults()
	if cfg.Method == MethodTryboot && cfg.Reboot == nil {
		cfg.RebootCommand = cfg.TrybootCommand
	}
	return reboot(cfg)
}
