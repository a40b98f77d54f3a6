package pathtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of the schedule.
const (
	// DefaultInterval is how often each path is tested: daily, well
	// within the 72 h of EN 81-28's test call for lift alarm lines.
	DefaultInterval = 24 * time.Hour
	// MaxInterval is the longest interval accepted.
	MaxInterval = 7 * 24 * time.Hour
	// MinInterval is the shortest (for dry runs; the daily cap still
	// bounds the calls).
	MinInterval = 10 * time.Second
	// DefaultWindow is when scheduled tests run, in local time: the small
	// hours, when a lodge is quietest.
	DefaultWindow = "01:00-05:00"
	// DefaultSpread is the largest random delay added to a test's due
	// time, so a fleet of appliances does not call at the same minute.
	DefaultSpread = 30 * time.Minute
	// DefaultRetryAfter is when a failed test is tried once more.
	DefaultRetryAfter = 10 * time.Minute
	// DefaultMaxCallsPerDay caps the test calls per local day (cost on a
	// mobile tariff). Copper checks are no calls and are not counted.
	DefaultMaxCallsPerDay = 10
	// DefaultTimeout bounds one test, dialling to hang-up.
	DefaultTimeout = 15 * time.Second
	// MaxTimeout is the longest a test may take.
	MaxTimeout = 20 * time.Second
	// MinTimeout leaves time for a call to be answered and heard.
	MinTimeout = 5 * time.Second
)

// What a test call expects of its far end ([[trunk]] test_expect,
// [[sip.registrar]] test_expect).
const (
	// ExpectAudio: any audio from the far end above the floor (a tone, an
	// announcement, or the probe echoed back).
	ExpectAudio = "audio"
	// ExpectTone: a steady tone at the path's tone frequency (1004 Hz by
	// default, the test tone of telephone test lines).
	ExpectTone = "tone"
	// ExpectEcho: the probe tone the appliance sends comes back (a
	// loop-back responder, a PBX's echo service).
	ExpectEcho = "echo"
	// ExpectDTMF: DTMF digits the appliance sends come back.
	ExpectDTMF = "dtmf"
)

// Expectations lists the valid test_expect values.
var Expectations = []string{ExpectAudio, ExpectTone, ExpectEcho, ExpectDTMF}

// DefaultToneHz is the tone ExpectTone listens for.
const DefaultToneHz = 1004

// Config is the schedule: TOML table [survivability.path_tests].
type Config struct {
	// Enabled runs the tests on the schedule; false keeps them for
	// `critlinectl test paths` only. Default true.
	Enabled *bool `toml:"enabled"`
	// Interval between two tests of a path (default 24h, at most 7
	// days). A path not proven within twice its interval raises an alert.
	Interval time.Duration `toml:"interval"`
	// Window is when scheduled tests may start, local time, "HH:MM-HH:MM"
	// (it may span midnight); "always" or "00:00-24:00" for any time.
	Window string `toml:"window"`
	// Spread is the largest random delay added to a due test (default
	// 30m, at most a quarter of the interval; "0s" for none).
	Spread *time.Duration `toml:"spread"`
	// RetryAfter is when a failed test is tried once more (one retry;
	// default 10m, at most half the interval).
	RetryAfter time.Duration `toml:"retry_after"`
	// MaxCallsPerDay caps scheduled test calls per local day; an
	// engineer's `critlinectl test paths` is never refused but counts.
	MaxCallsPerDay int `toml:"max_calls_per_day"`
	// Timeout bounds one test (at most 20s).
	Timeout time.Duration `toml:"timeout"`
}

// spread is Spread's value (0 when unset).
func (c Config) spread() time.Duration {
	if c.Spread == nil {
		return 0
	}
	return *c.Spread
}

// Scheduled reports whether tests run on the schedule.
func (c Config) Scheduled() bool { return c.Enabled == nil || *c.Enabled }

