package modem

import (
	"strconv"
	"strings"

	"github.com/critline/critline/hal"
)

// Parsers for the supplementary-service commands: +CCWA (call waiting,
// 3GPP TS 27.007 7.12), +CHLD=? (call hold and multiparty, 7.13) and the
// results of +CTFR (call deflection, 7.14), which has no information lines:
// what it says is in its final result.

// Waiting is a +CCWA report: a second call waiting during a call.
type Waiting struct {
	Number       string
	Type         int // 129 national/unknown, 145 international
	Class        int // 1 voice
	Name         string
	Presentation hal.Presentation
}

// parseCCWA parses the unsolicited report
// "+CCWA: <number>,<type>,<class>[,<alpha>][,<CLI validity>[,<subaddr>,<satype>[,<priority>]]]".
// The number is always quoted, which tells it from the answer to a query
// ("+CCWA: <status>,<class>", see parseCCWAStatus).
func parseCCWA(line string) (Waiting, error) {
	ps, err := body(line, "+CCWA:")
	if err != nil {
		return Waiting{}, err
	}
	if len(ps) < 3 {
		return Waiting{}, parseErr(line, "want at least number, type and class")
	}
	if !ps[0].quoted {
		return Waiting{}, parseErr(line, "the number is not quoted: a query answer, not a report")
	}
	var w Waiting
	w.Number = ps[0].v
	if !validNumber(w.Number, true) {
		return Waiting{}, parseErr(line, "number has characters a phone number cannot have")
	}
	if w.Type, err = optInt(line, ps, 1, "type", 0, 255, 129); err != nil {
		return Waiting{}, err
	}
	if w.Class, err = atoi(line, ps[2], "class", 1, 255); err != nil {
		return Waiting{}, err
	}
	if len(ps) > 3 {
		w.Name = ps[3].v
	}
	validity, err := optInt(line, ps, 4, "CLI validity", 0, 4, -1)
	if err != nil {
		return Waiting{}, err
	}
	switch {
	case validity == 1:
		w.Presentation = hal.PresentationWithheld
	case validity >= 2:
		w.Presentation = hal.PresentationUnavailable
	case w.Number == "":
		w.Presentation = hal.PresentationUnavailable
	}
	if w.Presentation != hal.PresentationAllowed {
		w.Number = ""
	}
	return w, nil
}

// parseCCWAStatus parses the answer to AT+CCWA=<n>,2 (query), one line per
// class: "+CCWA: <status>,<class>"; it reports whether voice (class 1) is
// covered by an active call waiting.
func parseCCWAStatus(line string) (voiceActive bool, err error) {
	ps, err := body(line, "+CCWA:")
	if err != nil {
		return false, err
	}
	if len(ps) < 1 || ps[0].quoted {
		return false, parseErr(line, "not a status answer")
	}
	st, err := atoi(line, ps[0], "status", 0, 1)
	if err != nil {
		return false, err
	}
	class, err := optInt(line, ps, 1, "class", 0, 255, 7)
	if err != nil {
		return false, err
	}
	// Status 0 with any class means "not active for any class"; status 1
	// lists the classes it is active for (1 = voice, 7 = voice+data+fax).
	return st == 1 && class&1 == 1, nil
}

// holdOps are the AT+CHLD operations a module accepts (its answer to
// AT+CHLD=?).
type holdOps struct {
	ops map[string]bool // "0", "1", "1x", "2", "2x", "3", "4", ...
}

func (h holdOps) has(op string) bool { return h.ops[op] }

