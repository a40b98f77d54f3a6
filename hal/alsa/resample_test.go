package alsa

import (
	"math"
	"testing"

	"github.com/critline/critline/hal"
)

// tone fills n samples of a sine at f Hz and rate r, amplitude a, from
// sample index start.
func tone(dst []int16, f, r, a float64, start int) {
	for i := range dst {
		dst[i] = int16(math.Round(a * math.Sin(2*math.Pi*f*float64(start+i)/r)))
	}
}

// level is the RMS of s relative to a full-scale sine, in dB.
func level(s []int16) float64 {
	sum := 0.0
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(s)))/(32767/math.Sqrt2))
}

func TestDecimatorPassesVoiceAndRejectsAliases(t *testing.T) {
	for _, k := range []int{2, 6} {
		r := float64(k * hal.SampleRate)
		for _, c := range []struct {
			f      float64
			lo, hi float64 // acceptable output level, dB re the input
		}{{1000, -0.1, 0.1}, {300, -0.1, 0.1}, {3000, -0.5, 0.1}, {4600, math.Inf(-1), -40}, {7000, math.Inf(-1), -60}} {
			if c.f >= r/2 {
				continue
			}
			d := newDecimator(k)
			in := make([]int16, k*hal.FrameSamples)
			var out hal.Frame
			var got []int16
			for fr := 0; fr < 20; fr++ {
				tone(in, c.f, r, 10000, fr*len(in))
				d.process(in, &out)
				if fr >= 5 {
					got = append(got, out[:]...)
				}
			}
			ref := 20 * math.Log10(10000/32767.0)
			if l := level(got) - ref; l < c.lo || l > c.hi {
				t.Errorf("k=%d %v Hz: %.2f dB, want %.1f..%.1f", k, c.f, l, c.lo, c.hi)
			}
		}
	}
}

func TestInterpolatorKeepsToneAndLevel(t *testing.T) {
	for _, k := range []int{2, 6} {
		u := newInterpolator(k)
		d := newDecimator(k)
		var in, back hal.Frame
		mid := make([]int16, k*hal.FrameSamples)
		var hi, lo []int16
		for fr := 0; fr < 20; fr++ {
			tone(in[:], 1000, hal.SampleRate, 10000, fr*hal.FrameSamples)
			u.process(&in, mid)
			d.process(mid, &back)
			if fr >= 5 {
				hi = append(hi, mid...)
				lo = append(lo, back[:]...)
			}
		}
		ref := 20 * math.Log10(10000/32767.0)
		if l := level(hi) - ref; math.Abs(l) > 0.1 {
			t.Errorf("k=%d upsampled level %.2f dB", k, l)
		}
		if l := level(lo) - ref; math.Abs(l) > 0.2 {
			t.Errorf("k=%d round trip level %.2f dB", k, l)
		}
		// Images of the 1 kHz tone (k*8000 +- 1000) must be gone: the
		// upsampled signal is close to an ideal 1 kHz sine.
		best := math.Inf(1)
		for ph := 0.0; ph < 2*math.Pi; ph += 2 * math.Pi / 720 {
			errSum := 0.0
			for i, v := range hi[:960] {
				e := float64(v) - 10000*math.Sin(2*math.Pi*1000*float64(i)/float64(k*hal.SampleRate)+ph)
				errSum += e * e
			}
			best = math.Min(best, errSum)
		}
		if snr := 10 * math.Log10(float64(len(hi[:960]))*5e7/best); snr < 40 {
			t.Errorf("k=%d upsampled tone SNR %.1f dB, want >= 40", k, snr)
		}
	}
}

func BenchmarkResample48k(b *testing.B) {
	u, d := newInterpolator(6), newDecimator(6)
	var f hal.Frame
	mid := make([]int16, 6*hal.FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		u.process(&f, mid)
		d.process(mid, &f)
	}
}
