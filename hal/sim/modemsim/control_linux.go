//go:build linux

package modemsim

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// verb is one control verb.
type verb struct {
	usage string
	help  string
	run   func(s *Sim, args []string) (string, error)
}

// verbs returns the simulator's control verbs, the words after
// `critlinectl sim trunk`.
func verbs() map[string]verb {
	return map[string]verb{
		"status":     {"status", "show the simulated modem's state", (*Sim).cStatus},
		"ring":       {"ring NUMBER|withheld|unavailable [NAME]", "an inbound call: RING and +CLIP every few seconds until answered or cancelled; during a call it waits (+CCWA) if call waiting is on, else gets busy", (*Sim).cRing},
		"hangup":     {"hangup [active|held|waiting|ringing|ID]", "the far end hangs up (or the caller gives up ringing); with two calls say which", (*Sim).cHangup},
		"service":    {"service deflection|hold|transfer|waiting|all allow|refuse [CODE]|absent", "the network carries a service, refuses it with +CME ERROR CODE (default 3, operation not allowed; 257 network rejected request, 262 service not available, 30 no network service), or the module lacks the command", (*Sim).cService},
		"redirects":  {"redirects", "list the calls the driver deflected (AT+CTFR) or transferred (AT+CHLD=4)", (*Sim).cRedirects},
		"answer":     {"answer", "the dialled far end answers now", (*Sim).cAnswer},
		"ondial":     {"ondial answer|busy|noanswer|reject|ring [DELAY]", "what the far end does with calls dialled from now on", (*Sim).cOndial},
		"responder":  {"responder [NUMBER tone [HZ]|echo|off]", "what the far end at NUMBER does once answered: a steady tone (default 1004 Hz, a test line), echo of its audio and DTMF (a loop-back line), or silence (off); no arguments lists them", (*Sim).cResponder},
		"dtmf":       {"dtmf DIGITS", "the far end presses DTMF digits", (*Sim).cDTMF},
		"network":    {"network up|limited|off", "registered (any call); limited service (a network in reach refuses the SIM: emergency calls only); off (down): no network at all, no call (limited and off end a call)", (*Sim).cNetwork},
		"timing":     {"timing alert|answer|noanswer|ring DURATION", "how long a dialled far end takes to ring, to answer, to give up, and the RING interval", (*Sim).cTiming},
		"signal":     {"signal DBM|none", "set the signal level, -113..-51 dBm", (*Sim).cSignal},
		"operator":   {"operator NAME", "set the network's name", (*Sim).cOperator},
		"wedge":      {"wedge [mid]", "go silent (mid: after the next command's information lines, before its result)", (*Sim).cWedge},
		"unwedge":    {"unwedge", "answer again", (*Sim).cUnwedge},
		"garbage":    {"garbage [N]", "emit N (default 32) random bytes on the AT port", (*Sim).cGarbage},
		"raw":        {"raw TEXT", `write TEXT on the AT port verbatim (Go escapes: \r \n \x00)`, (*Sim).cRaw},
		"interleave": {"interleave TEXT", "insert TEXT (Go escapes) inside the next command's response", (*Sim).cInterleave},
		"slow":       {"slow DURATION", "delay every answer by DURATION (0 = off)", (*Sim).cSlow},
		"echo":       {"echo on|off|stuck", "command echo on, off, or on and deaf to ATE0", (*Sim).cEcho},
		"vanish":     {"vanish", "unplug: close the ptys and remove the paths", (*Sim).cVanish},
		"return":     {"return", "plug back in: new ptys under the same paths, module defaults", (*Sim).cReturn},
		"gap":        {"gap DURATION", "send no voice for DURATION", (*Sim).cGap},
		"jitter":     {"jitter N", "send voice in bursts of N frames (1 = smooth)", (*Sim).cJitter},
		"play":       {"play FILE", "the far end speaks FILE (raw s16le 8 kHz mono, or WAV)", (*Sim).cPlay},
		"tone":       {"tone HZ [SECONDS]", "the far end plays a sine tone (default 1 s)", (*Sim).cTone},
		"heard":      {"heard [HZ]", "how much voice the far end has received, and its level; with HZ, the share of the last second's power at HZ (a tone crossing the call)", (*Sim).cHeard},
		"sms":        {"sms", "list the SMS the driver sent", (*Sim).cSMS},
		"forwarding": {"forwarding", "list the network call forwards the driver set", (*Sim).cForwarding},
		"commands":   {"commands [N]", "the last N (default 20) AT commands received", (*Sim).cCommands},
		"recording":  {"recording FILE", "write what the far end heard during the last call as a WAV file", (*Sim).cRecording},
		"forwarded":  {"forwarded", "list the calls the network forwarded away from the modem", (*Sim).cForwarded},
		"data":       {"data [status|drop [DURATION]|refuse|allow|delay DURATION|usbnet ecm|rndis|rmnet|mbim]", "the data connection: end the session (new ones refused for DURATION), refuse or allow sessions, how long one takes to come up, the module's USB network mode", (*Sim).cData},
		"help":       {"help", "list the verbs", (*Sim).cHelp},
	}
}

