//go:build linux && vmtest

package gpio_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// simChip is one gpio-sim chip made through configfs, as in the kernel's own
// selftests: the VM's /init has loaded gpio-sim and mounted configfs.
type simChip struct {
	t    testing.TB
	cfg  string // /sys/kernel/config/gpio-sim/NAME
	chip string // gpiochipN
	sys  string // /sys/devices/platform/DEV/gpiochipN
}

func newSim(t testing.TB, name string, lines int) *simChip {
	t.Helper()
	s := &simChip{t: t, cfg: filepath.Join("/sys/kernel/config/gpio-sim", name)}
	if err := os.Mkdir(s.cfg, 0o755); err != nil {
		t.Fatalf("gpio-sim: %v (is the gpio-sim module loaded and configfs mounted?)", err)
	}
	bank := filepath.Join(s.cfg, "bank0")
	if err := os.Mkdir(bank, 0o755); err != nil {
		t.Fatal(err)
	}
	s.write(filepath.Join(bank, "num_lines"), strconv.Itoa(lines))
	s.write(filepath.Join(bank, "label"), name)
	s.write(filepath.Join(s.cfg, "live"), "1")
	s.chip = s.read(filepath.Join(bank, "chip_name"))
	dev := s.read(filepath.Join(s.cfg, "dev_name"))
	s.sys = filepath.Join("/sys/devices/platform", dev, s.chip)
	t.Cleanup(func() {
		s.write(filepath.Join(s.cfg, "live"), "0")
		_ = os.Remove(bank)
		_ = os.Remove(s.cfg)
	})
	return s
}

func (s *simChip) write(path, v string) {
	s.t.Helper()
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		s.t.Fatalf("gpio-sim: %v", err)
	}
}

func (s *simChip) read(path string) string {
	s.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("gpio-sim: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// setPull drives an input line from outside, like the SLIC would, and
// returns the monotonic time just before and just after the write.
func (s *simChip) setPull(line int, high bool) (before, after time.Duration) {
	v := "pull-down"
	if high {
		v = "pull-up"
	}
	p := filepath.Join(s.sys, "sim_gpio"+strconv.Itoa(line), "pull")
	before = hal.SystemClock{}.Now()
	if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
		s.t.Fatalf("gpio-sim pull: %v", err)
	}
	return before, hal.SystemClock{}.Now()
}

// level reads the line's physical level as the simulated hardware sees it.
func (s *simChip) level(line int) int {
	s.t.Helper()
	v := s.read(filepath.Join(s.sys, "sim_gpio"+strconv.Itoa(line), "value"))
	n, err := strconv.Atoi(v)
	if err != nil {
		s.t.Fatalf("gpio-sim value %q: %v", v, err)
	}
	return n
}

func (s *simChip) pin(line int) hal.Pin { return hal.Pin{Chip: s.chip, Line: line} }
