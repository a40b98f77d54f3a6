package profile

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestBuiltinsLoad(t *testing.T) {
	names := Names()
	if strings.Join(names, ",") != "etsi,uk,us" {
		t.Fatalf("Names() = %v, want etsi, uk, us", names)
	}
	for _, n := range names {
		p, err := Load(n, nil)
		if err != nil {
			t.Fatalf("Load(%q): %v", n, err)
		}
		if p.Name != n {
			t.Errorf("%s: name = %q", n, p.Name)
		}
	}
}

func TestUKValues(t *testing.T) {
	p, err := Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	if p.Ring.Frequency != 25 || len(p.Ring.Cadence) != 4 || p.Ring.Cadence[0] != 400*ms || p.Ring.Cadence[3] != 2*time.Second {
		t.Errorf("ring = %+v, want 25 Hz 400/200/400/2000", p.Ring)
	}
	dial, err := p.Tones.Dial.Parse("dial")
	if err != nil {
		t.Fatal(err)
	}
	if len(dial.Segments) != 1 || dial.Segments[0].Duration != 0 || len(dial.Segments[0].Components) != 2 ||
		dial.Segments[0].Components[0] != (Component{350, -13}) || dial.Segments[0].Components[1] != (Component{440, -13}) {
		t.Errorf("dial tone = %+v, want 350+440 continuous at -13", dial)
	}
	cong, _ := p.Tones.Congestion.Parse("congestion")
	if got := cong.Segments[2].Components[0].Level - cong.Segments[0].Components[0].Level; got != 6 {
		t.Errorf("congestion: second burst is %g dB above the first, want 6", got)
	}
	alert, err := p.CallerID.Alert.Parse("alert")
	if err != nil || alert.Repeat || alert.Segments[0].Duration != 100*ms {
		t.Errorf("alert = %+v, %v; want one 100 ms burst", alert, err)
	}
	if p.Hook.PulseBreakMax < 103*ms {
		t.Errorf("pulse_break_max %v cannot take a 7 pps dial at 72 %% break (103 ms)", p.Hook.PulseBreakMax)
	}
	if p.CallerID.Method != CIDBeforeRing || !p.CallerID.Reversal || p.CallerID.AfterReversal < 100*ms ||
		p.CallerID.AfterAlert < 45*ms || p.CallerID.AfterAlert > 75*ms ||
		p.CallerID.SeizureBits < 96 || p.CallerID.SeizureBits > 315 || p.CallerID.MarkBits < 55 || p.CallerID.AfterData < 200*ms {
		t.Errorf("caller ID %+v is outside SIN 227", p.CallerID)
	}
}

