package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	Board         Board         `toml:"board"`
	Ports         []Port        `toml:"port"`
	SIP           SIP           `toml:"sip"`
	Trunks        []Trunk       `toml:"trunk"`
	Groups        []Group       `toml:"group"` // hunt groups (groups.go)
	Survivability Survivability `toml:"survivability"`
	Metrics       Metrics       `toml:"metrics"`
	Control       Control       `toml:"control"`
	Log           Log           `toml:"log"`
	State         State         `toml:"state"`
	Firmware      Firmware      `toml:"firmware"`

	// Path is the file the configuration was read from ("" when parsed
	// from memory).
	Path string `toml:"-"`
	// Notices are things worth knowing that do not stop the file from
	// working (a default taken where the file is silent on something that
	// matters): --check-config prints them, the daemon logs them.
	Notices []Problem `toml:"-"`

	loc locator // where each key is written, for later checks' messages
}

// Board says which hardware backend runs the ports and how.
type Board struct {
	Kind        string         `toml:"kind"`         // sim | gpio
	Profile     string         `toml:"profile"`      // uk | etsi | us
	ProfileFile string         `toml:"profile_file"` // optional country-profile override file
	Chip        string         `toml:"chip"`         // default GPIO chip for pins that name none
	Debounce    *Duration      `toml:"debounce"`     // default input debounce (kernel); "0ms" = none, fxs debounces from exact timestamps
	Mains       *Pin           `toml:"mains"`        // input: asserted = mains present
	BatteryLow  *Pin           `toml:"battery_low"`  // input: asserted = battery low
	LED         map[string]Pin `toml:"led"`          // outputs by function
	Link        string         `toml:"link"`         // network interface whose carrier is the LAN link

	// BatteryRuntime is how long the UPS should carry the appliance: a
	// run on battery that ends in battery low or power loss sooner ended
	// early (survivability/battery). 0: not judged.
	BatteryRuntime Duration `toml:"battery_runtime"`
}

// Pin is one GPIO line.
type Pin struct {
	Chip      string    `toml:"chip"`
	Line      *int      `toml:"line"`
	ActiveLow bool      `toml:"active_low"`
	Bias      string    `toml:"bias"`     // as-is | pull-up | pull-down | disabled
	Debounce  *Duration `toml:"debounce"` // inputs only; absent = the board's
}

// Port is one FXS port and the SIP line it carries.
type Port struct {
	ID        int    `toml:"id"`
	Name      string `toml:"name"`
	Extension string `toml:"extension"` // SIP user and number
	AuthUser  string `toml:"auth_user"` // digest user when it differs from the extension
	Password  string `toml:"password"`  // SIP digest password
	DialPlan  string `toml:"dial_plan"` // digit map, e.g. "999|112|0[1-9]xxxxxxxxx|2xxxx"
	Hook      *Pin   `toml:"hook"`      // input: asserted = off-hook
	Ring      *Pin   `toml:"ring"`      // output
	Polarity  *Pin   `toml:"polarity"`  // output: asserted = reversed
	Relay     *Pin   `toml:"relay"`     // output: asserted = on the board (not bypass)
	RingDrive string `toml:"ring_drive"`
	Audio     string `toml:"audio"` // PCM device; empty on the sim board
	// PIN authorises remote activation of this port's forwarding (6+
	// digits); PINHash is the same, hashed (critlinectl forward pin-hash).
	PIN           string `toml:"pin"`
	PINHash       string `toml:"pin_hash"`
	ForwardMirror bool   `toml:"forward_mirror"` // mirror forwarding into the mobile network (one port at most)
	// DivertTo overrides [survivability] divert_to for this port.
	DivertTo string `toml:"divert_to"`
	// DivertAfter overrides [survivability] divert_after for this port.
	DivertAfter Duration `toml:"divert_after"`
	// BehindRelay is what the lifeline relay puts the handset on in bypass:
	// "copper" (a live PSTN line) or "none". Unset means none (with a
	// notice): bypass is then never used as a route.
	BehindRelay string `toml:"behind_relay"`
	// Voicemail is the access code that reaches the line's voicemail on
	// the PBX (e.g. "*97"); Mailbox is the message account its message
	// waiting is subscribed for (default the extension). dialects.go.
	Voicemail string `toml:"voicemail"`
	Mailbox   string `toml:"mailbox"`
	// Flash is what the hook flash (R) does: "local" (the default: the
	// appliance's own call waiting, hold, enquiry call, three-way calling
	// and transfer) or passed to the PBX, which provides them: "rfc4733"
	// (telephone-event 16 in the RTP), "sip-info" (INFO
	// application/hook-flash) or "dtmf-relay" (INFO application/dtmf-relay
	// Signal=!).
	Flash string `toml:"flash"`
	// CallWaiting: a second call to the port in a call waits, announced by
	// the call-waiting tone and caller ID on call waiting, instead of
	// getting busy (default true with flash = "local"; the PBX's business
	// otherwise).
	CallWaiting *bool `toml:"call_waiting"`
	// TransferOnHangup: hanging up during an enquiry call transfers the
	// held call to it, attended once it answered, blind while it rings
	// (default true); false: the held call rings the porter back.
	TransferOnHangup *bool `toml:"transfer_on_hangup"`
	// Hotline is a number dialled the moment the handset is lifted (lift,
	// refuge and car-park phones); Warmline one dialled after WarmlineAfter
	// without a digit. See groups.go.
	Hotline       string   `toml:"hotline"`
	Warmline      string   `toml:"warmline"`
	WarmlineAfter Duration `toml:"warmline_after"`
}

