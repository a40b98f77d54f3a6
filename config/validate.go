package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/critline/critline/fxs/digitmap"
	"github.com/critline/critline/hal"
)

var (
	reDigits    = regexp.MustCompile(`^[0-9]+$`)
	reDialable  = regexp.MustCompile(`^\+?[0-9*#]+$`)
	boardKinds  = []string{"sim", "gpio"}
	profiles    = []string{"uk", "etsi", "us"}
	transports  = []string{"udp", "tcp", "tls"}
	trunkKinds  = []string{"modem", "sim"}
	variants    = []string{"generic", "simcom", "quectel"}
	ringDrives  = []string{"enable", "toggle"}
	behindRelay = []string{"copper", "none"}
	regModes    = []string{"all", "first"}
	emergRoutes = []string{"pbx-first", "trunk-first"}
	logLevels   = []string{"debug", "info", "warn", "error"}
	logFormats  = []string{"auto", "text", "logfmt", "json"}
	maxPortID   = 64
	maxGPIOLine = 1023
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

func choices(set []string) string { return strings.Join(set, ", ") }

// validate checks values that decoded fine but cannot work.
func (c *Config) validate(errs *Errors, loc locator) {
	bad := func(key, format string, args ...any) { errs.add(loc.line(key), key, format, args...) }

	if !oneOf(c.Board.Kind, boardKinds) {
		bad("board.kind", "%q is not a board kind: use one of %s", c.Board.Kind, choices(boardKinds))
	}
	if !oneOf(c.Board.Profile, profiles) {
		bad("board.profile", "%q is not a country profile: use one of %s", c.Board.Profile, choices(profiles))
	}
	gpio := c.Board.Kind == "gpio"

	// Every GPIO line may be used once.
	used := map[string]string{}
	pin := func(key string, p *Pin, required, input bool) {
		if p == nil {
			if required && gpio {
				bad(key, "missing: a gpio board needs this pin, e.g. %s = { line = 17 }", key[strings.LastIndexByte(key, '.')+1:])
			}
			return
		}
		if p.Line == nil {
			bad(key+".line", "missing: give the line offset on the chip, e.g. line = 17")
			return
		}
		if *p.Line < 0 || *p.Line > maxGPIOLine {
			bad(key+".line", "%d is not a GPIO line offset: use 0..%d", *p.Line, maxGPIOLine)
		}
		if _, err := hal.ParseBias(p.Bias); err != nil {
			bad(key+".bias", "%v", err)
		} else if p.Bias != "" && !input {
			bad(key+".bias", "bias applies to inputs only: remove it from this output")
		}
		if p.Debounce != nil && !input {
			bad(key+".debounce", "debounce applies to inputs only: remove it from this output")
		}
		if p.Debounce != nil && p.Debounce.Duration < 0 {
			bad(key+".debounce", "must not be negative")
		}
		chip := p.Chip
		if chip == "" {
			chip = c.Board.Chip
		}
		id := chip + ":" + strconv.Itoa(*p.Line)
		if other, dup := used[id]; dup {
			bad(key+".line", "line %s is already used by %s: each GPIO line can serve one function", id, other)
		} else {
			used[id] = key
		}
	}
	pin("board.mains", c.Board.Mains, false, true)
	pin("board.battery_low", c.Board.BatteryLow, false, true)
	for name, p := range c.Board.LED {
		pin("board.led."+name, &p, false, false)
	}
	if c.Board.Debounce.Duration < 0 {
		bad("board.debounce", "must not be negative")
	}
	if d := c.Board.BatteryRuntime.Duration; d != 0 && (d < time.Minute || d > 7*24*time.Hour) {
		bad("board.battery_runtime", "%s: give the UPS's rated runtime at this load, 1m to 168h (e.g. \"4h\"), or leave it out", c.Board.BatteryRuntime)
	}

	if len(c.Ports) == 0 {
		bad("port", "no ports configured: add at least one [[port]] with id and extension")
	}
	ids := map[int]string{}
	exts := map[string]string{}
	for i, p := range c.Ports {
		k := fmt.Sprintf("port[%d]", i)
		switch {
		case p.ID < 1 || p.ID > maxPortID:
			bad(k+".id", "%d is not a port id: use 1..%d (ports are numbered from 1 as printed on the board)", p.ID, maxPortID)
		case ids[p.ID] != "":
			bad(k+".id", "port id %d is already used by %s: give each port its own id", p.ID, ids[p.ID])
		default:
			ids[p.ID] = k
		}
		switch {
		case p.Extension == "":
			bad(k+".extension", "missing: every port needs the extension (SIP user and number) of its line, e.g. extension = \"270001\"")
		case !reDialable.MatchString(p.Extension):
			bad(k+".extension", "%q is not a number: use digits only", p.Extension)
		case exts[p.Extension] != "":
			bad(k+".extension", "extension %s is already used by %s", p.Extension, exts[p.Extension])
		default:
			exts[p.Extension] = k
		}
		if p.DialPlan != "" {
			if _, err := digitmap.Parse(p.DialPlan); err != nil {
				bad(k+".dial_plan", "%v", err)
			}
		}
		if !oneOf(p.BehindRelay, behindRelay) {
			bad(k+".behind_relay", "%q: use \"copper\" (a live PSTN line is wired behind the relay) or \"none\"", p.BehindRelay)
		}
		if !oneOf(p.Flash, FlashValues) {
			bad(k+".flash", "%q: use \"local\" (the appliance's call waiting, hold, transfer and three-way calling) or pass the flash to a PBX that provides them: \"rfc4733\", \"sip-info\" or \"dtmf-relay\"", p.Flash)
		} else if p.Flash != "local" && p.CallWaitingOn() {
			bad(k+".call_waiting", "true needs flash = \"local\": with the flash passed to the PBX, call waiting is the PBX's; set call_waiting = false or flash = \"local\"")
		}
		if !oneOf(p.RingDrive, ringDrives) {
			bad(k+".ring_drive", "%q is not a ring drive: use enable (SLIC ring-enable input) or toggle (forward/reverse toggled at the ring frequency)", p.RingDrive)
		}
		pin(k+".hook", p.Hook, true, true)
		pin(k+".ring", p.Ring, true, false)
		pin(k+".polarity", p.Polarity, true, false)
		pin(k+".relay", p.Relay, true, false)
		if p.DivertTo != "" && !reDialable.MatchString(p.DivertTo) && !strings.HasPrefix(p.DivertTo, "sip:") {
			bad(k+".divert_to", "%q is neither a number nor a sip: URI", p.DivertTo)
		}
		if p.DivertAfter.Duration < 0 || (p.DivertAfter.Duration > 0 && p.DivertAfter.Duration < 5e9) {
			bad(k+".divert_after", "%s: use 0 (never) or 5s or more, so the porter has time to answer", p.DivertAfter)
		}
		if gpio && p.Audio == "" {
			bad(k+".audio", "missing: a gpio board needs the port's PCM device, e.g. audio = \"hw:1,0\"")
		}
	}

	if err := checkHostPort(c.SIP.Listen, true); err != nil {
		bad("sip.listen", "%v", err)
	}
	if c.SIP.Advertise != "" && net.ParseIP(c.SIP.Advertise) == nil {
		bad("sip.advertise", "%q is not an IP address: give the address the PBX reaches this appliance at", c.SIP.Advertise)
	}
	if lo, hi, err := ParsePortRange(c.SIP.RTPPorts); err != nil {
		bad("sip.rtp_ports", "%v", err)
	} else if hi-lo+1 < 2*len(c.Ports) {
		bad("sip.rtp_ports", "range %s has room for %d calls but there are %d ports: widen it", c.SIP.RTPPorts, (hi-lo+1)/2, len(c.Ports))
	}
	if !oneOf(c.SIP.Register, regModes) {
		bad("sip.register", "%q: use \"all\" (every line with every registrar at once) or \"first\" (with the best registrar only)", c.SIP.Register)
	}
	if d := c.SIP.RegisterExpiry.Duration; d < MinRegisterExpiry || d > MaxRegisterExpiry {
		bad("sip.register_expiry", "%s: use %s to %s (default %s: a PBX notices a dead appliance within two minutes)", c.SIP.RegisterExpiry, MinRegisterExpiry, MaxRegisterExpiry, DefaultRegisterExpiry)
	}
	if c.SIP.ProbeInterval.Duration < 50_000_000 {
		bad("sip.probe_interval", "%s is too short: use 100ms or more", c.SIP.ProbeInterval)
	}
	regs := map[string]string{}
	for i, r := range c.SIP.Registrars {
		k := fmt.Sprintf("sip.registrar[%d]", i)
		switch {
		case r.Name == "":
			bad(k+".name", "missing: name each registrar (it labels metrics and status)")
		case regs[r.Name] != "":
			bad(k+".name", "registrar name %q is already used by %s", r.Name, regs[r.Name])
		default:
			regs[r.Name] = k
		}
		if err := checkHostPort(r.Address, false); err != nil {
			bad(k+".address", "%v", err)
		}
		if !oneOf(r.Transport, transports) {
			bad(k+".transport", "%q is not a transport: use one of %s", r.Transport, choices(transports))
		}
		c.validateTestTarget(bad, k, "test_extension", r.TestExtension, r.TestExpect, r.TestToneHz, "")
	}

	trunks := map[string]string{}
	for i, t := range c.Trunks {
		k := fmt.Sprintf("trunk[%d]", i)
		switch {
		case t.Name == "":
			bad(k+".name", "missing: name each trunk (it labels metrics and status)")
		case trunks[t.Name] != "":
			bad(k+".name", "trunk name %q is already used by %s", t.Name, trunks[t.Name])
		default:
			trunks[t.Name] = k
		}
		if !oneOf(t.Kind, trunkKinds) {
			bad(k+".kind", "%q is not a trunk kind: use modem or sim", t.Kind)
		}
		if t.Kind == "modem" && t.Device == "" {
			bad(k+".device", "missing: a modem trunk needs its AT port, e.g. device = \"/dev/ttyUSB2\"")
		}
		if t.Kind == "sim" && (t.Device != "" || t.PCM != "") {
			bad(k+".device", "a sim trunk makes its own pty: remove device and pcm")
		}
		for _, f := range []struct{ key, path string }{{"device", t.Device}, {"pcm", t.PCM}} {
			if f.path != "" && !filepath.IsAbs(f.path) {
				bad(k+"."+f.key, "%q is not an absolute device path: write it like /dev/ttyUSB2", f.path)
			}
		}
		if !oneOf(t.Variant, variants) {
			bad(k+".variant", "%q is not a modem variant: use one of %s", t.Variant, choices(variants))
		}
		if t.Baud <= 0 || t.Baud > 4_000_000 {
			bad(k+".baud", "%d is not a baud rate: use e.g. 115200", t.Baud)
		}
		if t.Number != "" && !reDialable.MatchString(t.Number) {
			bad(k+".number", "%q is not a phone number: use digits (and a leading +)", t.Number)
		}
		for _, id := range t.Ports {
			if !slices.ContainsFunc(c.Ports, func(p Port) bool { return p.ID == id }) {
				bad(k+".ports", "%d is not a configured port: list ids of [[port]] sections", id)
			}
		}
		c.validateTestTarget(bad, k, "test_number", t.TestNumber, t.TestExpect, t.TestToneHz, t.Number)
	}

	if len(c.Survivability.Emergency) == 0 {
		bad("survivability.emergency", "empty: list the emergency numbers, e.g. [\"999\", \"112\"]; they can never be blocked")
	}
	for i, n := range c.Survivability.Emergency {
		if !reDigits.MatchString(n) {
			bad(fmt.Sprintf("survivability.emergency[%d]", i), "%q is not a number: use digits only", n)
		}
	}
	if !oneOf(c.Survivability.EmergencyRoute, emergRoutes) {
		bad("survivability.emergency_route", "%q: use \"pbx-first\" (the PBX presents the site's number and address while it is healthy) or \"trunk-first\"", c.Survivability.EmergencyRoute)
	}
	if d := c.Survivability.DivertTo; d != "" && !reDialable.MatchString(d) && !strings.HasPrefix(d, "sip:") {
		bad("survivability.divert_to", "%q is neither a number nor a sip: URI", d)
	}
	if rt := c.Survivability.RemoteTrunk; rt != "" && trunks[rt] == "" {
		bad("survivability.remote_trunk", "%q is not a configured trunk: name one of the [[trunk]] sections", rt)
	} else if rt != "" && len(c.Trunks) == 1 {
		bad("survivability.remote_trunk", "%q is the only trunk: every call on it would reach remote activation and the porters would never ring; "+
			"list staff numbers in [survivability.forwarding] staff_numbers instead, or add a second trunk for remote activation", rt)
	}
	if c.Survivability.FailbackAfter.Duration < 0 {
		bad("survivability.failback_after", "must not be negative")
	}

	if err := checkHostPort(c.Metrics.Listen, true); err != nil {
		bad("metrics.listen", "%v", err)
	}
	if !filepath.IsAbs(c.Control.Socket) {
		bad("control.socket", "%q is not an absolute path: use e.g. %s", c.Control.Socket, DefaultSocket)
	}
	if !filepath.IsAbs(c.State.Dir) {
		bad("state.dir", "%q is not an absolute path: use e.g. %s", c.State.Dir, DefaultStateDir)
	}
	if f := c.Firmware; f.SlotA != "" || f.SlotB != "" {
		if f.SlotA == "" || f.SlotB == "" {
			bad("firmware.slot_a", "give both slot_a and slot_b (the two root filesystems), or neither")
		} else if f.SlotA == f.SlotB {
			bad("firmware.slot_b", "slot_b is the same as slot_a: A/B needs two slots")
		}
		if f.Method != "" && f.Method != "bootcount" && f.Method != "tryboot" {
			bad("firmware.method", "%q: use bootcount or tryboot", f.Method)
		}
		if f.TrialTries < 0 {
			bad("firmware.trial_tries", "must not be negative")
		}
	}
	if !oneOf(c.Log.Level, logLevels) {
		bad("log.level", "%q is not a log level: use one of %s", c.Log.Level, choices(logLevels))
	}
	if !oneOf(c.Log.Format, logFormats) {
		bad("log.format", "%q is not a log format: use one of %s", c.Log.Format, choices(logFormats))
	}
	c.validateLimits(bad)
	c.validateDialects(bad)
	c.validateFailover(bad)
	c.validateGroups(bad)
}

// checkHostPort checks "host:port". Listening addresses (listen = true) may
// leave the host empty (":9469", all interfaces) and use port 0 (any free
// port, for tests and dry runs).
func checkHostPort(s string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: write it like 10.1.2.3:5060", s)
	}
	if host == "" && !listen {
		return fmt.Errorf("%q has no host: write it like 10.1.2.3:5060", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fmt.Errorf("%q has no valid port: use 1..65535", s)
	}
	return nil
}

// ParsePortRange reads "lo-hi".
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if ok {
		lo, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			hi, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || lo < 1024 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("%q is not a port range: write it like \"16384-16482\" (1024..65535)", s)
	}
	return lo, hi, nil
}

