//go:build spandsp

package main

import (
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
)

// The porter in a trunk call hears a second caller announced: the UK
// call-waiting tone and, acknowledged by the caller-display handset, the
// caller's number and name on call waiting (CAS, DTMF D, V.23 FSK), which
// spandsp's receiver decodes from the earpiece audio.
func TestCallerIDOnCallWaitingInTheEarpiece(t *testing.T) {
	p := startDaemon(t, servicesConfig(t))
	waitServices(t, p)
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "port 2 off-hook", func() bool { return portState(p.status(), 2).Hook == "off" })
	p.mustCtl("sim", "trunk", "ring", "07700900111")
	eventually(t, "port 1 rings", func() bool { return portState(p.status(), 1).State == "ringing" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "connected", func() bool { return portState(p.status(), 1).State == "connected" })

	heard := make(chan []int16, 1)
	go func() { heard <- listen(t, p, 1, 3) }()
	time.Sleep(300 * time.Millisecond) // the recording has begun
	p.mustCtl("sim", "trunk", "ring", "07700900222", "Bursar")
	audio := <-heard

	cid := refereeCallerID(t, audio)
	if cid.Number != "07700900222" || cid.Name != "Bursar" {
		t.Fatalf("caller ID on call waiting %+v", cid)
	}
	// The call-waiting tone's first burst (400 Hz, 100 ms at -20 dBm0)
	// comes before the alert.
	best := -100.0
	for i := 0; i+800 <= len(audio); i += 160 {
		best = max(best, dsp.ToneLevelDBm0(audio[i:i+800], 400))
	}
	if best < -26 {
		t.Fatalf("no call-waiting tone: 400 Hz at most %.1f dBm0", best)
	}
	t.Logf("caller ID on call waiting decoded by spandsp: %s %q", cid.Number, cid.Name)
	p.recall(1, "0")
	eventually(t, "refused", func() bool { return p.simCalls() == `1: inbound from "07700900111", connected` })
}