// Flash values of [[port]] flash.
var FlashValues = []string{"local", "rfc4733", "sip-info", "dtmf-relay"}

// CallWaitingOn says whether the port takes a call waiting.
func (p Port) CallWaitingOn() bool { return p.CallWaiting == nil || *p.CallWaiting }

// TransferOnHangupOn says whether hanging up during an enquiry transfers.
func (p Port) TransferOnHangupOn() bool { return p.TransferOnHangup == nil || *p.TransferOnHangup }

// SIP is the user agent's configuration.
type SIP struct {
	Listen        string   `toml:"listen"`
	Advertise     string   `toml:"advertise"` // address put in Contact/Via when listening on 0.0.0.0
	RTPPorts      string   `toml:"rtp_ports"` // "16384-16482"
	ProbeInterval Duration `toml:"probe_interval"`
	// Register is which registrars each line registers with: "all" (every
	// one at once, the default) or "first" (the best usable one only).
	Register string `toml:"register"`
	// RegisterExpiry is the registration lifetime asked for (default
	// 120s): a PBX notices a dead appliance when it runs out.
	RegisterExpiry Duration    `toml:"register_expiry"`
	Registrars     []Registrar `toml:"registrar"`
	// ProgressTimeout: an outbound INVITE answered only with 100 Trying is
	// cancelled after this long and the call moves to the next route.
	ProgressTimeout Duration `toml:"progress_timeout"`

	// Session timers (RFC 4028): the interval our calls ask for (0s: none)
	// and the smallest accepted.
	SessionExpires *Duration `toml:"session_expires"`
	MinSE          Duration  `toml:"min_se"`
	// TLS: a listener for the PBXs' own connections, the appliance's
	// certificate and key (served, and shown to registrars that ask), the
	// CAs trusted for the registrars' certificates (default the system's)
	// and, when set, the CAs a connecting PBX's certificate must come from.
	TLSListen      string `toml:"tls_listen"`
	TLSCertificate string `toml:"tls_certificate"`
	TLSKey         string `toml:"tls_key"`
	TLSCA          string `toml:"tls_ca"`
	TLSClientCA    string `toml:"tls_client_ca"`
	// TrustedTransports lists the transports requests are taken on
	// (default all); over UDP the source address can be forged.
	TrustedTransports []string `toml:"trusted_transports"`
	// KeepAlive is the RFC 5626 keep-alive interval on TCP and TLS
	// connections to the registrars (0s: none).
	KeepAlive *Duration `toml:"keepalive"`
	// FirstResponse is the longest an outbound INVITE waits for any
	// response (a PBX with no round-trip history gets all of it).
	FirstResponse Duration `toml:"first_response"`
	// RTTFloor is the least time a PBX with round-trip history is given to
	// answer a probe or an INVITE (3 times its slowest recent answer, at
	// least this) before a probe burst asks whether it is there.
	RTTFloor Duration `toml:"rtt_floor"`
	// ProbeBurst is the number of probes in that burst; 0 turns bursts off.
	ProbeBurst *int `toml:"probe_burst"`
	// The modem's data connection as a path to registrars (paths.go):
	// DataProbeInterval is how often registrars are probed over it,
	// DataKeepAlive how often a CRLF keep-alive holds the carrier's NAT
	// mapping while a registrar is in use over it (0s: none), DataHoldDown
	// how long its registrars keep their verdict while a lost data session
	// comes back.
	DataProbeInterval Duration  `toml:"data_probe_interval"`
	DataKeepAlive     *Duration `toml:"data_keepalive"` // absent: the default; "0s": none
	DataHoldDown      *Duration `toml:"data_hold_down"` // absent: the default; "0s": none
}

