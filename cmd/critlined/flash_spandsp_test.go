//go:build spandsp

package main

import (
	"testing"
	"time"
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

	cid := refereeCallerID(t, audio)
	if cid.Number != "07700900222" || cid.Name != "Bursar" {
		t.Fatalf("caller ID on call waiting %+v", cid)
	}
	if l := cwTone(audio); l < -26 {
		t.Fatalf("no call-waiting tone: 400 Hz at most %.1f dBm0", l)
	}
	t.Logf("caller ID on call waiting of a SIP call decoded by spandsp: %s %q", cid.Number, cid.Name)
}
