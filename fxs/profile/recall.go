package profile

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// A second call during a call: how the porter is told (caller ID on call
// waiting) and how they answer it (recall codes).

// Methods of caller ID on call waiting.
const (
	// CIDWaitingCAS: with the handset off-hook, the CPE alerting signal
	// (CAS), the handset's acknowledgement (a DTMF digit), then the data
	// in FSK with no channel seizure: Bellcore GR-30 type 2, ETSI EN 300
	// 659-2 (off-hook data), BT SIN 227 (loop state).
	CIDWaitingCAS = "cas"
	// CIDWaitingNone: the call-waiting tone only.
	CIDWaitingNone = "none"
)

// CIDWaiting is caller ID on call waiting. The FSK standard, message
// format and level are those of caller_id.
type CIDWaiting struct {
	Method string `toml:"method"` // cas | none
	// Alert is the CPE alerting signal, played after the first burst of
	// the call-waiting tone with the far end muted.
	Alert ToneSpec `toml:"alert"`
	// Ack is the DTMF digit a caller-display handset answers the alert
	// with; the data is sent only after it (a handset without caller
	// display does not answer and hears no FSK). Empty sends the data
	// without waiting, for handsets that take it unasked.
	Ack        string        `toml:"ack"`
	AckTimeout time.Duration `toml:"ack_timeout"` // from the end of the alert
	AfterAck   time.Duration `toml:"after_ack"`   // end of the acknowledgement to the data
	MarkBits   int           `toml:"mark_bits"`   // off-hook data has no channel seizure
	AfterData  time.Duration `toml:"after_data"`  // end of the data to the far end's voice
}

// Recall actions: what a recall code asks of the network's call-hold
// services (3GPP TS 22.030 "n SEND", ETSI and BT "R n").
const (
	RecallReleaseOther  = "release-other"  // reject the waiting call (busy), or end the held one
	RecallReleaseActive = "release-active" // end the current call, take the other
	RecallSwap          = "swap"           // hold the current call, take the other; again to swap back
	RecallConference    = "conference"     // join the two calls
	RecallTransfer      = "transfer"       // join the two callers and leave
)

// RecallActions lists the actions a profile may name.
func RecallActions() []string {
	return []string{RecallReleaseOther, RecallReleaseActive, RecallSwap, RecallConference, RecallTransfer}
}

// Recall is what a recall (hook flash, "R") does while the porter has a
// second call: one waiting, one held, or a three-way. The port applies it
// itself (the flash-hook services of an adapter), or, on a mobile trunk's
// own call waiting and hold, passes it to the network (AT+CHLD). A port
// set to pass the flash to its PBX sends it on instead and the PBX applies
// its own codes. With a single call, R holds it and gives recall dial
// tone for an enquiry call.
type Recall struct {
	// Codes maps the digit dialled after R to an action.
	Codes map[string]string `toml:"codes"`
	// DigitTimeout is how long after R a digit counts as a code.
	DigitTimeout time.Duration `toml:"digit_timeout"`
	// Flash is what R does when no digit follows ("" nothing). With no
	// codes it acts at once (North American flash).
	Flash string `toml:"flash"`
	// FlashEnquiry is what R alone does when the second call is an
	// enquiry call the porter made (North American three-way calling:
	// flash, dial, flash again to join the three); "" as Flash.
	FlashEnquiry string `toml:"flash_enquiry"`
	// FlashConference is what R alone does in a three-way call (North
	// America: the party added last is dropped); "" as Flash.
	FlashConference string `toml:"flash_conference"`
}

// validateWaiting checks caller_id.waiting.
func (p *Profile) validateWaiting() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("caller_id.waiting.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	w := p.CallerID.Waiting
	switch w.Method {
	case CIDWaitingNone:
		return nil
	case CIDWaitingCAS:
	default:
		bad("method", "%q is not a method: use cas or none", w.Method)
		return errs
	}
	if p.CallerID.Method == CIDNone {
		bad("method", "cas needs caller_id.standard and format: set caller_id.method, or waiting.method = \"none\"")
	}
	if strings.TrimSpace(w.Alert.Cadence) == "" {
		bad("alert", "is missing: give the CPE alerting signal, e.g. { level = -13, cadence = \"!2130+2750/80\" }")
	} else if _, err := w.Alert.Parse("caller_id.waiting.alert"); err != nil {
		bad("alert", "%v", err)
	}
	if w.Ack != "" && (len(w.Ack) != 1 || !strings.Contains("0123456789*#ABCD", w.Ack)) {
		bad("ack", "%q is not one DTMF digit: use D (ETSI, Bellcore), A (ADSI handsets) or \"\"", w.Ack)
	}
	ms := time.Millisecond
	if w.Ack != "" && (w.AckTimeout < 50*ms || w.AckTimeout > time.Second) {
		bad("ack_timeout", "%v is out of range: use 50ms-1s (160ms is usual)", w.AckTimeout)
	}
	if w.AfterAck < 0 || w.AfterAck > 500*ms {
		bad("after_ack", "%v is out of range: use 0-500ms", w.AfterAck)
	}
	if w.MarkBits < 10 || w.MarkBits > 300 {
		bad("mark_bits", "%d is out of range: use 10-300 (ETSI and Bellcore: 80)", w.MarkBits)
	}
	if w.AfterData < 0 || w.AfterData > time.Second {
		bad("after_data", "%v is out of range: use 0-1s", w.AfterData)
	}
	return errs
}

// validateRecall checks recall.
func (p *Profile) validateRecall() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("recall.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	r := p.Recall
	actions := strings.Join(RecallActions(), ", ")
	valid := func(a string) bool {
		for _, x := range RecallActions() {
			if a == x {
				return true
			}
		}
		return false
	}
	keys := make([]string, 0, len(r.Codes))
	for k := range r.Codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(k) != 1 || !strings.Contains("0123456789*#", k) {
			bad("codes", "%q is not one digit: codes are 0-9, * or #", k)
		}
		if !valid(r.Codes[k]) {
			bad("codes."+k, "%q is not an action: use %s", r.Codes[k], actions)
		}
	}
	for _, f := range []struct{ key, v string }{{"flash", r.Flash}, {"flash_enquiry", r.FlashEnquiry}, {"flash_conference", r.FlashConference}} {
		if f.v != "" && !valid(f.v) {
			bad(f.key, "%q is not an action: use %s, or \"\" for nothing", f.v, actions)
		}
	}
	if len(r.Codes) > 0 && (r.DigitTimeout < 500*time.Millisecond || r.DigitTimeout > 10*time.Second) {
		bad("digit_timeout", "%v is out of range: use 500ms-10s", r.DigitTimeout)
	}
	return errs
}

// replaceCodes makes an override's recall.codes replace the built-in table
// instead of adding to it, so a site can drop codes (codes = {}).
func replaceCodes(p *Profile, override []byte) {
	var o struct {
		Recall struct {
			Codes map[string]string `toml:"codes"`
		} `toml:"recall"`
	}
	md, err := toml.NewDecoder(bytes.NewReader(override)).Decode(&o)
	if err == nil && md.IsDefined("recall", "codes") {
		p.Recall.Codes = o.Recall.Codes
	}
}
