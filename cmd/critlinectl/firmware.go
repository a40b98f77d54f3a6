package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/critline/critline/firmware"
)

const fwUsage = `usage: critlinectl firmware VERB [FLAGS] [ARGS]

  keygen NAME                      make a signing key pair: NAME.key (keep it secret) and NAME.pub
  build --key NAME.key --version V --security-version N --board B[,B...]
        (--rootfs IMAGE | --release DIR) --out FILE
                                   build a signed bundle
  verify [--key PUB]... BUNDLE     check signature, manifest and payloads; print the manifest and signer
  install [--now] [--allow-downgrade] [--reboot] BUNDLE|-
                                   write the bundle into the inactive slot and arm a trial boot
  status [--json] [--verify]       slots, trial, interrupted installs, last result;
                                   --verify re-reads the slots against their digests
  confirm                          keep the running trial slot (the daemon does this when healthy)
  rollback [--allow-downgrade] [--reboot]
                                   undo the last install / go back to the other slot

Slots, board and keys come from the [firmware] section of --config
(default /etc/critline/critline.toml); --board, --slot-a, --slot-b, --state-file
and --keys override it.`

// runFirmware implements `critlinectl firmware ...`. Exit codes: 0 ok, 1
// failure, 2 usage.
func runFirmware(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w := stderr
		code := 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprintln(w, fwUsage)
		return code
	}
	e := &fwEnv{ctx: ctx, stdout: stdout, stderr: stderr}
	verbs := map[string]func([]string) int{
		"keygen": e.keygen, "build": e.build, "verify": e.verify, "install": e.install,
		"status": e.status, "confirm": e.confirm, "rollback": e.rollback,
	}
	run, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "critlinectl firmware: unknown verb %q\n\n%s\n", args[0], fwUsage)
		return 2
	}
	return run(args[1:])
}

type fwEnv struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	helped bool // a verb printed its flags for --help: its usage error is a success
}

func (e *fwEnv) fail(err error) int {
	fmt.Fprintf(e.stderr, "critlinectl firmware: %v\n", err)
	return 1
}

func (e *fwEnv) usage(verb, format string, args ...any) int {
	if e.helped {
		return 0
	}
	fmt.Fprintf(e.stderr, "critlinectl firmware %s: %s\n\n%s\n", verb, fmt.Sprintf(format, args...), fwUsage)
	return 2
}

// fwFlagSet is a flag set that reports errors as usage errors.
func fwFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("firmware "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse is fwParse; for -h or --help it prints the verb's flags on stdout
// instead, and the verb then ends with exit code 0.
func (e *fwEnv) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := fwParse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printFlags(e.stdout, fs)
		e.helped = true
	}
	return pos, err
}

// fwParse parses flags allowing them after positional arguments too
// ("install bundle.crfw --now").
func fwParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// fwConfigFlags are the flags that find the firmware configuration.
type fwConfigFlags struct {
	config, board, slotA, slotB, stateFile, keys, socket string
	missing                                              bool // load found no config file
}

// loadSlots is load for the verbs that read or change the boot state
// (status, confirm, rollback): without the slots there is no A/B state to
// show or change, so rather than describe a default one it says what is
// missing.
func (c *fwConfigFlags) loadSlots(stderr io.Writer) (firmware.Config, string, error) {
	cfg, socket, err := c.load(stderr)
	switch {
	case err != nil:
		return cfg, socket, err
	case c.missing && (cfg.SlotA == "" || cfg.SlotB == ""):
		return cfg, socket, fmt.Errorf("no firmware configuration: %s does not exist; pass --config with the daemon's configuration file (its [firmware] section), or --slot-a, --slot-b and --state-file", c.config)
	case cfg.SlotA == "" || cfg.SlotB == "":
		return cfg, socket, fmt.Errorf("%s sets no [firmware] slot_a and slot_b: A/B updates are not set up on this appliance (docs/firmware.md says how), or pass --slot-a and --slot-b", c.config)
	}
	return cfg, socket, nil
}

func (c *fwConfigFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "/etc/critline/critline.toml", "daemon configuration file ([firmware] section)")
	fs.StringVar(&c.board, "board", "", "this appliance's board name (overrides firmware.board)")
	fs.StringVar(&c.slotA, "slot-a", "", "slot a device or file (overrides firmware.slot_a)")
	fs.StringVar(&c.slotB, "slot-b", "", "slot b device or file (overrides firmware.slot_b)")
	fs.StringVar(&c.stateFile, "state-file", "", "boot-state file (overrides firmware.state_file)")
	fs.StringVar(&c.keys, "keys", "", "trusted keys directory or .pub file (overrides firmware.trusted_keys)")
	fs.StringVar(&c.socket, "socket", "", "daemon control socket (overrides control.socket)")
}

