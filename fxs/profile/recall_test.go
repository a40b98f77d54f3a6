package profile

import (
	"strings"
	"testing"
	"time"
)

func TestRecallAndWaitingData(t *testing.T) {
	uk, err := Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	// BT: R0 reject, R1 end and take the other, R2 hold and take / swap.
	for code, want := range map[string]string{"0": RecallReleaseOther, "1": RecallReleaseActive, "2": RecallSwap} {
		if got := uk.Recall.Codes[code]; got != want {
			t.Errorf("uk R%s = %q, want %q", code, got, want)
		}
	}
	if uk.Recall.Flash != "" || uk.Recall.DigitTimeout < time.Second {
		t.Errorf("uk recall %+v", uk.Recall)
	}
	etsi, _ := Load("etsi", nil)
	if etsi.Recall.Codes["4"] != RecallTransfer {
		t.Errorf("etsi R4 = %q", etsi.Recall.Codes["4"])
	}
	us, _ := Load("us", nil)
	if us.Recall.Flash != RecallSwap || len(us.Recall.Codes) != 0 {
		t.Errorf("us recall %+v: a flash alone should swap", us.Recall)
	}
	for _, p := range []*Profile{uk, etsi, us} {
		w := p.CallerID.Waiting
		alert, err := w.Alert.Parse("alert")
		if err != nil || alert.Repeat || len(alert.Segments) != 1 || alert.Segments[0].Duration != 80*time.Millisecond {
			t.Errorf("%s: CAS %+v %v, want one 80 ms burst", p.Name, alert, err)
		}
		if f := alert.Segments[0].Components; len(f) != 2 || f[0].Freq != 2130 || f[1].Freq != 2750 {
			t.Errorf("%s: CAS frequencies %+v", p.Name, f)
		}
		if w.Method != CIDWaitingCAS || w.Ack != "D" || w.MarkBits < 55 || w.MarkBits > 105 || w.AckTimeout != 160*time.Millisecond {
			t.Errorf("%s: caller ID on call waiting %+v", p.Name, w)
		}
	}
}

func TestRecallAndWaitingValidation(t *testing.T) {
	for _, tc := range []struct{ override, want string }{
		{`[recall]
codes = { "2" = "teleport" }`, `recall.codes.2: "teleport" is not an action`},
		{`[recall]
codes = { "22" = "swap" }`, `recall.codes: "22" is not one digit`},
		{`[recall]
flash = "hold-music"`, `recall.flash: "hold-music" is not an action`},
		{`[recall]
digit_timeout = "100ms"`, `recall.digit_timeout: 100ms is out of range`},
		{`[caller_id.waiting]
method = "fsk"`, `caller_id.waiting.method: "fsk" is not a method`},
		{`[caller_id.waiting]
ack = "X"`, `caller_id.waiting.ack: "X" is not one DTMF digit`},
		{`[caller_id.waiting]
ack_timeout = "5s"`, `caller_id.waiting.ack_timeout: 5s is out of range`},
		{`[caller_id.waiting]
alert = { cadence = "" }`, `caller_id.waiting.alert: is missing`},
		{`[caller_id.waiting]
mark_bits = 2`, `caller_id.waiting.mark_bits: 2 is out of range`},
		{`[caller_id]
method = "none"`, `caller_id.waiting.method: cas needs`},
	} {
		_, err := Load("uk", []byte(tc.override))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  got %v\n  want %s", tc.override, err, tc.want)
		}
	}
	// Switched off, nothing else is asked for; a codes table replaces the
	// built-in one.
	p, err := Load("uk", []byte("[caller_id.waiting]\nmethod = \"none\"\nalert = { cadence = \"\" }\n[recall]\ncodes = {}\nflash = \"\"\n"))
	if err != nil || len(p.Recall.Codes) != 0 {
		t.Fatalf("%v, codes %v", err, p.Recall.Codes)
	}
	p, err = Load("uk", []byte("[recall]\ncodes = { \"5\" = \"swap\" }\n"))
	if err != nil || len(p.Recall.Codes) != 1 || p.Recall.Codes["5"] != RecallSwap {
		t.Fatalf("%v, codes %v", err, p.Recall.Codes)
	}
}
