package dsp

import (
	"fmt"
	"math"
	"time"

	"github.com/critline/critline/hal"
)

// dtmfFreqs returns the DTMF frequencies (Hz): the low (row) group, then
// the high (column) group.
func dtmfFreqs() [8]float64 {
	return [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}
}

// dtmfKeys is the keypad: row by row, column by column.
const dtmfKeys = "123A456B789C*0#D"

// dtmfPosition returns the row and column of a digit (case-insensitive for
// A-D).
func dtmfPosition(d rune) (row, col int, ok bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i, k := range dtmfKeys {
		if k == d {
			return i / 4, i % 4, true
		}
	}
	return 0, 0, false
}

// DTMFFreqs returns the low- and high-group frequencies of a DTMF digit
// ('0'-'9', '*', '#', 'A'-'D').
func DTMFFreqs(digit rune) (low, high float64, ok bool) {
	r, c, ok := dtmfPosition(digit)
	if !ok {
		return 0, 0, false
	}
	f := dtmfFreqs()
	return f[r], f[4+c], true
}

// AppendDTMF appends the DTMF signal for digits to dst: each digit's two
// tones (each at levelDBm0) for on, then silence for off. Tones start at zero
// phase. A digit outside 0-9 * # A-D is an error that names it and its
// position; dst is then returned unchanged.
func AppendDTMF(dst []int16, digits string, on, off time.Duration, levelDBm0 float64) ([]int16, error) {
	return AppendDTMFTwist(dst, digits, on, off, levelDBm0, levelDBm0)
}

// AppendDTMFTwist is AppendDTMF with separate levels for the low (row) and
// high (column) tones, as real telephones send them (BT SIN 351: the high
// group 1-4 dB louder).
func AppendDTMFTwist(dst []int16, digits string, on, off time.Duration, lowDBm0, highDBm0 float64) ([]int16, error) {
	if on <= 0 || off < 0 {
		return dst, fmt.Errorf("dtmf: tone on %v / off %v: on must be positive and off not negative", on, off)
	}
	a1, a2 := DBm0ToAmplitude(lowDBm0), DBm0ToAmplitude(highDBm0)
	if !(a1+a2 <= fullScale) { // also catches NaN
		return dst, fmt.Errorf("dtmf: levels %g and %g dBm0 would clip together; the two peaks must sum to at most full scale (e.g. %.2f dBm0 each)", lowDBm0, highDBm0, maxSinePowerDBm0-6.02)
	}
	for i, d := range digits {
		if _, _, ok := dtmfPosition(d); !ok {
			return dst, fmt.Errorf("dtmf: digit %q at position %d is not a DTMF digit (0-9, *, #, A-D)", d, i+1)
		}
	}
	nOn := int(math.Round(on.Seconds() * hal.SampleRate))
	nOff := int(math.Round(off.Seconds() * hal.SampleRate))
	dst = grow(dst, len(digits)*(nOn+nOff))
	for _, d := range digits {
		lo, hi, _ := DTMFFreqs(d)
		s1, c1 := math.Sincos(2 * math.Pi * lo / hal.SampleRate)
		s2, c2 := math.Sincos(2 * math.Pi * hi / hal.SampleRate)
		// Rotating phasors: (x, y) = (cos, sin) of each tone's phase.
		x1, y1, x2, y2 := 1.0, 0.0, 1.0, 0.0
		for range nOn {
			dst = append(dst, saturate(a1*y1+a2*y2))
			x1, y1 = x1*c1-y1*s1, y1*c1+x1*s1
			x2, y2 = x2*c2-y2*s2, y2*c2+x2*s2
		}
		for range nOff {
			dst = append(dst, 0)
		}
	}
	return dst, nil
}

// grow makes room for n more elements in dst.
func grow(dst []int16, n int) []int16 {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	nd := make([]int16, len(dst), len(dst)+n)
	copy(nd, dst)
	return nd
}