// fwFileConfig is the part of critline.toml this verb reads; other sections
// are ignored here (critlined checks the whole file).
type fwFileConfig struct {
	Firmware firmware.Config `toml:"firmware"`
	Control  struct {
		Socket string `toml:"socket"`
	} `toml:"control"`
}

// load reads the config file (a missing file is fine when flags say
// everything) and applies the overrides.
func (c *fwConfigFlags) load(stderr io.Writer) (firmware.Config, string, error) {
	var fc fwFileConfig
	c.missing = false
	if _, err := toml.DecodeFile(c.config, &fc); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return firmware.Config{}, "", fmt.Errorf("reading %s: %w", c.config, err)
		}
		c.missing = true
	}
	cfg := fc.Firmware
	for _, o := range []struct {
		dst *string
		v   string
	}{
		{&cfg.Board, c.board}, {&cfg.SlotA, c.slotA}, {&cfg.SlotB, c.slotB}, {&cfg.StateFile, c.stateFile}, {&cfg.TrustedKeys, c.keys},
	} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	socket := c.socket
	if socket == "" {
		socket = fc.Control.Socket
	}
	if socket == "" {
		socket = os.Getenv("CRITLINE_SOCKET")
	}
	if socket == "" {
		socket = "/run/critline/control.sock"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg, socket, nil
}

func (e *fwEnv) keygen(args []string) int {
	fs := fwFlagSet("keygen")
	force := fs.Bool("force", false, "overwrite existing key files")
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 1 {
		return e.usage("keygen", "give one NAME (writes NAME.key and NAME.pub)")
	}
	pub, priv, err := firmware.GenerateKey(nil)
	if err != nil {
		return e.fail(err)
	}
	privPEM, err := firmware.MarshalPrivateKey(priv)
	if err != nil {
		return e.fail(err)
	}
	pubPEM, err := firmware.MarshalPublicKey(pub)
	if err != nil {
		return e.fail(err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{pos[0] + ".key", privPEM, 0o600}, {pos[0] + ".pub", pubPEM, 0o644}} {
		fd, err := os.OpenFile(f.path, flags, f.mode)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return e.fail(fmt.Errorf("%s exists: pick another name or pass --force", f.path))
			}
			return e.fail(err)
		}
		_, err = fd.Write(f.data)
		if cerr := fd.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return e.fail(err)
		}
	}
	fmt.Fprintf(e.stdout, "key %s: private key %s.key (keep it offline), public key %s.pub (install it in the trusted-keys directory)\n",
		firmware.KeyID(pub), pos[0], pos[0])
	return 0
}

func (e *fwEnv) build(args []string) int {
	fs := fwFlagSet("build")
	key := fs.String("key", "", "signing key (NAME.key)")
	version := fs.String("version", "", "release version, e.g. 1.4.0")
	secVer := fs.Uint64("security-version", 0, "monotonic security version")
	boards := fs.String("board", "", "compatible boards, comma-separated")
	rootfs := fs.String("rootfs", "", "root filesystem image")
	release := fs.String("release", "", "release tree (usr/bin/critlined, units, default config, ...)")
	out := fs.String("out", "", "bundle file to write")
	pos, err := e.parse(fs, args)
	switch {
	case err != nil:
		return e.usage("build", "%v", err)
	case len(pos) != 0:
		return e.usage("build", "unexpected arguments %q", pos)
	case *key == "" || *version == "" || *boards == "" || *out == "":
		return e.usage("build", "--key, --version, --board and --out are required")
	case (*rootfs == "") == (*release == ""):
		return e.usage("build", "give exactly one of --rootfs IMAGE or --release DIR")
	}
	priv, err := firmware.LoadPrivateKey(*key)
	if err != nil {
		return e.fail(err)
	}
	opts := firmware.BuildOptions{Version: *version, SecurityVersion: *secVer, Boards: strings.Split(*boards, ","), Created: time.Now(), Key: priv}
	var src firmware.Source
	if *rootfs != "" {
		opts.Kind, src = firmware.KindRootfs, firmware.FileSource("rootfs.img", *rootfs)
	} else {
		opts.Kind, src = firmware.KindRelease, firmware.ReleaseSource(*release)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".bundle-*")
	if err != nil {
		return e.fail(err)
	}
	defer os.Remove(tmp.Name())
	m, err := firmware.Build(tmp, opts, []firmware.Source{src})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), *out)
	}
	if err != nil {
		return e.fail(err)
	}
	fmt.Fprintf(e.stdout, "%s: signed by key %s\n%s", *out, firmware.KeyID(priv.Public().(ed25519.PublicKey)), m)
	return 0
}

