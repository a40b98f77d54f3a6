package dsp

import (
	"math"
	"testing"
)

func TestDBm0ToAmplitude(t *testing.T) {
	for _, c := range []struct{ dbm0, peak float64 }{
		{3.14, 32767},
		{-10, 7219}, // spandsp: -10 dBm0 is a peak of 7219
		{-16.86, 3276.7},
	} {
		if got := DBm0ToAmplitude(c.dbm0); math.Abs(got-c.peak) > 1 {
			t.Errorf("DBm0ToAmplitude(%g) = %.1f, want %.1f", c.dbm0, got, c.peak)
		}
	}
	for _, l := range []float64{-60, -30, -13.5, 0, 3.14} {
		if got := AmplitudeToDBm0(DBm0ToAmplitude(l)); math.Abs(got-l) > 1e-9 {
			t.Errorf("AmplitudeToDBm0(DBm0ToAmplitude(%g)) = %g", l, got)
		}
	}
	if !math.IsInf(AmplitudeToDBm0(0), -1) {
		t.Error("AmplitudeToDBm0(0) is not -Inf")
	}
}

func TestPowerDBm0(t *testing.T) {
	for _, l := range []float64{3.14, -10, -30, -50} {
		a := DBm0ToAmplitude(l)
		s := make([]int16, 8000)
		for i := range s {
			s[i] = saturate(a * math.Sin(2*math.Pi*1000*float64(i)/8000+0.3))
		}
		if got := PowerDBm0(s); math.Abs(got-l) > 0.05 {
			t.Errorf("PowerDBm0 of a %g dBm0 sine = %.3f", l, got)
		}
	}
	if !math.IsInf(PowerDBm0(nil), -1) || !math.IsInf(PowerDBm0(make([]int16, 10)), -1) {
		t.Error("PowerDBm0 of nothing or silence is not -Inf")
	}
	// Two tones at L each read L + 3.01.
	s := make([]int16, 8000)
	a := DBm0ToAmplitude(-13)
	for i := range s {
		s[i] = saturate(a*math.Sin(2*math.Pi*697*float64(i)/8000) + a*math.Sin(2*math.Pi*1209*float64(i)/8000))
	}
	if got := PowerDBm0(s); math.Abs(got-(-13+3.01)) > 0.05 {
		t.Errorf("PowerDBm0 of two -13 dBm0 tones = %.3f, want -9.99", got)
	}
}

func TestSaturate(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want int16
	}{{0, 0}, {1.5, 2}, {2.5, 3}, {-1.5, -2}, {-2.4, -2}, {0.49, 0}, {40000, 32767}, {-40000, -32768}, {32767.4, 32767}} {
		if got := saturate(c.in); got != c.want {
			t.Errorf("saturate(%g) = %d, want %d", c.in, got, c.want)
		}
	}
}
