//go:build linux

package modemsim

import (
	"strings"
	"testing"
	"time"
)

// The supplementary services as a driver sees them on the wire: call
// waiting switched on and reported, hold and swap, release one call,
// transfer, deflection, and a network that refuses each.
func TestSupplementaryServicesOnTheWire(t *testing.T) {
	s := newSim(t, Generic)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd("AT+CMEE=1", "OK\r\n")
	if got := c.cmd("AT+CHLD=?", "OK\r\n"); !strings.Contains(got, "+CHLD: (0,1,1x,2,2x,3,4)") {
		t.Fatalf("AT+CHLD=?: %q", got)
	}
	c.cmd("AT+CTFR=?", "OK\r\n")
	if got := c.cmd("AT+CCWA=1,2", "OK\r\n"); !strings.Contains(got, "+CCWA: 0,7") {
		t.Fatalf("call waiting is on before it was switched on: %q", got)
	}
	// Without call waiting a second caller gets busy.
	if _, err := s.Control([]string{"ring", "07700900111"}); err != nil {
		t.Fatal(err)
	}
	c.until("RING")
	c.cmd("ATA", "OK\r\n")
	if out, err := s.Control([]string{"ring", "07700900222"}); err != nil || !strings.Contains(out, "busy") {
		t.Fatalf("second caller without call waiting: %q %v", out, err)
	}
	c.cmd("AT+CCWA=1,1", "OK\r\n")
	if got := c.cmd("AT+CCWA=1,2", "OK\r\n"); !strings.Contains(got, "+CCWA: 1,1") {
		t.Fatalf("query after switching on: %q", got)
	}
	if _, err := s.Control([]string{"ring", "07700900222", "Bursar"}); err != nil {
		t.Fatal(err)
	}
	c.until(`+CCWA: "07700900222",129,1,"Bursar",0`)
	if got := c.cmd("AT+CLCC", "OK\r\n"); !strings.Contains(got, `+CLCC: 1,1,0,0,0,"07700900111",129`) || !strings.Contains(got, `+CLCC: 2,1,5,0,0,"07700900222",129`) {
		t.Fatalf("two calls: %q", got)
	}
	c.cmd("AT+CHLD=2", "OK\r\n") // hold the first, take the second
	if got := c.cmd("AT+CLCC", "OK\r\n"); !strings.Contains(got, `+CLCC: 1,1,1,`) || !strings.Contains(got, `+CLCC: 2,1,0,`) {
		t.Fatalf("after hold: %q", got)
	}
	c.cmd("AT+CHLD=12", "OK\r\n") // release the second alone
	if got := c.cmd("AT+CLCC", "OK\r\n"); !strings.Contains(got, `+CLCC: 1,1,1,`) || strings.Contains(got, "+CLCC: 2") {
		t.Fatalf("after releasing call 2: %q", got)
	}
	c.cmd("ATD07700900777;", "OK\r\n") // beside the held call
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(c.cmd("AT+CLCC", "OK\r\n"), `+CLCC: 2,0,3,`); {
		if time.Now().After(deadline) {
			t.Fatal("the second leg never alerted")
		}
	}
	c.cmd("AT+CHLD=4", "OK\r\n") // join them (the second leg is alerting: enough on this network)
	if got := c.cmd("AT+CLCC", "OK\r\n"); strings.Contains(got, "+CLCC:") {
		t.Fatalf("calls left after a transfer: %q", got)
	}
	if r := s.Redirects(); len(r) != 1 || r[0].Kind != "transfer" || r[0].From != "07700900111" || r[0].To != "07700900777" {
		t.Fatalf("redirects %+v", r)
	}

	// Deflection, then a network that refuses it.
	if _, err := s.Control([]string{"ring", "07700900333"}); err != nil {
		t.Fatal(err)
	}
	c.until("RING")
	c.cmd(`AT+CTFR="07700900555",129`, "OK\r\n")
	if r := s.Redirects(); len(r) != 2 || r[1].Kind != "deflection" || r[1].To != "07700900555" {
		t.Fatalf("redirects %+v", r)
	}
	for _, svc := range []struct{ name, cmd string }{{"deflection", `AT+CTFR="07700900555"`}, {"hold", "AT+CHLD=2"}, {"transfer", "AT+CHLD=4"}, {"waiting", "AT+CCWA=1,1"}} {
		if _, err := s.Control([]string{"service", svc.name, "refuse", "257"}); err != nil {
			t.Fatal(err)
		}
		if got := c.cmd(svc.cmd, "\r\n+CME ERROR: 257\r\n"); got == "" {
			t.Fatalf("%s not refused", svc.name)
		}
	}
	if _, err := s.Control([]string{"service", "all", "absent"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"AT+CHLD=?", "AT+CTFR=?", "AT+CCWA=?"} {
		c.cmd(cmd, "\r\n+CME ERROR: 4\r\n")
	}
	for _, bad := range [][]string{{"service"}, {"service", "teleport", "allow"}, {"service", "hold", "maybe"}, {"service", "hold", "refuse", "x"}, {"hangup", "held"}} {
		if _, err := s.Control(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
