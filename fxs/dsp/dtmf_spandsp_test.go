//go:build spandsp

package dsp

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/spandsp"
)

// spandspDigits runs spandsp's dtmf_rx over samples in 20 ms frames.
func spandspDigits(samples []int16) string {
	rx := spandsp.NewDTMFRx()
	defer rx.Close()
	got := ""
	for len(samples) > 0 {
		n := min(160, len(samples))
		rx.Process(samples[:n])
		got += rx.Digits()
		samples = samples[n:]
	}
	return got + rx.Digits()
}

func TestSpandspDecodesOurDTMF(t *testing.T) {
	for _, c := range []struct {
		on, off time.Duration
		level   float64
	}{
		{50 * time.Millisecond, 50 * time.Millisecond, -10},
		{40 * time.Millisecond, 40 * time.Millisecond, -10},
		{70 * time.Millisecond, 70 * time.Millisecond, -7},
		{100 * time.Millisecond, 100 * time.Millisecond, -20},
		{50 * time.Millisecond, 60 * time.Millisecond, -30},
	} {
		sig, err := AppendDTMF(make([]int16, 400), allDigits, c.on, c.off, c.level)
		if err != nil {
			t.Fatal(err)
		}
		if got := spandspDigits(sig); got != allDigits {
			t.Errorf("spandsp dtmf_rx on our DTMF (%v on, %v off, %g dBm0): got %q, want %q", c.on, c.off, c.level, got, allDigits)
		}
		if got := detectAll(sig); got != allDigits {
			t.Errorf("our detector on the same audio: got %q, want %q", got, allDigits)
		}
	}
}

func TestOurDetectorDecodesSpandspDTMF(t *testing.T) {
	for _, c := range []struct{ level, twist, on, off int }{
		{-10, 0, 50, 55}, // dtmf_tx defaults
		{-10, 0, 40, 40},
		{-20, 2, 50, 50},
		{-25, -4, 60, 60},
		{-6, 3, 45, 45},
		{-36, 0, 50, 50},
	} {
		sig := spandsp.DTMFTx(allDigits, c.level, c.twist, c.on, c.off)
		if got := detectAll(sig); got != allDigits {
			t.Errorf("our detector on spandsp dtmf_tx (%d dBm0, twist %d dB, %d/%d ms): got %q, want %q", c.level, c.twist, c.on, c.off, got, allDigits)
		}
		if got := spandspDigits(sig); got != allDigits {
			t.Errorf("spandsp on its own dtmf_tx (%+v): got %q", c, got)
		}
	}
}

// TestSameDigitsAsSpandsp plays digit sequences with noise and speech-like
// sound underneath and checks both detectors read the same digits; and it
// records (logs) how each fares on talk-off material.
func TestSameDigitsAsSpandsp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 20 {
		buf := speechLike(8000*3, rng, -42)
		addNoise(buf, -40, rng)
		at := 800
		want := ""
		for at+ms(120) < len(buf) {
			digit := rune(allDigits[rng.IntN(16)])
			tb := burst(t, digit, ms(45+rng.Float64()*60))
			tb.l1 = -5 - rng.Float64()*15
			tb.l2 = tb.l1 + rng.Float64()*6 - 3
			addTone2(buf, at, tb)
			want += string(digit)
			at += tb.n + ms(50+rng.Float64()*100)
		}
		sig := toInt16(buf)
		ours, theirs := detectAll(sig), spandspDigits(sig)
		if ours != want || theirs != want {
			t.Errorf("trial %d: sent %q; ours %q, spandsp %q", trial, want, ours, theirs)
		}
	}
	var oursN, theirsN int
	for seed := range uint64(2) {
		for _, kind := range []int{1, 2} {
			r := rand.New(rand.NewPCG(seed+50, uint64(kind)))
			var buf []float64
			if kind == 1 {
				buf = speechLike(8000*60, r, -15)
			} else {
				buf = musicLike(8000*60, r, -15)
			}
			sig := toInt16(buf)
			oursN += len(detectAll(sig))
			theirsN += len(spandspDigits(sig))
		}
	}
	if oursN != 0 {
		t.Errorf("talk-off: our detector found %d digits in 4 minutes of speech-like and music-like sound", oursN)
	}
	t.Logf("talk-off over 4 minutes: ours %d digits, spandsp %d digits", oursN, theirsN)
}

