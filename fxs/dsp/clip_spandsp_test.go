//go:build spandsp

package dsp

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/critline/critline/internal/spandsp"
)

// callerIDCases are the messages the referee tests send both ways.
func callerIDCases(t *testing.T) []CallerID {
	t.Helper()
	when := time.Date(2026, 11, 27, 9, 5, 0, 0, time.UTC)
	return []CallerID{
		{Time: when, Number: "01223555123", Name: "Porters Lodge"},
		{Time: when, NumberAbsence: Private, NameAbsence: Private},
		{Time: when, NumberAbsence: Unavailable, NameAbsence: Unavailable},
		{Number: "999"},
		{Time: when, Number: "+441223555123", Name: "A name of twenty chr"},
		{Time: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Number: "07700900123", NameAbsence: Private},
		{Time: when, Number: "12345678901234567890", Name: PrintableName("Ünïcode Caller — very long name that is cut", 20)},
	}
}

// spandspGot reports whether adsi_rx delivered exactly msg: it checks the
// checksum itself and hands over the message without it.
func spandspGot(got [][]byte, msg []byte) bool {
	return len(got) == 1 && bytes.Equal(got[0], msg[:len(msg)-1])
}

// ukSequence is what the FXS port plays to a UK line between the polarity
// reversal and the first ring, with silence either side.
func ukSequence(msg []byte) []int16 {
	sig := make([]int16, 800) // 100 ms after the reversal
	sig = AppendUKCallerIDSignal(sig, msg)
	return append(sig, make([]int16, 1600)...)
}

func TestSpandspDecodesOurUKCallerID(t *testing.T) {
	for _, c := range callerIDCases(t) {
		msg, err := c.MDMF()
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		rx := spandsp.NewADSIRx(spandsp.StandardCLIP)
		rx.Process(ukSequence(msg))
		got := rx.Messages()
		rx.Close()
		if !spandspGot(got, msg) {
			t.Errorf("spandsp adsi_rx (CLIP) on our UK sequence for %+v: got %x, want [%x]", c, got, msg)
		}
	}
}

func TestSpandspDecodesOurUSCallerID(t *testing.T) {
	for _, c := range callerIDCases(t) {
		msgs := [][]byte{}
		m, err := c.MDMF()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		sd := c
		sd.Name, sd.NameAbsence = "", Present
		if len(sd.Number) <= MaxSDMFNumberLen && !sd.Time.IsZero() && !(sd.Number == "" && sd.NumberAbsence == Present) {
			m, err := sd.SDMF()
			if err != nil {
				t.Fatalf("SDMF %+v: %v", sd, err)
			}
			msgs = append(msgs, m)
		}
		for _, msg := range msgs {
			rx := spandsp.NewADSIRx(spandsp.StandardCLASS)
			sig := AppendUSCallerIDSignal(make([]int16, 4000), msg)
			rx.Process(append(sig, make([]int16, 1600)...))
			got := rx.Messages()
			rx.Close()
			if !spandspGot(got, msg) {
				t.Errorf("spandsp adsi_rx (CLASS) on our Bell 202 for %x: got %x", msg, got)
			}
		}
	}
}

func TestSpandspDecodesOurCallerIDAtLevels(t *testing.T) {
	msg, _ := callerIDCases(t)[0].MDMF()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, std := range []FSKStandard{V23, Bell202} {
		for _, level := range []float64{-6, -13.5, -25, -29} {
			o := DefaultFSKOptions(std)
			o.LevelDBm0 = level
			buf := make([]float64, 0)
			sig := AppendFSK(make([]int16, 800), std, msg, o)
			sig = append(sig, make([]int16, 800)...)
			for _, v := range sig {
				buf = append(buf, float64(v))
			}
			addNoise(buf, level-25, rng)
			standard := spandsp.StandardCLIP
			if std == Bell202 {
				standard = spandsp.StandardCLASS
			}
			rx := spandsp.NewADSIRx(standard)
			rx.Process(toInt16(buf))
			got := rx.Messages()
			rx.Close()
			if !spandspGot(got, msg) {
				t.Errorf("spandsp on our %v at %g dBm0 (25 dB S/N): got %x", std, level, got)
			}
		}
	}
}

