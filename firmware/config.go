package firmware

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used where Config is silent.
const (
	DefaultStateFile     = "/var/lib/critline/firmware/boot.state"
	DefaultTrustedKeys   = "/etc/critline/firmware-keys"
	DefaultCmdline       = "/proc/cmdline"
	DefaultHealthTimeout = 5 * time.Minute
	DefaultHealthRetry   = 10 * time.Second
	DefaultTrialTries    = 1
	DefaultAutoboot      = "/boot/firmware/autoboot.txt"
	DefaultDeviceTree    = "/proc/device-tree/chosen/bootloader"
)

// Trial-boot methods (Config.Method).
const (
	MethodBootcount = "bootcount"
	MethodTryboot   = "tryboot"
)

// Config is the [firmware] section of the daemon's configuration file. cmd
// maps the TOML keys (in the struct tags) onto it.
type Config struct {
	// Board is this appliance's board name; a bundle is installed only when
	// its manifest lists it among its compatible boards.
	Board string `toml:"board"`
	// SlotA and SlotB are the two slots: block devices (e.g.
	// /dev/mmcblk0p2, /dev/mmcblk0p3) or regular files.
	SlotA string `toml:"slot_a"`
	SlotB string `toml:"slot_b"`
	// StateFile is the boot-state file the bootloader script reads and
	// critline writes atomically. It must be on storage the bootloader can
	// read when the bootcount method is used.
	StateFile string `toml:"state_file"`
	// TrustedKeys is a directory of *.pub files (PEM, PKIX ed25519 public
	// keys); a bundle must be signed by one of them.
	TrustedKeys string `toml:"trusted_keys"`
	// TrialTries is how many times the bootloader tries the new slot before
	// falling back (default 1: a one-time trial boot).
	TrialTries int `toml:"trial_tries"`
	// HealthTimeout bounds how long ConfirmWhenHealthy waits for the health
	// check to pass after a trial boot (default 5m); HealthRetry is the pause
	// between attempts (default 10s).
	HealthTimeout time.Duration `toml:"health_timeout"`
	HealthRetry   time.Duration `toml:"health_retry"`
	// RebootCommand is run (argv, no shell) to reboot into the old slot
	// after a failed trial, and by `critlinectl firmware install --reboot`
	// (default ["systemctl", "reboot"]).
	RebootCommand []string `toml:"reboot_command"`
	// Cmdline is the kernel command line to read critline.slot=a|b from
	// (default /proc/cmdline); when it names no slot the state file's
	// "booted" key, written by the bootloader script, says which slot runs.
	Cmdline string `toml:"cmdline"`

	// Method is how the one-time trial boot is armed: "bootcount" (the
	// default: the state file's trial/tries_left, read by the bootloader
	// script) or "tryboot" (the Raspberry Pi firmware's tryboot with an
	// autoboot.txt A/B setup).
	Method string `toml:"method"`
	// Autoboot is the Pi's autoboot.txt (tryboot only; default
	// /boot/firmware/autoboot.txt); PartitionA and PartitionB are the boot
	// partition numbers of the slots (default 2 and 3); DeviceTree is where
	// the Pi firmware tells which partition it booted (default
	// /proc/device-tree/chosen/bootloader).
	Autoboot   string `toml:"autoboot"`
	PartitionA int    `toml:"partition_a"`
	PartitionB int    `toml:"partition_b"`
	DeviceTree string `toml:"device_tree"`
	// TrybootCommand reboots once into the [tryboot] partition (tryboot
	// only; default ["systemctl", "reboot", "0 tryboot"]).
	TrybootCommand []string `toml:"tryboot_command"`

	// Logger receives audit lines (installs, forced downgrades, confirms,
	// rollbacks); nil means slog.Default().
	Logger *slog.Logger `toml:"-" json:"-"`
	// Reboot, when set, replaces RebootCommand (tests).
	Reboot func() error `toml:"-" json:"-"`
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.StateFile == "" {
		c.StateFile = DefaultStateFile
	}
	if c.TrustedKeys == "" {
		c.TrustedKeys = DefaultTrustedKeys
	}
	if c.TrialTries <= 0 {
		c.TrialTries = DefaultTrialTries
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.HealthRetry <= 0 {
		c.HealthRetry = DefaultHealthRetry
	}
	if len(c.RebootCommand) == 0 {
		c.RebootCommand = []string{"systemctl", "reboot"}
	}
	if c.Cmdline == "" {
		c.Cmdline = DefaultCmdline
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Method == "" {
		c.Method = MethodBootcount
	}
	if c.Autoboot == "" {
		c.Autoboot = DefaultAutoboot
	}
	if c.PartitionA == 0 {
		c.PartitionA = 2
	}
	if c.PartitionB == 0 {
		c.PartitionB = 3
	}
	if c.DeviceTree == "" {
		c.DeviceTree = DefaultDeviceTree
	}
	if len(c.TrybootCommand) == 0 {
		c.TrybootCommand = []string{"systemctl", "reboot", "0 tryboot"}
	}
	return c
}

// Validate reports what is missing for installing and confirming.
func (c Config) Validate() error {
	var errs []error
	if c.Board == "" {
		errs = append(errs, errors.New("firmware.board is empty: set it to this appliance's board name (the name bundles list as compatible)"))
	}
	if c.SlotA == "" || c.SlotB == "" {
		errs = append(errs, errors.New("firmware.slot_a and firmware.slot_b must both be set: two block devices or files"))
	} else if c.SlotA == c.SlotB {
		errs = append(errs, fmt.Errorf("firmware.slot_a and firmware.slot_b are both %s: they must be two different devices or files", c.SlotA))
	}
	switch c.Method {
	case "", MethodBootcount:
	case MethodTryboot:
		if c.PartitionA != 0 && c.PartitionA == c.PartitionB {
			errs = append(errs, fmt.Errorf("firmware.partition_a and partition_b are both %d: use the two boot partitions (e.g. 2 and 3)", c.PartitionA))
		}
	default:
		errs = append(errs, fmt.Errorf("firmware.method %q is not \"bootcount\" or \"tryboot\"", c.Method))
	}
	if c.TrialTries > 10 {
		errs = append(errs, fmt.Errorf("firmware.trial_tries = %d: use 1 to 10", c.TrialTries))
	}
	return errors.Join(errs...)
}

// slotPath returns the path of slot name ("a" or "b").
func (c Config) slotPath(name string) string {
	if name == "a" {
		return c.SlotA
	}
	return c.SlotB
}

// other returns the other slot's name.
func other(slot string) string {
	if slot == "a" {
		return "b"
	}
	return "a"
}
