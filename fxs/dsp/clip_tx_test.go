package dsp

import (
	"math"
	"testing"
	"time"
)

func TestUKCallerIDSignalTiming(t *testing.T) {
	msg, err := CallerID{Number: "01223555123"}.MDMF()
	if err != nil {
		t.Fatal(err)
	}
	sig := AppendUKCallerIDSignal(nil, msg)
	a := DefaultAlertOptions()
	// Alert: 2130+2750 Hz for 88-110 ms; then 45-75 ms of silence; then FSK.
	// The alert ends where the first run of 40 silent samples starts (a
	// sine has isolated zero samples only).
	alertEnd := 0
	for i := range sig {
		if sig[i] != 0 {
			continue
		}
		j := i
		for j < len(sig) && sig[j] == 0 {
			j++
		}
		if j-i >= 40 {
			alertEnd = i
			break
		}
	}
	fskStart := alertEnd
	for fskStart < len(sig) && sig[fskStart] == 0 {
		fskStart++
	}
	alertMS := float64(alertEnd) / 8
	gapMS := float64(fskStart-alertEnd) / 8
	if alertMS < 88 || alertMS > 110 || math.Abs(alertMS-float64(a.Duration/time.Millisecond)) > 0.5 {
		t.Errorf("alert lasts %.1f ms, want %v within 88-110 ms", alertMS, a.Duration)
	}
	if gapMS < 45 || gapMS > 75 {
		t.Errorf("gap before the FSK %.1f ms, want 45-75 ms", gapMS)
	}
	alert := sig[:alertEnd]
	for _, f := range []float64{AlertLowHz, AlertHighHz} {
		if got := ToneLevelDBm0(alert, f); math.Abs(got-a.LevelDBm0) > 0.1 {
			t.Errorf("alert %g Hz at %.2f dBm0, want %g", f, got, a.LevelDBm0)
		}
	}
	fsk := AppendFSK(nil, V23, msg, DefaultFSKOptions(V23))
	if len(sig)-fskStart != len(fsk)-firstNonZero(fsk) {
		t.Errorf("FSK part is %d samples, want %d", len(sig)-fskStart, len(fsk))
	}
	us := AppendUSCallerIDSignal(nil, msg)
	if got := AppendFSK(nil, Bell202, msg, DefaultFSKOptions(Bell202)); len(us) != len(got) {
		t.Errorf("US signal is %d samples, want %d (Bell 202 FSK only)", len(us), len(got))
	}
}

func firstNonZero(s []int16) int {
	for i, v := range s {
		if v != 0 {
			return i
		}
	}
	return len(s)
}