// benchFrames is 10 s of line audio: speech-like sound with dialled digits
// in it, or (worst case for our detector, which skips its filters on
// unsteady sound) steady white noise with the digits.
func benchFrames(b *testing.B, noise bool) []hal.Frame {
	rng := rand.New(rand.NewPCG(3, 3))
	var buf []float64
	if noise {
		buf = make([]float64, 8000*10)
		addNoise(buf, -20, rng)
	} else {
		buf = speechLike(8000*10, rng, -20)
		addNoise(buf, -50, rng)
	}
	for at := 4000; at+ms(100) < len(buf); at += ms(1000) {
		addTone2(buf, at, burst(&testing.T{}, rune(allDigits[at%16]), ms(60)))
	}
	sig := toInt16(buf)
	frames := make([]hal.Frame, len(sig)/160)
	for i := range frames {
		copy(frames[i][:], sig[i*160:])
	}
	return frames
}

// BenchmarkDTMFVsSpandsp times the same frames through our detector and
// through spandsp's dtmf_rx in one run, alternating in chunks of 250 frames
// (5 s of audio) so load from elsewhere falls on both alike, and reports
// both per-frame costs and their ratio. b.N counts frames.
func BenchmarkDTMFVsSpandsp(b *testing.B) {
	b.Run("speech", func(b *testing.B) { benchVsSpandsp(b, benchFrames(b, false)) })
	b.Run("noise", func(b *testing.B) { benchVsSpandsp(b, benchFrames(b, true)) })
}

func benchVsSpandsp(b *testing.B, frames []hal.Frame) {
	d := NewDTMFDetector(func(rune) {})
	rx := spandsp.NewDTMFRx()
	defer rx.Close()
	var ours, theirs time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(250, b.N-done)
		start := time.Now()
		for i := done; i < done+n; i++ {
			d.Process(frames[i%len(frames)][:])
		}
		mid := time.Now()
		for i := done; i < done+n; i++ {
			rx.Process(frames[i%len(frames)][:])
		}
		rx.Digits()
		ours += mid.Sub(start)
		theirs += time.Since(mid)
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ours-ns/frame")
	b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "spandsp-ns/frame")
	b.ReportMetric(float64(ours)/float64(theirs), "ours/spandsp")
}

func BenchmarkSpandspDTMFRx(b *testing.B) {
	frames := benchFrames(b, false)
	rx := spandsp.NewDTMFRx()
	defer rx.Close()
	b.ResetTimer()
	for i := range b.N {
		rx.Process(frames[i%len(frames)][:])
		if i%len(frames) == 0 {
			rx.Digits()
		}
	}
}

// TestTalkOffTTSVsSpandsp runs the text-to-speech talk-off material through
// both detectors: ours must give no more digits than spandsp's dtmf_rx.
func TestTalkOffTTSVsSpandsp(t *testing.T) {
	var ours, theirs int
	minutes := 0.0
	for _, speech := range ttsSpeech(t) {
		for _, gain := range []float64{1, 2} {
			buf := make([]float64, len(speech))
			for i, v := range speech {
				buf[i] = v * gain
			}
			sig := toInt16(buf)
			ours += len(detectAll(sig))
			theirs += len(spandspDigits(sig))
			minutes += float64(len(sig)) / 8000 / 60
		}
	}
	t.Logf("talk-off on %.1f minutes of text-to-speech: ours %d digits, spandsp %d", minutes, ours, theirs)
	if ours > theirs {
		t.Errorf("our detector found %d digits in speech, spandsp %d", ours, theirs)
	}
}
