package dsp

import (
	"fmt"
	"math"
	"time"

	"github.com/critline/critline/hal"
)

// Component is one sine of a multi-frequency tone.
type Component struct {
	Freq  float64 // Hz
	Level float64 // dBm0 (a full-scale sine is +3.14 dBm0)
}

// ToneSegment is one step of a cadence: the listed components played
// together for Duration. No components means silence; a Duration of 0 means
// the segment lasts for ever.
type ToneSegment struct {
	Components []Component
	Duration   time.Duration
}

// Tone is a call-progress tone: its segments are played in order and, when
// Repeat is set, again from the first one.
type Tone struct {
	Name     string
	Segments []ToneSegment
	Repeat   bool
}

// Validate reports the first problem that would make t play other than as
// written: no segments, a frequency outside 0-4000 Hz, a level above
// full scale, a negative duration, or a "for ever" segment that is not the
// last one.
func (t Tone) Validate() error {
	name := t.Name
	if name == "" {
		name = "(unnamed)"
	}
	if len(t.Segments) == 0 {
		return fmt.Errorf("tone %s: no segments; give at least one (components and a duration, 0 = for ever)", name)
	}
	for i, s := range t.Segments {
		if s.Duration < 0 {
			return fmt.Errorf("tone %s: segment %d: duration %v is negative", name, i+1, s.Duration)
		}
		if s.Duration == 0 && i != len(t.Segments)-1 {
			return fmt.Errorf("tone %s: segment %d lasts for ever (duration 0) so segments after it never play; give it a duration", name, i+1)
		}
		for _, c := range s.Components {
			if !(c.Freq > 0 && c.Freq < 4000) {
				return fmt.Errorf("tone %s: segment %d: frequency %g Hz is outside 0-4000 Hz (8 kHz sampling)", name, i+1, c.Freq)
			}
			if math.IsNaN(c.Level) || c.Level > maxSinePowerDBm0 {
				return fmt.Errorf("tone %s: segment %d: level %g dBm0 is above full scale (+3.14 dBm0)", name, i+1, c.Level)
			}
		}
	}
	return nil
}

// genComp is one oscillator's constants.
type genComp struct {
	freq float64
	inc  float64 // cycles per sample
	amp  float64
}

type genSeg struct {
	comps []genComp
	n     int // samples; 0 = for ever
}

// ToneGen plays a Tone frame by frame. It is phase-continuous across frames
// and across segment changes for components whose frequency is unchanged.
// It is not safe for concurrent use.
type ToneGen struct {
	segs   []genSeg
	repeat bool
	seg    int
	pos    int // samples played in the current segment
	done   bool
	phase  []float64 // cycles, [0,1), per component of the current segment
	next   []float64 // scratch for segment changes
	acc    [hal.FrameSamples]float64
}

// NewToneGen returns a generator for t positioned at its start. A tone that
// fails Validate still plays what can be played: negative durations count as
// zero, out-of-range components are skipped.
func NewToneGen(t Tone) *ToneGen {
	g := &ToneGen{repeat: t.Repeat}
	maxc := 0
	for _, s := range t.Segments {
		gs := genSeg{}
		if s.Duration > 0 {
			gs.n = int(math.Round(s.Duration.Seconds() * hal.SampleRate))
			if gs.n < 1 {
				gs.n = 1
			}
		}
		for _, c := range s.Components {
			if !(c.Freq > 0 && c.Freq < 4000) || math.IsNaN(c.Level) {
				continue
			}
			gs.comps = append(gs.comps, genComp{freq: c.Freq, inc: c.Freq / hal.SampleRate, amp: DBm0ToAmplitude(c.Level)})
		}
		maxc = max(maxc, len(gs.comps))
		g.segs = append(g.segs, gs)
	}
	g.phase = make([]float64, maxc)
	g.next = make([]float64, maxc)
	g.Reset()
	return g
}

// Reset rewinds the generator to the start of the tone with zero phases.
func (g *ToneGen) Reset() {
	g.seg, g.pos = 0, 0
	g.done = len(g.segs) == 0
	clear(g.phase)
}

// Done reports whether a non-repeating tone has played to its end.
func (g *ToneGen) Done() bool { return g.done }

// Fill writes the next 20 ms of the tone into f; once a non-repeating tone
// has ended it writes silence. It does not allocate.
func (g *ToneGen) Fill(f *hal.Frame) {
	g.FillSamples(f[:])
}

// FillSamples is Fill for any length of buffer.
func (g *ToneGen) FillSamples(out []int16) {
	for len(out) > 0 {
		n := min(len(out), len(g.acc))
		g.fill(g.acc[:n])
		for i, v := range g.acc[:n] {
			out[i] = saturate(v)
		}
		out = out[n:]
	}
}

func (g *ToneGen) fill(acc []float64) {
	clear(acc)
	for len(acc) > 0 && !g.done {
		s := &g.segs[g.seg]
		n := len(acc)
		if s.n > 0 {
			n = min(n, s.n-g.pos)
		}
		for i := range s.comps {
			c := &s.comps[i]
			g.oscillate(acc[:n], c, g.phase[i])
			p := g.phase[i] + float64(n)*c.inc
			g.phase[i] = p - math.Floor(p)
		}
		acc = acc[n:]
		g.pos += n
		if s.n > 0 && g.pos >= s.n {
			g.advance()
		}
	}
}

// oscillate adds c's sine, starting at phase (cycles), to acc. Four
// phasors a sample apart, each turned by four samples' worth, make four
// independent chains the CPU can run side by side.
func (g *ToneGen) oscillate(acc []float64, c *genComp, phase float64) {
	var s, k [4]float64 // sin and cos of each phasor
	for j := range 4 {
		s[j], k[j] = math.Sincos(2 * math.Pi * (phase + float64(j)*c.inc))
	}
	r4s, r4c := math.Sincos(2 * math.Pi * 4 * c.inc)
	a := c.amp
	j := 0
	for ; j+4 <= len(acc); j += 4 {
		acc[j] += a * s[0]
		acc[j+1] += a * s[1]
		acc[j+2] += a * s[2]
		acc[j+3] += a * s[3]
		s[0], k[0] = s[0]*r4c+k[0]*r4s, k[0]*r4c-s[0]*r4s
		s[1], k[1] = s[1]*r4c+k[1]*r4s, k[1]*r4c-s[1]*r4s
		s[2], k[2] = s[2]*r4c+k[2]*r4s, k[2]*r4c-s[2]*r4s
		s[3], k[3] = s[3]*r4c+k[3]*r4s, k[3]*r4c-s[3]*r4s
	}
	for i := 0; j < len(acc); i, j = i+1, j+1 {
		acc[j] += a * s[i]
	}
}

// advance moves to the next segment, carrying the phase of every component
// whose frequency continues.
func (g *ToneGen) advance() {
	prev := &g.segs[g.seg]
	g.seg++
	g.pos = 0
	if g.seg == len(g.segs) {
		if !g.repeat {
			g.done = true
			g.seg = len(g.segs) - 1
			return
		}
		g.seg = 0
	}
	cur := &g.segs[g.seg]
	for i, c := range cur.comps {
		g.next[i] = 0
		for j, p := range prev.comps {
			if p.freq == c.freq {
				g.next[i] = g.phase[j]
				break
			}
		}
	}
	g.phase, g.next = g.next, g.phase
}
