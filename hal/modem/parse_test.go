package modem

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/critline/critline/hal"
)

func feedAll(chunks ...string) []string {
	var lr lineReader
	var out []string
	for _, c := range chunks {
		lr.Feed([]byte(c), func(s string) { out = append(out, s) })
	}
	return out
}

func TestLineReader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"crlf", []string{"\r\nOK\r\n"}, []string{"OK"}},
		{"lf only", []string{"+CSQ: 1,2\nOK\n"}, []string{"+CSQ: 1,2", "OK"}},
		{"cr only", []string{"RING\r+CLIP: \"1\",129\r"}, []string{"RING", `+CLIP: "1",129`}},
		{"lfcr", []string{"OK\n\r"}, []string{"OK"}},
		{"partial", []string{"+CS", "Q: 2", "0,99\r", "\nO", "K\r\n"}, []string{"+CSQ: 20,99", "OK"}},
		{"echo", []string{"AT+CSQ\r\r\n+CSQ: 9,9\r\n\r\nOK\r\n"}, []string{"AT+CSQ", "+CSQ: 9,9", "OK"}},
		{"control bytes", []string{"\x00\x01O\x00K\x07\r\n"}, []string{"OK"}},
		{"invalid utf8", []string{"\xff\xfeRING\r\n"}, []string{"RING"}},
		{"garbage then urc", []string{"#$%&RING\r\n"}, []string{"RING"}},
		{"garbage then prefixed", []string{`zz+CLIP: "1",129` + "\r\n"}, []string{`+CLIP: "1",129`}},
		{"word ending like a result stays", []string{"SPRING\r\n"}, []string{"SPRING"}},
		{"sms prompt", []string{"\r\n> "}, []string{">"}},
		{"sms prompt split", []string{"\r\n>", " "}, []string{">"}},
		{"operator name utf8", []string{"+COPS: 0,0,\"Tëlé\",7\r\n"}, []string{"+COPS: 0,0,\"Tëlé\",7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := feedAll(tc.chunks...); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
	long := strings.Repeat("x", 5000) + "\r\nOK\r\n"
	got := feedAll(long)
	if len(got) != 2 || len(got[0]) != maxLine || got[1] != "OK" {
		t.Fatalf("long line: %d lines", len(got))
	}
}

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"\r\nOK\r\n", "RING\r\n+CLIP: \"07700\",129,,,,0\r\n", "\xff\x00#RING\n\r", "\r\n> ", "AT\rOK\n", strings.Repeat("A", 2000)} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		// The same bytes in one read or in chunks give the same lines,
		// except for the prompt (which depends on where reads end).
		one := feedAll(string(b))
		var chunks []string
		n := int(split%16) + 1
		for i := 0; i < len(b); i += n {
			chunks = append(chunks, string(b[i:min(len(b), i+n)]))
		}
		many := feedAll(chunks...)
		strip := func(ls []string) []string {
			return slices.DeleteFunc(slices.Clone(ls), func(s string) bool { return s == ">" })
		}
		if !slices.Equal(strip(one), strip(many)) && !strings.Contains(string(b), ">") {
			t.Fatalf("chunking changed lines: %q vs %q", one, many)
		}
		for _, l := range one {
			if l == "" || len(l) > maxLine*4 || !utf8.ValidString(l) || strings.ContainsAny(l, "\r\n\x00") {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}

func TestParseCLIP(t *testing.T) {
	for _, tc := range []struct {
		line string
		want CallerID
		err  bool
	}{
		{`+CLIP: "07700900123",129,"",0,"",0`, CallerID{Number: "07700900123", Type: 129}, false},
		{`+CLIP: "+441865270000",145,,,"Porters Lodge",0`, CallerID{Number: "+441865270000", Type: 145, Name: "Porters Lodge"}, false},
		{`+CLIP: "07700900123",129`, CallerID{Number: "07700900123", Type: 129}, false},
		{`+CLIP: "",128,"",0,"",1`, CallerID{Type: 128, Presentation: hal.PresentationWithheld}, false},
		{`+CLIP: "",128,"",0,"",2`, CallerID{Type: 128, Presentation: hal.PresentationUnavailable}, false},
		{`+CLIP: "",129`, CallerID{Type: 129, Presentation: hal.PresentationUnavailable}, false},
		{`+CLIP: "0123",129,"",0,"",1`, CallerID{Type: 129, Presentation: hal.PresentationWithheld}, false},
		{`+CLIP: "0123"`, CallerID{}, true},
		{`+CLIP: "01;23",129`, CallerID{}, true},
		{`+CLIP: "0123",abc`, CallerID{}, true},
		{`+CLIP: "0123,129`, CallerID{}, true},
		{`+CLIP: "0123",129,"",0,"",9`, CallerID{}, true},
		{`+CLCC: 1`, CallerID{}, true},
	} {
		got, err := parseCLIP(tc.line)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("%s: got %+v, %v", tc.line, got, err)
		}
		if err != nil && !errors.Is(err, ErrParse) {
			t.Errorf("%s: error %v does not wrap ErrParse", tc.line, err)
		}
	}
}

