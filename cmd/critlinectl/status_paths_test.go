package main

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/control"
)

// The field engineer sees at a glance which path each registrar is
// reached by, each path's state and the data it carried, and the modem's
// data connection.
func TestStatusShowsPaths(t *testing.T) {
	now := time.Now()
	st := control.Status{Mode: "normal", ModeReason: "LAN down; registrar cloud over wwan reachable",
		Registrars: []control.Registrar{{Name: "cloud", Address: "203.0.113.10:5060", Transport: "udp", Up: true, Via: "any", Path: "wwan", Holding: true}},
		Paths: []control.NetPath{{Name: "lan", Interface: "eth0", Up: false, Detail: "interface eth0 down (no carrier)"},
			{Name: "wwan", Interface: "wwan0", Up: true, Address: "100.64.0.2", SIPBytesIn: 5200, SIPBytesOut: 6100, RTPBytesIn: 2400000, RTPBytesOut: 2400000}},
		Trunks: []control.Trunk{{Name: "lte", Kind: "modem", Up: true, ModemUp: true, Service: "full",
			Data: &control.TrunkData{State: "down", Interface: "wwan0", USBMode: "ecm", Detail: "data session lost"}}},
	}
	var b strings.Builder
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{"wwan (any) HELD", "PATH", "wwan0", "100.64.0.2", "5.2kB/6.1kB", "2.4MB/2.4MB",
		"interface eth0 down (no carrier)", "data down on wwan0 (ecm): data session lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