// fwOpenBundle opens a bundle file ("-" is standard input) and its size
// (-1 when unknown).
func fwOpenBundle(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening bundle: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return f, -1, nil
	}
	return f, st.Size(), nil
}

// fwIsTerminal reports whether w is a terminal (for the progress bar).
func fwIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func (e *fwEnv) keyring(cfg firmware.Config, keyFiles []string) (*firmware.Keyring, error) {
	if len(keyFiles) > 0 {
		return firmware.LoadKeyring(keyFiles...)
	}
	dir := cfg.TrustedKeys
	if dir == "" {
		dir = firmware.DefaultTrustedKeys
	}
	return firmware.LoadKeyring(dir)
}

type fwStrings []string

func (s *fwStrings) String() string     { return strings.Join(*s, ",") }
func (s *fwStrings) Set(v string) error { *s = append(*s, v); return nil }

func (e *fwEnv) verify(args []string) int {
	fs := fwFlagSet("verify")
	var cf fwConfigFlags
	cf.register(fs)
	var keys fwStrings
	fs.Var(&keys, "key", "trusted public key file (repeatable; default: the trusted-keys directory)")
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 1 {
		return e.usage("verify", "give one BUNDLE")
	}
	cfg, _, err := cf.load(e.stderr)
	if err != nil {
		return e.fail(err)
	}
	ring, err := e.keyring(cfg, keys)
	if err != nil {
		return e.fail(err)
	}
	rc, size, err := fwOpenBundle(pos[0])
	if err != nil {
		return e.fail(err)
	}
	defer rc.Close()
	pp := firmware.NewProgressPrinter(e.stderr, fwIsTerminal(e.stderr), nil)
	tty := fwIsTerminal(e.stderr)
	res, err := firmware.Verify(rc, ring, func(done int64) {
		if tty && size > 0 {
			pp.Update(firmware.Progress{Phase: "verify", Done: done, Total: size})
		}
	})
	pp.Done()
	if res != nil {
		m := res.Header.Manifest
		if *asJSON {
			out, _ := json.MarshalIndent(struct {
				Manifest *firmware.Manifest `json:"manifest"`
				KeyID    string             `json:"key_id"`
				Trusted  bool               `json:"trusted"`
				KeyFile  string             `json:"key_file,omitempty"`
				Valid    bool               `json:"valid"`
			}{m, res.Header.KeyID, res.Signer.ID != "", res.Signer.Source, err == nil}, "", "  ")
			fmt.Fprintln(e.stdout, string(out))
		} else {
			fmt.Fprint(e.stdout, m)
			if res.Signer.ID != "" {
				fmt.Fprintf(e.stdout, "signed by:        key %s (%s)\n", res.Signer.ID, res.Signer.Source)
			} else {
				fmt.Fprintf(e.stdout, "signed by:        key %s: NOT TRUSTED\n", res.Header.KeyID)
			}
		}
		if err == nil && cfg.Board != "" && !m.Supports(cfg.Board) {
			err = fmt.Errorf("%w: the bundle is for boards %s; this appliance is %q", firmware.ErrWrongBoard, strings.Join(m.Boards, ", "), cfg.Board)
		}
	}
	if err != nil {
		return e.fail(err)
	}
	fmt.Fprintf(e.stdout, "%s: OK: signature, manifest and every payload digest verified\n", pos[0])
	return 0
}

