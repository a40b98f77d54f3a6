package dsp

import (
	"bytes"
	"testing"
	"time"
)

func TestMessageWaitingMessages(t *testing.T) {
	// Asterisk's vmwi_generate: 82 03 0b 01 ff <sum>, 06 03 42 42 42 <sum>.
	on, _ := MessageWaiting{Active: true}.MDMF()
	if !bytes.Equal(on, []byte{0x82, 3, 0x0B, 1, 0xFF, 0x70}) {
		t.Errorf("MDMF on % x", on)
	}
	sdmf, _ := MessageWaiting{Active: true}.SDMF()
	if !bytes.Equal(sdmf, []byte{0x06, 3, 0x42, 0x42, 0x42, 0x31}) {
		t.Errorf("SDMF on % x", sdmf)
	}
	for _, m := range []MessageWaiting{
		{Active: true}, {Active: false}, {Active: true, Messages: 3},
		{Active: true, Messages: 255, Time: time.Date(0, 12, 24, 23, 59, 0, 0, time.UTC)},
	} {
		b, err := m.MDMF()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseMessageWaiting(b)
		if err != nil || got != m {
			t.Errorf("%+v: round trip %+v, %v", m, got, err)
		}
		s, _ := m.SDMF()
		if got, err := ParseMessageWaiting(s); err != nil || got.Active != m.Active {
			t.Errorf("%+v SDMF: %+v, %v", m, got, err)
		}
	}
	if _, err := (MessageWaiting{Messages: 300}).MDMF(); err == nil {
		t.Error("300 messages accepted")
	}
	for _, bad := range [][]byte{{0x82}, {0x82, 1, 0x0B, 0}, {0x80, 0, 0x80}, {0x06, 3, 0x42, 0x6F, 0x42, 0}, {0x82, 0, 0x7E}} {
		if _, err := ParseMessageWaiting(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}

func FuzzParseMessageWaiting(f *testing.F) {
	on, _ := MessageWaiting{Active: true, Messages: 2, Time: time.Date(0, 1, 2, 3, 4, 0, 0, time.UTC)}.MDMF()
	off, _ := MessageWaiting{}.SDMF()
	f.Add(on)
	f.Add(off)
	f.Add([]byte{0x82, 2, 0x0B, 9, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessageWaiting(b)
		if err != nil {
			return
		}
		again, err := m.MDMF()
		if err != nil {
			t.Fatalf("parsed %+v does not build: %v", m, err)
		}
		if m2, err := ParseMessageWaiting(again); err != nil || m2.Active != m.Active {
			t.Fatalf("round trip %+v -> %+v, %v", m, m2, err)
		}
	})
}
