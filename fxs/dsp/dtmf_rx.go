package dsp

import (
	"math"
	"math/cmplx"
	"time"

	"github.com/critline/critline/hal"
)

// DTMF receiver design.
//
// The signal is cut into sub-blocks of 34 samples (4.25 ms); three
// consecutive sub-blocks make a 102-sample (12.75 ms) analysis window that
// slides by one sub-block. A window is a candidate ("valid signal
// condition") when, in this order (cheapest first):
//   - it holds at least the energy of two tones at -42 dBm0, and its three
//     sub-blocks carry similar energy (weakest at least half the mean), so
//     the window is filled by a steady signal: this is what times the tone,
//     a window straddling the tone's start or end fails;
//   - eight Goertzel filters (the DTMF fundamentals), run over each
//     sub-block and combined phase-correctly into the window, find the
//     strongest row and column tone each at least -42 dBm0, each 3 dB above
//     the rest of its group, a plausible twist, and the two tones holding
//     over half the window's energy (all loose: the rectangular window
//     leaks; the exact checks come next).
//
// The Goertzel filters run only for sub-blocks of windows passing the
// energy tests, which most speech, music and silence does not.
//
// A digit is recognised after dtmfHitsToStart consecutive candidate windows
// of the same digit (about 21-30 ms of tone: a 40 ms tone always gives them,
// a tone under 20 ms never can) whose two tones also pass exact checks made
// with Hann-windowed DFTs over those windows:
//   - frequency error, from the phase advance between windows: at most 2 %
//     (ES 201 235-3: accept 1.5 %, reject 3.5 %; the phase measure is good
//     to about 0.1 % at 15 dB S/N, so 2 % keeps talk-off down);
//   - phase coherence at least 0.98 and drift across the windows at most
//     1.2 %: steady tones, not voiced speech whose harmonics wander;
//   - twist from the amplitudes corrected for the frequency error: at most
//     9 dB normal and 5 dB reverse (accept 8 and 4; the extra dB is the
//     measurement's spread at 15 dB S/N);
//   - the two tones hold at least 90 % of the signal power (15 dB S/N gives
//     about 97 %);
//   - and, since voiced speech that scrapes past each of these limits does
//     so on all of them at once, the sum of how far share, coherence, drift
//     and frequency error (beyond 1.5 %) have gone toward their limits is
//     at most 2.5 (real digits at 15 dB S/N with 8 dB twist and 1.5 %
//     error reach about 1.7).
//
// A recognised digit ends after dtmfMissesToEnd windows in a row without
// it (about 38 ms), so a dropout under 20 ms never splits a digit and a gap
// over 40 ms always does.
const (
	dtmfSub         = 34
	dtmfWin         = 3 * dtmfSub
	dtmfHitsToStart = 5
	dtmfMissesToEnd = 9

	dtmfMinLevelDBm0 = -42.0
	dtmfRelPeak      = 2.0  // 3 dB, best tone over the rest of its group (loose: rectangular-window leakage)
	dtmfScreenTwistN = 20.0 // 13 dB, row over column (loose)
	dtmfScreenTwistR = 6.3  // 8 dB, column over row (loose)
	dtmfScreenShare  = 0.55 // tones' share of window energy (rectangular, loose)
	dtmfStationary   = 0.5  // weakest sub-block energy over the mean
	dtmfMaxFreqError = 0.02 // 2 %
	dtmfCoherence    = 0.98
	dtmfMaxChirp     = 0.012
	dtmfTwistN       = 9.0 // dB
	dtmfTwistR       = 5.0 // dB
	dtmfShare        = 0.9
	dtmfMaxDoubt     = 2.5
)

// dtmfWindowHit is what the exact check keeps of one candidate window.
type dtmfWindowHit struct {
	hr, hc complex64 // Hann DFT at the row and column frequencies
	energy float32   // window energy (sum of squares)
}

