package dsp

import (
	"math"
	"time"

	"github.com/critline/critline/hal"
)

// AlertOptions shapes the dual-tone alerting signal (DT-AS / TAS, 2130+2750
// Hz) sent before on-hook caller ID, and the silence after it.
type AlertOptions struct {
	Duration  time.Duration // BT SIN 227: 88-110 ms
	Gap       time.Duration // silence before the FSK: 45-75 ms
	LevelDBm0 float64       // per tone
}

// DefaultAlertOptions returns 100 ms of 2130+2750 Hz at -13 dBm0 per tone
// (spandsp's level) and a 60 ms gap: the middle of BT SIN 227's windows.
func DefaultAlertOptions() AlertOptions {
	return AlertOptions{Duration: 100 * time.Millisecond, Gap: 60 * time.Millisecond, LevelDBm0: -13}
}

// Alerting-signal frequencies (Hz).
const (
	AlertLowHz  = 2130
	AlertHighHz = 2750
)

// AppendAlert appends the dual-tone alerting signal and the gap after it.
func AppendAlert(dst []int16, o AlertOptions) []int16 {
	non := int(math.Round(max(o.Duration, 0).Seconds() * hal.SampleRate))
	noff := int(math.Round(max(o.Gap, 0).Seconds() * hal.SampleRate))
	dst = grow(dst, non+noff)
	amp := DBm0ToAmplitude(o.LevelDBm0)
	s1, c1 := math.Sincos(2 * math.Pi * AlertLowHz / hal.SampleRate)
	s2, c2 := math.Sincos(2 * math.Pi * AlertHighHz / hal.SampleRate)
	x1, y1, x2, y2 := 1.0, 0.0, 1.0, 0.0
	for range non {
		dst = append(dst, saturate(amp*(y1+y2)))
		x1, y1 = x1*c1-y1*s1, y1*c1+x1*s1
		x2, y2 = x2*c2-y2*s2, y2*c2+x2*s2
	}
	for range noff {
		dst = append(dst, 0)
	}
	return dst
}

// AppendUKCallerIDSignal appends what a BT SIN 227 line sends between the
// polarity reversal (and the >= 100 ms after it, which the caller times)
// and the first ring: the alerting signal (DefaultAlertOptions), then msg as
// V.23 FSK (DefaultFSKOptions(V23)). msg is a complete message, e.g. from
// CallerID.MDMF.
func AppendUKCallerIDSignal(dst []int16, msg []byte) []int16 {
	dst = AppendAlert(dst, DefaultAlertOptions())
	return AppendFSK(dst, V23, msg, DefaultFSKOptions(V23))
}

// AppendUSCallerIDSignal appends what a Bellcore line sends between the
// first and second ring: msg as Bell 202 FSK (DefaultFSKOptions(Bell202)).
// msg is a complete message, e.g. from CallerID.MDMF or SDMF.
func AppendUSCallerIDSignal(dst []int16, msg []byte) []int16 {
	return AppendFSK(dst, Bell202, msg, DefaultFSKOptions(Bell202))
}
