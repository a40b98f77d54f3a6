package forwarding

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestTOMLKeys decodes the tables the daemon's configuration file carries,
// so the documented keys are the real ones.
func TestTOMLKeys(t *testing.T) {
	const file = `
[survivability.forwarding]
remote = true
service_extension = "270009"
service_auth_user = "svc270009"
service_password = "secret"
staff_numbers = ["07700900123", "+447700900124"]
prompts = "/usr/share/critline/prompts"
language = "en-GB"
max_failures = 3
lockout = "30m"
lockout_max = "12h"
max_attempts = 10
attempt_window = "1h"
digit_timeout = "20s"
session_timeout = "3m"
failure_delay = "2s"
allow_withheld = false
route = "forward"
no_answer_after = "25s"
mirror_timeout = "20s"

[[port]]
id = 1
extension = "270001"
pin = "246810"
forward_mirror = true

[[port]]
id = 2
pin_hash = "pbkdf2-sha256$20000$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
`
	var f struct {
		Survivability struct {
			Forwarding Config `toml:"forwarding"`
		} `toml:"survivability"`
		Port []Port `toml:"port"`
	}
	md, err := toml.Decode(file, &f)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys not decoded: %v", u)
	}
	c := f.Survivability.Forwarding
	c.Ports = f.Port
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Remote || c.Lockout != 30*time.Minute || c.LockoutMax != 12*time.Hour || c.ServiceExtension != "270009" ||
		len(c.StaffNumbers) != 2 || c.Prompts == "" || c.Language != "en-GB" || c.allowWithheld() || c.Ports[0].Extension != "270001" || c.DigitTimeout != 20*time.Second || c.NoAnswerAfter != 25*time.Second ||
		!c.Ports[0].Mirror || c.Ports[0].PIN != "246810" || c.Ports[1].PINHash == "" {
		t.Fatalf("%+v", c)
	}
}
