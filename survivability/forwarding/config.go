package forwarding

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for what a configuration leaves out.
const (
	DefaultMaxFailures    = 3
	DefaultLockout        = time.Hour
	DefaultMaxAttempts    = 10
	DefaultAttemptWindow  = time.Hour
	DefaultDigitTimeout   = 15 * time.Second // generous: mobile callers are slow with DTMF
	DefaultSessionTimeout = 2 * time.Minute
	DefaultFailureDelay   = 3 * time.Second
	DefaultNoAnswerAfter  = 20 * time.Second
	DefaultRoute          = "forward"
	DefaultMirrorTimeout  = 30 * time.Second
)

// Config is the forwarding configuration: TOML table
// [survivability.forwarding], plus Ports filled from the [[port]] tables.
type Config struct {
	// Remote enables remote activation (off unless set).
	Remote bool `toml:"remote"`
	// MaxFailures wrong PINs (or unknown ports) lock out the caller and the
	// port. Default 3, at most 10.
	MaxFailures int `toml:"max_failures"`
	// Lockout is how long a lockout lasts (and how long failures are
	// remembered). Default 1h, 1m..7d.
	Lockout time.Duration `toml:"lockout"`
	// MaxAttempts PIN attempts are allowed across all callers per
	// AttemptWindow; beyond that remote activation refuses everyone until
	// the window moves on. Defaults 10 per 1h.
	MaxAttempts   int           `toml:"max_attempts"`
	AttemptWindow time.Duration `toml:"attempt_window"`
	// DigitTimeout is how long the dialogue waits for the next digit
	// (default 15s); SessionTimeout bounds a whole call (default 2m).
	DigitTimeout   time.Duration `toml:"digit_timeout"`
	SessionTimeout time.Duration `toml:"session_timeout"`
	// FailureDelay: digits are ignored this long after a wrong PIN
	// (default 3s).
	FailureDelay time.Duration `toml:"failure_delay"`
	// AllowWithheld lets callers who withhold their number use remote
	// activation (default false: they cannot be locked out one by one).
	AllowWithheld bool `toml:"allow_withheld"`
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
	// PIN ([[port]] pin) or PINHash ([[port]] pin_hash, from HashPIN):
	// one is required when remote activation is on.
	PIN     string `toml:"pin"`
	PINHash string `toml:"pin_hash"`
	// Mirror ([[port]] forward_mirror) copies this port's forwarding into
	// the mobile network (at most one port: the trunk has one number).
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
	def(&c.AttemptWindow, DefaultAttemptWindow)
	def(&c.DigitTimeout, DefaultDigitTimeout)
	def(&c.SessionTimeout, DefaultSessionTimeout)
	def(&c.FailureDelay, DefaultFailureDelay)
	def(&c.NoAnswerAfter, DefaultNoAnswerAfter)
	def(&c.MirrorTimeout, DefaultMirrorTimeout)
	if c.Route == "" {
		c.Route = DefaultRoute
	}
	return c
}

// Validate checks the configuration and returns every problem, each naming
// its key and the fix. Plain PINs are checked but not hashed here.
func (c Config) Validate() error {
	_, err := c.compile(false)
	return err
}

type portCfg struct {
	id     int
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
	if c.MaxFailures < 1 || c.MaxFailures > 10 {
		bad(sec+"max_failures", "%d: use 1 to 10", c.MaxFailures)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 1000 {
		bad(sec+"max_attempts", "%d: use 1 to 1000", c.MaxAttempts)
	}
	rng("lockout", c.Lockout, time.Minute, 7*24*time.Hour)
	rng("attempt_window", c.AttemptWindow, time.Minute, 7*24*time.Hour)
	rng("digit_timeout", c.DigitTimeout, 2*time.Second, 2*time.Minute)
	rng("session_timeout", c.SessionTimeout, 10*time.Second, 30*time.Minute)
	rng("failure_delay", c.FailureDelay, 0, time.Minute)
	rng("no_answer_after", c.NoAnswerAfter, 5*time.Second, 2*time.Minute)
	rng("mirror_timeout", c.MirrorTimeout, time.Second, 5*time.Minute)
	if c.SessionTimeout < c.DigitTimeout {
		bad(sec+"session_timeout", "%v is shorter than digit_timeout %v", c.SessionTimeout, c.DigitTimeout)
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
		pc := &portCfg{id: p.ID, mirror: p.Mirror}
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
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ports, nil
}
