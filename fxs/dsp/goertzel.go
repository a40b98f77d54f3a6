package dsp

import "math"

// ToneLevelDBm0 measures the level (dBm0) of the component at freq in
// samples with a single-bin DFT (the Goertzel algorithm) over all of them.
// For a steady sine whose frequency falls close to freq (within a fraction of
// 8000/len(samples) Hz) it reads the sine's level; tones elsewhere read low.
// Use a few hundred samples or more for a selective reading.
func ToneLevelDBm0(samples []int16, freq float64) float64 {
	n := len(samples)
	if n == 0 {
		return math.Inf(-1)
	}
	w := 2 * math.Pi * freq / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	// |X|^2 for the bin; a sine of peak A gives |X| = A*n/2.
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	mag := math.Sqrt(re*re+im*im) * 2 / float64(n)
	return AmplitudeToDBm0(mag)
}
