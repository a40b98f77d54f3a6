package dsp

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// fskParams is a test-side FSK modulator's settings, free to stray from the
// standard (bit rate, tone frequencies, preamble).
type fskParams struct {
	mark, space, baud float64
	seizure, marks    int
	level             float64
	phase             float64
}

// modFSK modulates msg (8N1, LSB first) with p, phase-continuously, then
// 10 mark bits.
func modFSK(msg []byte, p fskParams) []float64 {
	var bits []bool
	for i := range p.seizure {
		bits = append(bits, i%2 == 1)
	}
	for range p.marks {
		bits = append(bits, true)
	}
	for _, b := range msg {
		bits = append(bits, false)
		for k := range 8 {
			bits = append(bits, b>>k&1 == 1)
		}
		bits = append(bits, true)
	}
	for range 10 {
		bits = append(bits, true)
	}
	n := int(float64(len(bits)) * 8000 / p.baud)
	out := make([]float64, n)
	a := DBm0ToAmplitude(p.level)
	ph := p.phase
	for i := range out {
		b := bits[min(int(float64(i)*p.baud/8000), len(bits)-1)]
		out[i] = a * math.Sin(ph)
		f := p.space
		if b {
			f = p.mark
		}
		ph += 2 * math.Pi * f / 8000
	}
	return out
}

func stdParams(std FSKStandard) fskParams {
	m, s := std.Tones()
	return fskParams{mark: m, space: s, baud: 1200, seizure: 300, marks: 180, level: -13.5}
}

// randomMessage is a valid-looking message of n parameter bytes.
func randomMessage(rng *rand.Rand, n int) []byte {
	m := []byte{0x80, byte(n)}
	for range n {
		m = append(m, byte(rng.IntN(256)))
	}
	var sum byte
	for _, b := range m {
		sum += b
	}
	return append(m, -sum)
}

// receive runs a fresh receiver over samples in 20 ms frames.
func receive(std FSKStandard, samples []int16) [][]byte {
	var got [][]byte
	r := NewCallerIDReceiver(std, func(m []byte) { got = append(got, bytes.Clone(m)) })
	for len(samples) > 0 {
		n := min(hal.FrameSamples, len(samples))
		r.Process(samples[:n])
		samples = samples[n:]
	}
	return got
}

func pad(sig []float64, before, after int) []float64 {
	out := make([]float64, before, before+len(sig)+after)
	out = append(out, sig...)
	return append(out, make([]float64, after)...)
}

func TestCallerIDReceiverRandomMessages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, std := range []FSKStandard{V23, Bell202} {
		for _, n := range []int{0, 1, 5, 16, 30, 60, 120, 255} {
			msg := randomMessage(rng, n)
			sig := AppendFSK(make([]int16, rng.IntN(800)), std, msg, DefaultFSKOptions(std))
			sig = append(sig, make([]int16, 400)...)
			got := receive(std, sig)
			if len(got) != 1 || !bytes.Equal(got[0], msg) {
				t.Errorf("%v, %d parameter bytes: got %x, want [%x]", std, n, got, msg)
			}
		}
	}
}

func TestCallerIDReceiverConditions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	msg, _ := CallerID{Time: nov27, Number: "01223555123", Name: "Porters Lodge"}.MDMF()
	type tweak struct {
		name   string
		f      func(p *fskParams)
		snr    float64 // dB; 0 = no noise
		trials int
	}
	tweaks := []tweak{
		{"standard", func(*fskParams) {}, 0, 1},
		{"-6 dBm0", func(p *fskParams) { p.level = -6 }, 0, 1},
		{"-30 dBm0", func(p *fskParams) { p.level = -30 }, 0, 1},
		{"-38 dBm0", func(p *fskParams) { p.level = -38 }, 0, 1},
		{"bit rate +1 %", func(p *fskParams) { p.baud *= 1.01 }, 0, 1},
		{"bit rate -1 %", func(p *fskParams) { p.baud *= 0.99 }, 0, 1},
		{"tones +1.5 %", func(p *fskParams) { p.mark *= 1.015; p.space *= 1.015 }, 0, 1},
		{"tones -1.5 %", func(p *fskParams) { p.mark *= 0.985; p.space *= 0.985 }, 0, 1},
		{"SIN 227 minimum preamble (96 seizure, 55 mark)", func(p *fskParams) { p.seizure, p.marks = 96, 55 }, 0, 1},
		{"off-hook: no seizure, 80 marks", func(p *fskParams) { p.seizure, p.marks = 0, 80 }, 0, 1},
		{"short mark (20 bits)", func(p *fskParams) { p.seizure, p.marks = 300, 20 }, 0, 1},
		{"20 dB S/N", func(*fskParams) {}, 20, 20},
		{"15 dB S/N, -25 dBm0", func(p *fskParams) { p.level = -25 }, 15, 20},
		{"12 dB S/N", func(*fskParams) {}, 12, 20},
	}
	for _, std := range []FSKStandard{V23, Bell202} {
		for _, tw := range tweaks {
			bad := 0
			for trial := range tw.trials {
				p := stdParams(std)
				p.phase = rng.Float64() * 2 * math.Pi
				tw.f(&p)
				sig := pad(modFSK(msg, p), 400+rng.IntN(400), 800)
				if tw.snr > 0 {
					addNoise(sig, p.level-tw.snr, rng)
				}
				got := receive(std, toInt16(sig))
				if len(got) != 1 || !bytes.Equal(got[0], msg) {
					bad++
					if bad == 1 {
						t.Errorf("%v, %s, trial %d: got %x, want [%x]", std, tw.name, trial, got, msg)
					}
				}
			}
			if bad > 1 {
				t.Errorf("%v, %s: %d of %d wrong", std, tw.name, bad, tw.trials)
			}
		}
	}
}

