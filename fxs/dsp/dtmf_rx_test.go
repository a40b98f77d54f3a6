package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

const allDigits = "0123456789*#ABCD"

// burst returns one digit's tones as a two-tone description.
func burst(t *testing.T, digit rune, n int) tone2 {
	t.Helper()
	lo, hi, ok := DTMFFreqs(digit)
	if !ok {
		t.Fatalf("bad digit %q", digit)
	}
	return tone2{f1: lo, f2: hi, l1: -10, l2: -10, n: n}
}

// countOver runs one digit burst shaped by mod at every sub-block alignment
// (0-33 samples of lead-in) with varied start phases and returns how many
// runs gave exactly want and a description of the first failure.
func countOver(t *testing.T, digit rune, n int, want string, mod func(*tone2, []float64, int)) (ok, runs int, fail string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(digit)))
	for off := range dtmfSub {
		tb := burst(t, digit, n)
		tb.ph1, tb.ph2 = rng.Float64()*2*math.Pi, rng.Float64()*2*math.Pi
		buf := make([]float64, 400+off+n+800)
		at := 400 + off
		if mod != nil {
			mod(&tb, buf, at)
		}
		addTone2(buf, at, tb)
		got := detectAll(toInt16(buf))
		runs++
		if got == want {
			ok++
		} else if fail == "" {
			fail = fmt.Sprintf("offset %d: got %q, want %q", off, got, want)
		}
	}
	return ok, runs, fail
}

func ms(d float64) int { return int(math.Round(d * 8)) }

func TestDTMFAllDigits(t *testing.T) {
	sig, err := AppendDTMF(nil, allDigits+allDigits, 40*time.Millisecond, 40*time.Millisecond, -10)
	if err != nil {
		t.Fatal(err)
	}
	if got := detectAll(sig); got != allDigits+allDigits {
		t.Fatalf("got %q, want %q", got, allDigits+allDigits)
	}
}

func TestDTMFDuration(t *testing.T) {
	// ES 201 235-3: > 40 ms shall be recognised, < 20 ms shall not.
	for _, d := range []float64{40, 41, 45, 50, 70, 100, 500} {
		for _, digit := range allDigits {
			ok, runs, fail := countOver(t, digit, ms(d), string(digit), nil)
			if ok != runs {
				t.Errorf("%q for %g ms: recognised once in %d of %d alignments; %s", digit, d, ok, runs, fail)
			}
		}
	}
	for _, d := range []float64{5, 10, 15, 18, 19, 19.875} {
		for _, digit := range allDigits {
			ok, runs, fail := countOver(t, digit, ms(d), "", nil)
			if ok != runs {
				t.Errorf("%q for %g ms: recognised in %d of %d alignments; %s", digit, d, runs-ok, runs, fail)
			}
		}
	}
	// Noise (15 dB S/N) does not stretch a short tone into a digit.
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 400 {
		digit := rune(allDigits[i%16])
		buf := make([]float64, 400+ms(19.875)+400)
		tb := burst(t, digit, ms(19.875))
		tb.ph1, tb.ph2 = rng.Float64()*6, rng.Float64()*6
		addTone2(buf, 400+rng.IntN(dtmfSub), tb)
		addNoise(buf, -10+3.01-15, rng)
		if got := detectAll(toInt16(buf)); got != "" {
			t.Errorf("%q for 19.9 ms in 15 dB S/N noise recognised as %q", digit, got)
		}
	}
	// The "may" band, for the record.
	for _, d := range []float64{20, 25, 30, 35} {
		ok, runs, _ := countOver(t, '5', ms(d), "5", nil)
		t.Logf("'5' for %g ms (may be recognised): %d of %d", d, ok, runs)
	}
}