// DTMFDetector finds DTMF digits in 8 kHz audio, to ETSI ES 201 235-3:
// tones of 40 ms or more are recognised and tones under 20 ms are not;
// dropouts under 20 ms do not split a digit; frequency errors up to 1.5 % are
// accepted and over 3.5 % rejected; twist up to 8 dB normal and 4 dB reverse
// is accepted; it works at 15 dB signal-to-noise. Each digit is reported
// once, 26-32 ms after its tone starts. It is not safe for concurrent
// use; one per channel. Process does not allocate.
type DTMFDetector struct {
	onDigit func(rune)

	coef            [8]float32 // 2 cos w
	cw, sw          [8]float32 // cos w, sin w
	r1re, r1im      [8]float32 // e^{-j w S}
	r2re, r2im      [8]float32 // e^{-j 2 w S}
	hre, him        [8][dtmfWin]float32
	hopRot          [8]complex128 // e^{-j w S}, for the phase advance
	hann            [dtmfWin]float64
	hannSum         float64
	ign             int // tones to leave out (IgnoreTones)
	ignFreq         [maxIgnored]float64
	ignRe, ignIm    [maxIgnored][dtmfWin]float32
	minPower        float32
	minEnergy       float32           // of a window holding two tones at the minimum level
	sub             [3][dtmfSub]int16 // ring of sub-blocks
	zre, zim        [3][8]float32
	zValid          [3][2]bool // per slot: low, high group done
	energy          [3]float32
	cur, fill, nsub int
	blocks          int64 // sub-blocks completed since Reset

	cand     int
	run      int64 // consecutive candidate windows (64 bits: no wrap on 32-bit ARM)
	runFirst int64 // first sub-block of the run's first window
	// The recognised digit's tone: its first sub-block and the end (in
	// sub-blocks) of its last window.
	digitFirst, digitLast int64
	onEnd                 func(rune, time.Duration)
	hist                  [dtmfHitsToStart]dtmfWindowHit
	digit                 int
	misses                int

	trace func(event string, args ...any) // tests only
}

// NewDTMFDetector returns a detector that calls onDigit once for each digit
// it recognises ('0'-'9', '*', '#', 'A'-'D'), from within Process.
func NewDTMFDetector(onDigit func(digit rune)) *DTMFDetector {
	d := &DTMFDetector{onDigit: onDigit}
	freqs := dtmfFreqs()
	for k, f := range freqs {
		w := 2 * math.Pi * f / 8000
		d.coef[k] = float32(2 * math.Cos(w))
		d.cw[k] = float32(math.Cos(w))
		d.sw[k] = float32(math.Sin(w))
		r1 := cmplx.Exp(complex(0, -w*dtmfSub))
		r2 := r1 * r1
		d.r1re[k], d.r1im[k] = float32(real(r1)), float32(imag(r1))
		d.r2re[k], d.r2im[k] = float32(real(r2)), float32(imag(r2))
		d.hopRot[k] = r1
		for n := range dtmfWin {
			s := math.Sin(math.Pi * (float64(n) + 0.5) / dtmfWin)
			h := s * s
			d.hre[k][n] = float32(h * math.Cos(w*float64(n)))
			d.him[k][n] = float32(-h * math.Sin(w*float64(n)))
		}
	}
	for n := range dtmfWin {
		s := math.Sin(math.Pi * (float64(n) + 0.5) / dtmfWin)
		d.hann[n] = s * s
		d.hannSum += s * s
	}
	a := DBm0ToAmplitude(dtmfMinLevelDBm0) * dtmfWin / 2
	d.minPower = float32(a * a)
	a = DBm0ToAmplitude(dtmfMinLevelDBm0)
	d.minEnergy = float32(a * a * dtmfWin) // two tones of peak a: a^2/2 each per sample
	d.Reset()
	return d
}

// Reset forgets all audio seen so far (a digit in progress is dropped
// without being reported again).
func (d *DTMFDetector) Reset() {
	d.cur, d.fill, d.nsub = 0, 0, 0
	d.blocks = 0
	d.cand, d.run = -1, 0
	d.digit, d.misses = -1, 0
}

