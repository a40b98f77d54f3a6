package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/sip/rtp"
)

func main() {
	texts := flag.String("texts", "survivability/prompts/texts", "directory of LANG.txt prompt texts")
	out := flag.String("out", "survivability/prompts", "directory to write LANG/NAME.alaw into")
	flite := flag.String("flite", "flite", "the flite program")
	flag.Parse()
	if err := run(*texts, *out, *flite); err != nil {
		fmt.Fprintln(os.Stderr, "promptgen:", err)
		os.Exit(1)
	}
}

// prompt is one line of a texts file.
type prompt struct{ name, words string }

// parseTexts reads a texts file: comment lines, a "voice<TAB>NAME" line and
// "NAME<TAB>WORDS" lines.
func parseTexts(b []byte) (voice string, ps []prompt, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, words, ok := strings.Cut(line, "\t")
		if !ok || name == "" || strings.TrimSpace(words) == "" || strings.ContainsAny(name, "/. ") {
			return "", nil, fmt.Errorf("line %d: want NAME<TAB>WORDS (NAME without / . or spaces)", n)
		}
		if name == "voice" {
			voice = words
			continue
		}
		if slices.ContainsFunc(ps, func(p prompt) bool { return p.name == name }) {
			return "", nil, fmt.Errorf("line %d: prompt %q appears twice", n, name)
		}
		ps = append(ps, prompt{name, words})
	}
	if voice == "" {
		return "", nil, errors.New("no voice line: add voice<TAB>awb (flite -lv lists the voices)")
	}
	return voice, ps, sc.Err()
}

func run(textsDir, outDir, flite string) error {
	files, err := filepath.Glob(filepath.Join(textsDir, "*.txt"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no prompt texts in %s", textsDir)
	}
	tmp, err := os.MkdirTemp("", "promptgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, f := range files {
		lang := strings.TrimSuffix(filepath.Base(f), ".txt")
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		voice, ps, err := parseTexts(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		dir := filepath.Join(outDir, lang)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		old, _ := filepath.Glob(filepath.Join(dir, "*.alaw"))
		for _, o := range old {
			os.Remove(o)
		}
		total := 0
		for _, p := range ps {
			wav := filepath.Join(tmp, lang+"-"+p.name+".wav")
			cmd := exec.Command(flite, "-voice", voice, "-t", p.words, "-o", wav)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: flite %q: %v: %s", lang, p.name, err, out)
			}
			raw, err := os.ReadFile(wav)
			if err != nil {
				return err
			}
			pcm, rate, err := decodeWAV(raw)
			if err != nil {
				return fmt.Errorf("%s %s: %w", lang, p.name, err)
			}
			pcm, err = to8k(pcm, rate)
			if err != nil {
				return fmt.Errorf("%s %s: %w", lang, p.name, err)
			}
			pcm = level(trim(pcm))
			enc := make([]byte, len(pcm))
			rtp.ALaw.Encode(enc, pcm)
			if err := os.WriteFile(filepath.Join(dir, p.name+".alaw"), enc, 0o644); err != nil {
				return err
			}
			total += len(enc)
		}
		fmt.Printf("%s: %d prompts, voice %s, %.1f s, %d bytes\n", lang, len(ps), voice, float64(total)/audiofile.SampleRate, total)
	}
	return nil
}

// decodeWAV reads flite's output: 16-bit mono PCM at 8 or 16 kHz.
func decodeWAV(b []byte) ([]int16, int, error) {
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("flite did not write a WAV file")
	}
	rate := 0
	for p := 12; p+8 <= len(b); {
		id := string(b[p : p+4])
		n := int(uint32(b[p+4]) | uint32(b[p+5])<<8 | uint32(b[p+6])<<16 | uint32(b[p+7])<<24)
		body := b[p+8 : min(len(b), p+8+n)]
		switch id {
		case "fmt ":
			if len(body) < 16 || body[0] != 1 || body[2] != 1 || body[14] != 16 {
				return nil, 0, errors.New("flite's WAV is not 16-bit mono PCM")
			}
			rate = int(uint32(body[4]) | uint32(body[5])<<8 | uint32(body[6])<<16 | uint32(body[7])<<24)
		case "data":
			if rate == 0 {
				return nil, 0, errors.New("WAV data before its format")
			}
			s := make([]int16, len(body)/2)
			for i := range s {
				s[i] = int16(uint16(body[2*i]) | uint16(body[2*i+1])<<8)
			}
			return s, rate, nil
		}
		p += 8 + n + n%2
	}
	return nil, 0, errors.New("WAV without data")
}

// halfBand is a 31-tap half-band low-pass for 16 kHz input (Kaiser
// window, beta 5: flat to 3.4 kHz, -6 dB at 4 kHz, -55 dB at 5 kHz), in
// Q16 with a gain of exactly 65536. Fixed integers keep the output
// identical on every machine.
var halfBand = [31]int64{
	-51, 0, 193, 0, -472, 0, 962, 0, -1786, 0, 3235, 0, -6355, 0, 20657, 32770,
	20657, 0, -6355, 0, 3235, 0, -1786, 0, 962, 0, -472, 0, 193, 0, -51,
}

// to8k filters 16 kHz audio below 4 kHz and keeps every other sample.
func to8k(in []int16, rate int) ([]int16, error) {
	switch rate {
	case 8000:
		return in, nil
	case 16000:
	default:
		return nil, fmt.Errorf("flite wrote %d Hz: use a voice at 8 or 16 kHz", rate)
	}
	out := make([]int16, 0, len(in)/2)
	for i := 0; i < len(in); i += 2 {
		var acc int64
		for k, c := range halfBand {
			j := i + k - len(halfBand)/2
			if j >= 0 && j < len(in) && c != 0 {
				acc += c * int64(in[j])
			}
		}
		out = append(out, clip(acc>>16))
	}
	return out, nil
}

// trim drops leading and trailing near-silence, keeping 40 ms either side.
func trim(s []int16) []int16 {
	const thresh, keep = 400, 320
	first, last := -1, -1
	for i, v := range s {
		if v > thresh || v < -thresh {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return s
	}
	return s[max(0, first-keep):min(len(s), last+keep+1)]
}

// level scales speech so its loud parts sit near -18 dBm0 (RMS about 2000
// of 32767 over the 20 ms blocks louder than a whisper), never clipping.
func level(s []int16) []int16 {
	const block, target = 160, 2000
	var sum, n int64
	var peak int64
	for i := 0; i+block <= len(s); i += block {
		var e int64
		for _, v := range s[i : i+block] {
			e += int64(v) * int64(v)
			peak = max(peak, int64(v), -int64(v))
		}
		if e/block > 300*300 {
			sum += e
			n += block
		}
	}
	if n == 0 || peak == 0 {
		return s
	}
	rms := isqrt(sum / n)
	num, den := int64(target), rms
	if peak*num/den > 30000 {
		num, den = 30000, peak
	}
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = clip(int64(v) * num / den)
	}
	return out
}

func isqrt(v int64) int64 {
	if v <= 0 {
		return 0
	}
	x := v
	y := (x + 1) / 2
	for y < x {
		x = y
		y = (x + v/x) / 2
	}
	return x
}

func clip(v int64) int16 {
	return int16(max(-32768, min(32767, v)))
}