func TestDTMFDropout(t *testing.T) {
	// A dropout under 20 ms shall not end the digit; over 40 ms it shall.
	for _, restart := range []bool{false, true} {
		for _, gap := range []float64{1, 2, 5, 8, 10, 12, 15, 18, 19, 19.875, 40.125, 41, 45, 60} {
			want := "55"
			if gap < 20 {
				want = "5"
			}
			for _, digit := range []rune{'5', '1', 'D', '*'} {
				want := string(digit)
				if gap >= 40 {
					want += want
				}
				ok, runs, fail := countOver(t, digit, ms(60), want, func(tb *tone2, buf []float64, at int) {
					// A second burst of the same digit after the gap,
					// phase-continuous or restarted.
					second := *tb
					second.n = ms(60)
					g := ms(gap)
					if !restart {
						second.ph1 += 2 * math.Pi * tb.f1 / 8000 * float64(tb.n+g)
						second.ph2 += 2 * math.Pi * tb.f2 / 8000 * float64(tb.n+g)
					}
					addTone2(buf, at+tb.n+g, second)
				})
				if ok != runs {
					t.Errorf("%q 60 ms, gap %g ms (phase restart %v), 60 ms: %d of %d alignments gave %q; %s", digit, gap, restart, ok, runs, want, fail)
				}
			}
			_ = want
		}
	}
}

func TestDTMFFrequencyTolerance(t *testing.T) {
	// +-1.5 % shall be accepted, beyond +-3.5 % rejected.
	for _, digit := range allDigits {
		for _, e := range [][2]float64{{1.5, 1.5}, {-1.5, -1.5}, {1.5, -1.5}, {-1.5, 1.5}, {1.5, 0}, {0, -1.5}} {
			ok, runs, fail := countOver(t, digit, ms(50), string(digit), func(tb *tone2, _ []float64, _ int) {
				tb.f1 *= 1 + e[0]/100
				tb.f2 *= 1 + e[1]/100
			})
			if ok != runs {
				t.Errorf("%q with errors %+g %%/%+g %%: recognised in %d of %d; %s", digit, e[0], e[1], ok, runs, fail)
			}
		}
		for _, e := range [][2]float64{{3.5, 0}, {-3.5, 0}, {0, 3.5}, {0, -3.5}, {3.5, 3.5}, {-3.5, -3.5}, {5, 0}, {0, -6}, {5, 5}, {-5, -5}} {
			ok, runs, fail := countOver(t, digit, ms(100), "", func(tb *tone2, _ []float64, _ int) {
				tb.f1 *= 1 + e[0]/100
				tb.f2 *= 1 + e[1]/100
			})
			if ok != runs {
				t.Errorf("%q with errors %+g %%/%+g %%: recognised in %d of %d (must not be); %s", digit, e[0], e[1], runs-ok, runs, fail)
			}
		}
	}
}

func TestDTMFTwist(t *testing.T) {
	cases := []struct {
		lo, hi float64 // dBm0
		accept bool
	}{
		{-8, -16, true},  // normal twist 8 dB
		{-16, -12, true}, // reverse twist 4 dB
		{-10, -18, true},
		{-20, -16, true},
		{-5, -15, false},  // normal 10 dB
		{-16, -10, false}, // reverse 6 dB
		{-6, -18, false},
		{-20, -14, false},
		{-5.5, -15, false},  // normal 9.5 dB
		{-15.5, -10, false}, // reverse 5.5 dB
	}
	for _, c := range cases {
		for _, digit := range allDigits {
			want := ""
			if c.accept {
				want = string(digit)
			}
			for _, fe := range []float64{-1.5, 0, 1.5} {
				ok, runs, fail := countOver(t, digit, ms(60), want, func(tb *tone2, _ []float64, _ int) {
					tb.l1, tb.l2 = c.lo, c.hi
					tb.f1 *= 1 + fe/100
					tb.f2 *= 1 - fe/100
				})
				if ok != runs {
					t.Errorf("%q low %g / high %g dBm0, freq error %+g %%: %d of %d gave %q; %s", digit, c.lo, c.hi, fe, ok, runs, want, fail)
				}
			}
		}
	}
}

