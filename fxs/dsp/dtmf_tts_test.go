package dsp

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// ttsSpeech renders minutes of real synthetic speech at 8 kHz: CMU Flite's
// voices (diphone and cluster-unit voices built from recorded human speech)
// and eSpeak NG's formant voices at several pitches and speeds, each
// reading the varied texts. The pieces are returned one per voice.
func ttsSpeech(t *testing.T) map[string][]float64 {
	t.Helper()
	flite := testenv.LookTool(t, "flite", "flite")
	espeak := testenv.LookTool(t, "espeak-ng", "espeak-ng")
	dir := t.TempDir()
	texts := ttsTexts()
	type voice struct {
		name string
		cmd  func(text, out string) *exec.Cmd
	}
	var voices []voice
	for _, v := range []string{"kal", "kal16", "awb", "rms", "slt"} {
		voices = append(voices, voice{"flite " + v, func(text, out string) *exec.Cmd {
			return exec.Command(flite, "-voice", v, "-t", text, "-o", out)
		}})
	}
	for _, v := range []struct{ voice, speed, pitch string }{
		{"en-gb", "150", "40"}, {"en-gb+f3", "170", "60"}, {"en-us+m3", "130", "30"},
		{"en-gb-x-rp+f4", "160", "80"}, {"en-us+m7", "190", "50"},
	} {
		voices = append(voices, voice{"espeak-ng " + v.voice, func(text, out string) *exec.Cmd {
			return exec.Command(espeak, "-v", v.voice, "-s", v.speed, "-p", v.pitch, "-w", out, text)
		}})
	}
	out := map[string][]float64{}
	for i, v := range voices {
		var speech []float64
		for j := range 3 {
			text := texts[(i*3+j)%len(texts)]
			f := filepath.Join(dir, fmt.Sprintf("%d-%d.wav", i, j))
			if b, err := v.cmd(text, f).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", v.name, err, b)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, rate, err := readWAV(b)
			if err != nil {
				t.Fatalf("%s: %s: %v", v.name, f, err)
			}
			speech = append(speech, resampleTo8k(s, rate)...)
		}
		out[v.name] = speech
	}
	return out
}

func TestDTMFTalkOffTTS(t *testing.T) {
	total := 0
	for name, speech := range ttsSpeech(t) {
		for _, gain := range []float64{0.5, 1, 2} { // about -6, 0, +6 dB
			buf := make([]float64, len(speech))
			for i, v := range speech {
				buf[i] = v * gain
			}
			if got := detectAll(toInt16(buf)); got != "" {
				t.Errorf("%s (gain %g): speech gave digits %q", name, gain, got)
			}
			total += len(buf)
		}
	}
	t.Logf("talk-off: %.1f minutes of text-to-speech (flite, espeak-ng), no digits", float64(total)/8000/60)
}

func TestResampleTo8k(t *testing.T) {
	for _, rate := range []int{16000, 22050} {
		s := make([]int16, rate)
		for i := range s {
			s[i] = int16(10000 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate)))
		}
		out := resampleTo8k(s, rate)
		got := make([]int16, len(out)-400)
		for i := range got {
			got[i] = saturate(out[200+i])
		}
		if l := ToneLevelDBm0(got, 1000); math.Abs(l-AmplitudeToDBm0(10000)) > 0.2 {
			t.Errorf("rate %d: 1 kHz at %.2f after resampling, want %.2f", rate, l, AmplitudeToDBm0(10000))
		}
	}
}
