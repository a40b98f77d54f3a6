package modem

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/hal"
)

// Variant picks the command and report dialect of a module.
type Variant string

const (
	// Generic is plain 3GPP TS 27.007: call progress by polling +CLCC and
	// the final results; no vendor commands.
	Generic Variant = "generic"
	// SIMCom (SIM7600 class): +CLCC reports (AT+CLCC=1), "VOICE CALL:
	// BEGIN/END", +RXDTMF (AT+DDET=1), 8 kHz PCM (AT+CPCMFRM=0) over USB
	// switched per call with AT+CPCMREG=1/0.
	SIMCom Variant = "simcom"
	// Quectel (EC25 class): ^DSCI call reports, +QTONEDET DTMF, +QIND
	// signal reports, and PCM over USB enabled once with AT+QPCMV=1,0.
	Quectel Variant = "quectel"
)

// Variants lists the valid variants, for error messages and config checks.
func Variants() []Variant { return []Variant{Generic, SIMCom, Quectel} }

// Config describes one modem trunk. Name, Device and Variant come from the
// [[trunk]] section (name, device, pcm, variant, baud); the durations have
// defaults that suit real modules and are shortened by tests.
type Config struct {
	Name    string  // trunk name: labels metrics, status and logs
	Device  string  // AT control port, e.g. /dev/ttyUSB2 or a stable symlink
	PCM     string  // voice port (8 kHz s16le), "" when audio is wired in analogue
	Variant Variant // "" means Generic
	Baud    int     // 0 means 115200

	ProbeInterval  time.Duration // liveness probe (signal); registration and operator every 6th (fullRefreshEvery); default 5s
	CommandTimeout time.Duration // ordinary commands; default 3s
	DialTimeout    time.Duration // ATD/ATA until the module accepts; default 30s
	NetworkTimeout time.Duration // +CCFC and other network round trips; default 30s
	SMSTimeout     time.Duration // one SMS; default 60s
	WedgeAfter     int           // consecutive failed probes before reopening; default 2
	ReopenMin      time.Duration // first backoff after a failed open or init; default 500ms
	ReopenMax      time.Duration // backoff cap; default 5s
	AbsentPoll     time.Duration // how often to look for a missing device; default 250ms
	CallPoll       time.Duration // +CLCC poll while a call exists; default 1s
	ClipWait       time.Duration // how long after RING to wait for +CLIP; default 500ms
	RingTimeout    time.Duration // no RING for this long ends an unanswered call; default 10s
	VoiceStall     time.Duration // a connected call with no audio from the module this long gets voice re-enabled; default 2s
	JitterFrames   int           // voice frames buffered before playout starts; default 2
	MaxJitter      int           // voice frames buffered at most (older dropped); default 10

	// The module's data connection (hal.DataBearer): DataInterface is the
	// network interface it appears as ("wwan0"; informational); DataBearer
	// is who brings it up: BearerAT (the trunk dials it), BearerExternal
	// (ModemManager or the module: only reported), "" none. APN, when set,
	// is written to context DataCID (default 1) before each connect.
	DataInterface string
	DataBearer    string
	APN           string
	DataCID       int
	DataTimeout   time.Duration // the connect command; default 8s (the AT port is shared with voice)
	DataRetryMin  time.Duration // first wait after a failed connect; default 2s
	DataRetryMax  time.Duration // backoff cap; default 60s

	// Reset, when set, is called after the modem is found wedged (before
	// the port is reopened) and after every third init in a row that got
	// no answer: e.g. pulse the module's reset or power GPIO.
	Reset func(ctx context.Context) error

	Logger     *slog.Logger          // default slog.Default()
	Registerer prometheus.Registerer // metrics; nil means none are registered
	Clock      hal.Clock             // paces the voice stream; default hal.SystemClock

	// answered, in tests only, is called with the answer to each status
	// query (AT+CLCC, AT+CREG?, AT+CEREG?) before it is applied, to make a
	// report cross it.
	answered func(cmd string, lines []string)
}

