package main

import (
	"strings"
	"testing"
)

func TestParseTexts(t *testing.T) {
	voice, ps, err := parseTexts([]byte("# comment\nvoice\tawb\nwelcome\tCall forwarding.\n\n7\tseven\n"))
	if err != nil || voice != "awb" || len(ps) != 2 || ps[1] != (prompt{"7", "seven"}) {
		t.Fatalf("%q %+v %v", voice, ps, err)
	}
	for in, want := range map[string]string{
		"welcome\tHi\n":                   "no voice line",
		"voice\tawb\nwelcome Hi\n":        "line 2: want NAME<TAB>WORDS",
		"voice\tawb\na\tx\na\ty\n":        "prompt \"a\" appears twice",
		"voice\tawb\n../x\tescape\n":      "without / .",
		"voice\tawb\nempty\t   \n":        "line 2",
		"voice\tawb\nwelcome\tHi\r\n\r\n": "",
	} {
		_, _, err := parseTexts([]byte(in))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// FuzzParseTexts: any texts file parses or is refused; a name never
// escapes its directory.
func FuzzParseTexts(f *testing.F) {
	f.Add([]byte("voice\tawb\nwelcome\tCall forwarding.\n"))
	f.Add([]byte("voice\tslt\n0\tzero\nplus\tplus\n# x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, ps, err := parseTexts(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.name == "" || strings.ContainsAny(p.name, "/.") {
				t.Fatalf("bad name %q accepted", p.name)
			}
		}
	})
}

func TestResampleAndLevel(t *testing.T) {
	// A 1 kHz tone at 16 kHz stays a 1 kHz tone at 8 kHz; 6 kHz is gone.
	in := make([]int16, 16000)
	hi := make([]int16, 16000)
	for i := range in {
		// integer approximations of sines, enough for a level check
		in[i] = []int16{0, 7071, 10000, 7071, 0, -7071, -10000, -7071, 0, 7071, 10000, 7071, 0, -7071, -10000, -7071}[i%16]
		hi[i] = []int16{0, 7071, -10000, 7071, 0, -7071, 10000, -7071}[i%8]
	}
	lo, err := to8k(in, 16000)
	if err != nil || len(lo) != 8000 {
		t.Fatal(len(lo), err)
	}
	peak := func(s []int16) int16 {
		var p int16
		for _, v := range s[100 : len(s)-100] {
			p = max(p, v, -v)
		}
		return p
	}
	if p := peak(lo); p < 9000 || p > 11000 {
		t.Errorf("1 kHz peak %d after resampling, want about 10000", p)
	}
	hl, _ := to8k(hi, 16000)
	if p := peak(hl); p > 500 {
		t.Errorf("6 kHz leaks through at %d", p)
	}
	if _, err := to8k(in, 22050); err == nil {
		t.Error("22050 Hz accepted")
	}
	loud := level(trim(lo))
	if p := peak(loud); p > 30000 || p < 1000 {
		t.Errorf("level peak %d", p)
	}
}
