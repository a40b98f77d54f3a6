package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file that is not a configuration, however large or endless, is refused
// with a message instead of being read into memory.
func TestLoadCapsTheFileSize(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# comment\n", MaxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", big} {
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") {
			t.Errorf("%s: %v, want a size refusal", path, err)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
}

// The time limits have defaults and refuse values that cannot work.
func TestTimeLimits(t *testing.T) {
	c, err := Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.ProgressTimeout.Duration != DefaultProgressTimeout || c.Survivability.PortStall.Duration != DefaultPortStall || c.Control.IdleTimeout.Duration != DefaultIdleTimeout {
		t.Errorf("defaults %v %v %v", c.SIP.ProgressTimeout, c.Survivability.PortStall, c.Control.IdleTimeout)
	}
	_, err = Parse("x.toml", []byte("[[port]]\nid = 1\nextension = \"270001\"\n[sip]\nprogress_timeout = \"10ms\"\n[survivability]\nport_stall = \"10m\"\n[control]\nidle_timeout = \"2h\"\n"))
	for _, want := range []string{"x.toml:5: sip.progress_timeout: 10ms is out of range", "x.toml:7: survivability.port_stall: 10m0s is out of range", "x.toml:9: control.idle_timeout: 2h0m0s is out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