func (c *Config) setDefaults() {
	d := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.Variant == "" {
		c.Variant = Generic
	}
	if c.Baud == 0 {
		c.Baud = 115200
	}
	d(&c.ProbeInterval, 5*time.Second)
	d(&c.CommandTimeout, 3*time.Second)
	d(&c.DialTimeout, 30*time.Second)
	d(&c.NetworkTimeout, 30*time.Second)
	d(&c.SMSTimeout, 60*time.Second)
	d(&c.ReopenMin, 500*time.Millisecond)
	d(&c.ReopenMax, 5*time.Second)
	d(&c.AbsentPoll, 250*time.Millisecond)
	d(&c.CallPoll, time.Second)
	d(&c.ClipWait, 500*time.Millisecond)
	d(&c.RingTimeout, 10*time.Second)
	d(&c.VoiceStall, 2*time.Second)
	if c.WedgeAfter <= 0 {
		c.WedgeAfter = 2
	}
	if c.DataCID <= 0 {
		c.DataCID = 1
	}
	d(&c.DataTimeout, 8*time.Second)
	d(&c.DataRetryMin, 2*time.Second)
	d(&c.DataRetryMax, 60*time.Second)
	if c.JitterFrames <= 0 {
		c.JitterFrames = 2
	}
	if c.MaxJitter < c.JitterFrames+2 {
		c.MaxJitter = max(10, c.JitterFrames+2)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = hal.SystemClock{}
	}
	if c.ReopenMax < c.ReopenMin {
		c.ReopenMax = c.ReopenMin
	}
}

// Validate reports the first problem with c, naming the field and the fix.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("modem trunk: name is empty: name each trunk (it labels metrics and status)")
	}
	if c.Device == "" {
		return fmt.Errorf("modem trunk %q: device is empty: give the AT port, e.g. /dev/ttyUSB2", c.Name)
	}
	if c.PCM != "" && c.PCM == c.Device {
		return fmt.Errorf("modem trunk %q: pcm is the AT port %s: give the module's voice port, or leave pcm empty", c.Name, c.PCM)
	}
	ok := c.Variant == ""
	for _, v := range Variants() {
		ok = ok || c.Variant == v
	}
	if !ok {
		return fmt.Errorf("modem trunk %q: variant %q is unknown: use generic, simcom or quectel", c.Name, c.Variant)
	}
	if c.Baud < 0 || c.Baud > 4000000 {
		return fmt.Errorf("modem trunk %q: baud %d is out of range: use e.g. 115200", c.Name, c.Baud)
	}
	switch c.DataBearer {
	case "", BearerAT, BearerExternal:
	default:
		return fmt.Errorf("modem trunk %q: data bearer %q is unknown: use %q (the trunk dials it) or %q (ModemManager or the module does)", c.Name, c.DataBearer, BearerAT, BearerExternal)
	}
	if c.DataCID < 0 || c.DataCID > 24 {
		return fmt.Errorf("modem trunk %q: data context %d is out of range: use 1..24", c.Name, c.DataCID)
	}
	if strings.ContainsAny(c.APN, "\"\r\n,;") {
		return fmt.Errorf("modem trunk %q: APN %q has a character an AT command cannot carry: give the APN as the operator writes it", c.Name, c.APN)
	}
	return nil
}

// profile is what differs between variants.
type profile struct {
	init       []initCmd // after the common init
	clccURC    bool      // the module reports +CLCC by itself (polling still runs)
	pcmCallOn  string    // sent when a call connects, if a PCM port is configured
	pcmCallOff string    // sent when a call ends
	pcmInit    string    // sent once at init, if a PCM port is configured
}

type initCmd struct {
	cmd      string
	required bool
}

func profileFor(v Variant) profile {
	switch v {
	case SIMCom:
		return profile{
			init:       []initCmd{{"AT+CLCC=1", false}, {"AT+DDET=1", false}},
			clccURC:    true,
			pcmCallOn:  "AT+CPCMREG=1",
			pcmCallOff: "AT+CPCMREG=0",
			pcmInit:    "AT+CPCMFRM=0", // 8 kHz PCM frames
		}
	case Quectel:
		return profile{
			init:    []initCmd{{"AT^DSCI=1", false}, {"AT+QTONEDET=1", false}, {`AT+QINDCFG="csq",1`, false}},
			pcmInit: "AT+QPCMV=1,0",
		}
	}
	return profile{}
}
