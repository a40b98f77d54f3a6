package dsp

import (
	"math"
	"testing"
	"time"
)

// crossings returns the interpolated times (in samples) where s crosses
// zero going up or down.
func crossings(s []int16) []float64 {
	var out []float64
	for i := 1; i < len(s); i++ {
		a, b := float64(s[i-1]), float64(s[i])
		if (a < 0 && b >= 0) || (a >= 0 && b < 0) {
			out = append(out, float64(i-1)+a/(a-b))
		}
	}
	return out
}

// fskRegions classifies each half-cycle of s as mark or space by its
// length and returns the runs: alternating (start, end, mark) in samples.
type region struct {
	start, end float64
	mark       bool
}

func fskRegions(s []int16, std FSKStandard) []region {
	mark, space := std.Tones()
	split := (mark + space) / 2
	zc := crossings(s)
	var out []region
	for i := 1; i < len(zc); i++ {
		f := 8000 / (2 * (zc[i] - zc[i-1]))
		m := f < split
		if len(out) > 0 && out[len(out)-1].mark == m {
			out[len(out)-1].end = zc[i]
			continue
		}
		out = append(out, region{zc[i-1], zc[i], m})
	}
	return out
}

func TestFSKMarkSignalAndFrequencies(t *testing.T) {
	msg := []byte{0x80, 0x03, 0x00, 0x00, 0x00, 0x7d} // zeros give long space runs
	for _, std := range []FSKStandard{V23, Bell202} {
		o := DefaultFSKOptions(std)
		sig := AppendFSK(nil, std, msg, o)
		wantLen := int(math.Ceil(float64(o.SeizureBits+o.MarkBits+10*len(msg)+o.PostMarkBits) * 8000 / 1200))
		if len(sig) != wantLen || FSKSamples(len(msg), o) != wantLen {
			t.Errorf("%v: %d samples (FSKSamples %d), want %d", std, len(sig), FSKSamples(len(msg), o), wantLen)
		}
		regs := fskRegions(sig, std)
		// Seizure: alternating single bits from the start; the first long
		// mark region is the mark signal.
		var markReg region
		found := false
		for _, r := range regs {
			if r.mark && (r.end-r.start)*1200/8000 > 20 {
				markReg, found = r, true
				break
			}
		}
		if !found {
			t.Fatalf("%v: no mark signal found", std)
		}
		seizureBits := markReg.start * 1200 / 8000
		markBits := (markReg.end - markReg.start) * 1200 / 8000
		// The region edges are measured at zero crossings, so allow one
		// carrier half-cycle (under a bit) either way.
		if math.Abs(seizureBits-float64(o.SeizureBits)) > 1 {
			t.Errorf("%v: channel seizure measured %.1f bits, want %d", std, seizureBits, o.SeizureBits)
		}
		if math.Abs(markBits-float64(o.MarkBits)) > 1 {
			t.Errorf("%v: mark signal measured %.1f bits, want %d", std, markBits, o.MarkBits)
		}
		// Seizure alternates every bit.
		n := 0
		for _, r := range regs {
			if r.end > markReg.start {
				break
			}
			if bits := (r.end - r.start) * 1200 / 8000; bits > 1.6 {
				t.Errorf("%v: a seizure run of %.2f bits at sample %.0f", std, bits, r.start)
			}
			n++
		}
		if n < o.SeizureBits-2 {
			t.Errorf("%v: %d alternations in the seizure, want about %d", std, n, o.SeizureBits)
		}
		// Frequencies from zero crossings: the mark over the mark signal,
		// the space over the 9-bit space runs of the 0x00 bytes (start bit
		// and eight zeros).
		mark, space := std.Tones()
		mz := crossings(sig[int(markReg.start)+10 : int(markReg.end)-10])
		fm := float64(len(mz)-1) / 2 / ((mz[len(mz)-1] - mz[0]) / 8000)
		if math.Abs(fm-mark)/mark > 0.002 {
			t.Errorf("%v: mark measured %.1f Hz, want %g", std, fm, mark)
		}
		spaces := 0
		for _, r := range regs {
			if r.mark || (r.end-r.start)*1200/8000 < 8.5 {
				continue
			}
			z := crossings(sig[int(r.start)+5 : int(r.end)-5])
			fs := float64(len(z)-1) / 2 / ((z[len(z)-1] - z[0]) / 8000)
			if math.Abs(fs-space)/space > 0.005 {
				t.Errorf("%v: space measured %.1f Hz, want %g", std, fs, space)
			}
			spaces++
		}
		if spaces != 3 {
			t.Errorf("%v: found %d long space runs, want 3 (one per 0x00 byte)", std, spaces)
		}
		// Level over the mark signal, and Goertzel readings of the tones.
		part := sig[int(markReg.start):int(markReg.end)]
		if got := PowerDBm0(part); math.Abs(got-o.LevelDBm0) > 0.1 {
			t.Errorf("%v: mark signal at %.2f dBm0, want %g", std, got, o.LevelDBm0)
		}
		if got := ToneLevelDBm0(part, mark); math.Abs(got-o.LevelDBm0) > 0.2 {
			t.Errorf("%v: Goertzel at %g Hz reads %.2f dBm0, want %g", std, mark, got, o.LevelDBm0)
		}
		if got := ToneLevelDBm0(part, space); got > o.LevelDBm0-30 {
			t.Errorf("%v: Goertzel at the space %g Hz reads %.1f in the mark signal", std, space, got)
		}
		// Phase continuity: no step larger than the fastest tone allows.
		amp := DBm0ToAmplitude(o.LevelDBm0)
		maxStep := 2 * amp * math.Sin(math.Pi*space/8000) * 1.01
		for i := 1; i < len(sig); i++ {
			if d := math.Abs(float64(sig[i]) - float64(sig[i-1])); d > maxStep+1 {
				t.Fatalf("%v: step of %.0f at sample %d (max %.0f): phase jump", std, d, i, maxStep)
			}
		}
	}
}