// SetEndFunc sets a function called, from within Process, when a
// recognised digit ends (after the pause that ends it: about 40 ms of no
// tone, or at once when another digit is recognised), with how long its
// tone lasted, to within about 5 ms. RFC 4733 senders need it; nil stops
// the calls.
func (d *DTMFDetector) SetEndFunc(onEnd func(digit rune, tone time.Duration)) {
	d.onEnd = onEnd
}

// Current returns the digit whose tone is being received now, or 0.
func (d *DTMFDetector) Current() rune {
	if d.digit < 0 {
		return 0
	}
	return rune(dtmfKeys[d.digit])
}

// end finishes the recognised digit.
func (d *DTMFDetector) end() {
	if d.onEnd != nil && d.digit >= 0 {
		n := (d.digitLast - d.digitFirst) * dtmfSub
		d.onEnd(rune(dtmfKeys[d.digit]), time.Duration(n)*time.Second/hal.SampleRate)
	}
	d.digit = -1
}

// Process consumes samples of any length.
func (d *DTMFDetector) Process(samples []int16) {
	for len(samples) > 0 {
		blk := &d.sub[d.cur]
		n := min(dtmfSub-d.fill, len(samples))
		copy(blk[d.fill:], samples[:n])
		samples = samples[n:]
		d.fill += n
		if d.fill == dtmfSub {
			d.subBlock()
			d.fill = 0
			d.cur++
			if d.cur == 3 {
				d.cur = 0
			}
		}
	}
}

// subBlock measures the AC energy of the sub-block just filled and then judges
// the window that ends with it.
func (d *DTMFDetector) subBlock() {
	// The energy of the signal about its mean: a DC offset from the codec
	// is no part of any tone and must not count against the tones' share.
	var e, sum int64
	for _, s := range &d.sub[d.cur] {
		e += int64(s) * int64(s)
		sum += int64(s)
	}
	d.energy[d.cur] = float32(float64(e) - float64(sum)*float64(sum)/dtmfSub)
	d.blocks++
	d.zValid[d.cur] = [2]bool{}
	if d.nsub < 3 {
		d.nsub++
		if d.nsub < 3 {
			return
		}
	}
	d.window()
}

// goertzel runs group g's four Goertzel filters (0: the low group, 1: the
// high group) over sub-block slot, once: they are only needed when a window
// with that sub-block passes the cheaper tests, which most speech, music,
// noise and silence does not.
func (d *DTMFDetector) goertzel(slot, g int) {
	if d.zValid[slot][g] {
		return
	}
	d.zValid[slot][g] = true
	x := &d.sub[slot]
	zre, zim := &d.zre[slot], &d.zim[slot]
	base := 4 * g
	// Four recurrences at once: s[n] = x[n] + c s[n-1] - s[n-2], written
	// as (x - s2) + c s1 so each step waits on one multiply and one add, and
	// unrolled by two so the state registers swap roles instead of moving.
	c0, c1, c2, c3 := d.coef[base], d.coef[base+1], d.coef[base+2], d.coef[base+3]
	var a1, a2, b1, b2, g1, g2, h1, h2 float32
	for i := 0; i < dtmfSub; i += 2 {
		v0, v1 := float32(x[i]), float32(x[i+1])
		a2 = (v0 - a2) + c0*a1
		b2 = (v0 - b2) + c1*b1
		g2 = (v0 - g2) + c2*g1
		h2 = (v0 - h2) + c3*h1
		a1 = (v1 - a1) + c0*a2
		b1 = (v1 - b1) + c1*b2
		g1 = (v1 - g1) + c2*g2
		h1 = (v1 - h1) + c3*h2
	}
	// The sub-block's DFT value (up to a constant phase common to all
	// sub-blocks) from the final state: s1 - e^{-jw} s2.
	s1 := [4]float32{a1, b1, g1, h1}
	s2 := [4]float32{a2, b2, g2, h2}
	for k := range 4 {
		zre[base+k] = s1[k] - d.cw[base+k]*s2[k]
		zim[base+k] = d.sw[base+k] * s2[k]
	}
}

