package pathtest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// The probe: what the appliance sends into a test call, and how it judges
// what comes back.
const (
	// ProbeHz is the probe tone the appliance sends (away from the 1004 Hz
	// test tone, from DTMF and from the call-progress tones, so an echo
	// of it is told apart from anything the far end plays).
	ProbeHz = 1400
	// probeDBm0 is the probe's level: a talker's level.
	probeDBm0 = -12
	// audioFloorDBm0 is the least level of the far end's audio that counts
	// as audio (line noise on a silent call reads far below).
	audioFloorDBm0 = -45
	// dominantDB: a tone "is" the audio when its level is within this of
	// the whole signal's.
	dominantDB = 3
	// listenFor is how long a test call listens once answered; skipFirst
	// of it is not judged (jitter buffers filling, the voice port
	// starting).
	listenFor = 2500 * time.Millisecond
	skipFirst = 400 * time.Millisecond
	// ProbeDigits are the DTMF digits of a DTMF check.
	ProbeDigits = "1379"
	// dtmfOn and dtmfOff pace in-band digits.
	dtmfOn, dtmfOff = 80 * time.Millisecond, 80 * time.Millisecond
)

// heard is what a test call's far end sent, judged.
type heard struct {
	levelDBm0 float64 // the whole signal
	toneDBm0  float64 // at the path's tone frequency
	probeDBm0 float64 // at the probe's frequency
	digits    string  // DTMF digits received (events and in-band)
	samples   int
}

// judgeAudio measures what was received (after skipFirst).
func judgeAudio(rx []int16, toneHz float64) heard {
	skip := int(skipFirst.Seconds() * hal.SampleRate)
	if len(rx) > skip {
		rx = rx[skip:]
	} else {
		rx = nil
	}
	h := heard{levelDBm0: math.Inf(-1), toneDBm0: math.Inf(-1), probeDBm0: math.Inf(-1), samples: len(rx)}
	if len(rx) == 0 {
		return h
	}
	h.levelDBm0 = dsp.PowerDBm0(rx)
	h.toneDBm0 = dsp.ToneLevelDBm0(rx, toneHz)
	h.probeDBm0 = dsp.ToneLevelDBm0(rx, ProbeHz)
	return h
}

// describe says what the audio was, for a report's detail.
func (h heard) describe(toneHz float64) string {
	switch {
	case h.samples == 0:
		return "no audio received"
	case h.levelDBm0 < audioFloorDBm0:
		return fmt.Sprintf("silence (%s)", dbm0(h.levelDBm0))
	case h.toneDBm0 >= h.levelDBm0-dominantDB:
		return fmt.Sprintf("a %g Hz tone at %s", toneHz, dbm0(h.toneDBm0))
	case h.probeDBm0 >= h.levelDBm0-dominantDB:
		return fmt.Sprintf("our %d Hz probe echoed at %s", ProbeHz, dbm0(h.probeDBm0))
	}
	return fmt.Sprintf("audio at %s", dbm0(h.levelDBm0))
}

func dbm0(v float64) string {
	if math.IsInf(v, -1) {
		return "no signal"
	}
	return fmt.Sprintf("%.1f dBm0", v)
}

// verdict judges heard against what the path expects: ok, and why not.
func verdict(expect string, toneHz float64, h heard, sent string) (bool, string) {
	what := h.describe(toneHz)
	switch expect {
	case ExpectTone:
		if h.toneDBm0 >= audioFloorDBm0 && h.toneDBm0 >= h.levelDBm0-dominantDB {
			return true, what
		}
		return false, fmt.Sprintf("expected a %g Hz tone, heard %s", toneHz, what)
	case ExpectEcho:
		if h.probeDBm0 >= audioFloorDBm0 && h.probeDBm0 >= h.levelDBm0-dominantDB {
			return true, what
		}
		return false, fmt.Sprintf("expected our %d Hz probe echoed, heard %s", ProbeHz, what)
	case ExpectDTMF:
		if strings.Contains(h.digits, sent) {
			return true, fmt.Sprintf("DTMF %s sent and echoed", sent)
		}
		got := h.digits
		if got == "" {
			got = "none"
		}
		return false, fmt.Sprintf("DTMF %s sent, %s came back (audio: %s)", sent, got, what)
	}
	if h.levelDBm0 >= audioFloorDBm0 {
		return true, what
	}
	return false, "answered, but " + what + ": the far end sent no audio"
}

// probe makes the audio the appliance sends: the probe tone, with the DTMF
// digits in-band first when they go that way.
type probe struct {
	tone   *dsp.ToneGen
	inband []int16
}

func newProbe(inbandDigits string) (*probe, error) {
	p := &probe{tone: dsp.NewToneGen(dsp.Tone{Name: "probe", Segments: []dsp.ToneSegment{{Components: []dsp.Component{{Freq: ProbeHz, Level: probeDBm0}}}}})}
	if inbandDigits != "" {
		var err error
		if p.inband, err = dsp.AppendDTMF(nil, inbandDigits, dtmfOn, dtmfOff, -8); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// fill writes the next frame to send.
func (p *probe) fill(f *hal.Frame) {
	if len(p.inband) > 0 {
		n := copy(f[:], p.inband)
		clear(f[n:])
		p.inband = p.inband[n:]
		return
	}
	p.tone.Fill(f)
}
