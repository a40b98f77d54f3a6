package profile

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

//go:embed profiles/*.toml
var builtin embed.FS // read-only data, not mutable state

// Profile is one country's line behaviour.
type Profile struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`
	// Language is the BCP 47 tag of the language spoken to callers (the
	// remote-activation prompts), e.g. "en-GB".
	Language string   `toml:"language"`
	Ring     Ring     `toml:"ring"`
	Tones    Tones    `toml:"tones"`
	Hook     Hook     `toml:"hook"`
	CallerID CallerID `toml:"caller_id"`
	Dialling Dialling `toml:"dialling"`
	Recall   Recall   `toml:"recall"`
	// MessageWaiting is visual message waiting (mwi.go).
	MessageWaiting MessageWaiting `toml:"message_waiting"`
}

// Ring is the power-ringing signal.
type Ring struct {
	Frequency float64         `toml:"frequency"` // Hz
	Cadence   []time.Duration `toml:"cadence"`   // on, off, on, off, ... (even count)
}

// Tones are the call-progress tones a port plays to its handset.
type Tones struct {
	Dial         ToneSpec `toml:"dial"`
	SpecialDial  ToneSpec `toml:"special_dial"` // forwarding (divert) active
	Ringback     ToneSpec `toml:"ringback"`
	Busy         ToneSpec `toml:"busy"`
	Congestion   ToneSpec `toml:"congestion"`
	Unobtainable ToneSpec `toml:"unobtainable"`
	CallWaiting  ToneSpec `toml:"call_waiting"`
	// MessageWaiting is the dial tone heard while messages wait in the
	// voicemail (mwi.go).
	MessageWaiting ToneSpec `toml:"message_waiting"`
	// RecallDial is the dial tone of an enquiry call (the porter pressed
	// R and holds a call); empty plays the ordinary dial tone.
	RecallDial ToneSpec `toml:"recall_dial"`
}

// ToneSpec is a tone as written in a profile: a default level and a cadence
// string (see ParseTone).
type ToneSpec struct {
	Level   float64 `toml:"level"`   // dBm0 per component unless the cadence says otherwise
	Cadence string  `toml:"cadence"` // "350+440", "400/375,0/375", "!2130+2750/100"
}

// Hook holds the loop-disconnect timing windows (see fxs/hook).
type Hook struct {
	Debounce      time.Duration `toml:"debounce"`
	Seize         time.Duration `toml:"seize"`
	PulseBreakMin time.Duration `toml:"pulse_break_min"`
	PulseBreakMax time.Duration `toml:"pulse_break_max"`
	DigitEnd      time.Duration `toml:"digit_end"`
	FlashMin      time.Duration `toml:"flash_min"`
	FlashMax      time.Duration `toml:"flash_max"`
	Clear         time.Duration `toml:"clear"`
}

// Caller-ID methods.
const (
	CIDBeforeRing     = "before-ring"      // UK SIN 227, ETSI DT-AS: (reversal,) alert, FSK, then ring
	CIDAfterFirstRing = "after-first-ring" // Bellcore: FSK between the first and second ring
	CIDNone           = "none"
)

// CallerID says how and when caller ID is sent.
type CallerID struct {
	Method        string        `toml:"method"`   // before-ring | after-first-ring | none
	Standard      string        `toml:"standard"` // v23 | bell202
	Format        string        `toml:"format"`   // mdmf | sdmf
	Reversal      bool          `toml:"reversal"` // line reversal before the alert (before-ring only)
	AfterReversal time.Duration `toml:"after_reversal"`
	Alert         ToneSpec      `toml:"alert"` // empty cadence = no alert tone
	AfterAlert    time.Duration `toml:"after_alert"`
	SeizureBits   int           `toml:"seizure_bits"`
	MarkBits      int           `toml:"mark_bits"`
	Level         float64       `toml:"level"`      // FSK level, dBm0
	AfterData     time.Duration `toml:"after_data"` // before-ring: data end to first ring
	AfterRing     time.Duration `toml:"after_ring"` // after-first-ring: end of first ring to data
	// Waiting is caller ID on call waiting (see recall.go).
	Waiting CIDWaiting `toml:"waiting"`
	// Withheld and Unavailable are the reasons for absence sent when the
	// caller withheld the number (privacy) or it is not known: one letter
	// each, "P" and "O" in ETSI EN 300 659-3, BT SIN 227 and Bellcore.
	Withheld    string `toml:"withheld"`
	Unavailable string `toml:"unavailable"`
}

// Dialling is the default dial plan and its timers.
type Dialling struct {
	Plan                string        `toml:"plan"` // digit map (fxs/digitmap)
	DialToneTimeout     time.Duration `toml:"dialtone_timeout"`
	InterdigitLong      time.Duration `toml:"interdigit_long"`
	InterdigitShort     time.Duration `toml:"interdigit_short"`
	ToneTimeout         time.Duration `toml:"tone_timeout"`
	UnobtainableTimeout time.Duration `toml:"unobtainable_timeout"`
}

// Names lists the built-in profiles.
func Names() []string {
	ents, err := builtin.ReadDir("profiles")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".toml"))
	}
	sort.Strings(names)
	return names
}

// Load returns the built-in profile name with override (TOML text, may be
// nil) applied on top: any key the override sets replaces the built-in one,
// everything else is kept. The result is checked as a whole; every problem is
// reported in one error.
func Load(name string, override []byte) (*Profile, error) {
	base, err := builtin.ReadFile("profiles/" + name + ".toml")
	if err != nil || name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("country profile %q does not exist: use one of %s", name, strings.Join(Names(), ", "))
	}
	p := &Profile{}
	if err := decode(p, base); err != nil {
		return nil, fmt.Errorf("built-in profile %q: %w", name, err)
	}
	if len(bytes.TrimSpace(override)) > 0 {
		if err := decode(p, override); err != nil {
			return nil, fmt.Errorf("profile override for %q: %w", name, err)
		}
		replaceCodes(p, override)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("country profile %q: %w", name, err)
	}
	return p, nil
}

func decode(p *Profile, text []byte) error {
	// BurntSushi/toml decodes into a slice by replacing it, and into a
	// struct by setting only the keys present: exactly an override.
	md, err := toml.NewDecoder(bytes.NewReader(text)).Decode(p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return fmt.Errorf("unknown key(s) %s: see the keys of the built-in profiles (fxs/profile/profiles)", strings.Join(keys, ", "))
	}
	return nil
}

// Validate checks every value and reports all problems at once.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if l := p.Language; l != "" && (len(l) < 2 || len(l) > 35 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "") {
		bad("language", "%q is not a language tag: write it like \"en-GB\"", l)
	}
	if p.Ring.Frequency < 10 || p.Ring.Frequency > 60 {
		bad("ring.frequency", "%g Hz is not a ringing frequency: use 16-60 Hz (25 in the UK/Europe, 20 in the US)", p.Ring.Frequency)
	}
	if n := len(p.Ring.Cadence); n == 0 || n%2 != 0 || n > 16 {
		bad("ring.cadence", "needs an even number (2-16) of on/off durations, has %d", n)
	}
	for i, d := range p.Ring.Cadence {
		if d < 50*time.Millisecond || d > 10*time.Second {
			bad(fmt.Sprintf("ring.cadence[%d]", i), "%v is out of range: use 50ms-10s", d)
		}
	}
	for _, t := range []struct {
		key  string
		spec ToneSpec
	}{
		{"tones.dial", p.Tones.Dial}, {"tones.special_dial", p.Tones.SpecialDial},
		{"tones.ringback", p.Tones.Ringback}, {"tones.busy", p.Tones.Busy},
		{"tones.congestion", p.Tones.Congestion}, {"tones.unobtainable", p.Tones.Unobtainable},
		{"tones.call_waiting", p.Tones.CallWaiting},
	} {
		if strings.TrimSpace(t.spec.Cadence) == "" {
			bad(t.key, "cadence is missing")
			continue
		}
		if _, err := t.spec.Parse(t.key); err != nil {
			bad(t.key, "%v", err)
		}
	}
	h := p.Hook
	ms := time.Millisecond
	check := func(key string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			bad("hook."+key, "%v is out of range: use %v-%v", d, lo, hi)
		}
	}
	check("debounce", h.Debounce, 0, 30*ms)
	check("seize", h.Seize, h.Debounce, 200*ms)
	check("pulse_break_min", h.PulseBreakMin, h.Debounce+ms, 60*ms)
	check("pulse_break_max", h.PulseBreakMax, h.PulseBreakMin+ms, 200*ms)
	check("digit_end", h.DigitEnd, 80*ms, 500*ms)
	check("flash_min", h.FlashMin, h.PulseBreakMin+ms, 2000*ms)
	check("flash_max", h.FlashMax, h.FlashMin, 2000*ms)
	if h.Clear <= h.FlashMax || h.Clear <= h.PulseBreakMax || h.Clear > 5*time.Second {
		bad("hook.clear", "%v must be longer than flash_max (%v) and pulse_break_max (%v) and at most 5s", h.Clear, h.FlashMax, h.PulseBreakMax)
	}
	c := p.CallerID
	switch c.Method {
	case CIDBeforeRing, CIDAfterFirstRing, CIDNone:
	default:
		bad("caller_id.method", "%q is not a method: use before-ring, after-first-ring or none", c.Method)
	}
	if c.Method != CIDNone {
		if c.Standard != "v23" && c.Standard != "bell202" {
			bad("caller_id.standard", "%q is not an FSK standard: use v23 or bell202", c.Standard)
		}
		if c.Format != "mdmf" && c.Format != "sdmf" {
			bad("caller_id.format", "%q is not a message format: use mdmf or sdmf", c.Format)
		}
		if c.SeizureBits < 0 || c.SeizureBits > 600 {
			bad("caller_id.seizure_bits", "%d is out of range: use 0-600 (SIN 227: 96-315, ETSI and Bellcore: 300)", c.SeizureBits)
		}
		if c.MarkBits < 10 || c.MarkBits > 600 {
			bad("caller_id.mark_bits", "%d is out of range: use 10-600 (SIN 227: >= 55, ETSI and Bellcore: 180)", c.MarkBits)
		}
		if c.Level > 0 || c.Level < -40 {
			bad("caller_id.level", "%g dBm0 is out of range: use -40 to 0", c.Level)
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"after_reversal", c.AfterReversal}, {"after_alert", c.AfterAlert}, {"after_data", c.AfterData}, {"after_ring", c.AfterRing}} {
			if d.v < 0 || d.v > 5*time.Second {
				bad("caller_id."+d.key, "%v is out of range: use 0-5s", d.v)
			}
		}
		if strings.TrimSpace(c.Alert.Cadence) != "" {
			if _, err := c.Alert.Parse("caller_id.alert"); err != nil {
				bad("caller_id.alert", "%v", err)
			}
		}
	}
	d := p.Dialling
	if strings.TrimSpace(d.Plan) == "" {
		bad("dialling.plan", "is missing: give a digit map such as \"999|112|0[1-9]xxxxxxxxx\"")
	}
	if strings.TrimSpace(p.Tones.RecallDial.Cadence) != "" {
		if _, err := p.Tones.RecallDial.Parse("tones.recall_dial"); err != nil {
			bad("tones.recall_dial", "%v", err)
		}
	}
	errs = append(errs, p.validateWaiting()...)
	errs = append(errs, p.validateRecall()...)
	errs = append(errs, p.validateMWI()...)
	for _, t := range []struct {
		key    string
		v      time.Duration
		lo, hi time.Duration
	}{
		{"dialtone_timeout", d.DialToneTimeout, time.Second, 10 * time.Minute},
		{"interdigit_long", d.InterdigitLong, time.Second, time.Minute},
		{"interdigit_short", d.InterdigitShort, 500 * ms, time.Minute},
		{"tone_timeout", d.ToneTimeout, time.Second, 10 * time.Minute},
		{"unobtainable_timeout", d.UnobtainableTimeout, time.Second, time.Hour},
	} {
		if t.v < t.lo || t.v > t.hi {
			bad("dialling."+t.key, "%v is out of range: use %v-%v", t.v, t.lo, t.hi)
		}
	}
	return errors.Join(errs...)
}

// LoadFile is Load with the override read from the file at path (the
// configuration's board.profile_file); an empty path means no override.
func LoadFile(name, path string) (*Profile, error) {
	if path == "" {
		return Load(name, nil)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("country profile override: %w", err)
	}
	p, err := Load(name, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