func TestOurReceiverDecodesSpandspCallerID(t *testing.T) {
	for _, c := range callerIDCases(t) {
		msg, err := c.MDMF()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			std      FSKStandard
			standard int
			o        spandsp.ADSITxOptions
		}{
			// BT/ETSI on-hook as weeBell sets it: alert tone, 180 marks.
			{V23, spandsp.StandardCLIP, spandsp.ADSITxOptions{Alert: true, PreambleBits: -1, MarkBits: 180, PostambleBits: -1, Stop: -1}},
			// spandsp's CLIP defaults: 300 seizure, 80 marks.
			{V23, spandsp.StandardCLIP, spandsp.ADSITxOptions{PreambleBits: -1, MarkBits: -1, PostambleBits: -1, Stop: -1}},
			// Bellcore.
			{Bell202, spandsp.StandardCLASS, spandsp.ADSITxOptions{PreambleBits: -1, MarkBits: -1, PostambleBits: -1, Stop: -1}},
			// Type II style: no seizure, 80 marks.
			{Bell202, spandsp.StandardCLASS, spandsp.ADSITxOptions{PreambleBits: 0, MarkBits: 80, PostambleBits: -1, Stop: -1}},
		} {
			sig, err := spandsp.ADSITx(tc.standard, msg, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			rx := NewCallerIDReceiver(tc.std, func(m []byte) { got = append(got, bytes.Clone(m)) })
			rx.Process(sig)
			if len(got) != 1 || !bytes.Equal(got[0], msg) {
				t.Errorf("our %v receiver on spandsp adsi_tx %+v for %+v: got %x, want [%x]", tc.std, tc.o, c, got, msg)
				continue
			}
			back, err := ParseCallerID(got[0])
			if err != nil {
				t.Errorf("ParseCallerID(%x): %v", got[0], err)
			}
			if back.Number != c.Number || back.Name != c.Name || back.NumberAbsence != c.NumberAbsence || back.NameAbsence != c.NameAbsence {
				t.Errorf("parsed %+v, sent %+v", back, c)
			}
		}
	}
}

// TestCallerIDReceiverVsSpandsp plays the same noisy or off-frequency FSK
// to both receivers: ours must decode at least as often as adsi_rx.
func TestCallerIDReceiverVsSpandsp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	msg, _ := CallerID{Time: nov27, Number: "01223555123", Name: "Porters Lodge"}.MDMF()
	const trials = 15
	for _, std := range []FSKStandard{V23, Bell202} {
		for _, c := range []struct {
			snr, level, freq float64
		}{{0, -13.5, 1.015}, {0, -13.5, 0.985}, {20, -13.5, 1}, {15, -25, 1}, {12, -13.5, 1}, {10, -13.5, 1}} {
			theirs, ours := 0, 0
			for range trials {
				p := stdParams(std)
				p.phase = rng.Float64() * 2 * math.Pi
				p.level = c.level
				p.mark *= c.freq
				p.space *= c.freq
				sig := pad(modFSK(msg, p), 400+rng.IntN(400), 800)
				if c.snr > 0 {
					addNoise(sig, p.level-c.snr, rng)
				}
				st := spandsp.StandardCLIP
				if std == Bell202 {
					st = spandsp.StandardCLASS
				}
				rx := spandsp.NewADSIRx(st)
				rx.Process(toInt16(sig))
				if spandspGot(rx.Messages(), msg) {
					theirs++
				}
				rx.Close()
				if got := receive(std, toInt16(sig)); len(got) == 1 && bytes.Equal(got[0], msg) {
					ours++
				}
			}
			t.Logf("%v, S/N %g dB, %g dBm0, tones x%g: spandsp %d/%d, ours %d/%d", std, c.snr, c.level, c.freq, theirs, trials, ours, trials)
			if ours < theirs {
				t.Errorf("%v, S/N %g dB, %g dBm0, tones x%g: ours decoded %d of %d, spandsp %d", std, c.snr, c.level, c.freq, ours, trials, theirs)
			}
		}
	}
}
