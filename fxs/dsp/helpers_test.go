package dsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Test signal synthesis. Everything is deterministic (seeded PCG).

// tone2 describes a two-tone burst for the DTMF tests.
type tone2 struct {
	f1, f2   float64 // Hz
	l1, l2   float64 // dBm0
	n        int     // samples
	ph1, ph2 float64 // start phases, radians
}

// addTone2 adds t to buf starting at offset.
func addTone2(buf []float64, at int, t tone2) {
	a1, a2 := DBm0ToAmplitude(t.l1), DBm0ToAmplitude(t.l2)
	w1, w2 := 2*math.Pi*t.f1/8000, 2*math.Pi*t.f2/8000
	for i := range t.n {
		if at+i >= len(buf) {
			break
		}
		buf[at+i] += a1*math.Sin(w1*float64(i)+t.ph1) + a2*math.Sin(w2*float64(i)+t.ph2)
	}
}

// addNoise adds white Gaussian noise at levelDBm0 (mean power).
func addNoise(buf []float64, levelDBm0 float64, rng *rand.Rand) {
	// Mean square for a level: a sine of peak A has A^2/2.
	a := DBm0ToAmplitude(levelDBm0)
	sigma := a / math.Sqrt2
	for i := range buf {
		buf[i] += sigma * rng.NormFloat64()
	}
}

// toInt16 converts with saturation.
func toInt16(buf []float64) []int16 {
	out := make([]int16, len(buf))
	for i, v := range buf {
		out[i] = saturate(v)
	}
	return out
}

// detectAll runs a fresh detector over samples in 20 ms frames and returns
// the digits.
func detectAll(samples []int16) string {
	var got []rune
	d := NewDTMFDetector(func(r rune) { got = append(got, r) })
	for len(samples) > 0 {
		n := min(160, len(samples))
		d.Process(samples[:n])
		samples = samples[n:]
	}
	return string(got)
}

// biquad is a direct-form-I two-pole resonator used for formants.
type biquad struct {
	b0, a1, a2 float64
	y1, y2     float64
}

func resonator(freq, bw float64) biquad {
	r := math.Exp(-math.Pi * bw / 8000)
	w := 2 * math.Pi * freq / 8000
	b := biquad{a1: 2 * r * math.Cos(w), a2: -r * r}
	// Normalise gain at the centre roughly.
	b.b0 = (1 - r) * math.Sqrt(1+r*r-2*r*math.Cos(2*w))
	return b
}

func (b *biquad) step(x float64) float64 {
	y := b.b0*x + b.a1*b.y1 + b.a2*b.y2
	b.y2, b.y1 = b.y1, y
	return y
}

