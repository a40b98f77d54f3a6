//go:build linux

package modemsim

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// readVoice reads n samples of the far end's voice from the PCM port.
func readVoice(t *testing.T, v *client, n int) []int16 {
	t.Helper()
	b := make([]byte, 4096)
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2*n && time.Now().Before(deadline); {
		k, _ := v.p.Read(b)
		got = append(got, b[:k]...)
	}
	if len(got) < 2*n {
		t.Fatalf("voice: %d bytes, want %d", len(got), 2*n)
	}
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(got[2*i:]))
	}
	return out
}

// A tone responder answers with a steady 1004 Hz tone on the voice port
// for as long as the call lasts; another number answers with silence.
func TestResponderTone(t *testing.T) {
	s := newSim(t, SIMCom)
	if _, err := s.Control([]string{"responder", "08001234567", "tone"}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd("ATD08001234567;", "OK\r\n")
	c.until("VOICE CALL: BEGIN")
	c.cmd("AT+CPCMREG=1", "OK\r\n")
	v := dial(t, s.PCMPath())
	got := readVoice(t, v, 8000)
	if sh := toneShare(got[800:], DefaultResponderTone); sh < 0.9 {
		t.Fatalf("the responder's tone is not 1004 Hz: share %.2f", sh)
	}
	c.cmd("ATH", "OK\r\n")

	// A number without a responder answers with silence.
	c.cmd("ATD07700900123;", "OK\r\n")
	c.until("VOICE CALL: BEGIN")
	c.cmd("AT+CPCMREG=1", "OK\r\n")
	v.p.ResetInputBuffer()
	if got := readVoice(t, v, 1600); !bytes.Equal(int16s(got), make([]byte, 3200)) {
		t.Fatal("a number without a responder sent audio")
	}
	c.cmd("ATH", "OK\r\n")
	out, err := s.Control([]string{"responder"})
	if err != nil || !strings.Contains(out, "08001234567: tone 1004 Hz") {
		t.Fatalf("responder list: %q %v", out, err)
	}
}

func int16s(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// An echo responder sends back the DTMF digits it receives (AT+VTS comes
// back as +RXDTMF) and the audio it hears.
func TestResponderEcho(t *testing.T) {
	s := newSim(t, SIMCom)
	if _, err := s.Control([]string{"responder", "1571", "echo"}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd("ATD1571;", "OK\r\n")
	c.until("VOICE CALL: BEGIN")
	c.cmd("AT+VTS=7", "OK\r\n")
	c.until("+RXDTMF: 7")
	// Digits sent one after the other come back in the same order.
	for _, d := range "1379" {
		c.cmd("AT+VTS="+string(d), "OK\r\n")
	}
	echoed := c.until("+RXDTMF: 9")
	var order []string
	for _, l := range strings.Split(echoed, "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(l), "+RXDTMF: "); ok {
			order = append(order, d)
		}
	}
	if strings.Join(order, "") != "1379" {
		t.Fatalf("echoed digits %v, sent 1379", order)
	}
	c.cmd("AT+CPCMREG=1", "OK\r\n")
	v := dial(t, s.PCMPath())
	tone := Tone(1400, 6000, 2*time.Second)
	stop, wrote := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(wrote)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i+160 <= len(tone); i += 160 {
			if _, err := v.p.Write(int16s(tone[i : i+160])); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	// The writer ends before the port closes: a write on a closed port's
	// file descriptor number could land in another test's pty.
	defer func() { close(stop); <-wrote }()
	var got []int16
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		got = append(got, readVoice(t, v, 800)...)
		if len(got) >= 8000 && toneShare(got[len(got)-4000:], 1400) > 0.8 {
			break
		}
	}
	if sh := toneShare(got[len(got)-4000:], 1400); sh < 0.8 {
		t.Fatalf("the echo does not carry the 1400 Hz it heard: share %.2f", sh)
	}
	c.cmd("ATH", "OK\r\n")
}

func TestResponderVerbErrors(t *testing.T) {
	s := newSim(t, SIMCom)
	for _, args := range [][]string{
		{"responder", "abc", "tone"},
		{"responder", "123"},
		{"responder", "123", "tone", "9000"},
		{"responder", "123", "echo", "1"},
		{"responder", "123", "sing"},
	} {
		if _, err := s.Control(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if out, err := s.Control([]string{"responder", "123", "tone", "1020"}); err != nil || !strings.Contains(out, "1020 Hz") {
		t.Fatalf("%q %v", out, err)
	}
	if out, err := s.Control([]string{"responder", "123", "off"}); err != nil || !strings.Contains(out, "no responder") {
		t.Fatalf("%q %v", out, err)
	}
}