func TestDTMFLevel(t *testing.T) {
	for _, c := range []struct {
		level float64
		want  bool
	}{{0, true}, {-3, true}, {-20, true}, {-30, true}, {-36, true}, {-40, true}, {-45, false}, {-50, false}} {
		for _, digit := range allDigits {
			want := ""
			if c.want {
				want = string(digit)
			}
			ok, runs, fail := countOver(t, digit, ms(50), want, func(tb *tone2, _ []float64, _ int) {
				tb.l1, tb.l2 = c.level, c.level
			})
			if ok != runs {
				t.Errorf("%q at %g dBm0 per tone: %d of %d gave %q; %s", digit, c.level, ok, runs, want, fail)
			}
		}
	}
}

func TestDTMFNoise(t *testing.T) {
	// 15 dB signal-to-noise (both tones' power over white noise across the
	// band): every digit of a 40 ms on / 50 ms off sequence, many times,
	// at several levels, with twist and frequency errors at their limits.
	rng := rand.New(rand.NewPCG(15, 15))
	cases := []struct {
		lo, hi, fe float64
		trials     int
	}{
		{-10, -10, 0, 20},
		{-20, -20, 0, 10},
		{-30, -30, 0, 10},
		{-10, -10, 1.5, 10},
		{-10, -10, -1.5, 10},
		{-8, -16, 0, 10},  // normal twist 8 dB
		{-16, -12, 0, 10}, // reverse twist 4 dB
		{-8, -16, 1.5, 5},
		{-16, -12, -1.5, 5},
	}
	for _, c := range cases {
		bad := 0
		for range c.trials {
			at := 400
			buf := make([]float64, 400+len(allDigits)*ms(90)+800)
			for _, digit := range allDigits {
				tb := burst(t, digit, ms(40))
				tb.l1, tb.l2 = c.lo, c.hi
				tb.f1 *= 1 + c.fe/100
				tb.f2 *= 1 - c.fe/100
				tb.ph1, tb.ph2 = rng.Float64()*6, rng.Float64()*6
				addTone2(buf, at+rng.IntN(dtmfSub), tb)
				at += ms(90)
			}
			sig := 10 * math.Log10(math.Pow(10, c.lo/10)+math.Pow(10, c.hi/10))
			addNoise(buf, sig-15, rng)
			if got := detectAll(toInt16(buf)); got != allDigits {
				bad++
				if bad == 1 {
					t.Errorf("low %g / high %g dBm0, freq error %+g %%, 15 dB S/N: got %q, want %q", c.lo, c.hi, c.fe, got, allDigits)
				}
			}
		}
		if bad > 0 {
			t.Errorf("low %g / high %g dBm0, freq error %+g %%, 15 dB S/N: %d of %d sequences wrong", c.lo, c.hi, c.fe, bad, c.trials)
		}
	}
	// Noise alone is never a digit.
	buf := make([]float64, 8000*20)
	addNoise(buf, -10, rng)
	if got := detectAll(toInt16(buf)); got != "" {
		t.Errorf("20 s of white noise gave digits %q", got)
	}
}

func TestDTMFTalkOff(t *testing.T) {
	// Twelve minutes of speech-like and music-like sound at quiet, normal
	// and loud (clipping) levels must give no digit. Each piece has its own
	// deterministic seed.
	const seconds = 40
	total := 0.0
	for seed := range uint64(3) {
		for _, level := range []float64{-25, -15, -3} {
			rng := rand.New(rand.NewPCG(seed, 1))
			sp := speechLike(seconds*8000, rng, level)
			if got := detectAll(toInt16(sp)); got != "" {
				t.Errorf("speech-like seed %d at %g dBm0: %d s gave digits %q", seed, level, seconds, got)
			}
			total += seconds
			rng = rand.New(rand.NewPCG(seed, 2))
			mu := musicLike(seconds*8000, rng, level)
			if got := detectAll(toInt16(mu)); got != "" {
				t.Errorf("music-like seed %d at %g dBm0: %d s gave digits %q", seed, level, seconds, got)
			}
			total += seconds
		}
	}
	t.Logf("talk-off: %.0f s (%.1f min) of speech-like and music-like sound", total, total/60)
}

