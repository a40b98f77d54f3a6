package bridge

import (
	"errors"
	"testing"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// party is a call as a Mixer sees it, with a tone in its microphone; it
// records what it hears.
type party struct {
	tone  *dsp.ToneGen
	heard []int16
	fail  error
}

func (p *party) ReadFrame(f *hal.Frame) error {
	if p.fail != nil {
		return p.fail
	}
	p.tone.Fill(f)
	return nil
}

func (p *party) WriteFrame(f *hal.Frame) error {
	p.heard = append(p.heard, f[:]...)
	return nil
}

// TestMixerEachHearsTheOtherTwo: a porter (1004 Hz) and two calls (697 Hz,
// 1209 Hz) in a three-way: each hears the other two tones at their level
// and not its own.
func TestMixerEachHearsTheOtherTwo(t *testing.T) {
	porter := sine(1004)
	a, b := &party{tone: sine(697)}, &party{tone: sine(1209)}
	var m Mixer
	var mic, ear hal.Frame
	var heard []int16
	for range 100 {
		porter.Fill(&mic)
		if err := m.Exchange(&mic, &ear, a, b); err != nil {
			t.Fatal(err)
		}
		heard = append(heard, ear[:]...)
	}
	check := func(who string, s []int16, want [2]float64, not float64) {
		t.Helper()
		for _, f := range want {
			if l := dsp.ToneLevelDBm0(s, f); l < -12 || l > -8 {
				t.Errorf("%s hears %.0f Hz at %.1f dBm0, want -10", who, f, l)
			}
		}
		if l := dsp.ToneLevelDBm0(s, not); l > -40 {
			t.Errorf("%s hears itself (%.0f Hz) at %.1f dBm0", who, not, l)
		}
	}
	check("the porter", heard, [2]float64{697, 1209}, 1004)
	check("call a", a.heard, [2]float64{1004, 1209}, 697)
	check("call b", b.heard, [2]float64{1004, 697}, 1209)
	if m.Errors != 0 {
		t.Errorf("%d errors", m.Errors)
	}
}

func TestMix3Saturates(t *testing.T) {
	var x, y, z, tx, ty, tz hal.Frame
	for i := range x {
		x[i], y[i], z[i] = 30000, 30000, -30000
	}
	Mix3(&x, &y, &z, &tx, &ty, &tz)
	if tx[0] != 0 || ty[0] != 0 || tz[0] != 32767 {
		t.Fatalf("got %d %d %d", tx[0], ty[0], tz[0])
	}
	for i := range x {
		x[i], y[i], z[i] = -30000, -30000, 5
	}
	Mix3(&x, &y, &z, &tx, &ty, &tz)
	if tz[0] != -32768 {
		t.Fatalf("got %d", tz[0])
	}
}

// A call whose media fails a read is silence for that frame (counted); a
// closed one ends the exchange.
func TestMixerErrors(t *testing.T) {
	a, b := &party{tone: sine(697), fail: errors.New("lost")}, &party{tone: sine(1209)}
	var m Mixer
	var mic, ear hal.Frame
	if err := m.Exchange(&mic, &ear, a, b); err != nil || m.Errors != 1 {
		t.Fatalf("%v, errors %d", err, m.Errors)
	}
	if dsp.ToneLevelDBm0(ear[:], 1209) < -14 {
		t.Error("b's audio lost with a's frame")
	}
	a.fail = hal.ErrClosed
	if err := m.Exchange(&mic, &ear, a, b); !errors.Is(err, hal.ErrClosed) {
		t.Fatalf("%v, want hal.ErrClosed", err)
	}
}

// TestMixerZeroAllocs: a frame period of a three-way costs no allocation,
// with two Pair ends (local calls) as the calls.
func TestMixerZeroAllocs(t *testing.T) {
	pa, pb := NewPair(), NewPair()
	var m Mixer
	var mic, ear, f hal.Frame
	if n := testing.AllocsPerRun(1000, func() {
		_ = pa.B().WriteFrame(&f) // the two other ports' pumps
		_ = pb.B().WriteFrame(&f)
		_ = m.Exchange(&mic, &ear, pa.A(), pb.A())
		_ = pa.B().ReadFrame(&f)
		_ = pb.B().ReadFrame(&f)
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// BenchmarkMixerFrame is the per-frame cost of a three-way mix as the
// port's pump runs it (the porter and two calls; make bench reports it).
func BenchmarkMixerFrame(b *testing.B) {
	pa, pb := NewPair(), NewPair()
	var m Mixer
	var mic, ear, f hal.Frame
	for i := range mic {
		mic[i] = int16(i * 97)
		f[i] = int16(-i * 31)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = pa.B().WriteFrame(&f)
		_ = pb.B().WriteFrame(&f)
		_ = m.Exchange(&mic, &ear, pa.A(), pb.A())
		_ = pa.B().ReadFrame(&f)
		_ = pb.B().ReadFrame(&f)
	}
}

// BenchmarkMix3 is the arithmetic alone: one frame for three parties.
func BenchmarkMix3(b *testing.B) {
	var x, y, z, tx, ty, tz hal.Frame
	for i := range x {
		x[i], y[i], z[i] = int16(i), int16(-i), int16(3*i)
	}
	b.ReportAllocs()
	for b.Loop() {
		Mix3(&x, &y, &z, &tx, &ty, &tz)
	}
}