// window judges the analysis window made of the last three sub-blocks.
func (d *DTMFDetector) window() {
	hit := d.screen()
	if hit >= 0 {
		if hit == d.cand {
			d.run++
		} else {
			d.cand, d.run = hit, 1
			d.runFirst = d.blocks - 3
		}
		if hit != d.digit { // a recognised digit needs no more checking
			d.record(hit)
		}
	} else {
		d.cand, d.run = -1, 0
	}

	if d.digit >= 0 {
		if hit == d.digit {
			d.misses = 0
			d.digitLast = d.blocks
		} else {
			d.misses++
			if d.misses >= dtmfMissesToEnd {
				d.end()
			}
		}
	}
	if d.run >= dtmfHitsToStart && d.cand != d.digit && d.verify() {
		d.end()
		d.digit, d.misses = d.cand, 0
		d.digitFirst, d.digitLast = d.runFirst, d.blocks
		if d.onDigit != nil {
			d.onDigit(rune(dtmfKeys[d.cand]))
		}
	}
}

// screen applies the cheap tests to the current window and returns the
// candidate digit (row*4+col) or -1.
func (d *DTMFDetector) screen() int {
	o, m, n := d.cur+1, d.cur+2, d.cur
	if o >= 3 {
		o -= 3
	}
	if m >= 3 {
		m -= 3
	}
	eo, em, en := d.energy[o], d.energy[m], d.energy[n]
	e := eo + em + en
	if e < d.minEnergy || 3*min(eo, em, en) < dtmfStationary*e {
		return -1
	}
	// The low group first: a window whose best row tone could not make up
	// its share of the energy even with the loudest column tone allowed
	// needs no high-group filters.
	var p [8]float32
	d.groupPowers(0, o, m, n, &p)
	r := 0
	for k := 1; k < 4; k++ {
		if p[k] > p[r] {
			r = k
		}
	}
	pr := p[r]
	// A sine of peak A: |X|^2 = (A N/2)^2 and energy N A^2/2.
	if pr < d.minPower || pr*(1+dtmfScreenTwistR)*(2.0/dtmfWin) < dtmfScreenShare*e {
		return -1
	}
	for k := range 4 {
		if k != r && p[k]*dtmfRelPeak > pr {
			return -1
		}
	}
	d.groupPowers(1, o, m, n, &p)
	c := 4
	for k := 5; k < 8; k++ {
		if p[k] > p[c] {
			c = k
		}
	}
	pc := p[c]
	if pc < d.minPower || pr > dtmfScreenTwistN*pc || pc > dtmfScreenTwistR*pr {
		return -1
	}
	for k := 4; k < 8; k++ {
		if k != c && p[k]*dtmfRelPeak > pc {
			return -1
		}
	}
	if (pr+pc)*(2.0/dtmfWin) < dtmfScreenShare*e {
		return -1
	}
	return r*4 + (c - 4)
}

// groupPowers fills p with the window's power at the four frequencies of
// group g (0 low, 1 high), running the group's filters over any of the
// window's sub-blocks (slots o, m, n, oldest first) not yet done.
func (d *DTMFDetector) groupPowers(g, o, m, n int, p *[8]float32) {
	d.goertzel(o, g)
	d.goertzel(m, g)
	d.goertzel(n, g)
	ore, oim := &d.zre[o], &d.zim[o]
	mre, mim := &d.zre[m], &d.zim[m]
	nre, nim := &d.zre[n], &d.zim[n]
	for k := 4 * g; k < 4*g+4; k++ {
		// X = z_o + z_m r + z_n r^2
		re := ore[k] + mre[k]*d.r1re[k] - mim[k]*d.r1im[k] + nre[k]*d.r2re[k] - nim[k]*d.r2im[k]
		im := oim[k] + mre[k]*d.r1im[k] + mim[k]*d.r1re[k] + nre[k]*d.r2im[k] + nim[k]*d.r2re[k]
		p[k] = re*re + im*im
	}
}