// Registrar is one PBX, in order of preference.
type Registrar struct {
	Name      string `toml:"name"`
	Address   string `toml:"address"`
	Transport string `toml:"transport"` // udp | tcp | tls
	Domain    string `toml:"domain"`    // SIP domain of the AOR; defaults to the address's host
	// SRTP is the media encryption with this PBX: accept (SRTP when it
	// offers RTP/SAVP; the default), require, or off.
	SRTP string `toml:"srtp"`
	// MWISubscribe subscribes every line to message waiting (RFC 3842)
	// here; unsolicited NOTIFYs are taken either way.
	MWISubscribe bool `toml:"mwi_subscribe"`
	// Via is the network path it is reached by: "lan" (the default),
	// "wwan" (the modem's data connection) or "any" (the LAN while it
	// works, else the data connection).
	Via string `toml:"via"`

	// TestExtension is what a path test calls through this registrar (the
	// PBX's echo or test service; issue 17); empty: not tested.
	TestExtension string `toml:"test_extension"`
	// TestExpect is what the test extension does: audio (the default),
	// tone, echo or dtmf (survivability/pathtest).
	TestExpect string `toml:"test_expect"`
	TestToneHz int    `toml:"test_tone_hz"` // tone's frequency (default 1004)
}

// Trunk is one PSTN trunk, in order of preference.
type Trunk struct {
	Name    string `toml:"name"`
	Kind    string `toml:"kind"`    // modem | sim
	Device  string `toml:"device"`  // AT port
	PCM     string `toml:"pcm"`     // voice port, optional
	Variant string `toml:"variant"` // generic | simcom | quectel
	Baud    int    `toml:"baud"`
	Number  string `toml:"number"` // the trunk's own number (for diverts and remote activation)
	// Ports are the ports its inbound calls ring (default every port). A
	// trunk that serves one port alone may mirror that port's forwarding
	// into the mobile network ([[port]] forward_mirror).
	Ports []int `toml:"ports"`
	// DataInterface is the network interface the modem's data connection
	// appears as ("wwan0", "usb0"): the board's second IP path
	// (registrars with via = "wwan" or "any").
	DataInterface string `toml:"data_interface"`
	// DataBearer says who brings it up: "at" (critline, by AT commands on
	// the port it already owns; the default) or "external" (ModemManager,
	// or the module's own auto-connect).
	DataBearer string `toml:"data_bearer"`
	// APN, when set, is written to the data context before each connect.
	APN string `toml:"apn"`

	// TestNumber is what a path test calls on this trunk (a test line
	// answering with a tone, or a loop-back echoing audio or DTMF; issue
	// 17); empty: not tested.
	TestNumber string `toml:"test_number"`
	TestExpect string `toml:"test_expect"`  // audio (default) | tone | echo | dtmf
	TestToneHz int    `toml:"test_tone_hz"` // tone's frequency (default 1004)
	Group      string `toml:"group"`        // the hunt group its inbound calls go to; empty rings every port
}

// Survivability tunes the routing brain.
type Survivability struct {
	Emergency []string `toml:"emergency"`
	// EmergencyRoute orders an emergency call's routes: "pbx-first" (the
	// default: the PBX presents the site's number and address while it is
	// healthy) or "trunk-first"; either hands over to the next route at
	// once on any failure.
	EmergencyRoute string   `toml:"emergency_route"`
	FailbackAfter  Duration `toml:"failback_after"`
	// DivertTo is where inbound calls go while a handset cannot be reached
	// (left off-hook, or on the PSTN line): a number or a sip: URI.
	DivertTo string `toml:"divert_to"`
	// DivertAfter diverts calls still ringing after this long (0: never).
	DivertAfter Duration `toml:"divert_after"`
	// RemoteTrunk names a trunk dedicated to remote activation (a second
	// SIM): every inbound call on it reaches the dialogue instead of the
	// ports, so it may not be the only trunk.
	RemoteTrunk string `toml:"remote_trunk"`
	// Guard is the toll-fraud guard ([survivability.guard], see
	// survivability/guard.Config).
	Guard Raw `toml:"guard"`
	// Forwarding is call forwarding and remote activation
	// ([survivability.forwarding], see survivability/forwarding.Config).
	Forwarding Raw `toml:"forwarding"`
	// PortStall is how long one call step of a port may take before the
	// port is declared wedged (the step is abandoned; the port carries on).
	PortStall Duration `toml:"port_stall"`

	// PathTests is the schedule of the path tests
	// ([survivability.path_tests], see survivability/pathtest.Config).
	PathTests Raw `toml:"path_tests"`
	// LocalCalls is how a port's call to another port's (or a group's)
	// extension is connected: "pbx-first" (the default: through the PBX
	// while it is healthy and both lines are registered with it, so it
	// keeps its records; inside the appliance otherwise) or "local"
	// (always inside the appliance).
	LocalCalls string `toml:"local_calls"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen"`
}

