package alsa

import (
	"math"

	"github.com/critline/critline/hal"
)

// lowpass returns a linear-phase windowed-sinc (Blackman) low-pass filter for
// rate k*8000 Hz with its cut-off just below 4 kHz and unity gain at DC.
func lowpass(k int) []float64 {
	n := 32*k + 1
	fc := 3900.0 / float64(k*hal.SampleRate) // cycles per sample
	h := make([]float64, n)
	sum := 0.0
	mid := float64(n-1) / 2
	for j := range h {
		x := float64(j) - mid
		s := 2 * fc
		if x != 0 {
			s = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(j)/float64(n-1)) + 0.08*math.Cos(4*math.Pi*float64(j)/float64(n-1))
		h[j] = s * w
		sum += h[j]
	}
	for j := range h {
		h[j] /= sum
	}
	return h
}

func clamp16(v float64) int16 {
	v = math.Round(v)
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// decimator turns k*160 samples at k*8 kHz into one 8 kHz frame.
type decimator struct {
	k   int
	h   []float64
	buf []float64 // len(h)-1 samples of history, then the new block
}

func newDecimator(k int) *decimator {
	h := lowpass(k)
	return &decimator{k: k, h: h, buf: make([]float64, len(h)-1+k*hal.FrameSamples)}
}

func (d *decimator) process(in []int16, out *hal.Frame) {
	n := len(d.h)
	for i, v := range in {
		d.buf[n-1+i] = float64(v)
	}
	for o := range out {
		idx := n - 1 + o*d.k
		acc := 0.0
		for j, c := range d.h {
			acc += c * d.buf[idx-j]
		}
		out[o] = clamp16(acc)
	}
	copy(d.buf, d.buf[len(d.buf)-(n-1):])
}

// interpolator turns one 8 kHz frame into k*160 samples at k*8 kHz.
type interpolator struct {
	k  int
	h  []float64
	up []float64 // len(h)-1 zero-stuffed samples of history, then the new block
}

func newInterpolator(k int) *interpolator {
	h := lowpass(k)
	return &interpolator{k: k, h: h, up: make([]float64, len(h)-1+k*hal.FrameSamples)}
}

func (u *interpolator) process(in *hal.Frame, out []int16) {
	n := len(u.h)
	blk := u.up[n-1:]
	for i := range blk {
		blk[i] = 0
	}
	for i, v := range in {
		blk[i*u.k] = float64(v)
	}
	gain := float64(u.k)
	for m := range out {
		idx := n - 1 + m
		acc := 0.0
		for j := m % u.k; j < n; j += u.k {
			acc += u.h[j] * u.up[idx-j]
		}
		out[m] = clamp16(acc * gain)
	}
	copy(u.up, u.up[len(u.up)-(n-1):])
}