func TestCallerIDReceiverRejects(t *testing.T) {
	msg, _ := CallerID{Time: nov27, Number: "01223555123"}.MDMF()
	std := V23
	// A corrupted checksum is not delivered.
	bad := bytes.Clone(msg)
	bad[len(bad)-1] ^= 0x10
	if got := receive(std, AppendFSK(nil, std, bad, DefaultFSKOptions(std))); len(got) != 0 {
		t.Errorf("corrupted message delivered: %x", got)
	}
	// A transmission cut off mid-message, then a good one: only the good
	// one comes out.
	cut := AppendFSK(nil, std, msg, DefaultFSKOptions(std))
	cut = cut[:len(cut)-200]
	sig := append(cut, make([]int16, 800)...)
	sig = AppendFSK(sig, std, msg, DefaultFSKOptions(std))
	if got := receive(std, sig); len(got) != 1 || !bytes.Equal(got[0], msg) {
		t.Errorf("cut-off then good message: got %x, want [%x]", got, msg)
	}
	// Too quiet: nothing.
	o := DefaultFSKOptions(std)
	o.LevelDBm0 = -50
	if got := receive(std, AppendFSK(nil, std, msg, o)); len(got) != 0 {
		t.Errorf("-50 dBm0 FSK delivered %x", got)
	}
	// Speech, music, DTMF and noise: nothing.
	rng := rand.New(rand.NewPCG(5, 6))
	noise := speechLike(8000*20, rng, -15)
	noise = append(noise, musicLike(8000*20, rng, -15)...)
	addNoise(noise, -30, rng)
	dtmf, _ := AppendDTMF(nil, allDigits, 50*time.Millisecond, 50*time.Millisecond, -10)
	all := append(toInt16(noise), dtmf...)
	for _, s := range []FSKStandard{V23, Bell202} {
		if got := receive(s, all); len(got) != 0 {
			t.Errorf("%v: 40 s of speech, music and DTMF gave messages %x", s, got)
		}
	}
}

func TestCallerIDReceiverBackToBackAndUK(t *testing.T) {
	m1, _ := CallerID{Time: nov27, Number: "01223555123"}.MDMF()
	m2, _ := CallerID{Time: nov27, NumberAbsence: Private}.MDMF()
	// Two UK sequences one after the other, with noise, as a trunk hears.
	sig := make([]int16, 800)
	sig = AppendUKCallerIDSignal(sig, m1)
	sig = append(sig, make([]int16, 8000)...)
	sig = AppendUKCallerIDSignal(sig, m2)
	sig = append(sig, make([]int16, 800)...)
	buf := make([]float64, len(sig))
	for i, v := range sig {
		buf[i] = float64(v)
	}
	addNoise(buf, -45, rand.New(rand.NewPCG(7, 8)))
	got := receive(V23, toInt16(buf))
	if len(got) != 2 || !bytes.Equal(got[0], m1) || !bytes.Equal(got[1], m2) {
		t.Errorf("two UK sequences: got %x, want [%x %x]", got, m1, m2)
	}
	// Reset mid-message drops it; the next message still comes through.
	var n int
	r := NewCallerIDReceiver(V23, func([]byte) { n++ })
	one := AppendFSK(nil, V23, m1, DefaultFSKOptions(V23))
	r.Process(one[:len(one)-300])
	r.Reset()
	r.Process(one[len(one)-300:])
	r.Process(one)
	if n != 1 {
		t.Errorf("after Reset mid-message: %d messages, want 1", n)
	}
}

func TestCallerIDReceiverAllocs(t *testing.T) {
	msg, _ := CallerID{Time: nov27, Number: "01223555123", Name: "Lodge"}.MDMF()
	sig := AppendFSK(nil, V23, msg, DefaultFSKOptions(V23))
	r := NewCallerIDReceiver(V23, func([]byte) {})
	i := 0
	a := testing.AllocsPerRun(200, func() {
		at := (i * 160) % (len(sig) - 160)
		r.Process(sig[at : at+160])
		i++
	})
	if a != 0 {
		t.Errorf("Process allocates %v times per frame", a)
	}
}

func BenchmarkCallerIDReceiver(b *testing.B) {
	msg, _ := CallerID{Time: nov27, Number: "01223555123", Name: "Lodge"}.MDMF()
	sig := AppendFSK(make([]int16, 1600), V23, msg, DefaultFSKOptions(V23))
	frames := len(sig) / 160
	r := NewCallerIDReceiver(V23, func([]byte) {})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := i % frames
		r.Process(sig[f*160 : f*160+160])
	}
}

func FuzzCallerIDReceiver(f *testing.F) {
	msg, _ := CallerID{Time: nov27, Number: "01223555123"}.MDMF()
	seed := func(s []int16) []byte {
		b := make([]byte, 2*len(s))
		for i, v := range s {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		return b
	}
	o := DefaultFSKOptions(V23)
	o.SeizureBits, o.MarkBits = 0, 12
	f.Add(seed(AppendFSK(nil, V23, msg, o)), false)
	f.Add(seed(AppendFSK(nil, Bell202, msg, o)), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, audio []byte, bell bool) {
		s := make([]int16, len(audio)/2)
		for i := range s {
			s[i] = int16(binary.LittleEndian.Uint16(audio[2*i:]))
		}
		std := V23
		if bell {
			std = Bell202
		}
		r := NewCallerIDReceiver(std, func(m []byte) {
			var sum byte
			for _, b := range m {
				sum += b
			}
			if sum != 0 || len(m) < 3 || int(m[1])+3 != len(m) {
				t.Fatalf("delivered a malformed message %x", m)
			}
		})
		r.Process(s)
	})
}
