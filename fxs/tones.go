package fxs

import (
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// toneID names the call-progress tones a port plays.
type toneID int

const (
	toneNone toneID = iota
	toneDial
	toneSpecialDial
	toneRingback
	toneBusy
	toneCongestion
	toneUnobtainable
	toneCallWaiting
	toneMessageWaiting
	toneRecallDial // dial tone of an enquiry call (services.go)
	numTones
)

// DSPTone converts a country profile's tone to the tone generator's form.
func DSPTone(t profile.Tone) dsp.Tone {
	out := dsp.Tone{Name: t.Name, Repeat: t.Repeat}
	for _, s := range t.Segments {
		seg := dsp.ToneSegment{Duration: s.Duration}
		for _, c := range s.Components {
			seg.Components = append(seg.Components, dsp.Component{Freq: c.Freq, Level: c.Level})
		}
		out.Segments = append(out.Segments, seg)
	}
	return out
}

// toneFreqs lists the frequencies a tone plays, so the DTMF detector can
// ignore their echo from the line while the tone plays.
func toneFreqs(t dsp.Tone) []float64 {
	var out []float64
	for _, s := range t.Segments {
		for _, c := range s.Components {
			out = append(out, c.Freq)
		}
	}
	return out
}

// buildTones makes one generator per call-progress tone of the profile,
// and the frequencies of each.
func buildTones(p *profile.Profile) ([numTones]*dsp.ToneGen, [numTones][]float64, error) {
	var gens [numTones]*dsp.ToneGen
	var freqs [numTones][]float64
	for _, t := range []struct {
		id   toneID
		name string
		spec profile.ToneSpec
	}{
		{toneDial, "dial", p.Tones.Dial},
		{toneSpecialDial, "special_dial", p.Tones.SpecialDial},
		{toneRingback, "ringback", p.Tones.Ringback},
		{toneBusy, "busy", p.Tones.Busy},
		{toneCongestion, "congestion", p.Tones.Congestion},
		{toneUnobtainable, "unobtainable", p.Tones.Unobtainable},
		{toneCallWaiting, "call_waiting", p.Tones.CallWaiting},
		{toneMessageWaiting, "message_waiting", p.Tones.MessageWaiting},
		{toneRecallDial, "recall_dial", recallDial(p)},
	} {
		pt, err := t.spec.Parse(t.name)
		if err != nil {
			return gens, freqs, fmt.Errorf("profile %s: tones.%s: %w", p.Name, t.name, err)
		}
		dt := DSPTone(pt)
		if err := dt.Validate(); err != nil {
			return gens, freqs, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		gens[t.id] = dsp.NewToneGen(dt)
		freqs[t.id] = toneFreqs(dt)
	}
	return gens, freqs, nil
}

// toneLength is the playing time of a non-repeating tone's finite segments.
func toneLength(t profile.Tone) time.Duration {
	var d time.Duration
	for _, s := range t.Segments {
		d += s.Duration
	}
	return d
}

// samples converts a duration to a sample count at 8 kHz.
func samples(d time.Duration) int {
	return int(d * hal.SampleRate / time.Second)
}

// recallDial is the profile's enquiry dial tone, or its dial tone.
func recallDial(p *profile.Profile) profile.ToneSpec {
	if strings.TrimSpace(p.Tones.RecallDial.Cadence) == "" {
		return p.Tones.Dial
	}
	return p.Tones.RecallDial
}
