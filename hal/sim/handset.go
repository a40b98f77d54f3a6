package sim

import (
	"math"
	"time"

	"github.com/critline/critline/hal"
)

// The simulated handsets are caller-display telephones: like such a phone
// they watch the earpiece, while off the hook, for the CPE alerting signal
// of caller ID on call waiting (2130+2750 Hz, GR-30 type 2, EN 300 659-2)
// and answer it with DTMF D once it ends, so the exchange (here, the port)
// sends the data. On the hook the same dual tone is the alert of ordinary
// caller ID, which is never answered. It is the only signal they know;
// everything else is the porter's doing.

const (
	casLow, casHigh = 2130.0, 2750.0
	casMinAmp       = 1000.0 // per tone: about -27 dBm0, the alert is sent at -13
	ackDuration     = 60 * time.Millisecond
	ackAmp          = 9000.0 // per tone: about -8 dBm0, a telephone's DTMF level
)

// handset is one port's telephone; guarded by PCM.mu.
type handset struct {
	offHook   func() bool // the porter has the handset off the hook
	noCIDCW   bool        // an older telephone without caller display on call waiting
	casFrames int         // consecutive earpiece frames carrying the alert
	acks      int         // acknowledgements sent
}

// earpiece looks at one frame for the alert and returns the
// acknowledgement to put into the microphone when the alert has ended.
func (h *handset) earpiece(f []int16) []int16 {
	if h.noCIDCW || h.offHook == nil || !h.offHook() {
		h.casFrames = 0
		return nil
	}
	if isCAS(f) {
		h.casFrames++
		return nil
	}
	if h.casFrames < 2 { // 80 ms of alert fills at least three 20 ms frames
		h.casFrames = 0
		return nil
	}
	h.casFrames = 0
	h.acks++
	return dtmfD()
}

// isCAS reports both alert tones strong and most of the frame's energy.
func isCAS(f []int16) bool {
	var energy float64
	for _, v := range f {
		energy += float64(v) * float64(v)
	}
	if energy == 0 {
		return false
	}
	lo, hi := toneAmp(f, casLow), toneAmp(f, casHigh)
	share := (lo*lo + hi*hi) / 2 * float64(len(f)) / energy
	return lo > casMinAmp && hi > casMinAmp && share > 0.6
}

// toneAmp estimates the amplitude of the sine at freq in f (Goertzel).
func toneAmp(f []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / hal.SampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range f {
		s := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(p, 0)) / float64(len(f))
}

// dtmfD is the acknowledgement: DTMF D (941+1633 Hz) for 60 ms.
func dtmfD() []int16 {
	n := int(ackDuration * hal.SampleRate / time.Second)
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / hal.SampleRate
		out[i] = int16(ackAmp*math.Sin(2*math.Pi*941*t) + ackAmp*math.Sin(2*math.Pi*1633*t))
	}
	return out
}
