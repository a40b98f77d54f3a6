package modem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/critline/critline/hal"
)

// ErrParse is wrapped by every parser error: a line from the modem that is
// not what 3GPP TS 27.007 (or the vendor's manual) says it should be.
var ErrParse = errors.New("malformed modem report")

func parseErr(line, why string) error {
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return fmt.Errorf("%w: %q: %s", ErrParse, line, why)
}

// param is one comma-separated parameter of a report.
type param struct {
	v      string
	quoted bool
}

// splitParams splits the parameters after "PREFIX:" at commas outside
// double quotes, trimming spaces and removing the quotes.
func splitParams(s string) ([]param, error) {
	var out []param
	var cur strings.Builder
	quoted, inQ := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if !inQ && strings.TrimSpace(cur.String()) != "" {
				return nil, errors.New("quote in the middle of a parameter")
			}
			inQ = !inQ
			quoted = true
		case c == ',' && !inQ:
			v := cur.String()
			if !quoted {
				v = strings.TrimSpace(v)
			}
			out = append(out, param{v, quoted})
			cur.Reset()
			quoted = false
		default:
			if !inQ && quoted && c != ' ' {
				return nil, errors.New("text after a closing quote")
			}
			if inQ || c != ' ' || cur.Len() > 0 {
				cur.WriteByte(c)
			}
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote")
	}
	v := cur.String()
	if !quoted {
		v = strings.TrimSpace(v)
	}
	return append(out, param{v, quoted}), nil
}

// body returns the text after prefix (e.g. "+CSQ:") and its parameters.
func body(line, prefix string) ([]param, error) {
	if !strings.HasPrefix(line, prefix) {
		return nil, parseErr(line, "does not start with "+prefix)
	}
	ps, err := splitParams(strings.TrimSpace(line[len(prefix):]))
	if err != nil {
		return nil, parseErr(line, err.Error())
	}
	return ps, nil
}

func atoi(line string, p param, what string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(p.v)
	if err != nil || n < lo || n > hi {
		return 0, parseErr(line, fmt.Sprintf("%s %q is not a number in %d..%d", what, p.v, lo, hi))
	}
	return n, nil
}

// optInt parses an optional integer parameter; empty gives def.
func optInt(line string, ps []param, i int, what string, lo, hi, def int) (int, error) {
	if i >= len(ps) || ps[i].v == "" {
		return def, nil
	}
	return atoi(line, ps[i], what, lo, hi)
}

// CallerID is a +CLIP report: who is calling.
type CallerID struct {
	Number       string
	Type         int // 129 national/unknown, 145 international
	Name         string
	Presentation hal.Presentation
}

// parseCLIP parses "+CLIP: <number>,<type>[,<subaddr>,<satype>[,<alpha>[,<CLI validity>]]]".
func parseCLIP(line string) (CallerID, error) {
	ps, err := body(line, "+CLIP:")
	if err != nil {
		return CallerID{}, err
	}
	if len(ps) < 2 {
		return CallerID{}, parseErr(line, "want at least number and type")
	}
	var c CallerID
	c.Number = ps[0].v
	if !validNumber(c.Number, true) {
		return CallerID{}, parseErr(line, "number has characters a phone number cannot have")
	}
	if c.Type, err = optInt(line, ps, 1, "type", 0, 255, 129); err != nil {
		return CallerID{}, err
	}
	if len(ps) > 4 {
		c.Name = ps[4].v
	}
	validity, err := optInt(line, ps, 5, "CLI validity", 0, 4, -1)
	if err != nil {
		return CallerID{}, err
	}
	switch {
	case validity == 1:
		c.Presentation = hal.PresentationWithheld
	case validity >= 2:
		c.Presentation = hal.PresentationUnavailable
	case validity == 0 && c.Number != "":
		c.Presentation = hal.PresentationAllowed
	case c.Number == "":
		c.Presentation = hal.PresentationUnavailable
	}
	if c.Presentation != hal.PresentationAllowed {
		c.Number = ""
	}
	return c, nil
}