func TestDTMFReportTime(t *testing.T) {
	// Each digit is reported 20-40 ms after its tone starts (counted in
	// samples fed, not wall-clock time).
	for _, digit := range allDigits {
		for off := 0; off < dtmfSub; off += 5 {
			buf := make([]float64, 400+off+ms(60)+400)
			addTone2(buf, 400+off, burst(t, digit, ms(60)))
			sig := toInt16(buf)
			fed, at := 0, -1
			d := NewDTMFDetector(func(rune) { at = fed })
			for fed < len(sig) {
				d.Process(sig[fed : fed+1])
				fed++
			}
			lag := float64(at-(400+off)) / 8
			if at < 0 || lag < 20 || lag > 40 {
				t.Errorf("%q at offset %d: reported %.1f ms after the tone started", digit, off, lag)
			}
		}
	}
}

func TestDTMFDetectorAllocs(t *testing.T) {
	sig, _ := AppendDTMF(nil, "123", 50*time.Millisecond, 50*time.Millisecond, -10)
	var f hal.Frame
	d := NewDTMFDetector(func(rune) {})
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		copy(f[:], sig[(i*160)%(len(sig)-160):])
		i++
		d.Process(f[:])
	})
	if allocs != 0 {
		t.Errorf("Process allocates %v times per frame; want 0", allocs)
	}
}

func TestDTMFReset(t *testing.T) {
	var got []rune
	d := NewDTMFDetector(func(r rune) { got = append(got, r) })
	sig, _ := AppendDTMF(nil, "7", 50*time.Millisecond, 0+time.Millisecond, -10)
	d.Process(sig[:200])
	d.Reset()
	d.Process(sig[200:])
	if len(got) != 0 {
		t.Errorf("after Reset mid-tone, got %q from the last %d samples", string(got), len(sig)-200)
	}
	d.Reset()
	d.Process(sig)
	if string(got) != "7" {
		t.Errorf("got %q, want \"7\"", string(got))
	}
}

// BenchmarkDTMFDetector is the per-channel cost of one 20 ms frame of line
// audio (speech-like sound with a dialled digit every second).
func BenchmarkDTMFDetector(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	buf := speechLike(8000*10, rng, -20)
	addNoise(buf, -50, rng)
	for at := 4000; at+ms(100) < len(buf); at += ms(1000) {
		lo, hi, _ := DTMFFreqs(rune(allDigits[at%16]))
		addTone2(buf, at, tone2{f1: lo, f2: hi, l1: -10, l2: -10, n: ms(60)})
	}
	sig := toInt16(buf)
	frames := make([]hal.Frame, len(sig)/160)
	for i := range frames {
		copy(frames[i][:], sig[i*160:])
	}
	n := 0
	d := NewDTMFDetector(func(rune) { n++ })
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.Process(frames[i%len(frames)][:])
	}
}

