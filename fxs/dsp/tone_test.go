package dsp

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// ukCongestion is BT's congestion tone: 400 Hz, 400 ms at -20, 350 ms off,
// 225 ms at -14 (6 dB louder), 525 ms off.
func ukCongestion() Tone {
	return Tone{Name: "congestion", Repeat: true, Segments: []ToneSegment{
		{Components: []Component{{400, -20}}, Duration: 400 * time.Millisecond},
		{Duration: 350 * time.Millisecond},
		{Components: []Component{{400, -14}}, Duration: 225 * time.Millisecond},
		{Duration: 525 * time.Millisecond},
	}}
}

// play renders n frames of g.
func play(g *ToneGen, frames int) []int16 {
	out := make([]int16, 0, frames*hal.FrameSamples)
	var f hal.Frame
	for range frames {
		g.Fill(&f)
		out = append(out, f[:]...)
	}
	return out
}

func TestToneGenLevelsAndFrequencies(t *testing.T) {
	g := NewToneGen(Tone{Name: "dial", Segments: []ToneSegment{{Components: []Component{{350, -13}, {440, -16}}}}})
	s := play(g, 50) // 1 s
	if got := ToneLevelDBm0(s, 350); math.Abs(got+13) > 0.05 {
		t.Errorf("350 Hz at %.2f dBm0, want -13", got)
	}
	if got := ToneLevelDBm0(s, 440); math.Abs(got+16) > 0.05 {
		t.Errorf("440 Hz at %.2f dBm0, want -16", got)
	}
	want := 10 * math.Log10(math.Pow(10, -1.3)+math.Pow(10, -1.6))
	if got := PowerDBm0(s); math.Abs(got-want) > 0.05 {
		t.Errorf("total power %.2f dBm0, want %.2f", got, want)
	}
	if g.Done() {
		t.Error("a tone lasting for ever is Done")
	}
}

func TestToneGenMatchesOneShotSine(t *testing.T) {
	// Frame by frame output equals one continuous sine: phase-continuous
	// across frames.
	g := NewToneGen(Tone{Segments: []ToneSegment{{Components: []Component{{425, -10}}}}})
	s := play(g, 500) // 10 s
	a := DBm0ToAmplitude(-10)
	for i, v := range s {
		want := a * math.Sin(2*math.Pi*425*float64(i)/8000)
		if math.Abs(float64(v)-want) > 1.01 {
			t.Fatalf("sample %d = %d, want %.1f: not phase-continuous", i, v, want)
		}
	}
}

func TestToneGenCadence(t *testing.T) {
	g := NewToneGen(ukCongestion())
	s := play(g, 150) // 3 s: two cycles and a bit (1.5 s each)
	// Check each segment's samples exactly: on stretches are non-zero
	// apart from zero crossings, off stretches are all zero.
	segs := []struct {
		on    bool
		n     int
		level float64
	}{{true, 3200, -20}, {false, 2800, 0}, {true, 1800, -14}, {false, 4200, 0}}
	at := 0
	for cycle := range 2 {
		for _, sg := range segs {
			part := s[at : at+sg.n]
			if sg.on {
				if got := ToneLevelDBm0(part, 400); math.Abs(got-sg.level) > 0.1 {
					t.Errorf("cycle %d at sample %d: 400 Hz at %.2f, want %g", cycle, at, got, sg.level)
				}
				zeros := 0
				for _, v := range part {
					if v == 0 {
						zeros++
					}
				}
				if zeros > sg.n/10 {
					t.Errorf("cycle %d at sample %d: %d zero samples in a tone segment", cycle, at, zeros)
				}
				if part[len(part)-1] == 0 && part[len(part)-2] == 0 {
					t.Errorf("cycle %d: tone segment ends early", cycle)
				}
			} else {
				for i, v := range part {
					if v != 0 {
						t.Fatalf("cycle %d: sample %d into a silent segment is %d", cycle, i, v)
					}
				}
			}
			at += sg.n
		}
	}
	if g.Done() {
		t.Error("a repeating tone is Done")
	}
}