func TestOverride(t *testing.T) {
	p, err := Load("uk", []byte(`
[ring]
cadence = ["1s", "2s"]
[tones]
dial = { cadence = "425" }
[hook]
flash_max = "300ms"
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ring.Cadence) != 2 || p.Ring.Cadence[0] != time.Second {
		t.Errorf("cadence not replaced: %v", p.Ring.Cadence)
	}
	if p.Tones.Dial.Cadence != "425" || p.Tones.Dial.Level != -13 {
		t.Errorf("dial = %+v, want cadence 425 with the built-in level kept", p.Tones.Dial)
	}
	if p.Hook.FlashMax != 300*time.Millisecond || p.Hook.FlashMin != 85*time.Millisecond {
		t.Errorf("hook = %+v", p.Hook)
	}
	if p.Ring.Frequency != 25 {
		t.Errorf("frequency lost: %v", p.Ring.Frequency)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name, override, want string
	}{
		{"fr", "", `"fr" does not exist: use one of etsi, uk, us`},
		{"../uk", "", "does not exist"},
		{"", "", "does not exist"},
		{"uk", "[ring]\nfrequncy = 25\n", "unknown key(s) ring.frequncy"},
		{"uk", "[ring\n", "line 2"},
		{"uk", "[ring]\nfrequency = 200\n", "ring.frequency: 200 Hz"},
		{"uk", "[ring]\ncadence = [\"1s\"]\n", "ring.cadence: needs an even number"},
		{"uk", "[ring]\ncadence = [\"1s\", \"1ms\"]\n", "ring.cadence[1]"},
		{"uk", "[tones]\nbusy = { cadence = \"400/abc\" }\n", "tones.busy: segment 1"},
		{"uk", "[tones]\nbusy = { cadence = \"\" }\n", "tones.busy: cadence is missing"},
		{"uk", "[tones]\nbusy = { cadence = \"400,0/100\" }\n", "only the last segment"},
		{"uk", "[hook]\nclear = \"200ms\"\n", "hook.clear"},
		{"uk", "[hook]\nflash_max = \"50ms\"\n", "hook.flash_max"},
		{"uk", "[caller_id]\nmethod = \"smoke\"\n", "caller_id.method"},
		{"uk", "[caller_id]\nstandard = \"v21\"\n", "caller_id.standard"},
		{"uk", "[dialling]\nplan = \"\"\n", "dialling.plan"},
		{"uk", "[dialling]\ninterdigit_short = \"1ms\"\n", "dialling.interdigit_short"},
		{"uk", "[hook]\nclear = \"soon\"\n", "soon"},
	} {
		_, err := Load(c.name, []byte(c.override))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q, %q) = %v, want an error containing %q", c.name, c.override, err, c.want)
		}
	}
}

func TestLoadReportsAllProblems(t *testing.T) {
	_, err := Load("uk", []byte("[ring]\nfrequency = 1\n[hook]\nclear = \"1ms\"\n"))
	if err == nil || !strings.Contains(err.Error(), "ring.frequency") || !strings.Contains(err.Error(), "hook.clear") {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestParseTone(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		in   string
		want Tone
	}{
		{"425", Tone{Name: "x", Repeat: true, Segments: []Segment{{Components: []Component{{425, -10}}}}}},
		{"!2130+2750@-12/100", Tone{Name: "x", Segments: []Segment{{Components: []Component{{2130, -10}, {2750, -12}}, Duration: 100 * ms}}}},
		{"400/375, 0/375", Tone{Name: "x", Repeat: true, Segments: []Segment{{Components: []Component{{400, -10}}, Duration: 375 * ms}, {Duration: 375 * ms}}}},
	} {
		got, err := ParseTone("x", c.in, -10)
		if err != nil {
			t.Errorf("ParseTone(%q): %v", c.in, err)
			continue
		}
		if !toneEqual(got, c.want) {
			t.Errorf("ParseTone(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "!", "abc", "400/0", "400/-5", "4000", "0+400", "400@x", "400@10", "1+2+3+4+5", "400/61000", "NaN", "400@NaN", "400,"} {
		if _, err := ParseTone("x", bad, -10); err == nil {
			t.Errorf("ParseTone(%q) accepted", bad)
		}
	}
}

func toneEqual(a, b Tone) bool {
	if a.Name != b.Name || a.Repeat != b.Repeat || len(a.Segments) != len(b.Segments) {
		return false
	}
	for i := range a.Segments {
		x, y := a.Segments[i], b.Segments[i]
		if x.Duration != y.Duration || len(x.Components) != len(y.Components) {
			return false
		}
		for j := range x.Components {
			if x.Components[j] != y.Components[j] {
				return false
			}
		}
	}
	return true
}

func FuzzLoad(f *testing.F) {
	f.Add("uk", []byte(""))
	f.Add("us", []byte("[hook]\nflash_min = \"200ms\"\n"))
	f.Add("etsi", []byte("[tones]\ndial = { level = -10, cadence = \"425/100,0/100\" }\n"))
	f.Add("uk", []byte("[ring]\ncadence = [1000000000, \"2s\"]\n"))
	f.Add("uk", []byte("[caller_id]\nalert = { cadence = \"!2130+2750/100\" }\n"))
	f.Fuzz(func(t *testing.T, name string, override []byte) {
		p, err := Load(name, override)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		// A profile that loads must be usable: every tone parses.
		for _, s := range []ToneSpec{p.Tones.Dial, p.Tones.SpecialDial, p.Tones.Ringback, p.Tones.Busy, p.Tones.Congestion, p.Tones.Unobtainable, p.Tones.CallWaiting} {
			if _, err := s.Parse("t"); err != nil {
				t.Fatalf("loaded profile has a bad tone: %v", err)
			}
		}
	})
}

func FuzzParseTone(f *testing.F) {
	for _, s := range []string{"350+440", "400/375,0/375", "!2130+2750/100", "400/400,0/350,400@-14/225,0/525", "0/100,425"} {
		f.Add(s, -13.0)
	}
	f.Fuzz(func(t *testing.T, s string, level float64) {
		tone, err := ParseTone("f", s, level)
		if err != nil {
			return
		}
		if len(tone.Segments) == 0 || len(tone.Segments) > maxSegments {
			t.Fatalf("%q: %d segments", s, len(tone.Segments))
		}
		for i, seg := range tone.Segments {
			if seg.Duration == 0 && i != len(tone.Segments)-1 {
				t.Fatalf("%q: endless segment %d before the end", s, i)
			}
			for _, c := range seg.Components {
				if c.Freq < 1 || c.Freq > 3900 || c.Level > 3.14 || c.Level < -60 {
					t.Fatalf("%q: component %+v out of range", s, c)
				}
			}
		}
	})
}

func TestLoadFile(t *testing.T) {
	if p, err := LoadFile("us", ""); err != nil || p.Name != "us" {
		t.Fatalf("%v %v", p, err)
	}
	dir := t.TempDir()
	path := dir + "/lodge.toml"
	if err := os.WriteFile(path, []byte("[hook]\nflash_max = \"500ms\"\nclear = \"600ms\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadFile("uk", path)
	if err != nil || p.Hook.FlashMax != 500*time.Millisecond {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := LoadFile("uk", dir+"/missing.toml"); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(path, []byte("[hook]\nclear = \"1ms\"\n"), 0o644)
	if _, err := LoadFile("uk", path); err == nil || !strings.Contains(err.Error(), path+": ") || !strings.Contains(err.Error(), "hook.clear") {
		t.Errorf("bad file: %v", err)
	}
}
