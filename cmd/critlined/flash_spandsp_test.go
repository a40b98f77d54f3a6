//go:build spandsp

package main

import (
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/spandsp"
)

// A second SIP call to a port in a call: the porter hears the call-waiting
// tone and, acknowledged by the caller-display handset, the waiting
// caller's number and name (the INVITE's From) on call waiting (CAS, DTMF
// D, V.23 FSK), which spandsp's receiver decodes from the earpiece audio.
func TestSIPCallerIDOnCallWaiting(t *testing.T) {
	r := startFlashRig(t, nil)
	p := r.p
	ra, rb := newRTPPeer(t, 0), newRTPPeer(t, 0) // silent far ends: nothing but the signal in the earpiece
	r.caller(t, "uac-held-and-back.xml", "", "Porters Lodge", "07700900111", "270001", ra)
	r.answer(t, 1)

	heard := make(chan []int16, 1)
	go func() { heard <- p.listenPort(1, 3) }()
	time.Sleep(300 * time.Millisecond) // the recording has begun
	r.caller(t, "uac-held-and-back.xml", "", "Bursar", "07700900222", "270001", rb)
	audio := <-heard

	rx := spandsp.NewADSIRx(spandsp.StandardCLIP)
	rx.Process(audio)
	msgs := rx.Messages()
	rx.Close()
	if len(msgs) != 1 {
		t.Fatalf("spandsp decoded %d caller-ID messages from the earpiece, want 1", len(msgs))
	}
	m := append(append([]byte(nil), msgs[0]...), 0)
	var sum byte
	for _, b := range m[:len(m)-1] {
		sum += b
	}
	m[len(m)-1] = -sum // adsi_rx drops the checksum; put one back to parse
	cid, err := dsp.ParseCallerID(m)
	if err != nil {
		t.Fatalf("caller ID %x: %v", msgs[0], err)
	}
	if cid.Number != "07700900222" || cid.Name != "Bursar" {
		t.Fatalf("caller ID on call waiting %+v", cid)
	}
	if l := cwTone(audio); l < -26 {
		t.Fatalf("no call-waiting tone: 400 Hz at most %.1f dBm0", l)
	}
	t.Logf("caller ID on call waiting of a SIP call decoded by spandsp: %s %q", cid.Number, cid.Name)
}
