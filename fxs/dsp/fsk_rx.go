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
	rotM, rotS complex128 // per-sample rotation of the local oscillators
	oscM, oscS complex128
	ringM      [fskWin]complex128
	ringS      [fskWin]complex128
	sumM, sumS complex128
	pos        int
	n          int

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

// FSK carrier detector thresholds (dBm0). spandsp's receivers work down to
// -30 dBm0; these are lower so a weak line still decodes.
const (
	fskCarrierOnDBm0  = -40.0
	fskCarrierOffDBm0 = -45.0
)

func newFSKDemod(std FSKStandard) fskDemod {
	mark, space := std.Tones()
	var d fskDemod
	wm := 2 * math.Pi * mark / hal.SampleRate
	ws := 2 * math.Pi * space / hal.SampleRate
	d.rotM = complex(math.Cos(wm), -math.Sin(wm))
	d.rotS = complex(math.Cos(ws), -math.Sin(ws))
	a := DBm0ToAmplitude(fskCarrierOnDBm0)
	d.onPower = a * a / 2
	a = DBm0ToAmplitude(fskCarrierOffDBm0)
	d.offPower = a * a / 2
	d.powerAlpha = 1.0 / 48 // about 6 ms
	d.reset()
	return d
}

func (d *fskDemod) reset() {
	d.oscM, d.oscS = 1, 1
	d.ringM, d.ringS = [fskWin]complex128{}, [fskWin]complex128{}
	d.sumM, d.sumS = 0, 0
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
	pm := complex(x, 0) * d.oscM
	ps := complex(x, 0) * d.oscS
	d.sumM += pm - d.ringM[d.pos]
	d.sumS += ps - d.ringS[d.pos]
	d.ringM[d.pos] = pm
	d.ringS[d.pos] = ps
	d.pos++
	if d.pos == fskWin {
		d.pos = 0
	}
	d.oscM *= d.rotM
	d.oscS *= d.rotS
	d.n++
	if d.n == 256 {
		// Renormalise the oscillators and re-add the sums to stop drift.
		d.n = 0
		d.oscM /= complex(abs(d.oscM), 0)
		d.oscS /= complex(abs(d.oscS), 0)
		d.sumM, d.sumS = 0, 0
		for i := range fskWin {
			d.sumM += d.ringM[i]
			d.sumS += d.ringS[i]
		}
	}
	d.power += (x*x - d.power) * d.powerAlpha
	if d.carrier {
		d.carrier = d.power >= d.offPower
	} else {
		d.carrier = d.power >= d.onPower
	}
	em := real(d.sumM)*real(d.sumM) + imag(d.sumM)*imag(d.sumM)
	es := real(d.sumS)*real(d.sumS) + imag(d.sumS)*imag(d.sumS)
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
	d.run++
	d.phase += fskStep
	if d.phase >= 1 {
		d.phase -= 1
		return mark, true, true
	}
	return mark, false, true
}

func abs(c complex128) float64 { return math.Hypot(real(c), imag(c)) }
