package rtp

import (
	"math"
	"testing"
)

func TestG711RoundTrip(t *testing.T) {
	for _, law := range []Law{ULaw, ALaw} {
		for c := 0; c < 256; c++ {
			s := law.DecodeSample(byte(c))
			got := law.EncodeSample(s)
			want := byte(c)
			if law == ULaw && c == 0x7F {
				want = 0xFF // µ-law has two codes for zero
			}
			if got != want {
				t.Errorf("%s: code %#02x decodes to %d which encodes to %#02x", law, c, s, got)
			}
		}
	}
}

func TestG711KnownValues(t *testing.T) {
	// ITU-T G.711 anchor points.
	if v := ULaw.DecodeSample(0xFF); v != 0 {
		t.Errorf("µ-law 0xFF = %d, want 0", v)
	}
	if v := ULaw.DecodeSample(0x80); v != 32124 {
		t.Errorf("µ-law 0x80 = %d, want 32124", v)
	}
	if v := ALaw.DecodeSample(0xD5); v != 8 {
		t.Errorf("A-law 0xD5 = %d, want 8", v)
	}
	if v := ALaw.DecodeSample(0xAA); v != 32256 {
		t.Errorf("A-law 0xAA = %d, want 32256", v)
	}
	if ULaw.Silence() != 0xFF || ALaw.Silence() != 0xD5 {
		t.Errorf("silence codes %#x %#x", ULaw.Silence(), ALaw.Silence())
	}
}

// The tables must agree with the reference functions for every sample.
func TestG711TablesMatchReference(t *testing.T) {
	for s := math.MinInt16; s <= math.MaxInt16; s++ {
		if a, b := ULaw.EncodeSample(int16(s)), linearToUlaw(int16(s)); a != b {
			t.Fatalf("µ-law table %d: %#x, reference %#x", s, a, b)
		}
		if a, b := ALaw.EncodeSample(int16(s)), linearToAlaw(int16(s)); a != b {
			t.Fatalf("A-law table %d: %#x, reference %#x", s, a, b)
		}
	}
}

// Quantisation error stays within G.711's segment step: SNR of a sine well
// above 30 dB at normal levels.
func TestG711SNR(t *testing.T) {
	for _, law := range []Law{ULaw, ALaw} {
		var sig, noise float64
		in := make([]int16, 8000)
		for i := range in {
			in[i] = int16(10000 * math.Sin(2*math.Pi*1004*float64(i)/8000))
		}
		enc := make([]byte, len(in))
		out := make([]int16, len(in))
		law.Encode(enc, in)
		law.Decode(out, enc)
		for i := range in {
			sig += float64(in[i]) * float64(in[i])
			d := float64(in[i]) - float64(out[i])
			noise += d * d
		}
		if snr := 10 * math.Log10(sig/noise); snr < 33 {
			t.Errorf("%s SNR %.1f dB", law, snr)
		}
	}
}

func BenchmarkG711EncodeFrame(b *testing.B) {
	var in [160]int16
	var out [160]byte
	for i := range in {
		in[i] = int16(i * 200)
	}
	b.ReportAllocs()
	for b.Loop() {
		ALaw.Encode(out[:], in[:])
	}
}
