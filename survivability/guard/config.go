package guard

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults for what a configuration leaves out.
const (
	// DefaultMaxDuration caps one call when a route sets no max_duration.
	DefaultMaxDuration = 2 * time.Hour
	// LimitMaxDuration is the largest max_duration accepted.
	LimitMaxDuration = 24 * time.Hour
	// DefaultDailyMinutes caps a route's minutes per day when it sets no
	// daily_minutes.
	DefaultDailyMinutes = 600
	// LimitDailyMinutes is the largest daily_minutes accepted.
	LimitDailyMinutes = 100000
	// DefaultRouteName is the name Check reports for routes that are not
	// configured, which get Config.Default's policy.
	DefaultRouteName = "default"
)

// Config is the guard's configuration: TOML table [survivability.guard].
type Config struct {
	// Profile picks the default Emergency, Premium and International
	// lists: "uk" (the default), "us" or "etsi". The daemon copies
	// [board] profile here.
	Profile string `toml:"-"`
	// Emergency numbers are never blocked, rewritten or capped. The
	// daemon copies [survivability] emergency here; nil = the profile's.
	Emergency []string `toml:"emergency"`
	// Premium-rate patterns, denied unless a route allows them; nil = the
	// profile's (uk: 09*, 087*, 118*, 070*), [] = none.
	Premium []string `toml:"premium"`
	// International patterns, denied unless a route allows them; nil =
	// the profile's (uk/etsi: 00*, +*; us: 011*, +*), [] = none.
	International []string `toml:"international"`
	// Default is the policy of any route without its own entry.
	Default Route `toml:"default"`
	// Routes are per-route (per-trunk) policies.
	Routes []Route `toml:"route"`
}

// Route is the policy of one route: TOML [[survivability.guard.route]].
type Route struct {
	// Name is the route's name as the call router knows it (a trunk's
	// name, or "forward" for forwarding destinations).
	Name string `toml:"name"`
	// Allow, when not empty, lists the only numbers the route may dial
	// (emergency numbers always pass). An allow pattern inside a denied
	// category ("0870123456" inside "087*") allows those numbers.
	Allow []string `toml:"allow"`
	// Deny patterns always block (except emergency numbers).
	Deny []string `toml:"deny"`
	// AllowPremium and AllowInternational lift a category as a whole.
	AllowPremium       bool `toml:"allow_premium"`
	AllowInternational bool `toml:"allow_international"`
	// MaxDuration of one call; 0 = DefaultMaxDuration, at most 24h.
	MaxDuration time.Duration `toml:"max_duration"`
	// DailyMinutes caps the minutes per local day; 0 =
	// DefaultDailyMinutes.
	DailyMinutes int `toml:"daily_minutes"`
	// Rewrite rules, first match wins, applied before the checks:
	// "2xxxxx -> 018652xxxxx".
	Rewrite []string `toml:"rewrite"`
}

// profileDefaults returns (emergency, premium, international) for a profile.
func profileDefaults(profile string) (em, prem, intl []string, err error) {
	switch profile {
	case "", "uk":
		return []string{"999", "112"}, []string{"09*", "087*", "118*", "070*"}, []string{"00*", "+*"}, nil
	case "etsi":
		return []string{"112"}, []string{}, []string{"00*", "+*"}, nil
	case "us":
		return []string{"911", "112"}, []string{"1900*", "900*", "1976*"}, []string{"011*", "+*"}, nil
	}
	return nil, nil, nil, fmt.Errorf("profile %q: use uk, etsi or us", profile)
}

// withDefaults fills the lists the configuration left out.
func (c Config) withDefaults() (Config, error) {
	em, prem, intl, err := profileDefaults(c.Profile)
	if err != nil {
		return c, err
	}
	if c.Emergency == nil {
		c.Emergency = em
	}
	if c.Premium == nil {
		c.Premium = prem
	}
	if c.International == nil {
		c.International = intl
	}
	return c, nil
}

// compiled is a checked configuration.
type compiled struct {
	emergency     map[string]bool
	premium       patterns
	international patterns
	def           *route
	routes        map[string]*route
}

