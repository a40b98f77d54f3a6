package dsp

import (
	"math"
	"strconv"

	"github.com/critline/critline/hal"
)

// FSKStandard picks the modem tones for caller-ID FSK. Both run at 1200
// bit/s.
type FSKStandard int

const (
	// V23 is ITU-T V.23 (mode 2 forward channel) as used by BT SIN 227 and
	// ETSI EN 300 659: mark (1) 1300 Hz, space (0) 2100 Hz.
	V23 FSKStandard = iota
	// Bell202 is Bell 202 as used by Bellcore GR-30-CORE: mark 1200 Hz,
	// space 2200 Hz.
	Bell202
)

// String names the standard.
func (s FSKStandard) String() string {
	switch s {
	case V23:
		return "V.23"
	case Bell202:
		return "Bell 202"
	}
	return "FSKStandard(" + strconv.Itoa(int(s)) + ")"
}

// Tones returns the mark (1) and space (0) frequencies in Hz.
func (s FSKStandard) Tones() (mark, space float64) {
	if s == Bell202 {
		return 1200, 2200
	}
	return 1300, 2100
}

// FSKBaud is the caller-ID FSK bit rate.
const FSKBaud = 1200

// FSKOptions shapes a caller-ID FSK burst: SeizureBits of alternating 0 and
// 1 (starting with 0), then MarkBits of 1, then the message as 8N1 bytes
// (start bit 0, eight data bits LSB first, stop bit 1), then PostMarkBits of 1.
type FSKOptions struct {
	SeizureBits  int
	MarkBits     int
	LevelDBm0    float64
	PostMarkBits int
}

// DefaultFSKOptions returns the standard preamble and level for std:
//   - V23: 300 seizure bits and 180 mark bits, which meets both BT SIN 227
//     (seizure 96-315, mark >= 55) and ETSI EN 300 659-1 on-hook (seizure
//     300, mark 180 +- 25);
//   - Bell202: 300 seizure bits (30 x 0x55) and 180 mark bits (Bellcore
//     GR-30-CORE).
//
// Both send -13.5 dBm0 (GR-30's nominal level; spandsp sends -14) and close
// with 5 mark bits so the last stop bit is clear of the carrier's end.
func DefaultFSKOptions(std FSKStandard) FSKOptions {
	return FSKOptions{SeizureBits: 300, MarkBits: 180, LevelDBm0: -13.5, PostMarkBits: 5}
}

// FSKSamples returns how many samples AppendFSK produces for a message of
// msgLen bytes.
func FSKSamples(msgLen int, o FSKOptions) int {
	bits := max(o.SeizureBits, 0) + max(o.MarkBits, 0) + 10*msgLen + max(o.PostMarkBits, 0)
	return (bits*hal.SampleRate + FSKBaud - 1) / FSKBaud
}

// AppendFSK appends msg, FSK-modulated by std with o's preamble and level,
// to dst. The carrier is phase-continuous; bit edges fall on the nearest
// sample of the exact 1200 bit/s grid. It allocates only if dst lacks room
// (see FSKSamples).
func AppendFSK(dst []int16, std FSKStandard, msg []byte, o FSKOptions) []int16 {
	ns := FSKSamples(len(msg), o)
	dst = grow(dst, ns)
	mark, space := std.Tones()
	amp := DBm0ToAmplitude(o.LevelDBm0)
	sm, cm := math.Sincos(2 * math.Pi * mark / hal.SampleRate)
	ss, cs := math.Sincos(2 * math.Pi * space / hal.SampleRate)
	seizure, marks := max(o.SeizureBits, 0), max(o.MarkBits, 0)
	x, y := 1.0, 0.0 // carrier phasor
	for n := range ns {
		// Sample n lies in bit n*1200/8000.
		b := n * FSKBaud / hal.SampleRate
		bit := true
		switch {
		case b < seizure:
			bit = b%2 == 1
		case b < seizure+marks:
		case b < seizure+marks+10*len(msg):
			i := b - seizure - marks
			k := i % 10
			switch k {
			case 0:
				bit = false
			case 9:
			default:
				bit = msg[i/10]>>(k-1)&1 == 1
			}
		}
		dst = append(dst, saturate(amp*y))
		if bit {
			x, y = x*cm-y*sm, y*cm+x*sm
		} else {
			x, y = x*cs-y*ss, y*cs+x*ss
		}
		if n&127 == 127 {
			// Keep the phasor on the unit circle.
			r := 1 / math.Hypot(x, y)
			x, y = x*r, y*r
		}
	}
	return dst
}
