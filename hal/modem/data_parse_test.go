package modem

import (
	"strings"
	"testing"
)

func TestParseDataReports(t *testing.T) {
	for _, c := range []struct {
		l    string
		cid  int
		want bool
		err  bool
	}{
		{"+QNETDEVCTL: 1,1,1,1", 1, true, false},
		{"+QNETDEVCTL: 3,1,1,1", 1, true, false},
		{"+QNETDEVCTL: 1,1,1,0", 1, false, false},
		{"+QNETDEVCTL: 1,2,1,1", 1, false, false}, // another context
		{"+QNETDEVCTL: 0,1,0,1", 1, false, false}, // disconnect asked
		{"+QNETDEVCTL: 1,1,1", 1, false, true},
		{"+QNETDEVCTL: 1,1,1,7", 1, false, true},
		{"+QNETDEVCTL: a,1,1,1", 1, false, true},
	} {
		got, err := parseQNETDEVCTL(c.l, c.cid)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: %v, %v; want %v (error %v)", c.l, got, err, c.want, c.err)
		}
	}
	for _, c := range []struct {
		lines []string
		want  bool
		err   bool
	}{
		{nil, false, false},
		{[]string{"$QCRMCALL: 1,V4"}, true, false},
		{[]string{"$QCRMCALL: 1,V6"}, false, false},
		{[]string{"$QCRMCALL: 1,V6", "$QCRMCALL: 1, V4"}, true, false},
		{[]string{"$QCRMCALL: 1"}, false, true},
		{[]string{"$QCRMCALL: 1,V5"}, false, true},
		{[]string{"$QCRMCALL: 2,V4"}, false, true},
	} {
		got, err := parseQCRMCALL(c.lines)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%q: %v, %v; want %v (error %v)", c.lines, got, err, c.want, c.err)
		}
	}
	if got, err := parseCGACT([]string{"+CGACT: 1,0", "+CGACT: 2,1"}, 2); err != nil || !got {
		t.Errorf("CGACT context 2: %v %v", got, err)
	}
	if got, err := parseCGACT([]string{"+CGACT: 1,0"}, 1); err != nil || got {
		t.Errorf("CGACT inactive: %v %v", got, err)
	}
	if _, err := parseCGACT([]string{"+CGACT: 1"}, 1); err == nil {
		t.Error("CGACT without a state accepted")
	}
	for l, want := range map[string]string{`+QCFG: "usbnet",1`: "ecm", `+QCFG: "usbnet",3`: "rndis", `+QCFG: "usbnet",0`: "rmnet",
		"+CUSBPIDSWITCH: 9011": "rndis", "+CUSBPIDSWITCH: 9018": "ecm", `+QCFG: "usbnet",9`: ""} {
		if got, err := parseUSBNet(l); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", l, got, err, want)
		}
	}
	if _, err := parseUSBNet(`+QCFG: "nat",1`); err == nil || !strings.Contains(err.Error(), "usbnet") {
		t.Errorf("another QCFG setting: %v", err)
	}
	if up, err := parseQNETDEVSTATUS("+QNETDEVSTATUS: 1"); err != nil || !up {
		t.Errorf("QNETDEVSTATUS 1: %v %v", up, err)
	}
	if _, err := parseQNETDEVSTATUS("+QNETDEVSTATUS: x"); err == nil {
		t.Error("a bad QNETDEVSTATUS accepted")
	}
}

// The data reports come from the module: nothing it sends may panic the
// driver.
func FuzzParseDataReports(f *testing.F) {
	for _, s := range []string{"+QNETDEVCTL: 1,1,1,1", "$QCRMCALL: 1,V4", "+CGACT: 1,1", `+QCFG: "usbnet",1`,
		"+CUSBPIDSWITCH: 9011", "+QNETDEVSTATUS: 1,1,\"IPV4V6\",0", "+QNETDEVCTL: ", "$QCRMCALL:,", "+CGACT: 99999999999999999999,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		_, _ = parseQNETDEVCTL(l, 1)
		_, _ = parseQNETDEVSTATUS(l)
		_, _ = parseQCRMCALL([]string{l})
		_, _ = parseCGACT([]string{l}, 1)
		_, _ = parseUSBNet(l)
	})
}
