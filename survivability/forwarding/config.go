package forwarding

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults for what a configuration leaves out.
const (
	DefaultMaxFailures    = 5
	DefaultLockout        = 15 * time.Minute
	DefaultLockoutMax     = 24 * time.Hour
	DefaultMaxAttempts    = 60
	DefaultAttemptWindow  = time.Hour
	DefaultDigitTimeout   = 15 * time.Second // generous: mobile callers are slow with DTMF
	DefaultSessionTimeout = 3 * time.Minute
	DefaultFailureDelay   = 2 * time.Second
	DefaultNoAnswerAfter  = 20 * time.Second
	DefaultRoute          = "forward"
	DefaultMirrorTimeout  = 30 * time.Second
	// MaxFailureDelay caps the growing wait after wrong entries.
	MaxFailureDelay = 5 * time.Minute
	// StrikeMemory is how long a caller's earlier lockouts are remembered
	// (each one doubles the next) after the last one ended.
	StrikeMemory = 24 * time.Hour
	// FailureMemory is how long wrong entries count after the last one.
	FailureMemory = time.Hour
)

// Config is the forwarding configuration: TOML table
// [survivability.forwarding], plus Ports filled from the [[port]] tables.
type Config struct {
	// Remote enables remote activation (off unless set).
	Remote bool `toml:"remote"`
	// ServiceExtension is a SIP line of its own, registered with the
	// registrars like the ports' lines, whose calls reach the dialogue:
	// staff dial it from any phone while a PBX is up. ServiceAuthUser
	// (default the extension) and ServicePassword are its digest
	// credentials.
	ServiceExtension string `toml:"service_extension"`
	ServiceAuthUser  string `toml:"service_auth_user"`
	ServicePassword  string `toml:"service_password"`
	// StaffNumbers are callers whose calls on a trunk reach the dialogue
	// (they can still reach the lodge from it); every other caller rings
	// the porters as usual.
	StaffNumbers []string `toml:"staff_numbers"`
	// Prompts is a directory of prompt sets (DIR/LANGUAGE/NAME.alaw or
	// .wav) that replaces the built-in ones; Language picks the set
	// (default: the country profile's language).
	Prompts  string `toml:"prompts"`
	Language string `toml:"language"`
	// MaxFailures wrong entries (PINs or unknown extensions) from one
	// calling number lock that number out. Default 5, at most 20. Each
	// wrong entry makes the caller wait before the next: FailureDelay,
	// doubling each time (at most 5 minutes).
	MaxFailures int `toml:"max_failures"`
	// Lockout is how long a caller's first lockout lasts; each further one
	// (within a day of the last) lasts twice as long, up to LockoutMax.
	// Defaults 15m and 24h.
	Lockout    time.Duration `toml:"lockout"`
	LockoutMax time.Duration `toml:"lockout_max"`
	// MaxAttempts PIN checks are allowed across all callers per
	// AttemptWindow; beyond that remote activation tells every caller to
	// try later until the window moves on. Defaults 60 per 1h: enough for
	// every staff member, and a 6-digit PIN space takes years to search.
	MaxAttempts   int           `toml:"max_attempts"`
	AttemptWindow time.Duration `toml:"attempt_window"`
	// DigitTimeout is how long the dialogue waits for the next digit after
	// a prompt (default 15s); SessionTimeout bounds a whole call (default
	// 3m).
	DigitTimeout   time.Duration `toml:"digit_timeout"`
	SessionTimeout time.Duration `toml:"session_timeout"`
	// FailureDelay is the wait after a first wrong entry (default 2s).
	FailureDelay time.Duration `toml:"failure_delay"`
	// AllowWithheld lets callers who withhold their number use remote
	// activation (default true). They share one lockout, so a withheld
	// attacker throttles only withheld callers.
	AllowWithheld *bool `toml:"allow_withheld"`
	// Route is the toll-fraud guard route that forward-to numbers are
	// checked against (default "forward").
	Route string `toml:"route"`
	// NoAnswerAfter is the ring time of no-answer forwarding when none is
	// given (default 20s, 5s..2m).
	NoAnswerAfter time.Duration `toml:"no_answer_after"`
	// MirrorTimeout bounds one NetworkForwarder call (default 30s).
	MirrorTimeout time.Duration `toml:"mirror_timeout"`

	// OwnNumbers are the appliance's own numbers (trunk numbers, line
	// extensions): forwarding to them would loop, so it is refused. The
	// daemon fills this from [[trunk]] number and [[port]] extension.
	OwnNumbers []string `toml:"-"`
	// Ports are the FXS ports, from [[port]].
	Ports []Port `toml:"-"`
}