func TestParseCLCCAndDSCI(t *testing.T) {
	e, err := parseCLCC(`+CLCC: 1,0,3,0,0,"+447700900123",145,""`)
	if err != nil || e != (CallEntry{ID: 1, Stat: 3, Number: "+447700900123", Type: 145}) {
		t.Fatalf("%+v %v", e, err)
	}
	e, err = parseCLCC(`+CLCC: 2,1,4,0,0`)
	if err != nil || e != (CallEntry{ID: 2, Incoming: true, Stat: 4}) {
		t.Fatalf("%+v %v", e, err)
	}
	e, err = parseDSCI(`^DSCI: 1,1,4,0,07700900123,129`)
	if err != nil || e != (CallEntry{ID: 1, Incoming: true, Stat: 4, Number: "07700900123", Type: 129}) {
		t.Fatalf("%+v %v", e, err)
	}
	for _, bad := range []string{`+CLCC: 1,0,3`, `+CLCC: 1,2,3,0,0`, `+CLCC: x,0,3,0,0`, `+CLCC: 1,0,9,0,0`, `+CLCC: 1,0,0,0,0,"12a;"`, `^DSCI: 1,0`} {
		if _, err := parseCLCC(bad); err == nil {
			if _, err := parseDSCI(bad); err == nil {
				t.Errorf("%s accepted", bad)
			}
		}
	}
}

