//go:build spandsp

package fxs_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/spandsp"
)

// TestRefereeCallerIDFromRest: an offer to a resting port on the simulated
// board (its device stopped) still puts exactly the caller ID we meant in
// the earpiece, before the first ring (UK, ETSI) or after it (US), as
// spandsp's adsi_rx decodes it.
func TestRefereeCallerIDFromRest(t *testing.T) {
	for _, c := range []struct {
		country  string
		standard int
		record   time.Duration
	}{
		{"uk", spandsp.StandardCLIP, 2 * time.Second},
		{"etsi", spandsp.StandardCLIP, 2 * time.Second},
		{"us", spandsp.StandardCLASS, 5 * time.Second},
	} {
		t.Run(c.country, func(t *testing.T) {
			r := newSimRig(t, c.country)
			cid := dsp.CallerID{Number: "01223334455", Name: "Porters Lodge"}
			for i := 0; i < 3; i++ {
				r.assertResting("before the offer")
				rec, _ := r.board.Listen(1, int(c.record/time.Second)*hal.SampleRate)
				prog, err := r.port.Offer(inCall{}, cid)
				if err != nil {
					t.Fatal(err)
				}
				r.run(c.record + 100*time.Millisecond)
				audio := <-rec
				cid.Time = time.Date(2026, 11, 27, 9, 41, 0, 0, time.UTC)
				want, err := cid.MDMF()
				if err != nil {
					t.Fatal(err)
				}
				rx := spandsp.NewADSIRx(c.standard)
				rx.Process(audio)
				msgs := rx.Messages()
				rx.Close()
				if len(msgs) != 1 || !bytes.Equal(msgs[0], want[:len(want)-1]) {
					t.Fatalf("offer %d: spandsp decoded %x, want exactly %x", i, msgs, want[:len(want)-1])
				}
				prog.Update(fxs.CallUpdate{State: fxs.CallEnded})
				r.waitState(fxs.StateIdle)
			}
		})
	}
}
