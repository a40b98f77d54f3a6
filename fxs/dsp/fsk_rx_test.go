package dsp

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/critline/critline/hal"
)

func TestFSKOscillatorTableIsExact(t *testing.T) {
	// The receiver's oscillator table repeats every fskOscLen samples; that
	// is only exact when each tone makes whole cycles in it.
	for _, std := range []FSKStandard{V23, Bell202} {
		m, s := std.Tones()
		for _, f := range []float64{m, s} {
			if c := f * fskOscLen / hal.SampleRate; c != math.Trunc(c) {
				t.Errorf("%v: %g Hz makes %g cycles in %d samples", std, f, c, fskOscLen)
			}
		}
	}
}

// TestFSKDemodBits checks the demodulator and its bit clock alone: random
// bits after a seizure come out exactly, at the nominal rate and 1 % off it.
func TestFSKDemodBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, std := range []FSKStandard{V23, Bell202} {
		for _, rate := range []float64{1188, 1200, 1212} {
			payload := make([]byte, 40)
			for i := range payload {
				payload[i] = byte(rng.IntN(256))
			}
			p := stdParams(std)
			p.baud = rate
			p.marks = 20
			// modFSK frames bytes as 8N1; compare the raw bit stream.
			var want []bool
			for _, b := range payload {
				want = append(want, false)
				for k := range 8 {
					want = append(want, b>>k&1 == 1)
				}
				want = append(want, true)
			}
			sig := toInt16(modFSK(payload, p))
			d := newFSKDemod(std)
			var got []bool
			for _, s := range sig {
				if bit, ok, _ := d.push(s); ok {
					got = append(got, bit)
				}
			}
			// Find the payload after the seizure and marks: it starts at the
			// first space bit after at least 10 marks.
			start := -1
			for i, run := 0, 0; i < len(got); i++ {
				if got[i] {
					run++
					continue
				}
				if run >= 10 {
					start = i
					break
				}
				run = 0
			}
			if start < 0 || len(got)-start < len(want) {
				t.Errorf("%v at %g bit/s: payload not found", std, rate)
				continue
			}
			for i, b := range want {
				if got[start+i] != b {
					t.Errorf("%v at %g bit/s: bit %d of the payload wrong", std, rate, i)
					break
				}
			}
		}
	}
}