func TestDefaultFSKOptions(t *testing.T) {
	v := DefaultFSKOptions(V23)
	// BT SIN 227: seizure 96-315 bits, mark >= 55; ETSI EN 300 659-1
	// on-hook: seizure 300, mark 180 +- 25.
	if v.SeizureBits < 96 || v.SeizureBits > 315 || v.MarkBits < 155 || v.MarkBits > 205 {
		t.Errorf("V23 defaults %+v outside SIN 227 / EN 300 659-1", v)
	}
	b := DefaultFSKOptions(Bell202)
	if b.SeizureBits != 300 || b.MarkBits != 180 {
		t.Errorf("Bell 202 defaults %+v, want 300 seizure and 180 mark bits (GR-30)", b)
	}
	if V23.String() != "V.23" || Bell202.String() != "Bell 202" || FSKStandard(7).String() != "FSKStandard(7)" {
		t.Error("FSKStandard.String")
	}
}

func TestAppendFSKAllocs(t *testing.T) {
	msg, _ := CallerID{Number: "01223555123", Name: "Lodge"}.MDMF()
	o := DefaultFSKOptions(V23)
	buf := make([]int16, 0, FSKSamples(len(msg), o))
	if a := testing.AllocsPerRun(20, func() { buf = AppendFSK(buf[:0], V23, msg, o) }); a != 0 {
		t.Errorf("AppendFSK into a buffer with room allocates %v times", a)
	}
}

func BenchmarkAppendFSK(b *testing.B) {
	msg, _ := CallerID{Time: time.Now(), Number: "01223555123", Name: "Porters Lodge"}.MDMF()
	o := DefaultFSKOptions(V23)
	buf := make([]int16, 0, FSKSamples(len(msg), o))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFSK(buf[:0], V23, msg, o)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(len(buf))/160), "ns/frame")
}
