package prompts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/sip/rtp"
)

//go:embed en-GB/*.alaw en-US/*.alaw
var builtin embed.FS // read-only data, not mutable state

// MaxClip bounds one prompt file (a minute of audio).
const MaxClip = 60 * audiofile.SampleRate

// Gap is the silence a Player leaves between two prompts.
const Gap = 120 * time.Millisecond

// Set is one language's prompts, each as 8 kHz A-law.
type Set struct {
	lang   string
	source string
	clips  map[string][]byte
}

// Language is the set's language tag.
func (s *Set) Language() string { return s.lang }

// Source says where the set came from: "built-in" or its directory.
func (s *Set) Source() string { return s.source }

// Clip returns a prompt's A-law samples.
func (s *Set) Clip(name string) ([]byte, bool) {
	c, ok := s.clips[name]
	return c, ok
}

// Names lists the set's prompts, sorted.
func Names(s *Set) []string {
	out := make([]string, 0, len(s.clips))
	for n := range s.clips {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Missing lists which of names the set lacks.
func (s *Set) Missing(names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := s.clips[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// Duration is how long a Player takes to say names (unknown ones are
// skipped).
func (s *Set) Duration(names ...string) time.Duration {
	n, k := 0, 0
	for _, name := range names {
		if c, ok := s.clips[name]; ok {
			n += len(c)
			k++
		}
	}
	d := time.Duration(n) * time.Second / audiofile.SampleRate
	if k > 1 {
		d += time.Duration(k-1) * Gap
	}
	return d
}

// Languages lists the built-in sets.
func Languages() []string {
	ents, _ := builtin.ReadDir(".")
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// pick finds lang among have: the exact tag, else one of the same
// language ("en" or "en-AU" finds "en-GB"), case-insensitively.
func pick(lang string, have []string) (string, bool) {
	for _, h := range have {
		if strings.EqualFold(h, lang) {
			return h, true
		}
	}
	base, _, _ := strings.Cut(strings.ToLower(lang), "-")
	for _, h := range have {
		hb, _, _ := strings.Cut(strings.ToLower(h), "-")
		if hb == base {
			return h, true
		}
	}
	return "", false
}

// Builtin returns the built-in set for lang (or the nearest of the same
// language).
func Builtin(lang string) (*Set, error) {
	l, ok := pick(lang, Languages())
	if !ok {
		return nil, fmt.Errorf("no built-in prompts in %q (built in: %s): record them and give their directory as [survivability.forwarding] prompts", lang, strings.Join(Languages(), ", "))
	}
	sub, _ := fs.Sub(builtin, l)
	s, err := load(sub, l, "built-in")
	if err != nil {
		return nil, fmt.Errorf("built-in prompts %s: %w", l, err)
	}
	return s, nil
}

// Load reads the set for lang from dir (DIR/LANG/NAME.alaw: raw 8 kHz
// A-law, or NAME.wav: 8 kHz 16-bit mono PCM). An empty dir means the
// built-in sets.
func Load(dir, lang string) (*Set, error) {
	if dir == "" {
		return Builtin(lang)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prompts %s: %w: give a directory holding one folder per language (e.g. %s/en-GB/enter-pin.wav)", dir, err, dir)
	}
	var have []string
	for _, e := range ents {
		if e.IsDir() {
			have = append(have, e.Name())
		}
	}
	l, ok := pick(lang, have)
	if !ok {
		return nil, fmt.Errorf("prompts %s: no folder for language %q (found: %s)", dir, lang, strings.Join(have, ", "))
	}
	return load(os.DirFS(filepath.Join(dir, l)), l, filepath.Join(dir, l))
}

func load(fsys fs.FS, lang, source string) (*Set, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	s := &Set{lang: lang, source: source, clips: map[string][]byte{}}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		ext := filepath.Ext(name)
		if e.IsDir() || (ext != ".alaw" && ext != ".wav") {
			continue
		}
		key := strings.TrimSuffix(name, ext)
		if _, dup := s.clips[key]; dup {
			errs = append(errs, fmt.Errorf("%s: both %s.alaw and %s.wav: keep one", key, key, key))
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c, err := clip(ext, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		s.clips[key] = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// clip turns a prompt file into A-law.
func clip(ext string, b []byte) ([]byte, error) {
	if ext == ".alaw" {
		if len(b) == 0 || len(b) > MaxClip {
			return nil, fmt.Errorf("%d bytes: a prompt is 1 to %d bytes of A-law", len(b), MaxClip)
		}
		return b, nil
	}
	pcm, err := audiofile.Decode(b)
	if err != nil {
		return nil, err
	}
	if len(pcm) == 0 || len(pcm) > MaxClip {
		return nil, fmt.Errorf("%d samples: a prompt is 1 sample to one minute long", len(pcm))
	}
	out := make([]byte, len(pcm))
	rtp.ALaw.Encode(out, pcm)
	return out, nil
}