// speechLike synthesises n samples of speech-like sound: voiced syllables
// (a glottal pulse train with jittered, gliding pitch through three
// moving formant resonators), unvoiced fricatives (noise through a high
// resonator) and pauses, under a syllabic envelope, at about levelDBm0
// mean power when active.
func speechLike(n int, rng *rand.Rand, levelDBm0 float64) []float64 {
	out := make([]float64, n)
	// Per speaker: period-to-period jitter 0.5-1.5 %, shimmer 3-10 %
	// (normal voices).
	jitter := 0.005 + 0.01*rng.Float64()
	shimmer := 0.03 + 0.07*rng.Float64()
	i := 0
	for i < n {
		// One syllable: 80-400 ms.
		sl := 640 + rng.IntN(2560)
		kind := rng.IntN(10)
		pitch0 := 80 + rng.Float64()*220 // Hz: male to child
		pitch1 := pitch0 * (0.7 + rng.Float64()*0.6)
		// Formants drift from one vowel to another across the syllable.
		fa := [3]float64{250 + rng.Float64()*700, 800 + rng.Float64()*1500, 1800 + rng.Float64()*1400}
		fb := [3]float64{250 + rng.Float64()*700, 800 + rng.Float64()*1500, 1800 + rng.Float64()*1400}
		bws := [3]float64{60 + rng.Float64()*60, 70 + rng.Float64()*80, 100 + rng.Float64()*100}
		fric := resonator(2500+rng.Float64()*1200, 800)
		var res [3]biquad
		phase := 0.0
		peak := 0.0
		tilt := 0.0
		periodJitter, pulseAmp := 1.0, 1.0
		start := i
		for j := 0; j < sl && i < n; j, i = j+1, i+1 {
			x := float64(j) / float64(sl)
			env := math.Sin(math.Pi * x)
			if j%40 == 0 {
				for k := range 3 {
					f := fa[k] + (fb[k]-fa[k])*x
					y1, y2 := res[k].y1, res[k].y2
					res[k] = resonator(f, bws[k])
					res[k].y1, res[k].y2 = y1, y2
				}
			}
			var v float64
			switch {
			case kind < 6: // voiced
				f0 := (pitch0 + (pitch1-pitch0)*x) * periodJitter
				phase += f0 / 8000
				src := 0.02 * rng.NormFloat64()
				if phase >= 1 {
					// A glottal pulse; the next period is jittered and
					// the next pulse shimmered, as in a normal voice.
					phase -= 1
					src += pulseAmp
					periodJitter = 1 + jitter*rng.NormFloat64()
					pulseAmp = 1 + shimmer*rng.NormFloat64()
				}
				tilt = 0.9*tilt + src // glottal spectral tilt
				v = res[2].step(res[1].step(res[0].step(tilt)*4)*4) * 4
				v += 0.3 * res[0].y1
			case kind < 8: // fricative
				v = fric.step(rng.NormFloat64())
			default: // pause with a little breath
				v = 0.01 * rng.NormFloat64()
			}
			out[i] = v * env
			peak = max(peak, math.Abs(out[i]))
		}
		// Scale the syllable to the target level (with +-6 dB variation).
		var ms float64
		for _, v := range out[start:i] {
			ms += v * v
		}
		ms /= float64(i - start)
		if ms > 0 {
			target := DBm0ToAmplitude(levelDBm0+12*(rng.Float64()-0.5)) / math.Sqrt2
			g := target / math.Sqrt(ms)
			if kind >= 8 {
				g *= 0.05
			}
			for k := start; k < i; k++ {
				out[k] *= g
			}
		}
	}
	return out
}

// musicLike synthesises n samples of music-like sound: notes and chords of
// equal-tempered pitches with harmonics (decaying like strings or organ
// pipes), vibrato, note attacks and decays, sometimes a melody over a
// sustained chord, at about levelDBm0.
func musicLike(n int, rng *rand.Rand, levelDBm0 float64) []float64 {
	out := make([]float64, n)
	i := 0
	for i < n {
		nl := 800 + rng.IntN(6400) // 100-900 ms
		voices := 1 + rng.IntN(4)
		type voice struct {
			f, amp, vibRate, vibDepth, ph float64
			harm                          [8]float64
			hph                           [8]float64
		}
		vs := make([]voice, voices)
		root := 48 + rng.IntN(30) // MIDI note
		chord := [][]int{{0, 4, 7, 12}, {0, 3, 7, 10}, {0, 5, 9, 12}, {0, 7, 12, 16}, {0, 4, 11, 14}}[rng.IntN(5)]
		for v := range vs {
			note := root + chord[v%len(chord)] + 12*(v/len(chord))
			vs[v].f = 440 * math.Pow(2, float64(note-69)/12)
			vs[v].amp = 0.5 + rng.Float64()
			vs[v].vibRate = 4 + rng.Float64()*3
			vs[v].vibDepth = rng.Float64() * 0.012
			timbre := rng.IntN(3)
			for h := range vs[v].harm {
				k := float64(h + 1)
				switch timbre {
				case 0: // string-like 1/k
					vs[v].harm[h] = 1 / k
				case 1: // clarinet-like, odd harmonics
					if h%2 == 0 {
						vs[v].harm[h] = 1 / k
					}
				default: // flute-like, weak harmonics
					vs[v].harm[h] = math.Pow(0.3, k-1)
				}
				vs[v].hph[h] = rng.Float64() * 2 * math.Pi
			}
		}
		start := i
		attack := 80 + rng.IntN(400)
		for j := 0; j < nl && i < n; j, i = j+1, i+1 {
			env := math.Min(1, float64(j)/float64(attack)) * math.Exp(-float64(j)/float64(nl))
			t := float64(j) / 8000
			var s float64
			for v := range vs {
				f := vs[v].f * (1 + vs[v].vibDepth*math.Sin(2*math.Pi*vs[v].vibRate*t))
				vs[v].ph += 2 * math.Pi * f / 8000
				for h, a := range vs[v].harm {
					if a == 0 || f*float64(h+1) > 3900 {
						continue
					}
					s += vs[v].amp * a * math.Sin(float64(h+1)*vs[v].ph+vs[v].hph[h])
				}
			}
			out[i] = s * env
		}
		var ms float64
		for _, v := range out[start:i] {
			ms += v * v
		}
		ms /= float64(i - start)
		if ms > 0 {
			g := DBm0ToAmplitude(levelDBm0+10*(rng.Float64()-0.5)) / math.Sqrt2 / math.Sqrt(ms)
			for k := start; k < i; k++ {
				out[k] *= g
			}
		}
	}
	return out
}

