package dsp

import (
	"math"
	"testing"
)

func TestToneLevelDBm0(t *testing.T) {
	s := make([]int16, 1600)
	a1, a2 := DBm0ToAmplitude(-10), DBm0ToAmplitude(-25)
	for i := range s {
		s[i] = saturate(a1*math.Sin(2*math.Pi*1300*float64(i)/8000) + a2*math.Sin(2*math.Pi*2100*float64(i)/8000+1))
	}
	for _, c := range []struct{ f, want, tol float64 }{
		{1300, -10, 0.05},
		{2100, -25, 0.05},
	} {
		if got := ToneLevelDBm0(s, c.f); math.Abs(got-c.want) > c.tol {
			t.Errorf("ToneLevelDBm0(%g Hz) = %.2f, want %g", c.f, got, c.want)
		}
	}
	// Far from both tones the reading is low.
	if got := ToneLevelDBm0(s, 400); got > -50 {
		t.Errorf("ToneLevelDBm0(400 Hz) = %.1f, want below -50", got)
	}
	if !math.IsInf(ToneLevelDBm0(nil, 1000), -1) {
		t.Error("ToneLevelDBm0(nil) is not -Inf")
	}
}
