//go:build linux

package modemsim

// The simulator's AT command set as a table, read like a module's AT manual:
// one row per command, with what its action, set, read and test forms do
// (3GPP TS 27.007 section 4.1: AT+X, AT+X=..., AT+X?, AT+X=?). A form a
// row leaves out answers "operation not supported", as a module does.

import (
	"fmt"
	"strconv"
	"strings"
)

// atForm is which form of a command was given.
type atForm int

const (
	formAction atForm = iota // AT+X, or a basic command (ATA, ATE0, ATD...)
	formSet                  // AT+X=<args>
	formRead                 // AT+X?
	formTest                 // AT+X=?
)

// atCmd is one parsed command line.
type atCmd struct {
	form atForm
	arg  string // upper-cased arguments of the set form (or a basic command's tail)
	raw  string // the same, as typed (numbers and SMS addresses keep their case)
}

// atHandler answers one form of a command: information lines and the final
// result ("" for none now, ">" for the SMS prompt).
type atHandler func(s *Sim, c atCmd) (info []string, final string)

// atRow is one command of the table.
type atRow struct {
	name                    string  // "+CLIP", "^DSCI", or a basic command "A", "E0", "&F"
	variant                 Variant // "" for every variant, else only that one
	action, set, read, test atHandler
}

// atTable is the simulator's command set.
var atTable = []atRow{
	// V.250 basics.
	{name: "", action: okH()},
	{name: "E", action: echoH(false)},
	{name: "E0", action: echoH(false)},
	{name: "E1", action: echoH(true)},
	{name: "V", action: okH()},
	{name: "V1", action: okH()},
	{name: "Q0", action: okH()},
	{name: "Z", action: resetH},
	{name: "&F", action: resetH},
	{name: "I", action: func(s *Sim, _ atCmd) ([]string, string) {
		return ok("Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600E-H (critline simulator, "+string(s.o.Variant)+")", "Revision: LE20B04SIM7600M22", "IMEI: 861234050000001")
	}},
	{name: "A", action: func(s *Sim, _ atCmd) ([]string, string) { return s.answerLocked() }},
	{name: "H", action: hangupH},
	{name: "H0", action: hangupH},

	// Identification and SIM (27.007 5.x, 8.x).
	{name: "+CGMI", action: okH("SIMCOM INCORPORATED")},
	{name: "+CGMM", action: okH("SIMCOM_SIM7600E-H")},
	{name: "+CGMR", action: okH("+CGMR: LE20B04SIM7600M22")},
	{name: "+CGSN", action: okH("861234050000001")},
	{name: "+CIMI", action: okH("234150000000001")},
	{name: "+CPIN", read: okH("+CPIN: READY")},
	{name: "+CFUN", read: okH("+CFUN: 1")},
	{name: "+CMEE", set: intH(0, 2, func(st *modemState) *int { return &st.cmee })},
	{name: "+CSCS", action: okH(), set: okH()},

	// Network (27.007 7.2, 7.3, 8.5; 10.1.22 for EPS).
	{name: "+CREG", set: intH(0, 2, func(st *modemState) *int { return &st.creg }),
		read: func(s *Sim, _ atCmd) ([]string, string) { return ok(s.regLocked("+CREG", s.st.creg, true)) }},
	{name: "+CEREG", set: intH(0, 2, func(st *modemState) *int { return &st.cereg }),
		read: func(s *Sim, _ atCmd) ([]string, string) { return ok(s.regLocked("+CEREG", s.st.cereg, true)) }},
	{name: "+COPS", set: okH(), read: func(s *Sim, _ atCmd) ([]string, string) {
		if !s.st.registered {
			return ok("+COPS: 0")
		}
		return ok(fmt.Sprintf(`+COPS: 0,0,"%s",7`, s.st.operator))
	}},
	{name: "+CSQ", action: func(s *Sim, _ atCmd) ([]string, string) {
		if !s.st.cell {
			return ok("+CSQ: 99,99") // not known or not detectable
		}
		return ok(fmt.Sprintf("+CSQ: %d,99", s.st.rssi))
	}},

	// Calls (27.007 6.x, 7.6, 7.18; V.250 D).
	{name: "D", action: func(s *Sim, c atCmd) ([]string, string) {
		if !strings.HasSuffix(c.raw, ";") {
			return nil, s.errLocked(4, "operation not supported") // data calls: not simulated
		}
		return s.dialLocked(c.raw[:len(c.raw)-1])
	}},
	{name: "+CHUP", action: hangupH},
	{name: "+CLIP", set: boolH(func(st *modemState) *bool { return &st.clip }),
		read: func(s *Sim, _ atCmd) ([]string, string) { return ok(fmt.Sprintf("+CLIP: %d,1", b2i(s.st.clip))) }},
	{name: "+CLCC", action: func(s *Sim, _ atCmd) ([]string, string) {
		var lines []string
		for _, c := range s.st.calls {
			lines = append(lines, s.clccLocked(c))
		}
		return ok(lines...)
	}, set: func(s *Sim, c atCmd) ([]string, string) {
		if s.o.Variant == Generic {
			return nil, s.errLocked(4, "operation not supported") // call reports as URCs are a vendor extension
		}
		return boolH(func(st *modemState) *bool { return &st.clccURC })(s, c)
	}},
	{name: "+VTS", set: func(s *Sim, c atCmd) ([]string, string) {
		d := strings.Trim(c.arg, `"`)
		if s.findLocked(0) == nil {
			return nil, s.errLocked(3, "operation not allowed")
		}
		if d == "" || strings.Trim(d, "0123456789*#ABCD") != "" {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		s.farDigits += d
		s.echoDigitLocked(d)
		return ok()
	}},
	{name: "+CCFC", set: func(s *Sim, c atCmd) ([]string, string) { return s.ccfcLocked(c.raw) }},

	// Packet data (27.007 10.1.1, 10.1.10; see data_linux.go).
	{name: "+CGDCONT", set: cgdcontSetH, read: cgdcontReadH},
	{name: "+CGACT", set: cgactSetH, read: cgactReadH},

	// Supplementary services (27.007 7.12-7.14; see calls_linux.go).
	{name: "+CCWA", set: func(s *Sim, c atCmd) ([]string, string) { return s.ccwaLocked(c.arg) },
		read: func(s *Sim, _ atCmd) ([]string, string) { return ok(fmt.Sprintf("+CCWA: %d", b2i(s.st.ccwaURC))) },
		test: func(s *Sim, _ atCmd) ([]string, string) {
			if s.st.svc["waiting"].absent {
				return nil, s.cmeLocked(4)
			}
			return ok("+CCWA: (0,1)")
		}},
	{name: "+CHLD", set: func(s *Sim, c atCmd) ([]string, string) { return s.chldLocked(c.arg) },
		test: func(s *Sim, _ atCmd) ([]string, string) { return s.chldTestLocked() }},
	{name: "+CTFR", set: func(s *Sim, c atCmd) ([]string, string) { return s.ctfrLocked(c.raw) },
		test: func(s *Sim, _ atCmd) ([]string, string) {
			if s.st.svc["deflection"].absent {
				return nil, s.cmeLocked(4)
			}
			return ok()
		}},

	// SMS (27.005 3.2, 3.5).
	{name: "+CMGF", set: intH(0, 1, func(st *modemState) *int { return &st.cmgf })},
	{name: "+CMGS", set: func(s *Sim, c atCmd) ([]string, string) {
		if !s.st.registered {
			return nil, "+CMS ERROR: 331"
		}
		s.st.prompt, s.st.smsTo, s.st.smsText = true, strings.Trim(c.raw, `"`), nil
		return nil, ">"
	}},

	// Vendor: SIMCom SIM7600 (AT command manual V3.00).
	{name: "+DDET", variant: SIMCom, set: func(s *Sim, c atCmd) ([]string, string) {
		c.arg = strings.SplitN(c.arg, ",", 2)[0]
		return boolH(func(st *modemState) *bool { return &st.dtmfURC })(s, c)
	}},
	{name: "+CPCMREG", variant: SIMCom, set: func(s *Sim, c atCmd) ([]string, string) {
		if c.arg == "1" && len(s.st.calls) == 0 {
			return nil, s.errLocked(3, "operation not allowed")
		}
		return boolH(func(st *modemState) *bool { return &st.pcmOn })(s, c)
	}},
	{name: "+CPCMFRM", variant: SIMCom, set: func(s *Sim, c atCmd) ([]string, string) {
		if c.arg != "0" {
			return nil, s.errLocked(4, "operation not supported") // the simulator carries 8 kHz only
		}
		return ok()
	}},

	{name: "$QCRMCALL", variant: SIMCom, set: qcrmcallSetH, read: qcrmcallReadH},
	{name: "+CUSBPIDSWITCH", variant: SIMCom, set: cusbpidswitchSetH, read: cusbpidswitchReadH},

	// Vendor: Quectel EC25 (AT commands manual V2.0).
	{name: "^DSCI", variant: Quectel, set: boolH(func(st *modemState) *bool { return &st.dsci })},
	{name: "+QTONEDET", variant: Quectel, set: boolH(func(st *modemState) *bool { return &st.dtmfURC })},
	{name: "+QINDCFG", variant: Quectel, set: func(s *Sim, c atCmd) ([]string, string) {
		if strings.HasPrefix(c.arg, `"CSQ",`) {
			s.st.qind = strings.HasSuffix(c.arg, "1")
		}
		return ok()
	}},
	{name: "+QPCMV", variant: Quectel, set: func(s *Sim, c atCmd) ([]string, string) {
		c.arg = strings.SplitN(c.arg, ",", 2)[0]
		return boolH(func(st *modemState) *bool { return &st.pcmOn })(s, c)
	}},
	{name: "+QNETDEVCTL", variant: Quectel, set: qnetdevctlSetH, read: qnetdevctlReadH,
		test: okH("+QNETDEVCTL: (0,1,3),(1-16),(0,1)")},
	{name: "+QCFG", variant: Quectel, set: qcfgSetH},
}

// parseAT splits a command line (after "AT") into the command's name and
// form. Extended commands start with '+', or a vendor's '^' or '$';
// basic ones are a letter with an optional tail (D takes the rest).
func parseAT(body string) (name string, c atCmd) {
	up := strings.ToUpper(body)
	if up == "" || (up[0] != '+' && up[0] != '^' && up[0] != '$') {
		if up != "" && up[0] == 'D' {
			return "D", atCmd{form: formAction, arg: up[1:], raw: body[1:]}
		}
		return up, atCmd{form: formAction}
	}
	i := strings.IndexAny(up, "=?")
	if i < 0 {
		return up, atCmd{form: formAction}
	}
	name = up[:i]
	switch rest, raw := up[i:], body[i:]; {
	case rest == "=?":
		return name, atCmd{form: formTest}
	case rest == "?":
		return name, atCmd{form: formRead}
	case rest[0] == '=':
		return name, atCmd{form: formSet, arg: rest[1:], raw: raw[1:]}
	default: // "AT+X?junk"
		return name, atCmd{form: formSet, arg: rest, raw: raw}
	}
}

// execLocked interprets one command line: information lines and the final
// result ("" for none now, ">" for the SMS prompt).
func (s *Sim) execLocked(line string) (info []string, final string) {
	if !strings.HasPrefix(strings.ToUpper(line), "AT") {
		return nil, "ERROR"
	}
	name, c := parseAT(line[2:])
	for i := range atTable {
		row := &atTable[i]
		if row.name != name || (row.variant != "" && row.variant != s.o.Variant) {
			continue
		}
		h := [...]atHandler{formAction: row.action, formSet: row.set, formRead: row.read, formTest: row.test}[c.form]
		if h == nil {
			break
		}
		return h(s, c)
	}
	return nil, s.errLocked(4, "operation not supported")
}

func ok(lines ...string) ([]string, string) { return lines, "OK" }

// okH answers OK with fixed information lines.
func okH(lines ...string) atHandler {
	return func(*Sim, atCmd) ([]string, string) { return ok(lines...) }
}

// intH sets an integer parameter within [lo, hi].
func intH(lo, hi int, field func(*modemState) *int) atHandler {
	return func(s *Sim, c atCmd) ([]string, string) {
		n, err := strconv.Atoi(c.arg)
		if err != nil || n < lo || n > hi {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		*field(&s.st) = n
		return ok()
	}
}

// boolH sets a 0/1 parameter.
func boolH(field func(*modemState) *bool) atHandler {
	return func(s *Sim, c atCmd) ([]string, string) {
		n, err := strconv.Atoi(c.arg)
		if err != nil || n < 0 || n > 1 {
			return nil, s.errLocked(50, "incorrect parameters")
		}
		*field(&s.st) = n == 1
		return ok()
	}
}

func echoH(on bool) atHandler {
	return func(s *Sim, _ atCmd) ([]string, string) {
		if !s.st.echoStuck {
			s.st.echo = on
		}
		return ok()
	}
}

func resetH(s *Sim, _ atCmd) ([]string, string) {
	s.st = s.defaults(s.st)
	return ok()
}

// hangupH is ATH / AT+CHUP: like the modules it copies, it clears every
// call (held and waiting ones too).
func hangupH(s *Sim, _ atCmd) ([]string, string) {
	s.endAllLocked("")
	return ok()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