// record keeps the Hann-windowed DFTs of the current window at the
// candidate's two frequencies.
func (d *DTMFDetector) record(digit int) {
	kr, kc := digit/4, 4+digit%4
	var rr, ri, cr, ci float32
	for b := range 3 {
		slot := d.cur + 1 + b
		if slot >= 3 {
			slot -= 3
		}
		x := &d.sub[slot]
		off := b * dtmfSub
		hre, him := d.hre[kr][off:off+dtmfSub], d.him[kr][off:off+dtmfSub]
		gre, gim := d.hre[kc][off:off+dtmfSub], d.him[kc][off:off+dtmfSub]
		for i, s := range x {
			v := float32(s)
			rr += v * hre[i]
			ri += v * him[i]
			cr += v * gre[i]
			ci += v * gim[i]
		}
	}
	h := &d.hist[(d.run-1)%dtmfHitsToStart]
	h.hr = complex(rr, ri)
	h.hc = complex(cr, ci)
	h.energy = d.energy[0] + d.energy[1] + d.energy[2]
}

// maxIgnored is how many tones IgnoreTones takes.
const maxIgnored = 4

// IgnoreTones names tones (Hz, below 650 Hz: dial tones such as 350+440 or
// 425) that the port itself is playing while digits may be keyed. Their
// echo from the line hybrid is then left out of the energy the DTMF tones
// must dominate, so digits keyed over dial tone are not lost on a line with
// poor echo return loss. At most four tones, each at least 60 Hz from the
// others (a closer one is taken as the same tone); others are ignored. Call
// with none to clear. It does not allocate.
func (d *DTMFDetector) IgnoreTones(freqs ...float64) {
	d.ign = 0
next:
	for _, f := range freqs {
		if !(f > 0 && f < 650) || d.ign == maxIgnored {
			continue
		}
		for _, g := range d.ignFreq[:d.ign] {
			if math.Abs(f-g) < 60 {
				continue next
			}
		}
		w := 2 * math.Pi * f / 8000
		for n := range dtmfWin {
			d.ignRe[d.ign][n] = float32(d.hann[n] * math.Cos(w*float64(n)))
			d.ignIm[d.ign][n] = float32(-d.hann[n] * math.Sin(w*float64(n)))
		}
		d.ignFreq[d.ign] = f
		d.ign++
	}
}

// ignoredPower estimates the mean power of the ignored tones in the current
// window from Hann-windowed DFTs at their frequencies.
func (d *DTMFDetector) ignoredPower() float64 {
	var p float64
	for k := range d.ign {
		var re, im float32
		for b := range 3 {
			slot := d.cur + 1 + b
			if slot >= 3 {
				slot -= 3
			}
			x := &d.sub[slot]
			off := b * dtmfSub
			cre, cim := d.ignRe[k][off:off+dtmfSub], d.ignIm[k][off:off+dtmfSub]
			for i, s := range x {
				v := float32(s)
				re += v * cre[i]
				im += v * cim[i]
			}
		}
		// A sine of peak A gives |H| = A sum(w) / 2 and power A^2 / 2.
		a := 2 * math.Hypot(float64(re), float64(im)) / d.hannSum
		p += a * a / 2
	}
	return p
}

// dtmfMeasure is what the exact check measures over the kept windows.
type dtmfMeasure struct {
	freqErr   [2]float64 // relative frequency error of the row and column tone
	chirp     [2]float64 // change of relative frequency error across the windows
	coherence [2]float64 // 1 for a steady sine
	twistDB   float64    // row level minus column level
	share     float64    // the two tones' share of the signal power
}