// WithDefaults fills what the file leaves out.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Window == "" {
		c.Window = DefaultWindow
	}
	if c.Spread == nil {
		d := min(DefaultSpread, c.Interval/4)
		c.Spread = &d
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = min(DefaultRetryAfter, c.Interval/2)
	}
	if c.MaxCallsPerDay == 0 {
		c.MaxCallsPerDay = DefaultMaxCallsPerDay
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate checks a configuration (after WithDefaults); the error has one
// "survivability.path_tests.KEY: problem and the fix" line per problem.
func (c Config) Validate() error {
	const k = "survivability.path_tests."
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(k+key+": "+format, args...))
	}
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		bad("interval", "%s is out of range: use %s to %s (default %s; lift alarm lines need a test at least every 72h)", c.Interval, MinInterval, MaxInterval, DefaultInterval)
	}
	if _, err := ParseWindow(c.Window); err != nil {
		bad("window", "%v", err)
	}
	if c.Spread == nil || *c.Spread < 0 || *c.Spread > c.Interval {
		bad("spread", "%s: use 0 up to the interval (%s)", c.spread(), c.Interval)
	}
	if c.RetryAfter < time.Second || c.RetryAfter > c.Interval {
		bad("retry_after", "%s: use 1s up to the interval (%s), e.g. 10m", c.RetryAfter, c.Interval)
	}
	if c.MaxCallsPerDay < 1 || c.MaxCallsPerDay > 1000 {
		bad("max_calls_per_day", "%d: use 1 to 1000 (each trunk test call costs a call on the mobile tariff)", c.MaxCallsPerDay)
	}
	if c.Timeout < MinTimeout || c.Timeout > MaxTimeout {
		bad("timeout", "%s: use %s to %s (a test call must stay short)", c.Timeout, MinTimeout, MaxTimeout)
	}
	return errors.Join(errs...)
}

// Window is a daily stretch of local time, [Start, End) as offsets from
// midnight; End may be before Start (the window spans midnight). The zero
// Window is the whole day.
type Window struct {
	Start, End time.Duration
}

// Always reports whether the window is the whole day.
func (w Window) Always() bool { return w.Start == w.End }

func (w Window) String() string {
	if w.Always() {
		return "always"
	}
	return hhmm(w.Start) + "-" + hhmm(w.End)
}

func hhmm(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60)
}

// ParseWindow reads "HH:MM-HH:MM" (24-hour local time, "24:00" allowed as
// an end) or "always".
func ParseWindow(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "always" {
		return Window{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Window{}, fmt.Errorf("%q is not a time window: write it like \"01:00-05:00\" (local time), or \"always\"", s)
	}
	start, err := parseClock(a, false)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: start: %v", s, err)
	}
	end, err := parseClock(b, true)
	if err != nil {
		return Window{}, fmt.Errorf("window %q: end: %v", s, err)
	}
	if end == 24*time.Hour {
		end = 0
	}
	if start == end && !(start == 0 && strings.TrimSpace(b) == "24:00") {
		return Window{}, fmt.Errorf("window %q is empty: give a start and a later end, or \"always\"", s)
	}
	return Window{Start: start, End: end}, nil
}

func parseClock(s string, end bool) (time.Duration, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("%q is not a time of day (00:00 to 23:59, or 24:00 as an end)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// sinceMidnight is t's offset from its local midnight.
func sinceMidnight(t time.Time) time.Duration {
	y, mo, d := t.Date()
	return t.Sub(time.Date(y, mo, d, 0, 0, 0, 0, t.Location()))
}

// Length is how long the window is open each day.
func (w Window) Length() time.Duration {
	if w.Always() {
		return 24 * time.Hour
	}
	d := w.End - w.Start
	if d < 0 {
		d += 24 * time.Hour
	}
	return d
}

// Contains reports whether t (in its location) falls in the window.
func (w Window) Contains(t time.Time) bool {
	if w.Always() {
		return true
	}
	o := sinceMidnight(t)
	if w.Start < w.End {
		return o >= w.Start && o < w.End
	}
	return o >= w.Start || o < w.End
}

// Next returns the first moment at or after t inside the window, and how
// long the window stays open from then.
func (w Window) Next(t time.Time) (at time.Time, open time.Duration) {
	if w.Always() {
		return t, 24 * time.Hour
	}
	for range 3 {
		if w.Contains(t) {
			o := sinceMidnight(t)
			left := w.End - o
			if left <= 0 {
				left += 24 * time.Hour
			}
			return t, left
		}
		y, mo, d := t.Date()
		mid := time.Date(y, mo, d, 0, 0, 0, 0, t.Location())
		next := mid.Add(w.Start)
		if !next.After(t) {
			next = time.Date(y, mo, d+1, 0, 0, 0, 0, t.Location()).Add(w.Start)
		}
		// A clock change can leave the computed moment outside the
		// window; the loop looks again from there.
		t = next
	}
	return t, time.Hour
}
