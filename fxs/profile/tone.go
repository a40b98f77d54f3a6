package profile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Component is one sine of a tone segment.
type Component struct {
	Freq  float64 // Hz
	Level float64 // dBm0
}

// Segment is one step of a cadence: its components (none = silence) for
// Duration (0 = for ever; only the last segment may be endless).
type Segment struct {
	Components []Component
	Duration   time.Duration
}

// Tone is a parsed cadence.
type Tone struct {
	Name     string
	Segments []Segment
	Repeat   bool // the cadence repeats (false when written with a leading "!")
}

// Limits of a tone cadence.
const (
	maxSegments   = 64
	maxComponents = 4
	maxSegment    = 60 * time.Second
)

// Parse parses the spec's cadence (see ParseTone) with its default level.
func (s ToneSpec) Parse(name string) (Tone, error) {
	return ParseTone(name, s.Cadence, s.Level)
}

// ParseTone reads a cadence in the Asterisk indications style extended with
// levels: comma-separated segments "f1[@dBm0][+f2[@dBm0]...][/ms]", where a
// frequency of 0 is silence, a component without "@" has level dBm0, and a
// segment without "/ms" lasts for ever (last segment only). A leading "!"
// plays the cadence once instead of repeating it.
func ParseTone(name, cadence string, level float64) (Tone, error) {
	t := Tone{Name: name, Repeat: true}
	s := strings.TrimSpace(cadence)
	if strings.HasPrefix(s, "!") {
		t.Repeat = false
		s = s[1:]
	}
	if s == "" {
		return t, fmt.Errorf("empty cadence: write e.g. \"400/375,0/375\"")
	}
	if level > 3.14 || level < -60 {
		return t, fmt.Errorf("level %g dBm0 is out of range: use -60 to +3", level)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxSegments {
		return t, fmt.Errorf("%d segments: at most %d", len(parts), maxSegments)
	}
	for i, part := range parts {
		seg, err := parseSegment(strings.TrimSpace(part), level)
		if err != nil {
			return t, fmt.Errorf("segment %d %q: %w", i+1, part, err)
		}
		if seg.Duration == 0 && i != len(parts)-1 {
			return t, fmt.Errorf("segment %d %q has no duration: only the last segment may last for ever (add /ms)", i+1, part)
		}
		t.Segments = append(t.Segments, seg)
	}
	return t, nil
}

func parseSegment(s string, level float64) (Segment, error) {
	var seg Segment
	freqs := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		freqs = s[:i]
		ms, err := strconv.ParseUint(strings.TrimSpace(s[i+1:]), 10, 32)
		if err != nil || ms == 0 {
			return seg, fmt.Errorf("duration %q is not a whole number of milliseconds above 0", s[i+1:])
		}
		seg.Duration = time.Duration(ms) * time.Millisecond
		if seg.Duration > maxSegment {
			return seg, fmt.Errorf("duration %v is longer than %v", seg.Duration, maxSegment)
		}
	}
	freqs = strings.TrimSpace(freqs)
	if freqs == "0" {
		return seg, nil
	}
	comps := strings.Split(freqs, "+")
	if len(comps) > maxComponents {
		return seg, fmt.Errorf("%d frequencies: at most %d", len(comps), maxComponents)
	}
	for _, c := range comps {
		c = strings.TrimSpace(c)
		lv := level
		if i := strings.IndexByte(c, '@'); i >= 0 {
			v, err := strconv.ParseFloat(strings.TrimSpace(c[i+1:]), 64)
			if err != nil || v != v || v > 3.14 || v < -60 {
				return seg, fmt.Errorf("level %q is not a number between -60 and +3 dBm0", c[i+1:])
			}
			lv = v
			c = c[:i]
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
		if err != nil || f != f || f < 1 || f > 3900 {
			return seg, fmt.Errorf("frequency %q is not a number between 1 and 3900 Hz (use 0 alone for silence)", c)
		}
		seg.Components = append(seg.Components, Component{Freq: f, Level: lv})
	}
	return seg, nil
}