// verify makes the exact checks over the last dtmfHitsToStart windows of the
// candidate.
func (d *DTMFDetector) verify() bool {
	m := d.measure()
	if d.trace != nil {
		d.trace("verify", m)
	}
	for i := range 2 {
		if math.Abs(m.freqErr[i]) > dtmfMaxFreqError || math.Abs(m.chirp[i]) > dtmfMaxChirp || m.coherence[i] < dtmfCoherence {
			return false
		}
	}
	return m.twistDB <= dtmfTwistN && -m.twistDB <= dtmfTwistR && m.share >= dtmfShare && m.doubt() <= dtmfMaxDoubt
}

// doubt sums how far each tone-quality measure has gone from a clean
// tone's value toward its limit (0 clean, 1 at the limit): share, the worse
// coherence, the worse drift, and the worse frequency error beyond the
// 1.5 % that must be accepted. Noise moves them all a little; voiced speech
// that happens to pass each limit singly sits near all of them at once.
func (m dtmfMeasure) doubt() float64 {
	fe := max(math.Abs(m.freqErr[0]), math.Abs(m.freqErr[1]))
	return (1-m.share)/(1-dtmfShare) +
		(1-min(m.coherence[0], m.coherence[1]))/(1-dtmfCoherence) +
		max(math.Abs(m.chirp[0]), math.Abs(m.chirp[1]))/dtmfMaxChirp +
		max(0, fe-0.015)/(dtmfMaxFreqError-0.015)
}

// measure measures the candidate's two tones over the kept windows.
func (d *DTMFDetector) measure() dtmfMeasure {
	var m dtmfMeasure
	first := int((d.run - dtmfHitsToStart) % dtmfHitsToStart) // ring slot of the oldest window kept
	var amp2 [2]float64
	for t := range 2 {
		k := d.cand / 4
		if t == 1 {
			k = 4 + d.cand%4
		}
		var qa, qb complex128
		var mag, pow float64
		var prev complex128
		for i := range dtmfHitsToStart {
			hw := &d.hist[(first+i)%dtmfHitsToStart]
			h := complex128(hw.hr)
			if t == 1 {
				h = complex128(hw.hc)
			}
			pow += real(h)*real(h) + imag(h)*imag(h)
			if i > 0 {
				p := h * cmplx.Conj(prev)
				if i <= dtmfHitsToStart/2 {
					qa += p
				} else {
					qb += p
				}
				mag += cmplx.Abs(h) * cmplx.Abs(prev)
			}
			prev = h
		}
		q := qa + qb
		if mag > 0 {
			m.coherence[t] = cmplx.Abs(q) / mag
		}
		w := 2 * math.Pi * dtmfFreqs()[k] / 8000
		dw := cmplx.Phase(q*d.hopRot[k]) / dtmfSub // radians per sample
		m.freqErr[t] = dw / w
		m.chirp[t] = cmplx.Phase(qb*cmplx.Conj(qa)) / dtmfSub / w
		// The window's response at the frequency error (|H| for a sine of
		// peak A is A g / 2).
		var gre, gim float64
		sn, cs := math.Sincos(dw)
		er, ei := 1.0, 0.0 // e^{j dw n}
		for _, h := range &d.hann {
			gre += h * er
			gim += h * ei
			er, ei = er*cs-ei*sn, ei*cs+er*sn
		}
		g := math.Hypot(gre, gim)
		// |H| = A g / 2 for a sine of peak A.
		amp2[t] = pow / dtmfHitsToStart * 4 / (g * g)
	}
	if amp2[0] > 0 && amp2[1] > 0 {
		m.twistDB = 10 * math.Log10(amp2[0]/amp2[1])
	}
	var e float64
	for i := range dtmfHitsToStart {
		e += float64(d.hist[i].energy)
	}
	// Mean signal power, less that of the tones the port is playing itself
	// (their echo is not the caller's).
	power := e/(dtmfHitsToStart*dtmfWin) - d.ignoredPower()
	if tones := (amp2[0] + amp2[1]) / 2; power < tones {
		power = tones
	}
	if power > 0 {
		m.share = (amp2[0] + amp2[1]) / 2 / power
	}
	return m
}
