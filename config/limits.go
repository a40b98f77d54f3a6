package config

import "time"

// Defaults and bounds of the time limits that keep a call attempt, a port
// or a control connection from waiting for ever.
const (
	DefaultProgressTimeout = 6 * time.Second
	DefaultPortStall       = 8 * time.Second
	DefaultIdleTimeout     = 30 * time.Second
)

func (c *Config) limitDefaults() {
	if c.SIP.ProgressTimeout.Duration == 0 {
		c.SIP.ProgressTimeout.Duration = DefaultProgressTimeout
	}
	c.pathDefaults()
	if c.Survivability.PortStall.Duration == 0 {
		c.Survivability.PortStall.Duration = DefaultPortStall
	}
	if c.Control.IdleTimeout.Duration == 0 {
		c.Control.IdleTimeout.Duration = DefaultIdleTimeout
	}
}

func (c *Config) validateLimits(bad func(key, format string, args ...any)) {
	within := func(key string, d Duration, lo, hi time.Duration, why string) {
		if d.Duration < lo || d.Duration > hi {
			bad(key, "%s is out of range: use %s to %s (%s)", d, lo, hi, why)
		}
	}
	within("sip.progress_timeout", c.SIP.ProgressTimeout, 500*time.Millisecond, time.Minute,
		"a PBX that answers 100 Trying and then nothing holds the porter this long before the next route")
	within("survivability.port_stall", c.Survivability.PortStall, time.Second, 5*time.Minute,
		"more than the slowest call step, a 5 s modem command; the default 8s")
	within("control.idle_timeout", c.Control.IdleTimeout, time.Second, time.Hour,
		"how long a silent control connection is kept")
	c.validatePaths(bad)
}
