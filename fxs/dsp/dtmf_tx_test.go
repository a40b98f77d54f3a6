package dsp

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestAppendDTMF(t *testing.T) {
	sig, err := AppendDTMF([]int16{1, 2, 3}, "5#", 50*time.Millisecond, 55*time.Millisecond, -10)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 3+2*(400+440) {
		t.Fatalf("length %d, want %d", len(sig), 3+2*(400+440))
	}
	if sig[0] != 1 || sig[2] != 3 {
		t.Error("dst's contents changed")
	}
	for i, c := range []struct {
		lo, hi float64
	}{{770, 1336}, {941, 1477}} {
		on := sig[3+i*840 : 3+i*840+400]
		off := sig[3+i*840+400 : 3+(i+1)*840]
		for _, f := range []float64{c.lo, c.hi} {
			if got := ToneLevelDBm0(on, f); math.Abs(got+10) > 0.05 {
				t.Errorf("digit %d: %g Hz at %.2f dBm0, want -10", i, f, got)
			}
		}
		// The other DTMF frequencies are absent (well below).
		for _, f := range []float64{697, 852, 1209, 1633} {
			if f == c.lo || f == c.hi {
				continue
			}
			if got := hannLevelDBm0(on, f); got > -50 {
				t.Errorf("digit %d: %g Hz at %.1f dBm0; should be absent", i, f, got)
			}
		}
		for _, v := range off {
			if v != 0 {
				t.Fatalf("digit %d: gap not silent", i)
			}
		}
	}
}

func TestAppendDTMFErrors(t *testing.T) {
	for _, c := range []struct {
		digits  string
		on, off time.Duration
		level   float64
		want    string
	}{
		{"12x4", 50 * time.Millisecond, 50 * time.Millisecond, -10, `digit 'x' at position 3`},
		{"1", 0, 50 * time.Millisecond, -10, "on must be positive"},
		{"1", 50 * time.Millisecond, -time.Millisecond, -10, "off not negative"},
		{"1", 50 * time.Millisecond, 50 * time.Millisecond, 0, "would clip"},
	} {
		dst := []int16{7}
		got, err := AppendDTMF(dst, c.digits, c.on, c.off, c.level)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AppendDTMF(%q, %v, %v, %g) error %v, want one containing %q", c.digits, c.on, c.off, c.level, err, c.want)
		}
		if len(got) != 1 {
			t.Errorf("on error dst grew to %d samples", len(got))
		}
	}
	// Lower-case a-d are the same keys.
	a, _ := AppendDTMF(nil, "abcd", 40*time.Millisecond, 40*time.Millisecond, -10)
	b, _ := AppendDTMF(nil, "ABCD", 40*time.Millisecond, 40*time.Millisecond, -10)
	if len(a) != len(b) || detectAll(a) != "ABCD" {
		t.Error("lower-case a-d differ from A-D")
	}
}

func TestAppendDTMFTwist(t *testing.T) {
	sig, err := AppendDTMFTwist(nil, "8", 100*time.Millisecond, 0, -11, -8)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := ToneLevelDBm0(sig, 852), ToneLevelDBm0(sig, 1336); math.Abs(lo+11) > 0.05 || math.Abs(hi+8) > 0.05 {
		t.Errorf("levels %.2f / %.2f dBm0, want -11 / -8", lo, hi)
	}
	if got := detectAll(sig); got != "8" {
		t.Errorf("detected %q", got)
	}
	if _, err := AppendDTMFTwist(nil, "8", 100*time.Millisecond, 0, -2, -3); err == nil {
		t.Error("levels that clip together accepted")
	}
}

func TestDTMFFreqs(t *testing.T) {
	lo, hi, ok := DTMFFreqs('*')
	if !ok || lo != 941 || hi != 1209 {
		t.Errorf("DTMFFreqs('*') = %g, %g, %v", lo, hi, ok)
	}
	if _, _, ok := DTMFFreqs('E'); ok {
		t.Error("DTMFFreqs('E') ok")
	}
}

// hannLevelDBm0 is ToneLevelDBm0 through a Hann window: far less leakage
// from nearby tones, for checking that a frequency is absent.
func hannLevelDBm0(s []int16, f float64) float64 {
	var re, im, wsum float64
	n := float64(len(s))
	for i, v := range s {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/n)
		sn, cs := math.Sincos(2 * math.Pi * f * float64(i) / 8000)
		re += w * float64(v) * cs
		im += w * float64(v) * sn
		wsum += w
	}
	return AmplitudeToDBm0(2 * math.Hypot(re, im) / wsum)
}
