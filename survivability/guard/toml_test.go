package guard

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestTOMLKeys decodes the table the daemon's configuration file carries,
// so the documented keys are the real ones.
func TestTOMLKeys(t *testing.T) {
	const file = `
[survivability.guard]
premium = ["09*", "087*", "118*", "070*", "084*"]
international = ["00*", "+*"]

[survivability.guard.default]
max_duration = "1h"
daily_minutes = 300

[[survivability.guard.route]]
name = "lte"
allow = ["0[1-9]xxxxxxxxx", "0870123456"]
deny = ["0800123456"]
max_duration = "45m"
daily_minutes = 120
rewrite = ["2xxxxx -> 018652xxxxx", "+44* -> 0*"]

[[survivability.guard.route]]
name = "forward"
allow = ["07xxxxxxxxx", "01865xxxxxx"]
allow_international = false
`
	var f struct {
		Survivability struct {
			Guard Config `toml:"guard"`
		} `toml:"survivability"`
	}
	md, err := toml.Decode(file, &f)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys not decoded: %v", u)
	}
	c := f.Survivability.Guard
	c.Emergency = []string{"999", "112"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Default.MaxDuration != time.Hour || c.Routes[0].MaxDuration != 45*time.Minute || c.Routes[0].DailyMinutes != 120 || len(c.Routes[0].Rewrite) != 2 {
		t.Fatalf("%+v", c)
	}
	g, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := g.Check("lte", "270001"); !d.Allowed || d.Number != "01865270001" || d.MaxDuration != 45*time.Minute {
		t.Fatalf("%+v", d)
	}
	if d, _ := g.Check("other", "0845123456"); d.Reason != ReasonPremium {
		t.Fatalf("%+v", d)
	}
}