func (e *fwEnv) install(args []string) int {
	fs := fwFlagSet("install")
	var cf fwConfigFlags
	cf.register(fs)
	now := fs.Bool("now", false, "install even while a call is up")
	downgrade := fs.Bool("allow-downgrade", false, "install a lower security version (logged)")
	reboot := fs.Bool("reboot", false, "reboot into the new slot when done")
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 1 {
		return e.usage("install", "give one BUNDLE (or - for standard input)")
	}
	cfg, socket, err := cf.load(e.stderr)
	if err != nil {
		return e.fail(err)
	}
	ring, err := e.keyring(cfg, nil)
	if err != nil {
		return e.fail(err)
	}
	rc, _, err := fwOpenBundle(pos[0])
	if err != nil {
		return e.fail(err)
	}
	defer rc.Close()
	pp := firmware.NewProgressPrinter(e.stdout, fwIsTerminal(e.stdout), nil)
	res, err := firmware.Install(e.ctx, cfg, rc, firmware.InstallOptions{
		Keys: ring, Calls: firmware.DaemonCalls(socket), Now: *now, AllowDowngrade: *downgrade, Progress: pp.Update,
	})
	pp.Done()
	if err != nil {
		return e.fail(err)
	}
	fmt.Fprintf(e.stdout, "installed %s (security version %d, signed by key %s) into slot %s (%s), read back and verified: sha256 %s\n",
		res.Manifest.Version, res.Manifest.SecurityVersion, res.Signer.ID, res.Slot, res.Path, res.SHA256)
	if res.Downgrade {
		fmt.Fprintln(e.stdout, "WARNING: security version downgrade forced with --allow-downgrade (logged)")
	}
	if !*reboot {
		fmt.Fprintf(e.stdout, "trial boot armed: reboot to start slot %s once; the daemon confirms it when healthy, otherwise the old slot comes back\n", res.Slot)
		return 0
	}
	fmt.Fprintf(e.stdout, "rebooting into slot %s for its trial boot\n", res.Slot)
	if err := firmware.RebootIntoTrial(cfg); err != nil {
		return e.fail(err)
	}
	return 0
}

func (e *fwEnv) status(args []string) int {
	fs := fwFlagSet("status")
	var cf fwConfigFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	verify := fs.Bool("verify", false, "also re-read both slots and compare them with the digests recorded at install")
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 0 {
		return e.usage("status", "takes no arguments")
	}
	cfg, _, err := cf.loadSlots(e.stderr)
	if err != nil {
		return e.fail(err)
	}
	s, err := firmware.ReadStatus(cfg)
	if err != nil {
		return e.fail(err)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(s, "", "  ")
		fmt.Fprintln(e.stdout, string(out))
	} else {
		fmt.Fprint(e.stdout, s)
	}
	if !*verify {
		return 0
	}
	code := 0
	for _, slot := range []string{"a", "b"} {
		switch err := firmware.VerifySlot(cfg, slot); {
		case err == nil:
			fmt.Fprintf(e.stdout, "slot %s: contents match the installed digest\n", slot)
		case errors.Is(err, firmware.ErrNothingToDo):
			fmt.Fprintf(e.stdout, "slot %s: %v\n", slot, err)
		default:
			fmt.Fprintf(e.stderr, "critlinectl firmware: %v\n", err)
			code = 1
		}
	}
	return code
}

func (e *fwEnv) confirm(args []string) int {
	fs := fwFlagSet("confirm")
	var cf fwConfigFlags
	cf.register(fs)
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 0 {
		return e.usage("confirm", "takes no arguments")
	}
	cfg, _, err := cf.loadSlots(e.stderr)
	if err != nil {
		return e.fail(err)
	}
	if err := firmware.Confirm(cfg, "by hand (critlinectl firmware confirm)"); err != nil {
		return e.fail(err)
	}
	fmt.Fprintln(e.stdout, "confirmed: the running slot is now the active slot")
	return 0
}

func (e *fwEnv) rollback(args []string) int {
	fs := fwFlagSet("rollback")
	var cf fwConfigFlags
	cf.register(fs)
	downgrade := fs.Bool("allow-downgrade", false, "roll back below the minimum security version (logged)")
	reboot := fs.Bool("reboot", false, "reboot when the rollback needs one")
	pos, err := e.parse(fs, args)
	if err != nil || len(pos) != 0 {
		return e.usage("rollback", "takes no arguments")
	}
	cfg, _, err := cf.loadSlots(e.stderr)
	if err != nil {
		return e.fail(err)
	}
	res, err := firmware.Rollback(cfg, *downgrade)
	if err != nil {
		return e.fail(err)
	}
	fmt.Fprintln(e.stdout, res.Message)
	if res.NeedsReboot && *reboot {
		if err := firmware.Reboot(cfg); err != nil {
			return e.fail(err)
		}
	}
	return 0
}