// TestDTMFMeasurement checks the exact stage's measurements on clean tones:
// the frequency error (from the phase advance) to 0.1 % and the twist
// (corrected for the frequency error) to 0.3 dB, so the limits sit where
// the constants say.
func TestDTMFMeasurement(t *testing.T) {
	for _, digit := range allDigits {
		for _, c := range []struct{ fe1, fe2, lo, hi float64 }{
			{0, 0, -10, -10}, {1.5, -1.5, -8, -16}, {-1.5, 1.5, -16, -12}, {2.2, -2.2, -12, -12},
		} {
			tb := burst(t, digit, ms(60))
			tb.f1 *= 1 + c.fe1/100
			tb.f2 *= 1 + c.fe2/100
			tb.l1, tb.l2 = c.lo, c.hi
			tb.ph1, tb.ph2 = 0.7, 2.1
			buf := make([]float64, 400+ms(60)+400)
			addTone2(buf, 417, tb)
			var ms []dtmfMeasure
			d := NewDTMFDetector(nil)
			d.trace = func(ev string, a ...any) {
				if ev == "verify" {
					ms = append(ms, a[0].(dtmfMeasure))
				}
			}
			d.Process(toInt16(buf))
			if len(ms) == 0 {
				t.Errorf("%q %+v: never measured", digit, c)
				continue
			}
			m := ms[0]
			if math.Abs(m.freqErr[0]*100-c.fe1) > 0.1 || math.Abs(m.freqErr[1]*100-c.fe2) > 0.1 {
				t.Errorf("%q %+v: measured frequency errors %.3f %%, %.3f %%", digit, c, m.freqErr[0]*100, m.freqErr[1]*100)
			}
			if math.Abs(m.twistDB-(c.lo-c.hi)) > 0.3 {
				t.Errorf("%q %+v: measured twist %.2f dB, want %g", digit, c, m.twistDB, c.lo-c.hi)
			}
			if m.share < 0.97 || m.coherence[0] < 0.999 || m.coherence[1] < 0.999 || math.Abs(m.chirp[0]) > 0.001 || math.Abs(m.chirp[1]) > 0.001 {
				t.Errorf("%q %+v: share %.3f, coherence %.4f %.4f, chirp %.4f %.4f for a clean steady pair", digit, c, m.share, m.coherence[0], m.coherence[1], m.chirp[0], m.chirp[1])
			}
		}
	}
}

func TestDTMFOverDialToneEcho(t *testing.T) {
	// The port's own dial tone (350+440 Hz at -13 dBm0) returning through
	// the line hybrid 12 dB down while the porter keys digits.
	rng := rand.New(rand.NewPCG(11, 11))
	at := 800
	buf := make([]float64, 800+len(allDigits)*ms(100)+800)
	for _, digit := range allDigits {
		tb := burst(t, digit, ms(45))
		tb.l1, tb.l2 = -12, -10
		addTone2(buf, at+rng.IntN(dtmfSub), tb)
		at += ms(100)
	}
	addTone2(buf, 0, tone2{f1: 350, f2: 440, l1: -25, l2: -25, n: len(buf)})
	if got := detectAll(toInt16(buf)); got != allDigits {
		t.Errorf("digits over dial-tone echo: got %q, want %q", got, allDigits)
	}
}

