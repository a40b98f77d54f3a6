package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testpeer"
)

// sine makes seconds of a tone at freq Hz, amplitude amp (of full scale).
func sine(freq, amp, seconds float64) []int16 {
	n := int(seconds * audiofile.SampleRate)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/audiofile.SampleRate))
	}
	return out
}

// goertzelPower is the power of freq in samples, relative to the signal's
// total power (1 for a pure tone at freq).
func goertzelPower(samples []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / audiofile.SampleRate
	coeff := 2 * math.Cos(w)
	var s1, s2, total float64
	for _, x := range samples {
		v := float64(x)
		s := v + coeff*s1 - s2
		s2, s1 = s1, s
		total += v * v
	}
	if total == 0 {
		return 0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * p / (float64(len(samples)) * total)
}

// Voice crosses the whole path: a tone spoken into port 1's handset goes
// through the port engine, RTP through the jitter buffer of a SIP call
// set up via kamailio, and comes out of port 2's earpiece at its frequency.
func TestVoiceEndToEndThroughThePBX(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, pbxConfig(t, pbx.Addr))
	eventually(t, "registered", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "270002")
	eventually(t, "port 2 rings", func() bool { return portState(p.status(), 2).State == "ringing" })
	p.mustCtl("sim", "hook", "2", "off")
	eventually(t, "connected", func() bool {
		st := p.status()
		return portState(st, 1).State == "connected" && portState(st, 2).State == "connected"
	})

	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "tone.wav"))
	if err != nil {
		t.Fatal(err)
	}
	audiofile.EncodeWAV(f, sine(1004, 0.3, 6))
	f.Close()
	p.mustCtl("sim", "play", "1", filepath.Join(dir, "tone.wav"))
	out := p.mustCtl("sim", "listen", "2", "--seconds", "2", "--out", filepath.Join(dir, "heard.wav"))
	if !strings.Contains(out, "recorded") {
		t.Fatalf("listen: %s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "heard.wav"))
	if err != nil {
		t.Fatal(err)
	}
	heard, err := audiofile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	// Skip the first half second (jitter-buffer fill), then the tone must
	// dominate what the porter on port 2 hears.
	heard = heard[audiofile.SampleRate/2:]
	at, off := goertzelPower(heard, 1004), goertzelPower(heard, 1500)
	t.Logf("port 2 heard: share of power at 1004 Hz %.2f, at 1500 Hz %.3f", at, off)
	if at < 0.5 || off > 0.05 {
		t.Fatalf("the tone did not cross the call: %.2f at 1004 Hz, %.3f at 1500 Hz", at, off)
	}
}

// Voice over the trunk: the far end's tone reaches the porter through the
// modem's PCM port; the porter's voice reaches the far end.
func TestVoiceOverTheTrunk(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "07700900123")
	eventually(t, "connected on the trunk", func() bool { return portState(p.status(), 1).State == "connected" })
	p.mustCtl("sim", "trunk", "tone", "697", "4")
	dir := t.TempDir()
	p.mustCtl("sim", "listen", "1", "--seconds", "2", "--out", filepath.Join(dir, "heard.raw"))
	b, err := os.ReadFile(filepath.Join(dir, "heard.raw"))
	if err != nil {
		t.Fatal(err)
	}
	heard, _ := audiofile.Decode(b)
	heard = heard[audiofile.SampleRate/2:]
	if at := goertzelPower(heard, 697); at < 0.5 {
		t.Fatalf("the far end's 697 Hz tone did not reach the earpiece: share %.2f", at)
	}
	f, _ := os.Create(filepath.Join(dir, "tone.wav"))
	audiofile.EncodeWAV(f, sine(1209, 0.3, 3))
	f.Close()
	p.mustCtl("sim", "play", "1", filepath.Join(dir, "tone.wav"))
	var rms int
	eventually(t, "the far end hears the porter", func() bool {
		out, _ := p.ctl("sim", "trunk", "heard")
		_, after, ok := strings.Cut(out, "RMS ")
		if !ok {
			return false
		}
		fmt.Sscanf(after, "%d", &rms)
		return rms > 5000 // the 0.3-full-scale tone is about 6950
	})
	t.Logf("far end hears the porter at RMS %d", rms)
}