// validNumber reports whether s can be a dialled or presented number.
func validNumber(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	if len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && c != '+' && c != '*' && c != '#' && !(c >= 'A' && c <= 'D') && !(c >= 'a' && c <= 'd') {
			return false
		}
	}
	return true
}

// Call states of +CLCC (and ^DSCI), 3GPP TS 27.007 7.18.
const (
	clccActive     = 0
	clccHeld       = 1
	clccDialing    = 2
	clccAlerting   = 3
	clccIncoming   = 4
	clccWaiting    = 5
	clccDisconnect = 6 // SIMCom/Quectel report a call ending with stat 6
)

// CallEntry is one line of a +CLCC listing or report.
type CallEntry struct {
	ID       int
	Incoming bool // dir 1 = mobile terminated
	Stat     int
	Mode     int // 0 voice
	Number   string
	Type     int
}

// parseCLCC parses "+CLCC: <id>,<dir>,<stat>,<mode>,<mpty>[,<number>,<type>[,<alpha>]]".
func parseCLCC(line string) (CallEntry, error) {
	ps, err := body(line, "+CLCC:")
	if err != nil {
		return CallEntry{}, err
	}
	if len(ps) < 5 {
		return CallEntry{}, parseErr(line, "want at least id, dir, stat, mode and mpty")
	}
	return callEntry(line, ps, 5, 6)
}

// parseDSCI parses Quectel's call status report
// "^DSCI: <id>,<dir>,<stat>,<type>,<number>,<num_type>[,<tone>]".
func parseDSCI(line string) (CallEntry, error) {
	ps, err := body(line, "^DSCI:")
	if err != nil {
		return CallEntry{}, err
	}
	if len(ps) < 4 {
		return CallEntry{}, parseErr(line, "want at least id, dir, stat and type")
	}
	return callEntry(line, ps, 4, 5)
}

func callEntry(line string, ps []param, numAt, typeAt int) (CallEntry, error) {
	var e CallEntry
	var err error
	if e.ID, err = atoi(line, ps[0], "call id", 0, 99); err != nil {
		return e, err
	}
	dir, err := atoi(line, ps[1], "direction", 0, 1)
	if err != nil {
		return e, err
	}
	e.Incoming = dir == 1
	if e.Stat, err = atoi(line, ps[2], "call state", 0, 7); err != nil {
		return e, err
	}
	if e.Mode, err = atoi(line, ps[3], "mode", 0, 9); err != nil {
		return e, err
	}
	if numAt < len(ps) {
		e.Number = ps[numAt].v
		if !validNumber(e.Number, true) {
			return e, parseErr(line, "number has characters a phone number cannot have")
		}
	}
	if e.Type, err = optInt(line, ps, typeAt, "number type", 0, 255, 0); err != nil {
		return e, err
	}
	return e, nil
}

// Registration is a +CREG/+CEREG/+CGREG report or query answer.
type Registration struct {
	Stat int    // 0 not, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
	LAC  string // location or tracking area code, hex, when reported
	CI   string // cell id, hex, when reported
	AcT  int    // access technology, -1 when not reported
}

// Registered reports home or roaming registration.
func (r Registration) Registered() bool { return r.Stat == 1 || r.Stat == 5 }

// parseReg parses a registration line for prefix "+CREG:", "+CEREG:" or
// "+CGREG:". An unsolicited report is "<stat>[,<lac>,<ci>[,<AcT>]]"; the
// answer to a query has <n> first. The two are told apart by the location
// fields, which are always quoted.
func parseReg(line, prefix string) (Registration, error) {
	ps, err := body(line, prefix)
	if err != nil {
		return Registration{}, err
	}
	if len(ps) == 0 || ps[0].v == "" {
		return Registration{}, parseErr(line, "no registration state")
	}
	r := Registration{AcT: -1}
	i := 0
	if len(ps) >= 2 && !ps[1].quoted {
		i = 1 // query answer: <n>,<stat>,...
		if _, err := atoi(line, ps[0], "report mode", 0, 5); err != nil {
			return r, err
		}
	}
	if r.Stat, err = atoi(line, ps[i], "registration state", 0, 11); err != nil {
		return r, err
	}
	if len(ps) > i+2 {
		r.LAC, r.CI = ps[i+1].v, ps[i+2].v
		if !isHex(r.LAC) || !isHex(r.CI) {
			return r, parseErr(line, "location area and cell id must be hex")
		}
	}
	if r.AcT, err = optInt(line, ps, i+3, "access technology", 0, 15, -1); err != nil {
		return r, err
	}
	return r, nil
}

