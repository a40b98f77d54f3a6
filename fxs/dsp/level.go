package dsp

import "math"

// maxSinePowerDBm0 is the level of a full-scale sine (peak 32767), spandsp's
// DBM0_MAX_SINE_POWER.
const maxSinePowerDBm0 = 3.14

// fullScale is the peak of a full-scale sine.
const fullScale = 32767.0

// DBm0ToAmplitude returns the peak amplitude (in 16-bit sample units) of a
// sine at the given level in dBm0: +3.14 dBm0 is 32767, -10 dBm0 about 7219.
func DBm0ToAmplitude(dbm0 float64) float64 {
	return fullScale * math.Pow(10, (dbm0-maxSinePowerDBm0)/20)
}

// AmplitudeToDBm0 is the inverse of DBm0ToAmplitude: the level of a sine with
// the given peak amplitude.
func AmplitudeToDBm0(peak float64) float64 {
	if peak <= 0 {
		return math.Inf(-1)
	}
	return 20*math.Log10(peak/fullScale) + maxSinePowerDBm0
}

// PowerDBm0 returns the mean power of samples in dBm0 (a full-scale sine
// reads +3.14). Silence or an empty slice reads -Inf.
func PowerDBm0(samples []int16) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	return meanSquareToDBm0(sum / float64(len(samples)))
}

// meanSquareToDBm0 converts a mean square (sample units squared) to dBm0.
func meanSquareToDBm0(ms float64) float64 {
	if ms <= 0 {
		return math.Inf(-1)
	}
	// A sine of peak A has mean square A*A/2.
	return 10*math.Log10(ms*2/(fullScale*fullScale)) + maxSinePowerDBm0
}

// saturate rounds v to the nearest int16 (halves away from zero),
// clipping at the rails.
func saturate(v float64) int16 {
	if v >= 32767 {
		return 32767
	}
	if v <= -32768 {
		return -32768
	}
	// Round half away from zero; truncation is a single instruction where
	// math.Round is not (GOAMD64=v1, GOARM=6).
	if v >= 0 {
		return int16(v + 0.5)
	}
	return int16(v - 0.5)
}