// Port is one port's forwarding configuration, from its [[port]] table.
type Port struct {
	// ID is [[port]] id.
	ID int `toml:"id"`
	// Extension is [[port]] extension: what staff key in to say which
	// line they forward.
	Extension string `toml:"extension"`
	// PIN ([[port]] pin) or PINHash ([[port]] pin_hash, from HashPIN):
	// one is required when remote activation is on.
	PIN     string `toml:"pin"`
	PINHash string `toml:"pin_hash"`
	// Mirror ([[port]] forward_mirror) copies this port's forwarding into
	// the mobile network, only while the trunk's SIM serves this port
	// alone (see Options.NetworkPorts).
	Mirror bool `toml:"forward_mirror"`
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	def(&c.Lockout, DefaultLockout)
	def(&c.LockoutMax, max(DefaultLockoutMax, c.Lockout))
	def(&c.AttemptWindow, DefaultAttemptWindow)
	def(&c.DigitTimeout, DefaultDigitTimeout)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	def(&c.FailureDelay, DefaultFailureDelay)
	def(&c.NoAnswerAfter, DefaultNoAnswerAfter)
	def(&c.MirrorTimeout, DefaultMirrorTimeout)
	if c.Route == "" {
		c.Route = DefaultRoute
	}
	if c.AllowWithheld == nil {
		yes := true
		c.AllowWithheld = &yes
	}
	return c
}

// allowWithheld reports the (defaulted) allow_withheld.
func (c Config) allowWithheld() bool { return c.AllowWithheld == nil || *c.AllowWithheld }

// Validate checks the configuration and returns every problem, each naming
// its key and the fix. Plain PINs are checked but not hashed here.
func (c Config) Validate() error {
	_, err := c.compile(false)
	return err
}

type portCfg struct {
	id     int
	ext    string
	pin    *PINHash // nil: no remote activation for this port
	mirror bool
}

