//go:build spandsp

package fxs_test

import (
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/spandsp"
)

// decodeMWI returns the message-waiting indications spandsp's adsi_rx
// finds in audio (checksum put back to parse).
func decodeMWI(t *testing.T, standard int, audio []int16) []dsp.MessageWaiting {
	t.Helper()
	rx := spandsp.NewADSIRx(standard)
	defer rx.Close()
	rx.Process(audio)
	var out []dsp.MessageWaiting
	for _, m := range rx.Messages() {
		var sum byte
		for _, b := range m {
			sum += b
		}
		full := append(append([]byte(nil), m...), -sum)
		mw, err := dsp.ParseMessageWaiting(full)
		if err != nil {
			t.Fatalf("spandsp decoded %x, not a message-waiting message: %v", m, err)
		}
		out = append(out, mw)
	}
	return out
}

// TestRefereeVisualMessageWaiting: on an idle (resting) port, messages
// waiting set the handset's lamp and their end clears it, by each
// profile's method, as spandsp's receiver decodes from the line: ETSI/BT
// V.23 MDMF with the number of messages after a line reversal and the
// alert, Bellcore Bell 202 MDMF with no reversal.
func TestRefereeVisualMessageWaiting(t *testing.T) {
	for _, c := range []struct {
		country  string
		standard int
		reversal bool
		count    int
	}{
		{"uk", spandsp.StandardCLIP, true, 3},
		{"etsi", spandsp.StandardCLIP, true, 3},
		{"us", spandsp.StandardCLASS, false, 0},
	} {
		t.Run(c.country, func(t *testing.T) {
			r := newSimRig(t, c.country)
			r.assertResting("before")
			for _, on := range []bool{true, false} {
				rec, _ := r.board.Listen(1, 2*hal.SampleRate)
				r.port.SetMessageWaiting(on, 3)
				r.run(2100 * time.Millisecond)
				got := decodeMWI(t, c.standard, <-rec)
				if len(got) != 1 || got[0].Active != on || got[0].Messages != map[bool]int{true: c.count}[on] {
					t.Fatalf("lamp %v: spandsp decoded %+v", on, got)
				}
				if mw, told := r.port.MessageWaiting(); mw != on || !told {
					t.Fatalf("port says waiting %v, told %v", mw, told)
				}
				r.assertResting("after the indication")
			}
		})
	}
}
