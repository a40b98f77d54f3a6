package configcheck

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/critline/critline/config"
	"github.com/critline/critline/fxs/digitmap"
	"github.com/critline/critline/fxs/hook"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/pathtest"
	"github.com/critline/critline/survivability/prompts"
)

// ExitConfig is the exit code of a command refusing a configuration
// (EX_CONFIG from sysexits.h).
const ExitConfig = 78

// Checked is a configuration that passed every check, with what the
// checks built on the way (so the daemon does not build them twice).
type Checked struct {
	*config.Config
	Profile    *profile.Profile
	Guard      guard.Config
	Forwarding forwarding.Config
	// Prompts is what remote activation speaks (nil: tones, or remote
	// activation off).
	Prompts   *prompts.Set
	PathTests pathtest.Config // with its defaults
}

// Load reads the file at path and checks it completely. overrides, when
// not nil, changes the configuration before the later checks (critlined's
// command-line flags); the result is checked again. A *config.Errors lists
// every problem.
func Load(path string, overrides func(*config.Config)) (*Checked, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if overrides != nil {
		overrides(cfg)
		if err := cfg.Check(); err != nil {
			return nil, fmt.Errorf("after command-line overrides:\n%w", err)
		}
	}
	return Check(cfg)
}

// Check makes the checks package config cannot make on a configuration it
// accepted.
func Check(cfg *config.Config) (*Checked, error) {
	errs := &config.Errors{File: cfg.Path}
	out := &Checked{Config: cfg}

	prof, err := profile.LoadFile(cfg.Board.Profile, cfg.Board.ProfileFile)
	if err != nil {
		errs.Problemf(cfg, profileKey(cfg), "%v", err)
	} else {
		out.Profile = prof
		checkProfile(cfg, prof, errs)
	}
	for i, t := range cfg.Trunks {
		if t.Kind == "sim" && cfg.Board.Kind != "sim" {
			errs.Problemf(cfg, fmt.Sprintf("trunk[%d].kind", i), "a sim trunk needs the sim board (board.kind = \"sim\"): on a %s board use kind = \"modem\" with the modem's device", cfg.Board.Kind)
		}
	}
	out.Guard, out.Forwarding, err = Policies(cfg)
	if err == nil && out.Profile != nil {
		var perr error
		if out.Prompts, perr = RemotePrompts(out.Forwarding, out.Profile); perr != nil {
			key := "survivability.forwarding.prompts"
			if out.Forwarding.Prompts == "" {
				key = "survivability.forwarding.language"
			}
			errs.Problemf(cfg, key, "%v", perr)
		}
	}
	var ptErr error
	out.PathTests, ptErr = PathTests(cfg)
	for _, line := range lines(errors.Join(err, ptErr)) {
		if m := reUnknown.FindStringSubmatch(line); m != nil {
			for _, k := range strings.Split(m[1], ", ") {
				errs.Problemf(cfg, k, "unknown key: check its spelling against the commented examples (examples/sim.toml)")
			}
			continue
		}
		key, msg := splitKey(line)
		errs.Problemf(cfg, key, "%s", msg)
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	return out, nil
}

// profileKey is the key a profile problem is reported against.
func profileKey(cfg *config.Config) string {
	if cfg.Board.ProfileFile != "" {
		return "board.profile_file"
	}
	return "board.profile"
}

// checkProfile makes the checks the FXS engine makes when it starts: the
// dial plan each port falls back to must parse, and the hook windows must
// leave no signal ambiguous.
func checkProfile(cfg *config.Config, prof *profile.Profile, errs *config.Errors) {
	for _, p := range cfg.Ports {
		if strings.TrimSpace(p.DialPlan) != "" {
			continue // checked by package config
		}
		if _, err := digitmap.Parse(prof.Dialling.Plan); err != nil {
			errs.Problemf(cfg, profileKey(cfg), "the profile's dialling.plan (used by every port without a dial_plan): %v", err)
		}
		break
	}
	for i, p := range cfg.Ports {
		if p.Warmline != "" && p.WarmlineAfter.Duration >= prof.Dialling.DialToneTimeout {
			errs.Problemf(cfg, fmt.Sprintf("port[%d].warmline_after", i), "%s is not shorter than the profile's dial tone timeout (%s): the porter would hear number unobtainable first; shorten it", p.WarmlineAfter, prof.Dialling.DialToneTimeout)
		}
	}
	h := prof.Hook
	w := hook.Windows{Debounce: h.Debounce, Seize: h.Seize, PulseBreakMin: h.PulseBreakMin, PulseBreakMax: h.PulseBreakMax,
		DigitEnd: h.DigitEnd, FlashMin: h.FlashMin, FlashMax: h.FlashMax, Clear: h.Clear}
	if err := w.Validate(); err != nil {
		errs.Problemf(cfg, profileKey(cfg), "profile %s hook windows: %v", prof.Name, err)
	}
}

// Policies maps [survivability.guard], [survivability.forwarding] and the
// ports' PINs onto the guard's and forwarding's settings and checks them.
// The error has one "key: problem" line per problem.
func Policies(cfg *config.Config) (guard.Config, forwarding.Config, error) {
	var g guard.Config
	var f forwarding.Config
	var errs []error
	if err := cfg.Survivability.Guard.Decode("survivability.guard", &g); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Survivability.Forwarding.Decode("survivability.forwarding", &f); err != nil {
		errs = append(errs, err)
	}
	if len(g.Emergency) == 0 {
		g.Emergency = cfg.Survivability.Emergency
	}
	g.Profile = cfg.Board.Profile
	for _, p := range cfg.Ports {
		f.Ports = append(f.Ports, forwarding.Port{ID: p.ID, Extension: p.Extension, PIN: p.PIN, PINHash: p.PINHash, Mirror: p.ForwardMirror})
		f.OwnNumbers = append(f.OwnNumbers, p.Extension)
	}
	for _, t := range cfg.Trunks {
		if t.Number != "" {
			f.OwnNumbers = append(f.OwnNumbers, t.Number)
		}
	}
	if len(errs) == 0 { // a section that did not decode has nothing worth checking
		if err := g.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := f.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return g, f, errors.Join(errs...)
}

// RemotePrompts loads what remote activation speaks: [survivability.forwarding]
// prompts and language, else the built-in set for the country profile's
// language. A language with no prompts (none given) leaves the dialogue on
// tones (nil); prompts that are given but missing, unreadable or
// incomplete are an error naming what to record.
func RemotePrompts(f forwarding.Config, prof *profile.Profile) (*prompts.Set, error) {
	if !f.Remote {
		return nil, nil
	}
	lang := f.Language
	if lang == "" {
		lang = prof.Language
	}
	if lang == "" {
		return nil, nil
	}
	set, err := prompts.Load(f.Prompts, lang)
	if err != nil {
		if f.Prompts == "" && f.Language == "" {
			return nil, nil // the profile's language has no built-in prompts: tones
		}
		return nil, err
	}
	var names []string
	for _, p := range forwarding.Prompts() {
		names = append(names, string(p))
	}
	if m := set.Missing(names); len(m) > 0 {
		return nil, fmt.Errorf("%s lacks %v: record them (NAME.wav, 8 kHz 16-bit mono) or remove prompts to use the built-in set", set.Source(), m)
	}
	return set, nil
}

// PathTests maps [survivability.path_tests] onto the path tests' schedule,
// with its defaults, and checks it. The error has one "key: problem" line
// per problem.
func PathTests(cfg *config.Config) (pathtest.Config, error) {
	var c pathtest.Config
	if err := cfg.Survivability.PathTests.Decode("survivability.path_tests", &c); err != nil {
		return c, err
	}
	c = c.WithDefaults()
	return c, c.Validate()
}

// lines splits an error into its lines.
func lines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var (
	// "survivability.guard.route[1].max_duration: ...", and forwarding's
	// "port[0] (id 1).pin: ..." (the index is config's: ports in file order).
	reKeyed   = regexp.MustCompile(`^([A-Za-z0-9_]+(?:\[\d+\])?)(?: \(id \d+\))?((?:\.[A-Za-z0-9_]+(?:\[\d+\])?)*): (.*)$`)
	reUnknown = regexp.MustCompile(`^unknown keys: (.*)$`)
)

// splitKey splits "key: message" into the dotted key package config's
// locator knows and the message; a line without a key keeps it whole.
func splitKey(line string) (string, string) {
	if m := reKeyed.FindStringSubmatch(line); m != nil {
		return m[1] + m[2], m[3]
	}
	return "", line
}

// Summary is the line both commands print for a valid file.
func Summary(path string, c *Checked) string {
	return fmt.Sprintf("%s: valid (%s board, %d ports, %d registrars, %d trunks)",
		path, c.Board.Kind, len(c.Ports), len(c.SIP.Registrars), len(c.Trunks))
}

// Report checks the file at path as Load does and prints the outcome the
// way both commands do: the summary on stdout, or every problem on stderr.
// It returns the exit code: 0, or ExitConfig.
func Report(path string, overrides func(*config.Config), stdout, stderr io.Writer) int {
	c, err := Load(path, overrides)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitConfig
	}
	fmt.Fprintln(stdout, Summary(path, c))
	for _, n := range c.NoticeLines() {
		fmt.Fprintln(stdout, "notice:", n)
	}
	return 0
}
