package dsp

import (
	"errors"
	"fmt"
	"time"
)

// Absence is a caller-ID reason for absence: why a number or name is not
// given.
type Absence byte

// Reasons for absence (ETSI EN 300 659-3, BT SIN 227, Bellcore GR-30).
const (
	Present     Absence = 0   // the value is given
	Unavailable Absence = 'O' // out of area / not available
	Private     Absence = 'P' // withheld by the caller
)

// String names the reason.
func (a Absence) String() string {
	switch a {
	case Present:
		return "present"
	case Unavailable:
		return "unavailable"
	case Private:
		return "private"
	}
	return fmt.Sprintf("Absence(%#02x)", byte(a))
}

// Caller-ID message and parameter types.
const (
	MsgSDMF      = 0x04 // Bellcore single data message format
	MsgCallSetup = 0x80 // ETSI call set-up / Bellcore MDMF

	ParamDateTime      = 0x01 // MMDDHHMM
	ParamNumber        = 0x02 // calling line identity
	ParamCalledNumber  = 0x03
	ParamNumberAbsence = 0x04 // 'O' or 'P'
	ParamName          = 0x07
	ParamNameAbsence   = 0x08 // 'O' or 'P'
)

// Limits on field lengths (ETSI EN 300 659-3: number up to 20 digits, name
// up to 50 characters; Bellcore SDMF: number up to 10 digits). National
// profiles may send less (BT: 18 and 20; Bellcore MDMF name: 15).
const (
	MaxNumberLen     = 20
	MaxNameLen       = 50
	MaxSDMFNumberLen = 10
)

// CallerID is what a caller-ID message says about a call.
type CallerID struct {
	// Time is the call's date and time, sent as local MMDDHHMM; the zero
	// Time omits it. Parsed messages carry year 0 (the year is not sent).
	Time time.Time
	// Number is the calling number (digits, '*', '#', a leading '+'), or
	// empty with NumberAbsence saying why.
	Number        string
	NumberAbsence Absence
	// Name is the calling name (printable ASCII), or empty with NameAbsence
	// saying why.
	Name        string
	NameAbsence Absence
}

func checkAbsence(field string, v string, a Absence) error {
	switch a {
	case Present:
		return nil
	case Unavailable, Private:
		if v != "" {
			return fmt.Errorf("caller ID: %s %q and its reason for absence %q both set; set one", field, v, byte(a))
		}
		return nil
	}
	return fmt.Errorf("caller ID: %s reason for absence %#02x is not 'O' (unavailable) or 'P' (private)", field, byte(a))
}

func checkNumber(n string, maxLen int) error {
	if len(n) > maxLen {
		return fmt.Errorf("caller ID: number %q has %d characters; at most %d fit", n, len(n), maxLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if (c >= '0' && c <= '9') || c == '*' || c == '#' || (c == '+' && i == 0) {
			continue
		}
		return fmt.Errorf("caller ID: number %q: character %q at position %d is not a digit, '*', '#' or a leading '+'", n, c, i+1)
	}
	return nil
}

func checkName(n string) error {
	if len(n) > MaxNameLen {
		return fmt.Errorf("caller ID: name %q has %d characters; at most %d fit (see PrintableName)", n, len(n), MaxNameLen)
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("caller ID: name %q: byte %#02x at position %d is not printable ASCII (see PrintableName)", n, c, i+1)
		}
	}
	return nil
}

