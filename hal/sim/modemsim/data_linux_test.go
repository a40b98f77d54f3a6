//go:build linux

package modemsim

import (
	"strings"
	"testing"
)

// The data-connection commands as a module answers them, and the network
// side steered by the data verb.
func TestDataCommands(t *testing.T) {
	s := newSim(t, SIMCom)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK")
	c.cmd(`AT+CGDCONT=1,"IP","Internet.Example"`, "OK")
	if out := c.cmd("AT+CGDCONT?", "OK"); !strings.Contains(out, `+CGDCONT: 1,"IP","Internet.Example"`) {
		t.Fatalf("context: %q", out)
	}
	if out := c.cmd("AT+CUSBPIDSWITCH?", "OK"); !strings.Contains(out, "+CUSBPIDSWITCH: 9011") {
		t.Fatalf("usb mode: %q", out)
	}
	if out := c.cmd("AT$QCRMCALL?", "OK"); strings.Contains(out, "$QCRMCALL:") {
		t.Fatalf("a data call before dialling: %q", out)
	}
	if out := c.cmd("AT$QCRMCALL=1,1", "OK"); !strings.Contains(out, "$QCRMCALL: 1,V4") {
		t.Fatalf("dial: %q", out)
	}
	if out := c.cmd("AT$QCRMCALL?", "OK"); !strings.Contains(out, "$QCRMCALL: 1,V4") {
		t.Fatalf("after dialling: %q", out)
	}
	if _, err := s.Control([]string{"data", "drop", "1h"}); err != nil {
		t.Fatal(err)
	}
	c.cmd("AT$QCRMCALL?", "OK")
	c.cmd("AT$QCRMCALL=1,1", "NO CARRIER") // refused while the network re-establishes
	out, err := s.Control([]string{"data"})
	if err != nil || !strings.Contains(out, "data down; 1 sessions, 1 dropped") || !strings.Contains(out, "refused") {
		t.Fatalf("status: %q %v", out, err)
	}
	c.cmd("AT+QNETDEVCTL?", "ERROR") // Quectel's command on a SIMCom module

	q := newSim(t, Quectel)
	d := dial(t, q.ATPath())
	d.cmd("ATE0", "OK")
	if out := d.cmd(`AT+QCFG="usbnet"`, "OK"); !strings.Contains(out, `+QCFG: "usbnet",1`) {
		t.Fatalf("usbnet: %q", out)
	}
	if out := d.cmd("AT+QNETDEVCTL=?", "OK"); !strings.Contains(out, "+QNETDEVCTL: (0,1,3)") {
		t.Fatalf("test form: %q", out)
	}
	d.cmd("AT+QNETDEVCTL=1,1,1", "OK")
	d.until("+QNETDEVSTATUS: 1") // asynchronous, reported
	if out := d.cmd("AT+QNETDEVCTL?", "OK"); !strings.Contains(out, "+QNETDEVCTL: 1,1,1,1") {
		t.Fatalf("state: %q", out)
	}
	if _, err := q.Control([]string{"network", "off"}); err != nil {
		t.Fatal(err)
	}
	d.until("+QNETDEVSTATUS: 0") // the network took the session with it
	d.cmd("AT+QNETDEVCTL=9,1,1", "ERROR")
	if _, err := q.Control([]string{"data", "delay", "x"}); err == nil {
		t.Fatal("a bad duration accepted")
	}
	if _, err := q.Control([]string{"data", "usbnet", "ppp"}); err == nil {
		t.Fatal("a bad usb mode accepted")
	}
}
