package dsp

import (
	"math"

	"github.com/critline/critline/hal"
)

// fskWin is the correlator length: one bit at 1200 bit/s, rounded.
const fskWin = 7

// fskDemod is a non-coherent FSK demodulator: two quadrature correlators
// (mark and space) over the last bit's worth of samples, compared by energy,
// plus a carrier detector. It works for V.23 and Bell 202 alike; only the
// two frequencies differ.
type fskDemod struct {
	// The local oscillators, as a table: every caller-ID tone (1200, 1300,
	// 2100, 2200 Hz) repeats exactly every 80 samples at 8 kHz. Each entry
	// is cos and -sin of the mark, then of the space.
	osc  [fskOscLen][4]float64
	tpos int
	// The last fskWin products of input and oscillators, and their sums.
	ring [fskWin][4]float64
	sum  [4]float64
	pos  int
	n    int

	power      float64 // smoothed mean square
	onPower    float64
	offPower   float64
	carrier    bool
	powerAlpha float64

	// Bit clock: phase counts bits; a bit is sampled each time it wraps,
	// and decision transitions are steered to phase 0.5.
	phase    float64
	lastSoft float64
	run      int // samples since the last transition
	locked   int // transitions in a row close to where expected
}

// Bit clock tuning.
const (
	fskStep       = float64(FSKBaud) / hal.SampleRate // bits per sample
	fskHardSync   = 8 * hal.SampleRate / FSKBaud      // a transition after this many steady samples resets the clock
	fskGainAcq    = 0.5                               // while acquiring
	fskGainLocked = 0.12                              // once locked
	fskLockCount  = 8
	fskMaxErr     = 0.3 // locked: transitions further off are taken for noise
)

// fskOscLen is the oscillator table's length: 10 ms, a whole number of
// cycles of every caller-ID tone.
const fskOscLen = 80

// FSK carrier detector thresholds (dBm0). spandsp's receivers work down to
// -30 dBm0; these are lower so a weak line still decodes.
const (
	fskCarrierOnDBm0  = -40.0
	fskCarrierOffDBm0 = -45.0
)

func newFSKDemod(std FSKStandard) fskDemod {
	mark, space := std.Tones()
	var d fskDemod
	for n := range fskOscLen {
		sm, cm := math.Sincos(2 * math.Pi * mark * float64(n) / hal.SampleRate)
		ss, cs := math.Sincos(2 * math.Pi * space * float64(n) / hal.SampleRate)
		d.osc[n] = [4]float64{cm, -sm, cs, -ss}
	}
	a := DBm0ToAmplitude(fskCarrierOnDBm0)
	d.onPower = a * a / 2
	a = DBm0ToAmplitude(fskCarrierOffDBm0)
	d.offPower = a * a / 2
	d.powerAlpha = 1.0 / 48 // about 6 ms
	d.reset()
	return d
}

func (d *fskDemod) reset() {
	d.tpos = 0
	d.ring = [fskWin][4]float64{}
	d.sum = [4]float64{}
	d.pos, d.n = 0, 0
	d.power = 0
	d.carrier = false
	d.resetClock()
}

func (d *fskDemod) resetClock() {
	d.phase = 0
	d.lastSoft = 0
	d.run = fskHardSync
	d.locked = 0
}

// push takes one sample. When a bit is due it returns it (true = mark) with
// ok set; carrier reports whether a carrier is present (no bits without).
func (d *fskDemod) push(s int16) (bit, ok, carrier bool) {
	x := float64(s)
	o := &d.osc[d.tpos]
	r := &d.ring[d.pos]
	p0, p1, p2, p3 := x*o[0], x*o[1], x*o[2], x*o[3]
	d.sum[0] += p0 - r[0]
	d.sum[1] += p1 - r[1]
	d.sum[2] += p2 - r[2]
	d.sum[3] += p3 - r[3]
	*r = [4]float64{p0, p1, p2, p3}
	if d.pos++; d.pos == fskWin {
		d.pos = 0
	}
	if d.tpos++; d.tpos == fskOscLen {
		d.tpos = 0
	}
	if d.n++; d.n == 256 {
		// Re-add the sums so rounding cannot build up.
		d.n = 0
		d.sum = [4]float64{}
		for i := range d.ring {
			for k := range 4 {
				d.sum[k] += d.ring[i][k]
			}
		}
	}
	d.power += (x*x - d.power) * d.powerAlpha
	if d.carrier {
		d.carrier = d.power >= d.offPower
	} else {
		d.carrier = d.power >= d.onPower
	}
	em := d.sum[0]*d.sum[0] + d.sum[1]*d.sum[1]
	es := d.sum[2]*d.sum[2] + d.sum[3]*d.sum[3]
	soft := em - es
	if !d.carrier {
		d.resetClock()
		return false, false, false
	}
	mark := soft >= 0
	if mark != (d.lastSoft >= 0) {
		// Where between the last sample and this one the decision flipped.
		frac := 1.0
		if den := d.lastSoft - soft; den != 0 {
			frac = d.lastSoft / den
		}
		at := d.phase - (1-frac)*fskStep // phase at the transition
		err := at - 0.5
		switch {
		case d.run >= fskHardSync:
			d.phase -= err
			d.locked = 0
		case d.locked < fskLockCount:
			d.phase -= err * fskGainAcq
			if math.Abs(err) < 0.15 {
				d.locked++
			} else {
				d.locked = 0
			}
		case math.Abs(err) <= fskMaxErr:
			d.phase -= err * fskGainLocked
		}
		d.run = 0
	}
	d.lastSoft = soft
	if d.run < fskHardSync { // saturate: only the comparison matters
		d.run++
	}
	d.phase += fskStep
	if d.phase >= 1 {
		d.phase -= 1
		return mark, true, true
	}
	return mark, false, true
}