// compile checks c; with hash it also hashes plain PINs.
func (c Config) compile(hash bool) (map[int]*portCfg, error) {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, a...)...))
	}
	const sec = "survivability.forwarding."
	rng := func(key string, v, lo, hi time.Duration) {
		if v < lo || v > hi {
			bad(sec+key, "%v is out of range: use %v to %v", v, lo, hi)
		}
	}
	if c.MaxFailures < 1 || c.MaxFailures > 20 {
		bad(sec+"max_failures", "%d: use 1 to 20", c.MaxFailures)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 1000 {
		bad(sec+"max_attempts", "%d: use 1 to 1000", c.MaxAttempts)
	}
	rng("lockout", c.Lockout, time.Minute, 7*24*time.Hour)
	rng("lockout_max", c.LockoutMax, c.Lockout, 30*24*time.Hour)
	rng("attempt_window", c.AttemptWindow, time.Minute, 7*24*time.Hour)
	rng("digit_timeout", c.DigitTimeout, 2*time.Second, 2*time.Minute)
	rng("session_timeout", c.SessionTimeout, 10*time.Second, 30*time.Minute)
	rng("failure_delay", c.FailureDelay, 0, time.Minute)
	rng("no_answer_after", c.NoAnswerAfter, 5*time.Second, 2*time.Minute)
	rng("mirror_timeout", c.MirrorTimeout, time.Second, 5*time.Minute)
	if c.SessionTimeout < c.DigitTimeout {
		bad(sec+"session_timeout", "%v is shorter than digit_timeout %v", c.SessionTimeout, c.DigitTimeout)
	}
	if c.ServiceExtension != "" {
		if !sipUser(c.ServiceExtension) {
			bad(sec+"service_extension", "%q is not a SIP user: use the digits staff dial, e.g. \"270009\"", c.ServiceExtension)
		}
		for _, p := range c.Ports {
			if p.Extension == c.ServiceExtension {
				bad(sec+"service_extension", "%q is port %d's extension: give the service line a number of its own", c.ServiceExtension, p.ID)
			}
		}
		if c.ServiceAuthUser != "" && !sipUser(c.ServiceAuthUser) {
			bad(sec+"service_auth_user", "%q is not a SIP user name", c.ServiceAuthUser)
		}
	} else if c.ServiceAuthUser != "" || c.ServicePassword != "" {
		bad(sec+"service_password", "credentials without a service_extension: set service_extension = \"...\" or remove them")
	}
	for i, n := range c.StaffNumbers {
		if normalizeCaller(n) == "" || len(normalizeCaller(n)) < 3 || strings.Trim(n, "+0123456789 -") != "" {
			bad(fmt.Sprintf("%sstaff_numbers[%d]", sec, i), "%q is not a telephone number: write it as the network presents it, e.g. \"07700900123\" or \"+447700900123\"", n)
		}
	}
	if !c.Remote && (c.ServiceExtension != "" || len(c.StaffNumbers) > 0) {
		bad(sec+"remote", "service_extension or staff_numbers is set but remote activation is off: set remote = true (or remove them)")
	}
	for i, n := range c.OwnNumbers {
		if _, err := normalizeDest(n); err != nil && n != "" {
			bad(fmt.Sprintf("own number [%d]", i), "%v", err)
		}
	}
	ports := map[int]*portCfg{}
	mirrors := 0
	for i, p := range c.Ports {
		key := fmt.Sprintf("port[%d] (id %d)", i, p.ID)
		if p.ID <= 0 || p.ID > 999 {
			bad(key, "id must be 1 to 999")
			continue
		}
		if _, dup := ports[p.ID]; dup {
			bad(key, "port id %d appears twice", p.ID)
			continue
		}
		pc := &portCfg{id: p.ID, ext: p.Extension, mirror: p.Mirror}
		ports[p.ID] = pc
		if p.Mirror {
			mirrors++
		}
		switch {
		case p.PIN != "" && p.PINHash != "":
			bad(key, "set pin or pin_hash, not both")
		case p.PIN != "":
			if err := CheckPIN(p.PIN); err != nil {
				bad(key+".pin", "%v", err)
				continue
			}
			if hash {
				h, err := HashPIN(p.PIN)
				if err != nil {
					bad(key+".pin", "%v", err)
					continue
				}
				ph, _ := ParsePINHash(h)
				pc.pin = &ph
			}
		case p.PINHash != "":
			ph, err := ParsePINHash(p.PINHash)
			if err != nil {
				bad(key+".pin_hash", "%v", err)
				continue
			}
			pc.pin = &ph
		case c.Remote:
			bad(key+".pin", "remote activation is on, so every port needs a PIN of %d to %d digits: set pin = \"...\" (or pin_hash), or turn remote activation off", MinPINLen, MaxPINLen)
		}
	}
	if mirrors > 1 {
		bad("port forward_mirror", "%d ports mirror into the mobile network, which holds one forwarding for the trunk's number: choose one", mirrors)
	}
	exts := map[string]int{}
	for _, p := range c.Ports {
		if p.Extension == "" {
			continue
		}
		if other, dup := exts[p.Extension]; dup {
			bad(fmt.Sprintf("port (id %d) extension", p.ID), "%q is also port %d's: staff could not say which line they mean", p.Extension, other)
		}
		exts[p.Extension] = p.ID
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ports, nil
}

// sipUser reports whether s can be a SIP user part (and a DTMF-dialled
// number): digits and the few symbols extensions use.
func sipUser(s string) bool {
	return s != "" && len(s) <= 32 && !strings.ContainsAny(s, "@:;<> \t\r\n\"")
}
