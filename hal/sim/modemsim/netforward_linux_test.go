//go:build linux

package modemsim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/audiofile"
)

// The network acts on the SIM's call forwarding: an unconditional forward
// takes every call before the modem rings; not-reachable takes calls while
// the modem is gone; no-reply takes a call left ringing.
func TestNetworkForwardsCalls(t *testing.T) {
	s := newSim(t, SIMCom)
	c := dial(t, s.ATPath())
	c.cmd("ATE0", "OK\r\n")
	c.cmd(`AT+CCFC=0,3,"07700900555",129,1`, "OK\r\n")
	out, err := s.Control([]string{"ring", "07700900123"})
	if err != nil || !strings.Contains(out, "forwarded the call to 07700900555: unconditional") {
		t.Fatalf("ring with unconditional forwarding: %q %v", out, err)
	}
	if st, _ := s.Control([]string{"status"}); !strings.Contains(st, "call: none") {
		t.Fatalf("the forwarded call reached the modem:\n%s", st)
	}
	c.cmd("AT+CCFC=0,4", "OK\r\n")

	c.cmd(`AT+CCFC=2,3,"07700900666",129,1,,,5`, "OK\r\n")
	if _, err := s.Control([]string{"ring", "07700900124"}); err != nil {
		t.Fatal(err)
	}
	c.until("RING")
	// Nobody answers: 5 s later the network takes the call away.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, _ := s.Control([]string{"forwarded"}); strings.Contains(out, "07700900124 -> 07700900666 (no reply after 5 s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unanswered call was never forwarded")
		}
	}

	c.cmd(`AT+CCFC=3,3,"07700900777",129,1`, "OK\r\n")
	s.Control([]string{"vanish"})
	out, err = s.Control([]string{"ring", "07700900125"})
	if err != nil || !strings.Contains(out, "forwarded the call to 07700900777: the modem is not reachable") {
		t.Fatalf("ring while vanished: %q %v", out, err)
	}
}

// The recording holds what the driver sent during the last connected call.
func TestRecordingOfTheLastCall(t *testing.T) {
	s := newSim(t, Generic)
	c := dial(t, s.ATPath())
	pcm := dial(t, s.PCMPath())
	c.cmd("ATE0", "OK\r\n")
	s.Control([]string{"ring", "07700900123"})
	c.until("RING")
	c.cmd("ATA", "OK\r\n")
	tone := Tone(1000, 8000, 200*time.Millisecond)
	b := make([]byte, 2*len(tone))
	for i, v := range tone {
		b[2*i], b[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	if _, err := pcm.p.Write(b); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(s.Recording()) < len(tone); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("recorded %d of %d samples", len(s.Recording()), len(tone))
		}
	}
	file := filepath.Join(t.TempDir(), "rec.wav")
	if out, err := s.Control([]string{"recording", file}); err != nil || !strings.Contains(out, "0.20 s") {
		t.Fatalf("%q %v", out, err)
	}
	raw, _ := os.ReadFile(file)
	got, err := audiofile.Decode(raw)
	if err != nil || len(got) != len(tone) || got[10] != tone[10] {
		t.Fatalf("recording: %d samples, %v", len(got), err)
	}
}