// readWAV decodes a 16-bit mono PCM WAV file's samples and rate.
func readWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF/WAVE file")
	}
	rate, bits, chans := 0, 0, 0
	for p := 12; p+8 <= len(b); {
		id, n := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(len(b), p+8+n)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, 0, errors.New("short fmt chunk")
			}
			chans = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if bits != 16 || chans != 1 {
				return nil, 0, fmt.Errorf("want 16-bit mono, have %d-bit %d channels", bits, chans)
			}
			s := make([]int16, len(body)/2)
			for i := range s {
				s[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return s, rate, nil
		}
		p += 8 + n + n%2
	}
	return nil, 0, errors.New("no data chunk")
}

// resampleTo8k converts s from rate to 8 kHz with a windowed-sinc
// interpolator cut off at 3.6 kHz (kernel tabulated at 1/256 sample).
func resampleTo8k(s []int16, rate int) []float64 {
	if rate == 8000 {
		out := make([]float64, len(s))
		for i, v := range s {
			out[i] = float64(v)
		}
		return out
	}
	const half, phases = 24, 256 // taps either side at the input rate
	fc := 3600.0 / float64(rate)
	var kern [phases][2 * half]float64
	for p := range phases {
		frac := float64(p) / phases
		for j := range 2 * half {
			x := frac + float64(half-1-j) // distance from tap k0-half+1+j
			w := 0.5 + 0.5*math.Cos(math.Pi*x/half)
			h := 2 * fc
			if x != 0 {
				h = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
			}
			kern[p][j] = h * w
		}
	}
	step := float64(rate) / 8000
	out := make([]float64, int(float64(len(s))/step))
	for n := range out {
		t := float64(n) * step
		k0 := int(t)
		kr := &kern[int((t-float64(k0))*phases)]
		var acc float64
		for j := range 2 * half {
			if k := k0 - half + 1 + j; k >= 0 && k < len(s) {
				acc += float64(s[k]) * kr[j]
			}
		}
		out[n] = acc
	}
	return out
}

// ttsTexts is varied English for the text-to-speech talk-off material:
// numbers, names, questions, lists and long vowels.
func ttsTexts() []string {
	return []string{
		"Good evening, porters lodge. The master asked me to remind everyone that the main gate closes at eleven tonight, and the back gate on Trinity Lane stays locked until seven in the morning.",
		"Could you put me through to extension two seven zero zero one, please? If nobody answers, try the bursary on four four five nine, or leave a message with the duty porter.",
		"One, two, three, four, five, six, seven, eight, nine, ten. Nine nine nine. One one two. Zero one two two three, five five five, one two three.",
		"Ooh, aah, eee, ooo, mmm. Hello? Hello! Can you hear me? The line is terrible this morning, it keeps crackling and dropping out every few seconds.",
		"A delivery for Doctor Abernathy-Smythe arrived at quarter past three: two boxes of books, a crate of glassware for the chemistry laboratory, and an unusually heavy parcel addressed to the choir.",
		"Fire alarm testing will take place on Wednesday between ten and twelve. Please do not call the emergency services. Staff should sign in at the lodge as usual and collect their visitor badges.",
		"Singing softly, the choristers rehearsed the evening anthem again and again, holding the final note for what seemed like a very, very long time before the organ came back in.",
		"Right then, let me just check the book. Mister Patel, room fourteen, staircase C. Miss Okonkwo, room nine, staircase A. And the visiting professor from Oslo is in the guest suite.",
	}
}
