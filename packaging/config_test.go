package packaging_test

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/critline/critline/config"
	"github.com/critline/critline/firmware"
)

// TestDefaultConfig checks the configuration the package installs: the
// daemon's own parser accepts it, and its [firmware] section maps onto
// firmware.Config with no unknown key and passes firmware's checks.
func TestDefaultConfig(t *testing.T) {
	data, err := os.ReadFile("critline.toml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Firmware firmware.Config `toml:"firmware"`
	}
	md, err := toml.Decode(string(data), &file)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range md.Undecoded() {
		if k[0] == "firmware" {
			t.Errorf("[firmware] key %s is not a firmware.Config field", k)
		}
	}
	fw := file.Firmware
	if err := fw.Validate(); err != nil {
		t.Fatal(err)
	}
	if fw.Board != "pi-hat-2fxs" || fw.SlotA == "" || fw.HealthTimeout.Minutes() != 5 || len(fw.RebootCommand) != 2 {
		t.Fatalf("[firmware] decoded as %+v", fw)
	}
	// The daemon's parser: until it knows [firmware], check the rest.
	text := string(data)
	if _, err := config.Parse("critline.toml", data); err != nil {
		if !strings.Contains(err.Error(), "firmware") {
			t.Fatalf("the daemon refuses the packaged config:\n%v", err)
		}
		i := strings.Index(text, "[firmware]")
		if _, err := config.Parse("critline.toml (without [firmware])", []byte(text[:i])); err != nil {
			t.Fatalf("the daemon refuses the packaged config:\n%v", err)
		}
		t.Logf("config does not know [firmware] yet: %v", err)
	}
}
