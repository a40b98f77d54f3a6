//go:build spandsp

package fxs

import (
	"bytes"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/spandsp"
)

// TestRefereeCallerID feeds spandsp's adsi_rx the exact earpiece audio a
// port produces from Offer up to its second ring (UK/ETSI: reversal, alert,
// V.23 FSK, first ring; US: first ring, Bell 202 FSK): spandsp must decode
// the very message we meant to send.
func TestRefereeCallerID(t *testing.T) {
	for _, c := range []struct {
		country  string
		standard int
		frames   int
	}{
		{"uk", spandsp.StandardCLIP, 150},
		{"etsi", spandsp.StandardCLIP, 150},
		{"us", spandsp.StandardCLASS, 300},
	} {
		t.Run(c.country, func(t *testing.T) {
			h := newHarness(t, c.country)
			cid := dsp.CallerID{Number: "01223334455", Name: "Porters Lodge"}
			if _, err := h.p.Offer(&fakeCall{}, cid); err != nil {
				t.Fatal(err)
			}
			audio := h.frames(c.frames)
			cid.Time = h.p.now()
			want, err := cid.MDMF()
			if err != nil {
				t.Fatal(err)
			}
			// adsi_rx checks the checksum and delivers the message without it.
			rx := spandsp.NewADSIRx(c.standard)
			rx.Process(audio)
			msgs := rx.Messages()
			rx.Close()
			if len(msgs) != 1 || !bytes.Equal(msgs[0], want[:len(want)-1]) {
				t.Fatalf("spandsp decoded %x, want exactly %x", msgs, want[:len(want)-1])
			}
			if _, ok := decodeCID(t, map[int]dsp.FSKStandard{spandsp.StandardCLIP: dsp.V23, spandsp.StandardCLASS: dsp.Bell202}[c.standard], audio); !ok {
				t.Error("our own receiver disagrees")
			}
		})
	}
}

// TestRefereeDTMFIntoPort keys digits with spandsp's dtmf_tx into the
// port's microphone: the port must route exactly those digits.
func TestRefereeDTMFIntoPort(t *testing.T) {
	for _, timing := range []struct{ on, off int }{{50, 55}, {40, 40}, {100, 100}} {
		h := newHarness(t, "uk", withPlan("0[1-9]xxxxxxxxx"))
		h.offHook()
		h.waitState(StateDialTone)
		h.speak(spandsp.DTMFTx("01223334455", -10, 0, timing.on, timing.off))
		h.frames(5)
		r := h.route()
		if r.req.Number != "01223334455" {
			t.Errorf("%d/%d ms: routed %q", timing.on, timing.off, r.req.Number)
		}
		r.reply <- routeReply{call: &fakeCall{}}
		h.stop()
	}
}
