package config

import "time"

// Defaults and bounds of how quickly a silent registrar is found out
// (issue 19): the first-response ceiling of an outbound INVITE, the floor
// of the deadlines derived from a registrar's round-trip time, and the
// size of the probe burst that settles a suspected registrar's health.
const (
	DefaultFirstResponse = 2 * time.Second
	DefaultRTTFloor      = 50 * time.Millisecond
	DefaultProbeBurst    = 5
	MaxProbeBurst        = 20
)

func (c *Config) failoverDefaults() {
	if c.SIP.FirstResponse.Duration == 0 {
		c.SIP.FirstResponse.Duration = DefaultFirstResponse
	}
	if c.SIP.RTTFloor.Duration == 0 {
		c.SIP.RTTFloor.Duration = DefaultRTTFloor
	}
	if c.SIP.ProbeBurst == nil {
		n := DefaultProbeBurst
		c.SIP.ProbeBurst = &n
	}
}

func (c *Config) validateFailover(bad func(key, format string, args ...any)) {
	if d := c.SIP.FirstResponse.Duration; d < 200*time.Millisecond || d > 30*time.Second {
		bad("sip.first_response", "%s is out of range: use 200ms to 30s (the longest an outbound call waits for any answer from a PBX before the next route; the default 2s)", c.SIP.FirstResponse)
	}
	if d := c.SIP.RTTFloor.Duration; d < 10*time.Millisecond || d > 2*time.Second {
		bad("sip.rtt_floor", "%s is out of range: use 10ms to 2s (the least time a PBX that has been answering is given before a probe burst asks whether it is there; the default 50ms)", c.SIP.RTTFloor)
	}
	if n := *c.SIP.ProbeBurst; n < 0 || n > MaxProbeBurst {
		bad("sip.probe_burst", "%d is out of range: use 0 (no bursts: a silent PBX is found out only after two lost probes, about 1.5 s) to %d; the default %d", n, MaxProbeBurst, DefaultProbeBurst)
	}
}
