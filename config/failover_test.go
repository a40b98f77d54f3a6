package config

import (
	"strings"
	"testing"
)

// The keys that say how quickly a silent PBX is found out have defaults,
// take 0 to turn bursts off, and refuse values that cannot work with the
// line and the fix.
func TestFailoverKeys(t *testing.T) {
	c, err := Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.FirstResponse.Duration != DefaultFirstResponse || c.SIP.RTTFloor.Duration != DefaultRTTFloor || c.SIP.ProbeBurst == nil || *c.SIP.ProbeBurst != DefaultProbeBurst {
		t.Errorf("defaults: first_response %v rtt_floor %v probe_burst %v", c.SIP.FirstResponse, c.SIP.RTTFloor, c.SIP.ProbeBurst)
	}
	c, err = Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n[sip]\nprobe_burst = 0\nrtt_floor = \"80ms\"\nfirst_response = \"1s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *c.SIP.ProbeBurst != 0 || c.SIP.RTTFloor.Duration.Milliseconds() != 80 || c.SIP.FirstResponse.Duration.Milliseconds() != 1000 {
		t.Errorf("set: %v %v %v", *c.SIP.ProbeBurst, c.SIP.RTTFloor, c.SIP.FirstResponse)
	}
	_, err = Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n[sip]\nfirst_response = \"100ms\"\nrtt_floor = \"1ms\"\nprobe_burst = 50\n"))
	for _, want := range []string{
		"x.toml:5: sip.first_response: 100ms is out of range: use 200ms to 30s",
		"x.toml:6: sip.rtt_floor: 1ms is out of range: use 10ms to 2s",
		"x.toml:7: sip.probe_burst: 50 is out of range: use 0 (no bursts",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err := Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n[sip]\nprobe_burst = -1\n")); err == nil || !strings.Contains(err.Error(), "x.toml:5: sip.probe_burst: -1 is out of range") {
		t.Errorf("negative burst: %v", err)
	}
}
