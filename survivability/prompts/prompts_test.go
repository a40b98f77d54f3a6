package prompts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/sip/rtp"
	"github.com/critline/critline/survivability/forwarding"
)

func names() []string {
	var out []string
	for _, p := range forwarding.Prompts() {
		out = append(out, string(p))
	}
	return out
}

// Every built-in set has every prompt the dialogue says, each a sensible
// length.
func TestBuiltinSetsAreComplete(t *testing.T) {
	if got := Languages(); !slices.Equal(got, []string{"en-GB", "en-US"}) {
		t.Fatalf("built-in languages %v", got)
	}
	total := 0
	for _, lang := range Languages() {
		s, err := Builtin(lang)
		if err != nil {
			t.Fatal(err)
		}
		if m := s.Missing(names()); len(m) > 0 {
			t.Errorf("%s lacks %v: add them to texts/%s.txt and run make prompts", lang, m, lang)
		}
		for _, n := range names() {
			c, _ := s.Clip(n)
			d := time.Duration(len(c)) * time.Second / audiofile.SampleRate
			if d < 150*time.Millisecond || d > 12*time.Second {
				t.Errorf("%s %s lasts %v", lang, n, d)
			}
			total += len(c)
		}
		t.Logf("%s: %d prompts, menu %v, all %v", lang, len(names()), s.Duration("menu"), s.Duration(names()...))
	}
	t.Logf("built-in prompts: %d bytes (%.1f s of A-law)", total, float64(total)/audiofile.SampleRate)
}