// parseCHLDTest parses "+CHLD: (0,1,1x,2,2x,3,4)": a list of operations in
// parentheses (some modules leave them out), each a number with an
// optional "x" (per-call form) or a range "0-4".
func parseCHLDTest(line string) (holdOps, error) {
	if !strings.HasPrefix(line, "+CHLD:") {
		return holdOps{}, parseErr(line, "does not start with +CHLD:")
	}
	s := strings.TrimSpace(line[len("+CHLD:"):])
	if strings.HasPrefix(s, "(") {
		if !strings.HasSuffix(s, ")") {
			return holdOps{}, parseErr(line, "unclosed parenthesis")
		}
		s = s[1 : len(s)-1]
	}
	h := holdOps{ops: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if lo, hi, ok := strings.Cut(item, "-"); ok {
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b, err2 := strconv.Atoi(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || a < 0 || b > 9 || a > b {
				return holdOps{}, parseErr(line, "bad range "+strconv.Quote(item))
			}
			for n := a; n <= b; n++ {
				h.ops[strconv.Itoa(n)] = true
			}
			continue
		}
		op := strings.ToLower(item)
		n := strings.TrimSuffix(op, "x")
		if len(n) != 1 || n[0] < '0' || n[0] > '9' {
			return holdOps{}, parseErr(line, "operation "+strconv.Quote(item)+" is not n or nx with n a digit")
		}
		h.ops[op] = true
	}
	if len(h.ops) == 0 {
		return holdOps{}, parseErr(line, "no operations listed")
	}
	return h, nil
}

// serviceOutcome is what a refusal of a supplementary-service command means.
type serviceOutcome int

const (
	// outcomeRefused: the network (or the module) will not do it: the
	// service is marked refused until the registration changes.
	outcomeRefused serviceOutcome = iota + 1
	// outcomeTransient: no network or no answer from it just now: fall back
	// for this call only.
	outcomeTransient
	// outcomeBadTarget: the number to deflect or transfer to was refused;
	// the service itself works.
	outcomeBadTarget
	// outcomeNotNow: the call was not in a state the operation applies to
	// (it ended meanwhile, or the network saw it otherwise).
	outcomeNotNow
)

func (o serviceOutcome) String() string {
	switch o {
	case outcomeRefused:
		return "refused"
	case outcomeTransient:
		return "transient"
	case outcomeBadTarget:
		return "bad-target"
	case outcomeNotNow:
		return "not-now"
	}
	return "unknown"
}

// cmeByText maps the verbose texts (AT+CMEE=2) of the codes that decide an
// outcome to their numbers; both 27.007 wording and the common vendor
// variants are listed.
var cmeByText = map[string]int{
	"phone failure": 0, "operation not allowed": 3, "operation not supported": 4,
	"no network service": 30, "network timeout": 31, "network not allowed - emergency calls only": 32,
	"network not allowed, emergency calls only": 32, "unknown": 100, "unknown error": 100,
	"network rejected request": 257, "network rejected supserv request": 257, "retry operation": 258,
	"invalid deflected to number": 259, "deflected to own number": 260, "unknown subscriber": 261,
	"service not available": 262, "service not in use": 262, "unknown class specified": 263, "unknown class": 263,
	"unknown network message": 264, "service option not supported": 132,
	"requested service option not subscribed": 133, "service option temporarily out of order": 134,
}

// classifyServiceFinal says what the final result of a supplementary-service
// command (+CTFR, +CHLD, +CCWA) means. code is the +CME ERROR number (-1
// when the module gave an unknown text, 0 for a bare ERROR).
func classifyServiceFinal(final string) (o serviceOutcome, code int, text string) {
	final = strings.TrimSpace(final)
	switch {
	case final == "ERROR":
		// A bare ERROR (numeric reports off, or a module that says nothing
		// more): the module or the network will not do it.
		return outcomeRefused, 0, "ERROR"
	case strings.HasPrefix(final, "+CME ERROR:"):
	default:
		// NO CARRIER, BUSY...: the call went away under the command.
		return outcomeNotNow, 0, final
	}
	code, text, err := parseCMEError(final)
	if err != nil {
		return outcomeRefused, 0, final
	}
	if code < 0 {
		if n, ok := cmeByText[strings.ToLower(strings.TrimSpace(text))]; ok {
			code = n
		}
	} else if t, ok := cmeText[code]; ok && text == "" {
		text = t
	}
	switch code {
	case 30, 31, 258, 14, 134:
		return outcomeTransient, code, text
	case 259, 260, 261:
		return outcomeBadTarget, code, text
	case 32:
		// Only emergency calls are allowed: the service is not there now;
		// the registration change that ends this resets it.
		return outcomeTransient, code, text
	}
	return outcomeRefused, code, text
}