// Control is the unix socket the field tool talks to.
type Control struct {
	Socket string `toml:"socket"`
	Group  string `toml:"group"` // group owning the socket; empty = the daemon's
	// IdleTimeout closes a control connection that sends nothing this long.
	IdleTimeout Duration `toml:"idle_timeout"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // auto | text | logfmt | json
}

// State is where state that must survive restarts is written.
type State struct {
	Dir string `toml:"dir"`
}

// Firmware is the A/B update set-up (firmware.Config; see docs/firmware.md).
type Firmware struct {
	Board          string   `toml:"board"`
	SlotA          string   `toml:"slot_a"`
	SlotB          string   `toml:"slot_b"`
	StateFile      string   `toml:"state_file"`
	TrustedKeys    string   `toml:"trusted_keys"`
	TrialTries     int      `toml:"trial_tries"`
	HealthTimeout  Duration `toml:"health_timeout"`
	HealthRetry    Duration `toml:"health_retry"`
	RebootCommand  []string `toml:"reboot_command"`
	Cmdline        string   `toml:"cmdline"`
	Method         string   `toml:"method"` // bootcount | tryboot
	Autoboot       string   `toml:"autoboot"`
	PartitionA     int      `toml:"partition_a"`
	PartitionB     int      `toml:"partition_b"`
	DeviceTree     string   `toml:"device_tree"`
	TrybootCommand []string `toml:"tryboot_command"`
}

// Enabled reports whether A/B updates are set up (both slots given).
func (f Firmware) Enabled() bool { return f.SlotA != "" && f.SlotB != "" }

// Duration is a time.Duration written as a Go duration string ("250ms").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write it like \"500ms\" or \"2s\"", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults used where the file is silent.
const (
	DefaultPath          = "/etc/critline/critline.toml"
	DefaultSocket        = "/run/critline/control.sock"
	DefaultMetricsListen = ":9469"
	DefaultStateDir      = "/var/lib/critline"
	DefaultSIPListen     = "0.0.0.0:5060"
	DefaultRTPPorts      = "16384-16482"
	DefaultChip          = "gpiochip0"
	DefaultDebounce      = 5 * time.Millisecond
	// DefaultProbeInterval: OPTIONS to each registrar this often. A silent
	// registrar is found within one interval and a probe burst (about
	// 150 ms on a LAN: sip/burst.go), so under 1 s; probing faster would
	// cost an idle appliance CPU for nothing (issue 19: 500 ms was 0.23 %
	// of a core).
	DefaultProbeInterval = 750 * time.Millisecond
	DefaultFailback      = 30 * time.Second
	// DefaultRegisterExpiry: refreshed every 60 s, so a PBX notices a dead
	// appliance (its binding runs out) within two minutes and applies its
	// own divert, at four REGISTERs a minute for two lines on two PBXs.
	DefaultRegisterExpiry = 120 * time.Second
	MinRegisterExpiry     = 30 * time.Second // below, PBXs refuse it (Min-Expires is often 60 s) or drown in refreshes
	MaxRegisterExpiry     = time.Hour        // above, a dead appliance goes unnoticed too long
	DefaultEmergencyRoute = "pbx-first"
)

func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Board.Kind, "sim")
	def(&c.Board.Profile, "uk")
	def(&c.Board.Chip, DefaultChip)
	if c.Board.Debounce == nil {
		c.Board.Debounce = &Duration{DefaultDebounce}
	}
	def(&c.SIP.Listen, DefaultSIPListen)
	def(&c.SIP.RTPPorts, DefaultRTPPorts)
	if c.SIP.ProbeInterval.Duration == 0 {
		c.SIP.ProbeInterval.Duration = DefaultProbeInterval
	}
	for i := range c.SIP.Registrars {
		def(&c.SIP.Registrars[i].Transport, "udp")
	}
	def(&c.SIP.Register, "all")
	if c.SIP.RegisterExpiry.Duration == 0 {
		c.SIP.RegisterExpiry.Duration = DefaultRegisterExpiry
	}
	def(&c.Survivability.EmergencyRoute, DefaultEmergencyRoute)
	for i := range c.Trunks {
		def(&c.Trunks[i].Kind, "modem")
		def(&c.Trunks[i].Variant, "generic")
		if c.Trunks[i].Baud == 0 {
			c.Trunks[i].Baud = 115200
		}
	}
	for i := range c.Ports {
		def(&c.Ports[i].DivertTo, c.Survivability.DivertTo)
		if c.Ports[i].DivertAfter.Duration == 0 {
			c.Ports[i].DivertAfter = c.Survivability.DivertAfter
		}
		def(&c.Ports[i].RingDrive, "enable")
		def(&c.Ports[i].Flash, "local")
		if c.Ports[i].CallWaiting == nil {
			cw := c.Ports[i].Flash == "local"
			c.Ports[i].CallWaiting = &cw
		}
		if c.Ports[i].BehindRelay == "" {
			c.Notices = append(c.Notices, Problem{Key: fmt.Sprintf("port[%d].behind_relay", i),
				Msg: `not set: taken as "none" (no copper line behind the relay), so the handset stays on the board and bypass is never used as a route; write behind_relay = "copper" if a live PSTN line is wired behind this port's relay, or "none" to silence this notice`})
			c.Ports[i].BehindRelay = "none"
		}
		if c.Ports[i].Name == "" {
			c.Ports[i].Name = fmt.Sprintf("port %d", c.Ports[i].ID)
		}
	}
	if c.Survivability.Emergency == nil {
		c.Survivability.Emergency = []string{"999", "112"}
	}
	if c.Survivability.FailbackAfter.Duration == 0 {
		c.Survivability.FailbackAfter.Duration = DefaultFailback
	}
	def(&c.Metrics.Listen, DefaultMetricsListen)
	def(&c.Control.Socket, DefaultSocket)
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "auto")
	def(&c.State.Dir, DefaultStateDir)
	c.limitDefaults()
	c.dialectDefaults()
	c.failoverDefaults()
	c.groupDefaults()
}