func TestLanguageChoice(t *testing.T) {
	for in, want := range map[string]string{"en-GB": "en-GB", "EN-us": "en-US", "en": "en-GB", "en-AU": "en-GB"} {
		s, err := Builtin(in)
		if err != nil || s.Language() != want || s.Source() != "built-in" {
			t.Errorf("Builtin(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	if _, err := Builtin("de-DE"); err == nil || !strings.Contains(err.Error(), "no built-in prompts in \"de-DE\"") {
		t.Errorf("Builtin(de-DE): %v", err)
	}
	if s, err := Load("", "en-US"); err != nil || s.Language() != "en-US" {
		t.Errorf("Load with no directory: %v %v", s, err)
	}
}

// The committed prompts are exactly what scripts/make-prompts makes from
// the texts: anyone can rebuild them, and nobody edits them by hand.
func TestPromptsAreReproducible(t *testing.T) {
	testenv.LookTool(t, "flite", "flite")
	if testing.Short() {
		t.Skip("makes every prompt with flite")
	}
	out := t.TempDir()
	cmd := exec.Command("../../scripts/make-prompts", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make-prompts: %v\n%s", err, b)
	}
	t.Logf("%s", b)
	for _, lang := range Languages() {
		want, _ := filepath.Glob(filepath.Join(lang, "*.alaw"))
		got, _ := filepath.Glob(filepath.Join(out, lang, "*.alaw"))
		if len(want) != len(got) {
			t.Errorf("%s: %d files committed, make-prompts makes %d", lang, len(want), len(got))
		}
		for _, w := range want {
			a, _ := os.ReadFile(w)
			g, err := os.ReadFile(filepath.Join(out, w))
			if err != nil || !bytes.Equal(a, g) {
				t.Errorf("%s differs from what make-prompts makes (%v): run make prompts and commit the result", w, err)
			}
		}
	}
}

func writeWAV(t *testing.T, path string, samples []int16) {
	t.Helper()
	var b bytes.Buffer
	audiofile.EncodeWAV(&b, samples)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	de := filepath.Join(dir, "de-DE")
	os.MkdirAll(de, 0o755)
	tone := make([]int16, 4000)
	for i := range tone {
		tone[i] = int16(1000 * (i % 20))
	}
	writeWAV(t, filepath.Join(de, "goodbye.wav"), tone)
	os.WriteFile(filepath.Join(de, "welcome.alaw"), bytes.Repeat([]byte{0xd5}, 800), 0o644)
	os.WriteFile(filepath.Join(de, "README"), []byte("ignored"), 0o644)
	s, err := Load(dir, "de")
	if err != nil {
		t.Fatal(err)
	}
	if s.Language() != "de-DE" || s.Source() != de {
		t.Fatalf("%s %s", s.Language(), s.Source())
	}
	if c, ok := s.Clip("goodbye"); !ok || len(c) != 4000 || rtp.ALaw.DecodeSample(c[21]) != rtp.ALaw.DecodeSample(rtp.ALaw.EncodeSample(1000)) {
		t.Fatalf("wav prompt not converted: %d", len(c))
	}
	if got := s.Duration("welcome", "goodbye", "nothing"); got != 100*time.Millisecond+500*time.Millisecond+Gap {
		t.Errorf("duration %v", got)
	}
	if m := s.Missing([]string{"welcome", "enter-pin"}); !slices.Equal(m, []string{"enter-pin"}) {
		t.Errorf("missing %v", m)
	}
	for _, tc := range []struct {
		setup func(d string)
		want  string
	}{
		{func(d string) {}, "no folder for language \"fr\""},
		{func(d string) {
			os.MkdirAll(filepath.Join(d, "fr"), 0o755)
			os.WriteFile(filepath.Join(d, "fr", "x.wav"), []byte("RIFFxxxxWAVEjunk"), 0o644)
		}, "x.wav"},
		{func(d string) {
			os.MkdirAll(filepath.Join(d, "fr"), 0o755)
			writeWAV(t, filepath.Join(d, "fr", "a.wav"), tone)
			os.WriteFile(filepath.Join(d, "fr", "a.alaw"), []byte{1}, 0o644)
		}, "both a.alaw and a.wav"},
		{func(d string) {
			os.MkdirAll(filepath.Join(d, "fr"), 0o755)
			os.WriteFile(filepath.Join(d, "fr", "e.alaw"), nil, 0o644)
		}, "e.alaw: 0 bytes"},
	} {
		d := t.TempDir()
		tc.setup(d)
		if _, err := Load(d, "fr"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load: %v, want %q", err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "nope"), "en"); err == nil || !strings.Contains(err.Error(), "one folder per language") {
		t.Errorf("missing directory: %v", err)
	}
}

func TestPlayer(t *testing.T) {
	a := bytes.Repeat([]byte{rtp.ALaw.EncodeSample(8000)}, 200)
	b := bytes.Repeat([]byte{rtp.ALaw.EncodeSample(-8000)}, 100)
	var p Player
	p.Say(a, b)
	var got []int16
	var f hal.Frame
	for range 20 {
		p.Fill(&f)
		got = append(got, f[:]...)
	}
	gap := int(Gap.Seconds() * audiofile.SampleRate)
	for i, v := range got {
		var want int16
		switch {
		case i < 200:
			want = rtp.ALaw.DecodeSample(a[0])
		case i < 200+gap:
		case i < 300+gap:
			want = rtp.ALaw.DecodeSample(b[0])
		}
		if v != want {
			t.Fatalf("sample %d = %d, want %d", i, v, want)
		}
	}
	if p.Busy() {
		t.Error("busy after the end")
	}
	p.Say(a)
	p.Fill(&f)
	p.Stop()
	if p.Busy() {
		t.Error("busy after Stop")
	}
	p.Fill(&f)
	if f != (hal.Frame{}) {
		t.Error("sound after Stop")
	}
}

// FuzzClip: any prompt file is refused or turned into a bounded clip,
// never a panic.
func FuzzClip(f *testing.F) {
	var w bytes.Buffer
	audiofile.EncodeWAV(&w, []int16{1, 2, 3, 4})
	f.Add(".wav", w.Bytes())
	f.Add(".alaw", []byte{0xd5, 0x55})
	f.Add(".wav", []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, ext string, data []byte) {
		c, err := clip(ext, data)
		if err == nil && (len(c) == 0 || len(c) > MaxClip) {
			t.Fatalf("clip of %d bytes accepted", len(c))
		}
	})
}