func TestParseReg(t *testing.T) {
	for _, tc := range []struct {
		line, prefix string
		want         Registration
	}{
		{"+CREG: 1", "+CREG:", Registration{Stat: 1, AcT: -1}},
		{"+CREG: 0,5", "+CREG:", Registration{Stat: 5, AcT: -1}},
		{`+CREG: 2,1,"1A2B","01C3D4E5"`, "+CREG:", Registration{Stat: 1, LAC: "1A2B", CI: "01C3D4E5", AcT: -1}},
		{`+CREG: 1,"1A2B","01C3D4E5",7`, "+CREG:", Registration{Stat: 1, LAC: "1A2B", CI: "01C3D4E5", AcT: 7}},
		{`+CEREG: 2,1,"1A2B","01C3D4E5",7`, "+CEREG:", Registration{Stat: 1, LAC: "1A2B", CI: "01C3D4E5", AcT: 7}},
		{"+CEREG: 0,2", "+CEREG:", Registration{Stat: 2, AcT: -1}},
	} {
		got, err := parseReg(tc.line, tc.prefix)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v", tc.line, got, err)
		}
	}
	if r, _ := parseReg("+CREG: 5", "+CREG:"); !r.Registered() {
		t.Error("roaming is registered")
	}
	for _, bad := range []string{"+CREG:", "+CREG: x", `+CREG: 1,"zz","01"`, "+CREG: 9,1", "+CREG: 1,99", "+CSQ: 1"} {
		if _, err := parseReg(bad, "+CREG:"); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCSQ(t *testing.T) {
	rssi, ber, err := parseCSQ("+CSQ: 20,99")
	if err != nil || rssi != 20 || ber != 99 {
		t.Fatal(rssi, ber, err)
	}
	for rssi, want := range map[int]float64{0: -113, 1: -111, 20: -73, 31: -51, 100: -116, 191: -25} {
		if d, ok := CSQToDBm(rssi); !ok || d != want {
			t.Errorf("CSQToDBm(%d) = %v %v", rssi, d, ok)
		}
	}
	if _, ok := CSQToDBm(99); ok {
		t.Error("99 is unknown")
	}
	for _, d := range []float64{-113, -91, -73, -51} {
		if got, _ := CSQToDBm(DBmToCSQ(d)); got != d {
			t.Errorf("round trip %v -> %v", d, got)
		}
	}
	for _, bad := range []string{"+CSQ: 20", "+CSQ: a,b", "+CSQ: -1,0", "+CSQ: 20,99,1", "+CSQ:"} {
		if _, _, err := parseCSQ(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCCFC(t *testing.T) {
	f, err := parseCCFC(`+CCFC: 1,1,"+447700900555",145,,,20`)
	if err != nil || f != (Forwarding{Active: true, Class: 1, Number: "+447700900555", Type: 145, Seconds: 20}) {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = parseCCFC(`+CCFC: 0,7`)
	if err != nil || f != (Forwarding{Class: 7}) {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range []string{`+CCFC: 2,1`, `+CCFC: 1`, `+CCFC: 1,1,"x!"`, `+CCFC: 1,1,"1",145,,,99`} {
		if _, err := parseCCFC(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestParseCMEError(t *testing.T) {
	c, txt, err := parseCMEError("+CME ERROR: 30")
	if err != nil || c != 30 || txt != "no network service" {
		t.Fatal(c, txt, err)
	}
	c, txt, err = parseCMEError("+CME ERROR: SIM not inserted")
	if err != nil || c != -1 || txt != "SIM not inserted" {
		t.Fatal(c, txt, err)
	}
	c, _, err = parseCMEError("+CMS ERROR: 331")
	if err != nil || c != 331 {
		t.Fatal(c, err)
	}
	for _, bad := range []string{"+CME ERROR:", "+CME ERROR: 99999999", "ERROR"} {
		if _, _, err := parseCMEError(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	ae := &ATError{Cmd: "ATD1;", Final: "BUSY"}
	if !errors.Is(ae, hal.ErrBusy) {
		t.Error("BUSY does not unwrap to hal.ErrBusy")
	}
}

func TestParseMisc(t *testing.T) {
	for line, want := range map[string]rune{"+RXDTMF: 5": '5', "+DTMF: #,0": '#', "+QTONEDET: 42": '*', "+QTONEDET: 65": 'A'} {
		if d, err := parseDTMF(line); err != nil || d != want {
			t.Errorf("%s: %q %v", line, d, err)
		}
	}
	for _, bad := range []string{"+RXDTMF: x", "+RXDTMF: 55", "+QTONEDET: 5", "+FOO: 1"} {
		if _, err := parseDTMF(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if op, err := parseCOPS(`+COPS: 0,0,"Vodafone UK",7`); err != nil || op != "Vodafone UK" {
		t.Error(op, err)
	}
	if op, err := parseCOPS(`+COPS: 0`); err != nil || op != "" {
		t.Error(op, err)
	}
	if r, ok, err := parseQINDCSQ(`+QIND: "csq",25,99`); err != nil || !ok || r != 25 {
		t.Error(r, ok, err)
	}
	if _, ok, err := parseQINDCSQ(`+QIND: SMS DONE`); err != nil || ok {
		t.Error(ok, err)
	}
}

// fuzzParser checks that a parser never panics, and that whatever it
// accepts is sane.
func fuzzParser(f *testing.F, seeds []string, check func(t *testing.T, line string)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(check)
}

func FuzzParseCLIP(f *testing.F) {
	fuzzParser(f, []string{`+CLIP: "07700900123",129,"",0,"",0`, `+CLIP: "",128,,,,1`, `+CLIP: "1",145,"",,"Name",0`, `+CLIP: "`},
		func(t *testing.T, line string) {
			c, err := parseCLIP(line)
			if err == nil && (!validNumber(c.Number, true) || (c.Presentation != hal.PresentationAllowed && c.Number != "")) {
				t.Fatalf("accepted %q as %+v", line, c)
			}
		})
}

func FuzzParseCLCC(f *testing.F) {
	fuzzParser(f, []string{`+CLCC: 1,0,3,0,0,"+447700900123",145,""`, `+CLCC: 1,1,4,0,0`, `^DSCI: 1,1,4,0,0123,129`},
		func(t *testing.T, line string) {
			for _, p := range []func(string) (CallEntry, error){parseCLCC, parseDSCI} {
				e, err := p(line)
				if err == nil && (e.Stat < 0 || e.Stat > 7 || !validNumber(e.Number, true)) {
					t.Fatalf("accepted %q as %+v", line, e)
				}
			}
		})
}

func FuzzParseCREG(f *testing.F) {
	fuzzParser(f, []string{"+CREG: 1", `+CREG: 2,1,"1A2B","01C3D4E5"`, `+CEREG: 1,"1A2B","01C3D4E5",7`, "+CGREG: 0,2"},
		func(t *testing.T, line string) {
			for _, p := range []string{"+CREG:", "+CEREG:", "+CGREG:"} {
				r, err := parseReg(line, p)
				if err == nil && (r.Stat < 0 || r.Stat > 11 || !isHex(r.LAC) || !isHex(r.CI)) {
					t.Fatalf("accepted %q as %+v", line, r)
				}
			}
		})
}

func FuzzParseCSQ(f *testing.F) {
	fuzzParser(f, []string{"+CSQ: 20,99", "+CSQ: 99,99", "+CSQ: 0,0", "+CSQ: 150,99"},
		func(t *testing.T, line string) {
			rssi, _, err := parseCSQ(line)
			if err != nil {
				return
			}
			if d, ok := CSQToDBm(rssi); ok && (d < -116 || d > -25) {
				t.Fatalf("%q gave %v dBm", line, d)
			}
		})
}

func FuzzParseCCFC(f *testing.F) {
	fuzzParser(f, []string{`+CCFC: 1,1,"+447700900555",145,,,20`, `+CCFC: 0,7`, `+CCFC: 1,1,"0123",129`},
		func(t *testing.T, line string) {
			c, err := parseCCFC(line)
			if err == nil && (!validNumber(c.Number, true) || c.Seconds < 0 || c.Seconds > 30) {
				t.Fatalf("accepted %q as %+v", line, c)
			}
		})
}

func FuzzParseCMEError(f *testing.F) {
	fuzzParser(f, []string{"+CME ERROR: 30", "+CME ERROR: SIM not inserted", "+CMS ERROR: 331", "+CME ERROR:"},
		func(t *testing.T, line string) {
			code, text, err := parseCMEError(line)
			if err == nil && code == -1 && text == "" {
				t.Fatalf("accepted %q with neither code nor text", line)
			}
		})
}

func FuzzParseReports(f *testing.F) {
	fuzzParser(f, []string{"+RXDTMF: 5", "+QTONEDET: 49", "+DTMF: 1,0", `+COPS: 0,0,"x",7`, `+QIND: "csq",20,99`},
		func(t *testing.T, line string) {
			if d, err := parseDTMF(line); err == nil && !strings.ContainsRune("0123456789*#ABCD", d) {
				t.Fatalf("DTMF %q from %q", d, line)
			}
			parseCOPS(line)
			parseQINDCSQ(line)
		})
}

// FuzzRouting feeds arbitrary modem output through the line reader and the
// engine's router with a command in flight: nothing panics, reports reach
// the report handler only when they are reports, and the command gets at
// most one final result.
func FuzzRouting(f *testing.F) {
	for _, s := range []string{
		"\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
		"AT+CSQ\r\r\nRING\r\n+CSQ: 1,1\r\n+CLIP: \"1\",129\r\nERROR\r\n",
		"\r\nNO CARRIER\r\n\r\nBUSY\r\n> \x00\xff",
		"+CME ERROR: 10\r\nOK\r\nOK\r\n",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, call bool) {
		var reports []string
		e := &engine{log: quietLog(), wq: make(chan []byte, 16), onURC: func(l string) { reports = append(reports, l) }}
		r := &request{cmd: "AT+CSQ", call: call, prefixes: []string{"+CSQ:"}, done: make(chan Response, 2)}
		e.cur = r
		var lr lineReader
		lr.Feed(b, e.line)
		for _, l := range reports {
			if !isURC(l) && !isCallFinal(l) {
				t.Fatalf("%q routed as a report", l)
			}
		}
		if len(r.done) > 1 {
			t.Fatal("two final results for one command")
		}
	})
}