func TestDTMFIgnoreTones(t *testing.T) {
	// Dial tone echo only 3 dB below the digits (a badly balanced hybrid):
	// digits are masked unless the detector is told the port is playing
	// dial tone.
	digitsOverEcho := func(dial []float64, echo float64) []int16 {
		rng := rand.New(rand.NewPCG(12, 12))
		at := 800
		buf := make([]float64, 800+len(allDigits)*ms(100)+800)
		for _, digit := range allDigits {
			tb := burst(t, digit, ms(45))
			tb.l1, tb.l2 = -12, -10
			addTone2(buf, at+rng.IntN(dtmfSub), tb)
			at += ms(100)
		}
		if len(dial) == 2 {
			addTone2(buf, 0, tone2{f1: dial[0], f2: dial[1], l1: echo, l2: echo, n: len(buf)})
		} else {
			addTone2(buf, 0, tone2{f1: dial[0], f2: 1, l1: echo, l2: -200, n: len(buf)})
		}
		return toInt16(buf)
	}
	for _, c := range []struct {
		dial []float64
		echo float64
	}{{[]float64{350, 440}, -17}, {[]float64{425}, -14}} {
		sig := digitsOverEcho(c.dial, c.echo)
		if got := detectAll(sig); got == allDigits {
			t.Errorf("dial tone %v at %g dBm0: all digits found without IgnoreTones; the test no longer shows the need", c.dial, c.echo)
		}
		var got []rune
		d := NewDTMFDetector(func(r rune) { got = append(got, r) })
		d.IgnoreTones(c.dial...)
		d.Process(sig)
		if string(got) != allDigits {
			t.Errorf("dial tone %v at %g dBm0 with IgnoreTones: got %q, want %q", c.dial, c.echo, string(got), allDigits)
		}
	}
	// Ignoring tones does not open the door to talk-off.
	rng := rand.New(rand.NewPCG(13, 13))
	sp := speechLike(8000*60, rng, -15)
	var got []rune
	d := NewDTMFDetector(func(r rune) { got = append(got, r) })
	d.IgnoreTones(350, 440, 425, 900, 360) // 425 and 360 are too close, 900 too high
	if d.ign != 2 {
		t.Errorf("IgnoreTones kept %d tones (%v), want 2", d.ign, d.ignFreq[:d.ign])
	}
	d.Process(toInt16(sp))
	if len(got) != 0 {
		t.Errorf("60 s of speech with dial tone ignored gave %q", string(got))
	}
	d.IgnoreTones()
	if d.ign != 0 {
		t.Error("IgnoreTones() did not clear")
	}
}

func TestDTMFWithDCOffset(t *testing.T) {
	// A codec's DC offset (here a tenth of full scale) changes nothing.
	for _, dc := range []float64{-3300, 3300} {
		buf := make([]float64, 800+len(allDigits)*ms(90)+800)
		at := 800
		for _, digit := range allDigits {
			addTone2(buf, at, burst(t, digit, ms(40)))
			at += ms(90)
		}
		for i := range buf {
			buf[i] += dc
		}
		if got := detectAll(toInt16(buf)); got != allDigits {
			t.Errorf("DC offset %g: got %q, want %q", dc, got, allDigits)
		}
	}
}

func FuzzDTMFDetector(f *testing.F) {
	sig, _ := AppendDTMF(nil, "159#", 45*time.Millisecond, 45*time.Millisecond, -10)
	b := make([]byte, 2*len(sig))
	for i, v := range sig {
		b[2*i], b[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	f.Add(b, uint8(160))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80}, uint8(1))
	f.Fuzz(func(t *testing.T, audio []byte, chunk uint8) {
		s := make([]int16, len(audio)/2)
		for i := range s {
			s[i] = int16(uint16(audio[2*i]) | uint16(audio[2*i+1])<<8)
		}
		var got []rune
		d := NewDTMFDetector(func(r rune) { got = append(got, r) })
		n := max(int(chunk), 1)
		for len(s) > 0 {
			k := min(n, len(s))
			d.Process(s[:k])
			s = s[k:]
		}
		for _, r := range got {
			if !strings.ContainsRune(allDigits, r) {
				t.Fatalf("reported %q", r)
			}
		}
	})
}