// PrintableName makes s fit a caller-ID name field: non-ASCII and control
// characters become '?' (one per character) and the result is cut to
// maxLen characters (MaxNameLen if maxLen <= 0).
func PrintableName(s string, maxLen int) string {
	if maxLen <= 0 || maxLen > MaxNameLen {
		maxLen = MaxNameLen
	}
	b := make([]byte, 0, min(len(s), maxLen))
	for _, r := range s {
		if len(b) == maxLen {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func appendDateTime(b []byte, t time.Time) []byte {
	return fmt.Appendf(b, "%02d%02d%02d%02d", int(t.Month()), t.Day(), t.Hour(), t.Minute())
}

func appendParam(b []byte, typ byte, v string) []byte {
	b = append(b, typ, byte(len(v)))
	return append(b, v...)
}

// finish fills in the length byte and appends the checksum.
func finish(b []byte) []byte {
	b[1] = byte(len(b) - 2)
	var sum byte
	for _, c := range b {
		sum += c
	}
	return append(b, -sum)
}

// MDMF builds the complete multiple data message (type 0x80: call set-up),
// as BT SIN 227, ETSI EN 300 659-3 and Bellcore MDMF send it: date/time if
// set, the number or its reason for absence, the name or its reason for
// absence, then the checksum.
func (c CallerID) MDMF() ([]byte, error) {
	if err := checkAbsence("number", c.Number, c.NumberAbsence); err != nil {
		return nil, err
	}
	if err := checkAbsence("name", c.Name, c.NameAbsence); err != nil {
		return nil, err
	}
	if err := checkNumber(c.Number, MaxNumberLen); err != nil {
		return nil, err
	}
	if err := checkName(c.Name); err != nil {
		return nil, err
	}
	b := make([]byte, 2, 2+10+2+MaxNumberLen+2+MaxNameLen+1)
	b[0] = MsgCallSetup
	if !c.Time.IsZero() {
		b = append(b, ParamDateTime, 8)
		b = appendDateTime(b, c.Time)
	}
	switch {
	case c.Number != "":
		b = appendParam(b, ParamNumber, c.Number)
	case c.NumberAbsence != Present:
		b = append(b, ParamNumberAbsence, 1, byte(c.NumberAbsence))
	}
	switch {
	case c.Name != "":
		b = appendParam(b, ParamName, c.Name)
	case c.NameAbsence != Present:
		b = append(b, ParamNameAbsence, 1, byte(c.NameAbsence))
	}
	if len(b) == 2 {
		return nil, errors.New("caller ID: nothing to send; set a time, a number or its reason for absence, or a name")
	}
	return finish(b), nil
}

// SDMF builds a Bellcore single data message (type 0x04): MMDDHHMM, then
// the number (up to 10 digits) or 'O'/'P'. It carries no name; a Name is an
// error (use MDMF). Time is required.
func (c CallerID) SDMF() ([]byte, error) {
	if c.Time.IsZero() {
		return nil, errors.New("caller ID: SDMF needs the date and time; set Time")
	}
	if c.Name != "" || c.NameAbsence != Present {
		return nil, errors.New("caller ID: SDMF cannot carry a name or its reason for absence; use MDMF")
	}
	if err := checkAbsence("number", c.Number, c.NumberAbsence); err != nil {
		return nil, err
	}
	if c.Number == "" && c.NumberAbsence == Present {
		return nil, errors.New("caller ID: SDMF needs a number or its reason for absence")
	}
	if err := checkNumber(c.Number, MaxSDMFNumberLen); err != nil {
		return nil, err
	}
	b := make([]byte, 2, 2+8+MaxSDMFNumberLen+1)
	b[0] = MsgSDMF
	b = appendDateTime(b, c.Time)
	if c.Number != "" {
		b = append(b, c.Number...)
	} else {
		b = append(b, byte(c.NumberAbsence))
	}
	return finish(b), nil
}

// ParseCallerID decodes a complete MDMF (0x80) or SDMF (0x04) message,
// checksum included. Unknown MDMF parameters are skipped.
func ParseCallerID(msg []byte) (CallerID, error) {
	var c CallerID
	if len(msg) < 3 {
		return c, fmt.Errorf("caller ID: message of %d bytes is too short (type, length and checksum are 3)", len(msg))
	}
	if n := int(msg[1]); n+3 != len(msg) {
		return c, fmt.Errorf("caller ID: length byte says %d bytes of parameters but %d are there", n, len(msg)-3)
	}
	var sum byte
	for _, b := range msg {
		sum += b
	}
	if sum != 0 {
		return c, fmt.Errorf("caller ID: checksum %#02x does not match (message sums to %#02x, not 0): corrupted", msg[len(msg)-1], sum)
	}
	body := msg[2 : len(msg)-1]
	switch msg[0] {
	case MsgSDMF:
		return parseSDMF(body)
	case MsgCallSetup:
		return parseMDMF(body)
	}
	return c, fmt.Errorf("caller ID: message type %#02x is not caller ID (0x80 MDMF call set-up or 0x04 SDMF)", msg[0])
}

func parseDateTime(v []byte) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("caller ID: date/time %q is not 8 digits MMDDHHMM", v)
	}
	var f [4]int
	for i := range 4 {
		a, b := v[2*i], v[2*i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return time.Time{}, fmt.Errorf("caller ID: date/time %q is not 8 digits MMDDHHMM", v)
		}
		f[i] = int(a-'0')*10 + int(b-'0')
	}
	if f[0] < 1 || f[0] > 12 || f[1] < 1 || f[1] > 31 || f[2] > 23 || f[3] > 59 {
		return time.Time{}, fmt.Errorf("caller ID: date/time %q is out of range (MMDDHHMM)", v)
	}
	return time.Date(0, time.Month(f[0]), f[1], f[2], f[3], 0, 0, time.UTC), nil
}

func parseAbsence(field string, v []byte) (Absence, error) {
	if len(v) == 1 && (v[0] == 'O' || v[0] == 'P') {
		return Absence(v[0]), nil
	}
	return 0, fmt.Errorf("caller ID: %s reason for absence %q is not \"O\" or \"P\"", field, v)
}

func parseSDMF(body []byte) (CallerID, error) {
	var c CallerID
	if len(body) < 9 {
		return c, fmt.Errorf("caller ID: SDMF body of %d bytes is too short (date/time is 8, then a number or 'O'/'P')", len(body))
	}
	t, err := parseDateTime(body[:8])
	if err != nil {
		return c, err
	}
	c.Time = t
	rest := body[8:]
	if len(rest) == 1 && (rest[0] == 'O' || rest[0] == 'P') {
		c.NumberAbsence = Absence(rest[0])
		return c, nil
	}
	if err := checkNumber(string(rest), 255); err != nil {
		return CallerID{}, err
	}
	c.Number = string(rest)
	return c, nil
}

func parseMDMF(body []byte) (CallerID, error) {
	var c CallerID
	var seen [256]bool
	for len(body) > 0 {
		if len(body) < 2 {
			return CallerID{}, fmt.Errorf("caller ID: parameter %#02x has no length byte", body[0])
		}
		typ, n := body[0], int(body[1])
		if n > len(body)-2 {
			return CallerID{}, fmt.Errorf("caller ID: parameter %#02x says %d bytes but only %d remain", typ, n, len(body)-2)
		}
		v := body[2 : 2+n]
		body = body[2+n:]
		if seen[typ] {
			return CallerID{}, fmt.Errorf("caller ID: parameter %#02x appears twice", typ)
		}
		seen[typ] = true
		var err error
		switch typ {
		case ParamDateTime:
			c.Time, err = parseDateTime(v)
		case ParamNumber:
			err = checkNumber(string(v), 255)
			c.Number = string(v)
		case ParamNumberAbsence:
			c.NumberAbsence, err = parseAbsence("number", v)
		case ParamName:
			c.Name = string(v)
		case ParamNameAbsence:
			c.NameAbsence, err = parseAbsence("name", v)
		}
		if err != nil {
			return CallerID{}, err
		}
	}
	if c.Number != "" && c.NumberAbsence != Present {
		return CallerID{}, errors.New("caller ID: message has both a number and a reason it is absent")
	}
	if c.Name != "" && c.NameAbsence != Present {
		return CallerID{}, errors.New("caller ID: message has both a name and a reason it is absent")
	}
	return c, nil
}
