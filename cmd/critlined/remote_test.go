package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/sip/rtp"
	"github.com/critline/critline/survivability/prompts"
)

// remoteConfig is a config file with PINs on both ports and remote
// activation on, for staff numbers on the sim trunk; extra is appended
// to [survivability.forwarding]; trunk to the [[trunk]] table.
func remoteConfig(t *testing.T, base, extra, trunk string) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.Replace(s, "extension = \"270001\"\n", "extension = \"270001\"\npin = \"246810\"\n", 1)
	s = strings.Replace(s, "extension = \"270002\"\n", "extension = \"270002\"\npin = \"975319\"\n", 1)
	if trunk != "" {
		s = strings.Replace(s, "number = \"07700900001\"\n", "number = \"07700900001\"\n"+trunk+"\n", 1)
	}
	s += "\n[survivability.forwarding]\nremote = true\n" + extra + "\n"
	path := filepath.Join(t.TempDir(), "critline.toml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// heard is a recording of what a caller heard, and where we are in it.
type heard struct {
	t       *testing.T
	set     *prompts.Set
	pcm     map[string][]int16
	samples []int16
	pos     int
}

func newHeard(t *testing.T, lang string) *heard {
	set, err := prompts.Builtin(lang)
	if err != nil {
		t.Fatal(err)
	}
	return &heard{t: t, set: set, pcm: map[string][]int16{}}
}

// clip is a prompt as the caller hears it: its A-law decoded.
func (h *heard) clip(name string) []int16 {
	if c, ok := h.pcm[name]; ok {
		return c
	}
	a, ok := h.set.Clip(name)
	if !ok {
		h.t.Fatalf("no prompt %q", name)
	}
	c := make([]int16, len(a))
	rtp.ALaw.Decode(c, a)
	h.pcm[name] = c
	return c
}

// find looks for the whole prompt in the recording from pos on and
// returns where it ends.
func (h *heard) find(name string, from int) (int, bool) {
	c := h.clip(name)
	s := h.samples
	for i := from; i+len(c) <= len(s); i++ {
		if s[i] == c[0] && slices.Equal(s[i:i+len(c)], c) {
			return i + len(c), true
		}
	}
	return 0, false
}

// expect checks that the prompts follow each other in the recording, each
// whole and in this order, from where the last expect ended.
func (h *heard) expect(names ...string) {
	h.t.Helper()
	for _, n := range names {
		end, ok := h.find(n, h.pos)
		if !ok {
			h.t.Fatalf("the caller never heard %q whole after %.2f s (recording %.2f s)", n, float64(h.pos)/8000, float64(len(h.samples))/8000)
		}
		h.pos = end
	}
}

// recording fetches what the trunk's far end heard in the current (or
// last) call.
func (p *proc) recording(t *testing.T) []int16 {
	t.Helper()
	file := filepath.Join(t.TempDir(), fmt.Sprintf("heard-%d.wav", time.Now().UnixNano()))
	p.mustCtl("sim", "trunk", "recording", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audiofile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitSaid waits until the caller on the trunk has heard name whole after
// what it heard before, so the next keys do not cut it short.
func (h *heard) waitSaid(p *proc, name string) {
	h.t.Helper()
	eventually(h.t, "the caller hears "+name, func() bool {
		h.samples = p.recording(h.t)
		end, ok := h.find(name, h.pos)
		if ok {
			h.pos = end
		}
		return ok
	})
}

func (p *proc) dtmf(t *testing.T, keys string) {
	t.Helper()
	if out, code := p.ctl("sim", "trunk", "dtmf", keys); code != 0 {
		t.Fatalf("the dialogue hung up before %q: %s", keys, out)
	}
}

func digitNames(n string) []string {
	var out []string
	for _, c := range n {
		out = append(out, string(c))
	}
	return out
}

// Issue 16, points 1, 3 and 4 on the real daemon and the modem simulator:
// an ordinary caller on the trunk rings the porters; a staff member's
// call is answered by the spoken dialogue, which asks for the extension
// (not a port), the PIN and the number, reads the number back digit by
// digit, and sets the forwarding. What the caller heard is recorded on
// the modem's voice port and each prompt is found in it, whole and in
// order (and, where pocketsphinx is installed, recognised as speech).
func TestRemoteActivationSpokenOnTheTrunk(t *testing.T) {
	p := startDaemon(t, remoteConfig(t, simConfig(t), `staff_numbers = ["07700900777"]`, ""))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	inCall := func() bool { return p.status().Trunks[0].InCall }

	// An ordinary caller rings the porters, as before.
	p.mustCtl("sim", "trunk", "ring", "07700900123")
	eventually(t, "the porters' phones ring", func() bool {
		st := p.status()
		return portState(st, 1).State == "ringing" && portState(st, 2).State == "ringing"
	})
	p.mustCtl("sim", "trunk", "hangup")
	eventually(t, "the ringing stops", func() bool { return portState(p.status(), 1).State == "idle" })

	// A member of staff, written the way the network presents it.
	p.mustCtl("sim", "trunk", "ring", "+447700900777")
	eventually(t, "the dialogue answers", inCall)
	if st := p.status(); portState(st, 1).State != "idle" || portState(st, 2).State != "idle" {
		t.Fatalf("the porters' phones rang for a staff call: %+v", st.Ports)
	}
	h := newHeard(t, "en-GB")
	h.waitSaid(p, "lodge") // welcome, enter your extension, or star for the lodge
	p.dtmf(t, "270001")    // complete: no # needed
	h.waitSaid(p, "enter-pin")
	p.dtmf(t, "#246810#") // the # after the extension is harmless
	h.waitSaid(p, "menu")
	p.dtmf(t, "1")
	h.waitSaid(p, "enter-number")
	p.dtmf(t, "07700900555#")
	h.waitSaid(p, "confirm")
	p.dtmf(t, "1")
	eventually(t, "the dialogue hangs up", func() bool { return !inCall() })
	h.samples, h.pos = p.recording(t), 0
	h.expect("welcome", "enter-extension", "lodge", "enter-pin", "forwarding-off", "menu", "enter-number", "forwarding-to")
	h.expect(digitNames("07700900555")...)
	h.expect("confirm", "forwarding-to")
	h.expect(digitNames("07700900555")...)
	h.expect("is-on", "goodbye")
	t.Logf("the caller heard %.1f s of prompts", float64(len(h.samples))/8000)
	recognise(t, h.samples, "forwarding to zero seven seven zero zero nine zero zero five five five")

	if pt := portState(p.status(), 1); pt.Forwarding != "all->07700900555" {
		t.Fatalf("forwarding %q", pt.Forwarding)
	}
	for series, want := range map[string]string{
		`critline_remote_calls_total{entry="staff-number"}`: "1",
		`critline_remote_attempts_total{result="accepted"}`: "1",
		`critline_forward_changes_total{via="remote"}`:      "1",
		`critline_pin_failures_total`:                       "0",
	} {
		if v := p.metric(series); v != want {
			t.Errorf("%s = %q, want %s", series, v, want)
		}
	}
	if st := p.status(); st.Remote == nil || st.Remote.StaffNumbers != 1 || st.Remote.Prompts != "en-GB built-in" {
		t.Errorf("status remote %+v", st.Remote)
	}

	// Barge-in: keys cut a prompt short.
	p.mustCtl("sim", "trunk", "ring", "07700900777")
	eventually(t, "the dialogue answers", inCall)
	h = newHeard(t, "en-GB")
	h.waitSaid(p, "enter-extension")
	p.dtmf(t, "270001")
	h.waitSaid(p, "enter-pin")
	p.dtmf(t, "246810#")
	h.waitSaid(p, "all-forwarded-to") // what is set now is read out first
	p.dtmf(t, "0")                    // during the read-out and the menu
	eventually(t, "the dialogue hangs up", func() bool { return !inCall() })
	h.samples = p.recording(t)
	h.expect("forwarding-off", "goodbye")
	if _, whole := h.find("menu", 0); whole {
		t.Error("the menu played to the end although the caller had answered it")
	}
	if pt := portState(p.status(), 1); pt.Forwarding != "" {
		t.Fatalf("forwarding not cancelled: %q", pt.Forwarding)
	}
}

// recognise runs pocketsphinx over the recording, with a grammar of the
// prompts' words, and checks that want was said. Without pocketsphinx
// (Debian 12 packages pocketsphinx and pocketsphinx-en-us) the test
// relies on the exact prompt matching alone.
func recognise(t *testing.T, samples []int16, want string) {
	t.Helper()
	bin, err := exec.LookPath("pocketsphinx_continuous")
	model := "/usr/share/pocketsphinx/model/en-us/en-us"
	if _, serr := os.Stat(model); err != nil || serr != nil {
		testenv.Missing(t, "pocketsphinx_continuous or its en-us model not installed: apt-get install pocketsphinx pocketsphinx-en-us")
		return
	}
	dir := t.TempDir()
	// The model is for 16 kHz audio: double the rate (the band above
	// 4 kHz stays empty, as on any telephone line).
	up := make([]int16, 0, 2*len(samples))
	for i, v := range samples {
		next := v
		if i+1 < len(samples) {
			next = samples[i+1]
		}
		up = append(up, v, int16((int32(v)+int32(next))/2))
	}
	wav := filepath.Join(dir, "heard.wav")
	f, err := os.Create(wav)
	if err != nil {
		t.Fatal(err)
	}
	audiofile.EncodeWAV(f, up)
	f.Close()
	b, _ := os.ReadFile(wav)
	// EncodeWAV writes 8000 Hz: patch the header to 16 kHz.
	for _, off := range []int{24, 28} {
		v := uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
		v *= 2
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	os.WriteFile(wav, b, 0o644)
	words := map[string]bool{}
	for _, w := range strings.Fields("call forwarding please enter your extension number then press hash to speak the lodge star pin is on goodbye all calls are forwarded zero one two three four five six seven eight nine confirm or change") {
		words[w] = true
	}
	var alts []string
	for w := range words {
		alts = append(alts, w)
	}
	slices.Sort(alts)
	gram := filepath.Join(dir, "g.gram")
	os.WriteFile(gram, []byte("#JSGF V1.0;\ngrammar heard;\npublic <s> = ("+strings.Join(alts, " | ")+")+;\n"), 0o644)
	cmd := exec.Command(bin, "-infile", wav, "-jsgf", gram, "-hmm", model, "-dict", "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict", "-logfn", "/dev/null")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pocketsphinx: %v", err)
	}
	said := strings.Join(strings.Fields(string(out)), " ")
	t.Logf("pocketsphinx heard: %s", said)
	if !strings.Contains(said, want) {
		t.Errorf("speech recognition did not hear %q in the call: %q", want, said)
	}
}