// testExpects are the values of test_expect (survivability/pathtest).
var testExpects = []string{"audio", "tone", "echo", "dtmf"}

// validateTestTarget checks a path test's number (issue 17): dialable,
// never an emergency number (a test call to 999 would reach the emergency
// operator) nor the trunk's own number, and what it is expected to do.
func (c *Config) validateTestTarget(bad func(key, format string, args ...any), k, key, number, expect string, hz int, own string) {
	if number == "" {
		if expect != "" || hz != 0 {
			bad(k+".test_expect", "there is no %s to test: set %s, or remove test_expect and test_tone_hz", key, key)
		}
		return
	}
	switch {
	case !reDialable.MatchString(number) && !(key == "test_extension" && strings.HasPrefix(number, "sip:")):
		bad(k+"."+key, "%q is not a number: give the digits of the test line (a number answering with a tone, or a loop-back)", number)
	case slices.Contains(c.Survivability.Emergency, number):
		bad(k+"."+key, "%q is an emergency number: a test call must never reach the emergency services; give a test line's number", number)
	case own != "" && number == own:
		bad(k+"."+key, "%q is the trunk's own number: a test call to it would meet itself busy; give a test line's number", number)
	}
	if expect != "" && !oneOf(expect, testExpects) {
		bad(k+".test_expect", "%q: use audio (any audio), tone (a steady tone), echo (our probe comes back) or dtmf (digits come back)", expect)
	}
	if hz != 0 && (hz < 50 || hz > 3900) {
		bad(k+".test_tone_hz", "%d Hz: use 50..3900 (the test tone is usually 1004 Hz)", hz)
	}
}