// Verbs returns the control verbs' usage lines, sorted.
func Verbs() []string {
	var out []string
	for _, v := range verbs() {
		out = append(out, v.usage)
	}
	sort.Strings(out)
	return out
}

func verbNames() string {
	var n []string
	for k := range verbs() {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// Control runs one control verb with its arguments (the words after
// `critlinectl sim trunk`) and returns a human-readable result.
func (s *Sim) Control(args []string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("modemsim: no verb: use one of %s", verbNames())
	}
	v, ok := verbs()[strings.ToLower(args[0])]
	if !ok {
		return "", fmt.Errorf("modemsim: unknown verb %q: use one of %s", args[0], verbNames())
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return "", fmt.Errorf("modemsim: closed")
	}
	out, err := v.run(s, args[1:])
	if err != nil {
		return "", fmt.Errorf("modemsim: %s: %w (usage: %s)", args[0], err, v.usage)
	}
	return out, nil
}

func nargs(args []string, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		return fmt.Errorf("want %d..%d arguments, got %d", lo, hi, len(args))
	}
	return nil
}

func (s *Sim) cHelp(args []string) (string, error) {
	var b strings.Builder
	names := strings.Split(verbNames(), ", ")
	vs := verbs()
	for _, n := range names {
		fmt.Fprintf(&b, "%-48s %s\n", vs[n].usage, vs[n].help)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (s *Sim) cStatus(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	plug := "plugged in"
	if s.att == nil {
		plug = "vanished"
	}
	fmt.Fprintf(&b, "modem %s (%s): %s; AT %s", s.o.Name, s.o.Variant, plug, s.atLink)
	if s.att != nil {
		fmt.Fprintf(&b, " -> %s", s.att.at.tty)
	}
	if s.PCMPath() != "" {
		fmt.Fprintf(&b, "; PCM %s", s.pcmLink)
		if s.att != nil && s.att.pcm != nil {
			fmt.Fprintf(&b, " -> %s", s.att.pcm.tty)
		}
	}
	net := "registered"
	switch {
	case !s.st.registered && s.st.cell:
		net = "limited service (emergency calls only)"
	case !s.st.registered:
		net = "no network"
	}
	fmt.Fprintf(&b, "\nnetwork: %s on %q, signal %s", net, s.st.operator, dbm(s.st.rssi))
	var calls []string
	for _, c := range s.st.calls {
		dir := "outbound to"
		if c.incoming {
			dir = "inbound from"
		}
		calls = append(calls, fmt.Sprintf("%d: %s %q, %s", c.id, dir, c.number, statName(c.stat)))
	}
	list := "call: none" // the words scripts look for on an idle trunk
	if len(calls) > 0 {
		list = "calls: " + strings.Join(calls, "; ")
	}
	fmt.Fprintf(&b, "\n%s; voice %v; on dial: %s", list, s.st.pcmOn || s.o.Variant == Generic, s.st.ondial)
	cw := "off"
	if s.st.cw {
		cw = "on"
	}
	var svcs []string
	for _, n := range serviceNames {
		r := s.st.svc[n]
		switch {
		case r.absent:
			svcs = append(svcs, n+" absent")
		case r.refuse != 0:
			svcs = append(svcs, fmt.Sprintf("%s refused (+CME ERROR: %d)", n, r.refuse))
		}
	}
	if len(svcs) == 0 {
		svcs = []string{"all carried"}
	}
	fmt.Fprintf(&b, "\ncall waiting: %s; services: %s", cw, strings.Join(svcs, ", "))
	var faults []string
	if s.st.wedged {
		faults = append(faults, "wedged")
	}
	if s.st.wedgeMid {
		faults = append(faults, "wedging after the next command")
	}
	if s.st.slow > 0 {
		faults = append(faults, "slow "+s.st.slow.String())
	}
	if s.st.echo {
		faults = append(faults, "echo on (a module's default until ATE0)")
	}
	if s.st.jitter > 1 {
		faults = append(faults, fmt.Sprintf("voice in bursts of %d", s.st.jitter))
	}
	if len(faults) == 0 {
		faults = []string{"none"}
	}
	fmt.Fprintf(&b, "\nquirks: %s", strings.Join(faults, ", "))
	return b.String(), nil
}

func dbm(rssi int) string {
	if rssi == 99 {
		return "unknown"
	}
	return fmt.Sprintf("%d dBm (+CSQ %d)", -113+2*rssi, rssi)
}

func statName(stat int) string {
	switch stat {
	case 0:
		return "connected"
	case 1:
		return "held"
	case 5:
		return "waiting"
	case 2:
		return "dialling"
	case 3:
		return "ringing at the far end"
	case 4:
		return "ringing here"
	}
	return "state " + strconv.Itoa(stat)
}

func (s *Sim) cRing(args []string) (string, error) {
	if err := nargs(args, 1, 2); err != nil {
		return "", err
	}
	c := &simCall{incoming: true, number: args[0], stat: 4, started: time.Now()}
	switch strings.ToLower(args[0]) {
	case "withheld", "private":
		c.number, c.presentation = "", 1
	case "unavailable":
		c.number, c.presentation = "", 2
	default:
		if strings.Trim(args[0], "+0123456789") != "" || len(args[0]) > 20 {
			return "", fmt.Errorf("%q is not a number: give digits (a leading + is allowed), withheld or unavailable", args[0])
		}
	}
	if len(args) == 2 {
		c.name = strings.ReplaceAll(args[1], `"`, "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if to, why := s.networkForwardLocked(); to != "" && s.st.registered {
		s.forwarded = append(s.forwarded, fmt.Sprintf("%s -> %s (%s)", args[0], to, why))
		return fmt.Sprintf("the network forwarded the call to %s: %s", to, why), nil
	}
	if s.att == nil {
		return "", fmt.Errorf("the modem has vanished: use return first")
	}
	if !s.st.registered {
		return "", fmt.Errorf("not registered: use network up first")
	}
	out, err := s.incomingLocked(c)
	if err == nil && c.stat == 4 {
		s.noReplyLocked(c) // the network's forward on no reply
	}
	return out, err
}

func (s *Sim) cHangup(args []string) (string, error) {
	if err := nargs(args, 0, 1); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.st.calls) == 0 {
		return "", fmt.Errorf("no call")
	}
	var c *simCall
	switch {
	case len(args) == 0 && len(s.st.calls) == 1:
		c = s.st.calls[0]
	case len(args) == 0:
		return "", fmt.Errorf("two calls: say which (active, held, waiting, ringing or a call id)")
	default:
		stat := map[string]int{"active": 0, "connected": 0, "held": 1, "waiting": 5, "ringing": 4}
		if st, ok := stat[strings.ToLower(args[0])]; ok {
			c = s.findLocked(st)
		} else if id, err := strconv.Atoi(args[0]); err == nil {
			c = s.callByIDLocked(id)
		}
		if c == nil {
			return "", fmt.Errorf("no %s call", args[0])
		}
	}
	s.endCallLocked(c, "NO CARRIER")
	return fmt.Sprintf("far end of call %d hung up", c.id), nil
}

func (s *Sim) cAnswer(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.findLocked(2, 3)
	if c == nil || c.incoming {
		return "", fmt.Errorf("no dialled call is waiting for an answer")
	}
	s.farAnswerLocked(c)
	return "far end answered", nil
}

func (s *Sim) cService(args []string) (string, error) {
	if err := nargs(args, 2, 3); err != nil {
		return "", err
	}
	name := strings.ToLower(args[0])
	names := serviceNames
	if name != "all" {
		if !slices.Contains(serviceNames, name) {
			return "", fmt.Errorf("%q: use %s or all", args[0], strings.Join(serviceNames, ", "))
		}
		names = []string{name}
	}
	var r serviceRule
	switch strings.ToLower(args[1]) {
	case "allow":
		if len(args) == 3 {
			return "", fmt.Errorf("allow takes no code")
		}
	case "refuse":
		r.refuse = 3
		if len(args) == 3 {
			code, err := strconv.Atoi(args[2])
			if err != nil || code <= 0 || code > 65535 {
				return "", fmt.Errorf("code %q: give a +CME ERROR number, e.g. 3, 257, 262 or 30", args[2])
			}
			r.refuse = code
		}
	case "absent":
		if len(args) == 3 {
			return "", fmt.Errorf("absent takes no code")
		}
		r.absent = true
	default:
		return "", fmt.Errorf("%q: use allow, refuse [CODE] or absent", args[1])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.st.svc[n] = r
	}
	switch {
	case r.absent:
		return fmt.Sprintf("%s: the module has no such command", strings.Join(names, ", ")), nil
	case r.refuse != 0:
		return fmt.Sprintf("%s: the network refuses with %s", strings.Join(names, ", "), s.cmeLocked(r.refuse)), nil
	}
	return strings.Join(names, ", ") + ": carried by the network", nil
}

func (s *Sim) cRedirects(args []string) (string, error) {
	r := s.Redirects()
	if len(r) == 0 {
		return "no call deflected or transferred", nil
	}
	var b strings.Builder
	for _, x := range r {
		fmt.Fprintf(&b, "%s %s: %s -> %s after %s", x.At.Format(time.TimeOnly), x.Kind, x.From, x.To, x.After.Round(time.Millisecond))
		if x.Kind == "deflection" {
			fmt.Fprintf(&b, " on ring %d", x.Rings)
		}
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (s *Sim) cOndial(args []string) (string, error) {
	if err := nargs(args, 1, 2); err != nil {
		return "", err
	}
	mode := strings.ToLower(args[0])
	switch mode {
	case "answer", "busy", "noanswer", "reject", "ring":
	default:
		return "", fmt.Errorf("%q: use answer, busy, noanswer, reject or ring", args[0])
	}
	var d time.Duration
	if len(args) == 2 {
		var err error
		if d, err = time.ParseDuration(args[1]); err != nil || d < 0 {
			return "", fmt.Errorf("delay %q: give a duration such as 2s", args[1])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.ondial, s.st.dialD = mode, d
	return "dialled calls will: " + mode, nil
}

func (s *Sim) cDTMF(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	d := strings.ToUpper(args[0])
	if strings.Trim(d, "0123456789*#ABCD") != "" {
		return "", fmt.Errorf("%q: DTMF digits are 0-9 * # A-D", args[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findLocked(0) == nil {
		return "", fmt.Errorf("no connected call")
	}
	for _, c := range d {
		s.dtmfURCLocked(c)
	}
	return "sent " + d, nil
}

func (s *Sim) regReportLocked() {
	if s.st.creg > 0 {
		s.urcLocked(s.regLocked("+CREG", s.st.creg, false))
	}
	if s.st.cereg > 0 {
		s.urcLocked(s.regLocked("+CEREG", s.st.cereg, false))
	}
}

func (s *Sim) cNetwork(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.st.registered
	switch strings.ToLower(args[0]) {
	case "up":
		s.st.registered, s.st.cell = true, true
		s.regReportLocked()
		return "registered", nil
	case "limited":
		s.st.registered, s.st.cell = false, true
		if was {
			s.endAllLocked("NO CARRIER")
		}
		s.dataDownLocked(true)
		s.regReportLocked()
		return "limited service: emergency calls only", nil
	case "down", "off":
		s.st.registered, s.st.cell = false, false
		s.endAllLocked("NO CARRIER")
		s.dataDownLocked(true)
		s.regReportLocked()
		return "no network", nil
	}
	return "", fmt.Errorf("%q: use up, limited or off", args[0])
}

func (s *Sim) cSignal(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	rssi := 99
	if args[0] != "none" {
		d, err := strconv.ParseFloat(strings.TrimSuffix(args[0], "dBm"), 64)
		if err != nil || d < -113 || d > -51 {
			return "", fmt.Errorf("%q: give dBm in -113..-51, or none", args[0])
		}
		rssi = int(math.Round((d + 113) / 2))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.rssi = rssi
	if s.st.qind {
		s.urcLocked(fmt.Sprintf(`+QIND: "csq",%d,99`, rssi))
	}
	return "signal " + dbm(rssi), nil
}

func (s *Sim) cOperator(args []string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("give a name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.operator = strings.ReplaceAll(strings.Join(args, " "), `"`, "")
	return "operator " + s.st.operator, nil
}

func (s *Sim) cWedge(args []string) (string, error) {
	if err := nargs(args, 0, 1); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(args) == 1 {
		if args[0] != "mid" {
			return "", fmt.Errorf("%q: the only option is mid", args[0])
		}
		s.st.wedgeMid = true
		return "will hang in the middle of the next command", nil
	}
	s.st.wedged = true
	return "wedged: silent", nil
}

func (s *Sim) cUnwedge(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.wedged, s.st.wedgeMid = false, false
	return "answering again", nil
}

func (s *Sim) cGarbage(args []string) (string, error) {
	if err := nargs(args, 0, 1); err != nil {
		return "", err
	}
	n := 32
	if len(args) == 1 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 || n > 65536 {
			return "", fmt.Errorf("%q: give a byte count 1..65536", args[0])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(s.garbageLocked(n))
	return fmt.Sprintf("sent %d stray bytes", n), nil
}

func unescape(args []string) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("give the text")
	}
	t := strings.Join(args, " ")
	u, err := strconv.Unquote(`"` + strings.ReplaceAll(t, `"`, `\"`) + `"`)
	if err != nil {
		return nil, fmt.Errorf("%q: bad escape (use \\r \\n \\xNN)", t)
	}
	return []byte(u), nil
}

func (s *Sim) cRaw(args []string) (string, error) {
	b, err := unescape(args)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(b)
	return fmt.Sprintf("sent %d bytes", len(b)), nil
}

func (s *Sim) cInterleave(args []string) (string, error) {
	b, err := unescape(args)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.interleave = b
	return fmt.Sprintf("the next response carries %d extra bytes", len(b)), nil
}

func (s *Sim) cSlow(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	d, err := time.ParseDuration(args[0])
	if args[0] == "0" || args[0] == "off" {
		d, err = 0, nil
	}
	if err != nil || d < 0 || d > time.Minute {
		return "", fmt.Errorf("%q: give a duration up to 1m, e.g. 800ms", args[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.slow = d
	return "answer delay " + d.String(), nil
}

func (s *Sim) cEcho(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch args[0] {
	case "on":
		s.st.echo, s.st.echoStuck = true, false
	case "off":
		s.st.echo, s.st.echoStuck = false, false
	case "stuck":
		s.st.echo, s.st.echoStuck = true, true
	default:
		return "", fmt.Errorf("%q: use on, off or stuck", args[0])
	}
	return "echo " + args[0], nil
}

func (s *Sim) cVanish(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att == nil {
		return "", fmt.Errorf("already vanished: use return")
	}
	s.detachLocked()
	return "vanished: " + s.atLink + " is gone", nil
}

func (s *Sim) cReturn(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.att != nil {
		return "", fmt.Errorf("already plugged in: use vanish first")
	}
	s.st = s.defaults(s.st)
	if err := s.attachLocked(); err != nil {
		return "", err
	}
	s.urcLocked("RDY", "+CPIN: READY", "SMS DONE", "PB DONE")
	return fmt.Sprintf("returned: %s -> %s", s.atLink, s.att.at.tty), nil
}

func (s *Sim) cGap(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 || d > time.Minute {
		return "", fmt.Errorf("%q: give a duration up to 1m, e.g. 200ms", args[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.gapUntil = time.Now().Add(d)
	return "voice gap " + d.String(), nil
}

func (s *Sim) cJitter(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 50 {
		return "", fmt.Errorf("%q: give 1..50 frames", args[0])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.jitter = n
	return fmt.Sprintf("voice in bursts of %d frames", n), nil
}

func (s *Sim) cPlay(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return "", err
	}
	b, err = pcmBytes(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", args[0], err)
	}
	samples := make([]int16, len(b)/2)
	for i := range samples {
		samples[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	s.Play(samples)
	return fmt.Sprintf("queued %.2f s of audio", float64(len(samples))/8000), nil
}

// pcmBytes returns the sample bytes of raw s16le or of a WAV file (PCM,
// 16-bit, mono, 8 kHz only).
func pcmBytes(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return b, nil
	}
	for p := 12; p+8 <= len(b); {
		id, n := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(len(b), p+8+n)]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body) != 1 || binary.LittleEndian.Uint16(body[2:]) != 1 ||
				binary.LittleEndian.Uint32(body[4:]) != 8000 || binary.LittleEndian.Uint16(body[14:]) != 16 {
				return nil, fmt.Errorf("WAV is not 16-bit mono 8 kHz PCM: convert it (e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav)")
			}
		case "data":
			return body, nil
		}
		p += 8 + n + n%2
	}
	return nil, fmt.Errorf("WAV has no data chunk")
}

func (s *Sim) cTone(args []string) (string, error) {
	if err := nargs(args, 1, 2); err != nil {
		return "", err
	}
	hz, err := strconv.ParseFloat(args[0], 64)
	if err != nil || hz <= 0 || hz >= 4000 {
		return "", fmt.Errorf("%q: give a frequency in 1..3999 Hz", args[0])
	}
	secs := 1.0
	if len(args) == 2 {
		if secs, err = strconv.ParseFloat(args[1], 64); err != nil || secs <= 0 || secs > 60 {
			return "", fmt.Errorf("%q: give seconds in 0..60", args[1])
		}
	}
	s.Play(Tone(hz, 8000, time.Duration(secs*float64(time.Second))))
	return fmt.Sprintf("queued %.0f Hz for %.1f s", hz, secs), nil
}

func (s *Sim) cHeard(args []string) (string, error) {
	recent, total := s.Heard()
	last := recent[max(0, len(recent)-8000):]
	var sum float64
	for _, v := range last {
		sum += float64(v) * float64(v)
	}
	rms := 0.0
	if len(last) > 0 {
		rms = math.Sqrt(sum / float64(len(last)))
	}
	out := fmt.Sprintf("far end received %.2f s of voice; last second RMS %.0f", float64(total)/8000, rms)
	if len(args) > 0 {
		hz, err := strconv.ParseFloat(args[0], 64)
		if err != nil || hz <= 0 || hz >= 4000 {
			return "", fmt.Errorf("heard %q: give a frequency in Hz below 4000, e.g. heard 697", args[0])
		}
		out += fmt.Sprintf("; share at %.0f Hz %.2f", hz, toneShare(last, hz))
	}
	return out, nil
}

// toneShare is the share of the power of samples at hz (1 for a pure tone
// there), with the Goertzel algorithm over blocks of 100 ms, so a frame
// dropped or repeated on the way (which breaks a tone's phase) does not
// hide it.
func toneShare(samples []int16, hz float64) float64 {
	const block = 800
	w := 2 * math.Pi * hz / 8000
	c := 2 * math.Cos(w)
	var at, total float64
	for i := 0; i+block <= len(samples); i += block {
		var s1, s2 float64
		for _, x := range samples[i : i+block] {
			v := float64(x)
			s1, s2 = v+c*s1-s2, s1
			total += v * v
		}
		at += 2 * (s1*s1 + s2*s2 - c*s1*s2) / block
	}
	if total == 0 {
		return 0
	}
	return at / total
}

func (s *Sim) cSMS(args []string) (string, error) {
	m := s.Messages()
	if len(m) == 0 {
		return "no SMS sent", nil
	}
	var b strings.Builder
	for _, x := range m {
		fmt.Fprintf(&b, "%s to %s: %q\n", x.At.Format(time.TimeOnly), x.To, x.Text)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (s *Sim) cForwarding(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	names := []string{"unconditional", "busy", "no-reply", "not-reachable"}
	for r, n := range names {
		if f, ok := s.st.fwd[r]; ok {
			st := "inactive"
			if f.active {
				st = "active"
			}
			out = append(out, fmt.Sprintf("%s: %s to %s", n, st, f.number))
		}
	}
	if len(out) == 0 {
		return "no call forwarding set", nil
	}
	return strings.Join(out, "\n"), nil
}

func (s *Sim) cCommands(args []string) (string, error) {
	n := 20
	if len(args) == 1 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return "", fmt.Errorf("%q: give a count", args[0])
		}
	}
	c := s.Commands()
	return strings.Join(c[max(0, len(c)-n):], "\n"), nil
}

func (s *Sim) cTiming(args []string) (string, error) {
	if err := nargs(args, 2, 2); err != nil {
		return "", err
	}
	d, err := time.ParseDuration(args[1])
	if err != nil || d <= 0 || d > time.Hour {
		return "", fmt.Errorf("duration %q: give a positive duration such as 300ms", args[1])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch strings.ToLower(args[0]) {
	case "alert":
		s.o.AlertAfter = d
	case "answer":
		s.o.AnswerAfter = d
	case "noanswer":
		s.o.NoAnswerAfter = d
	case "ring":
		s.o.RingInterval = d
	default:
		return "", fmt.Errorf("%q: use alert, answer, noanswer or ring", args[0])
	}
	return fmt.Sprintf("%s after %v", strings.ToLower(args[0]), d), nil
}
