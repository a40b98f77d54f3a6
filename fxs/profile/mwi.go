package profile

import (
	"fmt"
	"strings"
	"time"
)

// MessageWaiting is how the line tells the porter that messages wait in
// the voicemail: the profile's message-waiting dial tone (Tones.
// MessageWaiting), and visual message waiting, the on-hook data message
// that sets or clears the handset's lamp or display. The FSK standard,
// channel seizure, mark bits and level are the caller ID's (CallerID).
type MessageWaiting struct {
	// Visual is "fsk" (send the message on the hook) or "none".
	Visual string `toml:"visual"`
	// Format is "mdmf" (message 0x82: ETSI EN 300 659-3, BT SIN 227,
	// Bellcore MDMF) or "sdmf" (Bellcore message 0x06).
	Format string `toml:"format"`
	// Reversal reverses the line's polarity before the data (ETSI, BT:
	// data not associated with ringing) and restores it after.
	Reversal      bool          `toml:"reversal"`
	AfterReversal time.Duration `toml:"after_reversal"`
	// Alert is the TE alerting signal (DT-AS) before the data; an empty
	// cadence sends none (Bellcore).
	Alert      ToneSpec      `toml:"alert"`
	AfterAlert time.Duration `toml:"after_alert"`
	// AfterData is the wait from the end of the data to the polarity's
	// return.
	AfterData time.Duration `toml:"after_data"`
	// Count sends the number of messages (MDMF parameter 0x13) when the
	// PBX gives it.
	Count bool `toml:"count"`
	// Delay is the wait after the handset goes back on the hook before a
	// pending indication is sent, so a porter who lifts it again at once
	// does not catch the data.
	Delay time.Duration `toml:"delay"`
}

// Visual message waiting methods.
const (
	MWIFSK  = "fsk"
	MWINone = "none"
)

// validateMWI checks message_waiting and caller_id's absence reasons.
func (p *Profile) validateMWI() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if strings.TrimSpace(p.Tones.MessageWaiting.Cadence) == "" {
		bad("tones.message_waiting", "cadence is missing: give the dial tone heard while messages wait (the special dial tone, or a stutter)")
	} else if _, err := p.Tones.MessageWaiting.Parse("tones.message_waiting"); err != nil {
		bad("tones.message_waiting", "%v", err)
	}
	m := p.MessageWaiting
	switch m.Visual {
	case MWIFSK:
		if p.CallerID.Method == CIDNone {
			bad("message_waiting.visual", "fsk needs the caller ID's FSK settings, but caller_id.method is none: set caller_id or visual = \"none\"")
		}
	case MWINone:
	default:
		bad("message_waiting.visual", "%q is not a method: use fsk or none", m.Visual)
	}
	if m.Visual == MWIFSK {
		if m.Format != "mdmf" && m.Format != "sdmf" {
			bad("message_waiting.format", "%q is not a message format: use mdmf or sdmf", m.Format)
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"after_reversal", m.AfterReversal}, {"after_alert", m.AfterAlert}, {"after_data", m.AfterData}, {"delay", m.Delay}} {
			if d.v < 0 || d.v > 5*time.Second {
				bad("message_waiting."+d.key, "%v is out of range: use 0-5s", d.v)
			}
		}
		if strings.TrimSpace(m.Alert.Cadence) != "" {
			if _, err := m.Alert.Parse("message_waiting.alert"); err != nil {
				bad("message_waiting.alert", "%v", err)
			}
		}
	}
	for _, a := range []struct{ key, v string }{{"caller_id.withheld", p.CallerID.Withheld}, {"caller_id.unavailable", p.CallerID.Unavailable}} {
		if a.v != "P" && a.v != "O" {
			bad(a.key, "%q is not a reason for absence: use \"P\" (private) or \"O\" (unavailable, out of area), the two ETSI EN 300 659-3, BT SIN 227 and Bellcore GR-30 define", a.v)
		}
	}
	return errs
}