func isHex(s string) bool {
	if len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// parseCSQ parses "+CSQ: <rssi>,<ber>".
func parseCSQ(line string) (rssi, ber int, err error) {
	ps, err := body(line, "+CSQ:")
	if err != nil {
		return 0, 0, err
	}
	if len(ps) != 2 {
		return 0, 0, parseErr(line, "want rssi and ber")
	}
	if rssi, err = atoi(line, ps[0], "rssi", 0, 199); err != nil {
		return 0, 0, err
	}
	if ber, err = atoi(line, ps[1], "ber", 0, 99); err != nil {
		return 0, 0, err
	}
	return rssi, ber, nil
}

// CSQToDBm converts a +CSQ rssi to dBm: 0 is -113 dBm or less, 31 is -51
// dBm or more, 99 (and anything else out of range) is unknown (ok false).
// TD-SCDMA modules report 100..191 for -116..-25 dBm.
func CSQToDBm(rssi int) (dbm float64, ok bool) {
	switch {
	case rssi >= 0 && rssi <= 31:
		return float64(-113 + 2*rssi), true
	case rssi >= 100 && rssi <= 191:
		return float64(-216 + rssi), true
	}
	return 0, false
}

// DBmToCSQ is the inverse of CSQToDBm for -113..-51 dBm.
func DBmToCSQ(dbm float64) int {
	r := int((dbm + 113 + 1) / 2)
	return max(0, min(31, r))
}

// ForwardReason is the condition of a network call forward (+CCFC <reason>).
type ForwardReason int

const (
	ForwardUnconditional  ForwardReason = 0
	ForwardBusy           ForwardReason = 1
	ForwardNoReply        ForwardReason = 2
	ForwardNotReachable   ForwardReason = 3
	ForwardAll            ForwardReason = 4 // set/clear only
	ForwardAllConditional ForwardReason = 5 // set/clear only
)

func (r ForwardReason) String() string {
	switch r {
	case ForwardUnconditional:
		return "unconditional"
	case ForwardBusy:
		return "busy"
	case ForwardNoReply:
		return "no-reply"
	case ForwardNotReachable:
		return "not-reachable"
	case ForwardAll:
		return "all"
	case ForwardAllConditional:
		return "all-conditional"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Forwarding is one line of a +CCFC query answer.
type Forwarding struct {
	Active  bool
	Class   int // 1 voice
	Number  string
	Type    int
	Seconds int // no-reply time, 0 when not given
}

// parseCCFC parses "+CCFC: <status>,<class>[,<number>,<type>[,<subaddr>,<satype>[,<time>]]]".
func parseCCFC(line string) (Forwarding, error) {
	ps, err := body(line, "+CCFC:")
	if err != nil {
		return Forwarding{}, err
	}
	if len(ps) < 2 {
		return Forwarding{}, parseErr(line, "want status and class")
	}
	var f Forwarding
	st, err := atoi(line, ps[0], "status", 0, 1)
	if err != nil {
		return f, err
	}
	f.Active = st == 1
	if f.Class, err = atoi(line, ps[1], "class", 0, 255); err != nil {
		return f, err
	}
	if len(ps) > 2 {
		f.Number = ps[2].v
		if !validNumber(f.Number, true) {
			return f, parseErr(line, "number has characters a phone number cannot have")
		}
	}
	if f.Type, err = optInt(line, ps, 3, "number type", 0, 255, 0); err != nil {
		return f, err
	}
	if f.Seconds, err = optInt(line, ps, 6, "time", 0, 30, 0); err != nil {
		return f, err
	}
	return f, nil
}

// cmeText names the commonest +CME ERROR codes (3GPP TS 27.007 9.2).
var cmeText = map[int]string{
	0: "phone failure", 3: "operation not allowed", 4: "operation not supported",
	10: "SIM not inserted", 11: "SIM PIN required", 13: "SIM failure", 14: "SIM busy",
	16: "incorrect password", 20: "memory full", 30: "no network service",
	31: "network timeout", 32: "network not allowed - emergency calls only", 100: "unknown",
	132: "service option not supported", 133: "requested service option not subscribed",
	134: "service option temporarily out of order",
	// Supplementary services (27.007 9.2.1).
	257: "network rejected request", 258: "retry operation", 259: "invalid deflected to number",
	260: "deflected to own number", 261: "unknown subscriber", 262: "service not available",
	263: "unknown class specified", 264: "unknown network message",
}

// parseCMEError parses "+CME ERROR: <code or text>" (or +CMS ERROR).
func parseCMEError(line string) (code int, text string, err error) {
	prefix := "+CME ERROR:"
	if strings.HasPrefix(line, "+CMS ERROR:") {
		prefix = "+CMS ERROR:"
	}
	if !strings.HasPrefix(line, prefix) {
		return 0, "", parseErr(line, "not an extended error")
	}
	rest := strings.TrimSpace(line[len(prefix):])
	if rest == "" {
		return 0, "", parseErr(line, "no error code")
	}
	if n, err := strconv.Atoi(rest); err == nil {
		if n < 0 || n > 65535 {
			return 0, "", parseErr(line, "error code out of range")
		}
		if prefix == "+CME ERROR:" {
			return n, cmeText[n], nil
		}
		return n, "", nil
	}
	return -1, rest, nil
}

// parseCOPS returns the operator name of "+COPS: <mode>[,<format>,<oper>[,<AcT>]]".
func parseCOPS(line string) (string, error) {
	ps, err := body(line, "+COPS:")
	if err != nil {
		return "", err
	}
	if _, err := atoi(line, ps[0], "mode", 0, 4); err != nil {
		return "", err
	}
	if len(ps) < 3 {
		return "", nil // not registered: no operator
	}
	return ps[2].v, nil
}

// parseDTMF parses a received-DTMF report: SIMCom "+RXDTMF: 5", Quectel
// "+QTONEDET: 53" (ASCII code), generic "+DTMF: 5".
func parseDTMF(line string) (rune, error) {
	var v string
	switch {
	case strings.HasPrefix(line, "+RXDTMF:"):
		v = strings.TrimSpace(line[len("+RXDTMF:"):])
	case strings.HasPrefix(line, "+DTMF:"):
		v = strings.TrimSpace(line[len("+DTMF:"):])
		if i := strings.IndexByte(v, ','); i >= 0 {
			v = v[:i]
		}
	case strings.HasPrefix(line, "+QTONEDET:"):
		n, err := strconv.Atoi(strings.TrimSpace(line[len("+QTONEDET:"):]))
		if err != nil || n < 32 || n > 126 {
			return 0, parseErr(line, "want the digit's ASCII code")
		}
		v = string(rune(n))
	default:
		return 0, parseErr(line, "not a DTMF report")
	}
	v = strings.Trim(v, `" `)
	if len(v) != 1 || strings.IndexByte("0123456789*#ABCD", v[0]) < 0 {
		return 0, parseErr(line, "not a DTMF digit (0-9 * # A-D)")
	}
	return rune(v[0]), nil
}

// parseQINDCSQ parses Quectel's signal report `+QIND: "csq",<rssi>,<ber>`;
// ok is false for the other +QIND reports.
func parseQINDCSQ(line string) (rssi int, ok bool, err error) {
	ps, err := body(line, "+QIND:")
	if err != nil {
		return 0, false, err
	}
	if len(ps) < 2 || !strings.EqualFold(ps[0].v, "csq") {
		return 0, false, nil
	}
	rssi, err = atoi(line, ps[1], "rssi", 0, 199)
	if err != nil {
		return 0, false, err
	}
	return rssi, true, nil
}