// Load reads and checks the file at path. A *Errors lists every problem.
func Load(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		switch {
		case os.IsNotExist(err):
			return nil, fmt.Errorf("config file %s does not exist: create it (see examples/sim.toml) or pass --config", path)
		case os.IsPermission(err):
			return nil, fmt.Errorf("config file %s is not readable by this user: check its mode and owner (the daemon runs as critline)", path)
		}
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return Parse(path, data)
}

// Parse reads and checks a configuration; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	errs := &Errors{File: name}
	raw, loc, ok := parseTOML(name, data, errs)
	if !ok {
		return nil, errs
	}
	var c Config
	d := decoder{errs: errs, loc: loc}
	d.decodeStruct(raw, &c, nil)
	c.applyDefaults()
	c.validate(errs, loc)
	if errs.Len() > 0 {
		return nil, errs
	}
	c.Path = name
	for i := range c.Notices {
		c.Notices[i].Line = loc.line(c.Notices[i].Key)
		if c.Notices[i].Line == 0 { // the key is absent: point at its table
			c.Notices[i].Line = loc.line(c.Notices[i].Key[:strings.LastIndexByte(c.Notices[i].Key, '.')])
		}
	}
	c.loc = loc
	return &c, nil
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	Line int    // 0 when no line applies
	Key  string // dotted key, with array indexes: port[2].hook.line
	Msg  string
}

// Errors is every problem found in one file.
type Errors struct {
	File     string
	Problems []Problem
}

// Len reports how many problems there are.
func (e *Errors) Len() int { return len(e.Problems) }

func (e *Errors) add(line int, key, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Lines renders each problem as "file:line: key: message".
func (e *Errors) Lines() []string { return renderProblems(e.File, e.Problems) }

// NoticeLines renders the notices as "file:line: key: message".
func (c *Config) NoticeLines() []string { return renderProblems(c.Path, c.Notices) }

func renderProblems(file string, problems []Problem) []string {
	e := &Errors{File: file}
	out := make([]string, 0, len(problems))
	for _, p := range problems {
		var b strings.Builder
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
		out = append(out, b.String())
	}
	return out
}

func (e *Errors) Error() string { return strings.Join(e.Lines(), "\n") }

// Check validates a Config again after a caller changed it (command-line
// overrides); problems carry no line numbers.
func (c *Config) Check() error {
	errs := &Errors{File: c.Path}
	c.validate(errs, locator{})
	if errs.Len() > 0 {
		return errs
	}
	return nil
}