func TestToneGenPhaseCarriedAcrossSegments(t *testing.T) {
	// UK special dial tone style: 350+440 then 440 alone. The 440 Hz
	// component carries on without a phase jump.
	g := NewToneGen(Tone{Repeat: true, Segments: []ToneSegment{
		{Components: []Component{{350, -13}, {440, -13}}, Duration: 750 * time.Millisecond},
		{Components: []Component{{440, -13}}, Duration: 750 * time.Millisecond},
	}})
	s := play(g, 100) // 2 s
	a := DBm0ToAmplitude(-13)
	// In the second segment (samples 6000-12000) the output is the 440 Hz
	// sine that started at sample 0.
	for i := 6000; i < 12000; i++ {
		want := a * math.Sin(2*math.Pi*440*float64(i)/8000)
		if math.Abs(float64(s[i])-want) > 1.01 {
			t.Fatalf("sample %d = %d, want %.1f: 440 Hz did not carry its phase", i, s[i], want)
		}
	}
}

func TestToneGenNonRepeatingEnds(t *testing.T) {
	g := NewToneGen(Tone{Segments: []ToneSegment{
		{Components: []Component{{400, -10}}, Duration: 100 * time.Millisecond},
		{Duration: 30 * time.Millisecond},
		{Components: []Component{{400, -10}}, Duration: 100 * time.Millisecond},
	}})
	s := play(g, 20)
	if !g.Done() {
		t.Fatal("not Done after playing past its end")
	}
	for i, v := range s[1840:] {
		if v != 0 {
			t.Fatalf("sample %d after the end is %d", 1840+i, v)
		}
	}
	if ToneLevelDBm0(s[1040:1840], 400) < -10.1 {
		t.Error("second burst missing")
	}
	g.Reset()
	if g.Done() {
		t.Error("Done after Reset")
	}
	s2 := play(g, 20)
	for i := range s {
		if s[i] != s2[i] {
			t.Fatalf("after Reset sample %d = %d, first time %d", i, s2[i], s[i])
		}
	}
	if NewToneGen(Tone{}).Done() != true {
		t.Error("a tone with no segments is not Done")
	}
}

func TestToneGenClips(t *testing.T) {
	g := NewToneGen(Tone{Segments: []ToneSegment{{Components: []Component{{500, 3.14}, {700, 3.14}}}}})
	s := play(g, 5)
	peak := 0
	for _, v := range s {
		peak = max(peak, int(v), -int(v))
	}
	if peak < 32767 {
		t.Errorf("two full-scale sines peak at %d; want saturation at 32767", peak)
	}
}

func TestToneValidate(t *testing.T) {
	good := ukCongestion()
	if err := good.Validate(); err != nil {
		t.Errorf("UK congestion: %v", err)
	}
	for _, c := range []struct {
		tone Tone
		want string
	}{
		{Tone{Name: "x"}, "no segments"},
		{Tone{Name: "x", Segments: []ToneSegment{{Duration: -time.Second}}}, "negative"},
		{Tone{Name: "x", Segments: []ToneSegment{{}, {Duration: time.Second}}}, "for ever"},
		{Tone{Name: "x", Segments: []ToneSegment{{Components: []Component{{4100, -10}}}}}, "outside 0-4000"},
		{Tone{Name: "x", Segments: []ToneSegment{{Components: []Component{{0, -10}}}}}, "outside 0-4000"},
		{Tone{Name: "x", Segments: []ToneSegment{{Components: []Component{{400, 6}}}}}, "above full scale"},
	} {
		err := c.tone.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", c.tone, err, c.want)
		}
	}
}

func TestToneGenAllocs(t *testing.T) {
	g := NewToneGen(ukCongestion())
	var f hal.Frame
	if a := testing.AllocsPerRun(500, func() { g.Fill(&f) }); a != 0 {
		t.Errorf("Fill allocates %v times per frame; want 0", a)
	}
}

func BenchmarkToneGen(b *testing.B) {
	g := NewToneGen(Tone{Repeat: true, Segments: []ToneSegment{
		{Components: []Component{{400, -20}, {450, -20}}, Duration: 400 * time.Millisecond},
		{Duration: 200 * time.Millisecond},
	}})
	var f hal.Frame
	b.ReportAllocs()
	for b.Loop() {
		g.Fill(&f)
	}
}