// TestDTMFLimitBoundaries finds where acceptance actually stops (every
// alignment of a 60 ms '5' recognised, swept in fine steps) and checks each
// edge lies in the gap the standard leaves between must-accept and
// must-reject. The edges are logged for the record.
func TestDTMFLimitBoundaries(t *testing.T) {
	edge := func(from, step, to float64, apply func(*tone2, float64)) float64 {
		for v := from; (step > 0 && v <= to) || (step < 0 && v >= to); v += step {
			ok, runs, _ := countOver(t, '5', ms(60), "5", func(tb *tone2, _ []float64, _ int) { apply(tb, v) })
			if ok != runs {
				return v
			}
		}
		return math.NaN()
	}
	cases := []struct {
		name       string
		from, step float64
		lo, hi     float64 // the edge must lie in (lo, hi]
		apply      func(*tone2, float64)
	}{
		{"normal twist (dB)", 8, 0.1, 8, 10, func(tb *tone2, v float64) { tb.l1, tb.l2 = -8, -8-v }},
		{"reverse twist (dB)", 4, 0.1, 4, 6, func(tb *tone2, v float64) { tb.l1, tb.l2 = -12-v, -12 }},
		{"low tone +error (%)", 1.5, 0.05, 1.5, 3.5, func(tb *tone2, v float64) { tb.f1 *= 1 + v/100 }},
		{"low tone -error (%)", 1.5, 0.05, 1.5, 3.5, func(tb *tone2, v float64) { tb.f1 *= 1 - v/100 }},
		{"high tone +error (%)", 1.5, 0.05, 1.5, 3.5, func(tb *tone2, v float64) { tb.f2 *= 1 + v/100 }},
		{"high tone -error (%)", 1.5, 0.05, 1.5, 3.5, func(tb *tone2, v float64) { tb.f2 *= 1 - v/100 }},
		{"level per tone (dBm0)", -36, -0.5, -46, -36, func(tb *tone2, v float64) { tb.l1, tb.l2 = v, v }},
	}
	for _, c := range cases {
		to := c.hi + 2*math.Abs(c.step)
		if c.step < 0 {
			to = c.lo - 2*math.Abs(c.step)
		}
		e := edge(c.from+c.step, c.step, to, c.apply)
		t.Logf("%s: first value not always recognised: %.2f", c.name, e)
		if math.IsNaN(e) || e <= math.Min(c.lo, c.hi) || e > math.Max(c.lo, c.hi) {
			t.Errorf("%s: acceptance ends at %.2f, want within (%g, %g]", c.name, e, c.lo, c.hi)
		}
	}
}

func TestDTMFEndAndDuration(t *testing.T) {
	for _, dur := range []float64{40, 60, 100, 250, 1000} {
		for _, digit := range []rune{'1', '5', '#', 'D'} {
			for off := 0; off < dtmfSub; off += 7 {
				buf := make([]float64, 400+off+ms(dur)+ms(100))
				tb := burst(t, digit, ms(dur))
				tb.ph1, tb.ph2 = float64(off), 1
				addTone2(buf, 400+off, tb)
				var ends []rune
				var got time.Duration
				d := NewDTMFDetector(func(rune) {})
				d.SetEndFunc(func(r rune, tone time.Duration) { ends = append(ends, r); got = tone })
				sig := toInt16(buf)
				cur := rune(0)
				for i := 0; i < len(sig); i += 160 {
					d.Process(sig[i:min(i+160, len(sig))])
					if c := d.Current(); c != 0 {
						cur = c
					}
				}
				if len(ends) != 1 || ends[0] != digit || cur != digit {
					t.Errorf("%q %g ms at offset %d: ends %q, Current saw %q", digit, dur, off, string(ends), cur)
					continue
				}
				if diff := got - time.Duration(dur*float64(time.Millisecond)); diff < -5*time.Millisecond || diff > 5*time.Millisecond {
					t.Errorf("%q %g ms at offset %d: duration %v", digit, dur, off, got)
				}
				if d.Current() != 0 {
					t.Errorf("%q: Current = %q after the tone ended", digit, d.Current())
				}
			}
		}
	}
	// A digit followed at once by another ends when the other is recognised.
	sig, _ := AppendDTMF(nil, "1", 60*time.Millisecond, 0, -10)
	sig, _ = AppendDTMF(sig, "2", 60*time.Millisecond, 100*time.Millisecond, -10)
	var ends string
	d := NewDTMFDetector(func(rune) {})
	d.SetEndFunc(func(r rune, _ time.Duration) { ends += string(r) })
	d.Process(sig)
	if ends != "12" {
		t.Errorf("back-to-back digits ended %q, want \"12\"", ends)
	}
}
