//go:build spandsp

package fxs

import (
	"bytes"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/internal/spandsp"
)

// TestRefereeCallerIDOnCallWaiting feeds spandsp's adsi_rx the earpiece
// audio of a porter in a call while a second call waits: the alert, the
// acknowledged V.23 or Bell 202 data with no channel seizure.
func TestRefereeCallerIDOnCallWaiting(t *testing.T) {
	for _, c := range []struct {
		country  string
		standard int
	}{{"uk", spandsp.StandardCLIP}, {"etsi", spandsp.StandardCLIP}, {"us", spandsp.StandardCLASS}} {
		t.Run(c.country, func(t *testing.T) {
			h, m := connectedHarness(t, c.country, &fakeCall{})
			cid := dsp.CallerID{Number: "+447700900222", Name: "Bursar"}
			if err := h.p.OfferWaiting(cid); err != nil {
				t.Fatal(err)
			}
			audio := casHandset(t, h, m, "D", 60)
			cid.Time = h.p.now()
			want, err := cid.MDMF()
			if err != nil {
				t.Fatal(err)
			}
			rx := spandsp.NewADSIRx(c.standard)
			rx.Process(audio)
			msgs := rx.Messages()
			rx.Close()
			if len(msgs) != 1 || !bytes.Equal(msgs[0], want[:len(want)-1]) {
				t.Fatalf("spandsp decoded %x, want exactly %x", msgs, want[:len(want)-1])
			}
		})
	}
}