type route struct {
	name               string
	allow, deny        patterns
	allowPremium       bool
	allowInternational bool
	maxDuration        time.Duration
	dailyMinutes       int
	rewrite            rules
}

// Validate checks the configuration and returns every problem, each naming
// its key under [survivability.guard] and the fix.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

func (c Config) compile() (*compiled, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("survivability.guard: %w", err)
	}
	var errs []error
	add := func(key string, err error) {
		for _, e := range flatten(err) {
			errs = append(errs, fmt.Errorf("survivability.guard.%s%s", key, e))
		}
	}
	out := &compiled{emergency: map[string]bool{}, routes: map[string]*route{}}
	for i, e := range c.Emergency {
		n, err := NormalizeNumber(e)
		switch {
		case err != nil:
			add(fmt.Sprintf("emergency[%d]: ", i), err)
		case strings.ContainsAny(n, "*#+"):
			add(fmt.Sprintf("emergency[%d]: ", i), fmt.Errorf("%q: emergency numbers are plain digits like 999 or 112", e))
		default:
			out.emergency[n] = true
		}
	}
	if len(out.emergency) == 0 && len(errs) == 0 {
		add("emergency: ", errors.New("no emergency numbers: list at least one, e.g. [\"999\", \"112\"]"))
	}
	out.premium, err = parsePatterns("premium", c.Premium)
	add("", err)
	out.international, err = parsePatterns("international", c.International)
	add("", err)

	d := c.Default
	if d.Name == "" {
		d.Name = DefaultRouteName
	}
	out.def, err = compileRoute(d)
	add("default.", err)
	for i, r := range c.Routes {
		key := fmt.Sprintf("route[%d]", i)
		if r.Name == "" {
			add(key+": ", errors.New("name is empty: give the route's name (a trunk's name, or \"forward\")"))
			continue
		}
		if r.Name == DefaultRouteName {
			add(key+": ", fmt.Errorf("name %q is reserved: write that policy under [survivability.guard.default]", r.Name))
			continue
		}
		if _, dup := out.routes[r.Name]; dup {
			add(key+": ", fmt.Errorf("route %q is configured twice: merge the entries", r.Name))
			continue
		}
		cr, err := compileRoute(r)
		add(key+".", err)
		out.routes[r.Name] = cr
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func compileRoute(r Route) (*route, error) {
	var errs []error
	cr := &route{name: r.Name, allowPremium: r.AllowPremium, allowInternational: r.AllowInternational,
		maxDuration: r.MaxDuration, dailyMinutes: r.DailyMinutes}
	var err error
	if cr.allow, err = parsePatterns("allow", r.Allow); err != nil {
		errs = append(errs, err)
	}
	if cr.deny, err = parsePatterns("deny", r.Deny); err != nil {
		errs = append(errs, err)
	}
	if cr.rewrite, err = parseRules("rewrite", r.Rewrite); err != nil {
		errs = append(errs, err)
	}
	switch {
	case r.MaxDuration < 0 || r.MaxDuration > LimitMaxDuration:
		errs = append(errs, fmt.Errorf("max_duration: %v: use a duration between 1s and %v (0 = %v)", r.MaxDuration, LimitMaxDuration, DefaultMaxDuration))
	case r.MaxDuration == 0:
		cr.maxDuration = DefaultMaxDuration
	case r.MaxDuration < time.Second:
		errs = append(errs, fmt.Errorf("max_duration: %v is too short to hold a call: write it like \"30m\"", r.MaxDuration))
	}
	switch {
	case r.DailyMinutes < 0 || r.DailyMinutes > LimitDailyMinutes:
		errs = append(errs, fmt.Errorf("daily_minutes: %d: use 1..%d (0 = %d)", r.DailyMinutes, LimitDailyMinutes, DefaultDailyMinutes))
	case r.DailyMinutes == 0:
		cr.dailyMinutes = DefaultDailyMinutes
	}
	return cr, errors.Join(errs...)
}

// flatten splits joined errors so each line gets its key.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
