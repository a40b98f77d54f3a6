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

	"github.com/critline/critline/control"
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
// returns where it ends. The path to the recording is exact (A-law
// decoded, sent as PCM or re-encoded as A-law), except that a loaded
// machine may drop whole 20 ms frames in the modem driver's write queue:
// a prompt counts as heard when at least 3 in 4 of its sounding 10 ms
// windows arrive intact, in order, each at most a few frames earlier than
// the one before, one of the last three among them.
func (h *heard) find(name string, from int) (int, bool) {
	const w, frame = 80, 160
	c := h.clip(name)
	s := h.samples
	var offs []int
	for k := 0; k+w <= len(c); k += w {
		var e int64
		for _, v := range c[k : k+w] {
			e += int64(v) * int64(v)
		}
		if e/w > 200*200 { // not silence: silence matches anywhere
			offs = append(offs, k)
		}
	}
	if len(offs) == 0 {
		return 0, false
	}
	at := func(p, k int) bool {
		return p >= from && p+w <= len(s) && s[p] == c[k] && slices.Equal(s[p:p+w], c[k:k+w])
	}
	for a := 0; a < min(len(offs), 8); a++ { // the anchor window may itself be lost
		k0 := offs[a]
		for i := from + k0; i+w <= len(s); i++ {
			if !at(i, k0) {
				continue
			}
			start, found, drop, end, last := i-k0, 0, 0, 0, -1
			for j, k := range offs {
				for d := drop; d <= drop+3; d++ {
					if p := start + k - d*frame; at(p, k) {
						found, drop, end, last = found+1, d, p+w, j
						break
					}
				}
			}
			// Whole: its end has arrived too (one of its last windows).
			if found*4 >= len(offs)*3 && last >= len(offs)-3 {
				// Where its last sound ends: the quiet tail of a prompt may
				// be cut by the next key.
				return end, true
			}
		}
	}
	return 0, false
}

// transcript lists every whole prompt found in the recording, in order:
// what the caller heard, for failure messages.
func (h *heard) transcript() string {
	type at struct {
		pos  int
		name string
	}
	var found []at
	for _, p := range prompts.Names(h.set) {
		for from := 0; ; {
			end, ok := h.find(p, from)
			if !ok {
				break
			}
			found = append(found, at{end - len(h.clip(p)), p})
			from = end
		}
	}
	slices.SortFunc(found, func(a, b at) int { return a.pos - b.pos })
	var out []string
	for _, f := range found {
		out = append(out, f.name)
	}
	return strings.Join(out, " ")
}

// expect checks that the prompts follow each other in the recording, each
// whole and in this order, from where the last expect ended.
func (h *heard) expect(names ...string) {
	h.t.Helper()
	for _, n := range names {
		end, ok := h.find(n, h.pos)
		if !ok {
			if d := os.Getenv("CRITLINE_DUMP_HEARD"); d != "" {
				f, _ := os.Create(d)
				audiofile.EncodeWAV(f, h.samples)
				f.Close()
			}
			h.t.Fatalf("the caller never heard %q whole after %.2f s (recording %.2f s); heard: %s", n, float64(h.pos)/8000, float64(len(h.samples))/8000, h.transcript())
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
	h.waitFor(func() []int16 { return p.recording(h.t) }, name)
}

// waitFor is waitSaid for any recording.
func (h *heard) waitFor(fetch func() []int16, name string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.samples = fetch()
		if end, ok := h.find(name, h.pos); ok {
			h.pos = end
			return
		}
		if time.Now().After(deadline) {
			if d := os.Getenv("CRITLINE_DUMP_HEARD"); d != "" {
				f, _ := os.Create(d)
				audiofile.EncodeWAV(f, h.samples)
				f.Close()
			}
			h.t.Fatalf("the caller never heard %s; heard: %s", name, h.transcript())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	// The recogniser may slip a filler word between two digits (a 20 ms
	// frame lost on a loaded machine is enough): compare the digits it
	// heard, in order, with the digits wanted.
	digitsOnly := func(s string) string {
		var d []string
		for _, w := range strings.Fields(s) {
			if slices.Contains([]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}, w) {
				d = append(d, w)
			}
		}
		return strings.Join(d, " ")
	}
	if !strings.Contains(digitsOnly(said), digitsOnly(want)) || !strings.Contains(said, strings.Fields(want)[0]) {
		t.Errorf("speech recognition did not hear %q in the call: %q", want, said)
	}
}

// Issue 16, point 3: a member of staff calling the lodge's trunk number
// still reaches the porters: star at once, or no key at all, puts the
// call through; the porters' phones ring with the caller's number, the
// caller hears ringback, and once a porter answers they talk.
func TestStaffCallReachesTheLodge(t *testing.T) {
	p := startDaemon(t, remoteConfig(t, simConfig(t), "staff_numbers = [\"07700900777\"]\ndigit_timeout = \"3s\"", ""))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	for _, how := range []string{"star", "silence"} {
		p.mustCtl("sim", "trunk", "ring", "07700900777")
		eventually(t, "the dialogue answers", func() bool { return p.status().Trunks[0].InCall })
		h := newHeard(t, "en-GB")
		h.waitSaid(p, "lodge")
		if how == "star" {
			p.dtmf(t, "*")
		}
		eventually(t, how+": the porters' phones ring", func() bool {
			st := p.status()
			return portState(st, 1).State == "ringing" && portState(st, 2).State == "ringing"
		})
		// The caller hears the profile's ringback (UK: 400+450 Hz).
		eventually(t, "ringback", func() bool {
			s := p.recording(t)
			if len(s) < h.pos+8000 {
				return false
			}
			last := s[len(s)-4000:]
			return goertzelPower(last, 400)+goertzelPower(last, 450) > 0.5 || goertzelPower(s[len(s)-8000:], 425) > 0.3
		})
		p.mustCtl("sim", "hook", "2", "off")
		eventually(t, "the porter talks to the caller", func() bool {
			st := p.status()
			return portState(st, 2).State == "connected" && portState(st, 1).State == "idle"
		})
		p.mustCtl("sim", "trunk", "tone", "697", "3")
		dir := t.TempDir()
		p.mustCtl("sim", "listen", "2", "--seconds", "1", "--out", filepath.Join(dir, "heard.raw"))
		b, _ := os.ReadFile(filepath.Join(dir, "heard.raw"))
		got, _ := audiofile.Decode(b)
		if share := goertzelPower(got, 697); share < 0.5 {
			t.Fatalf("%s: the caller's voice does not reach the porter (share %.2f)", how, share)
		}
		p.mustCtl("sim", "hook", "2", "on")
		eventually(t, "the call is over", func() bool { return !p.status().Trunks[0].InCall })
	}
}

// Issue 16, point 2, on the real daemon: 200 wrong PINs from 10 staff
// numbers (a lost phone book, spoofed caller IDs) lock out exactly those
// 10 numbers; their later calls ring the porters like anyone's; the right
// PIN from another number still works at once.
func TestBruteForceOnTheTrunk(t *testing.T) {
	var attackers []string
	for i := range 10 {
		attackers = append(attackers, fmt.Sprintf("077009008%02d", i))
	}
	staff := `"` + strings.Join(append(slices.Clone(attackers), "07700900777"), `", "`) + `"`
	p := startDaemon(t, remoteConfig(t, simConfig(t), "staff_numbers = ["+staff+"]\nfailure_delay = \"1ms\"", ""))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	inCall := func() bool { return p.status().Trunks[0].InCall }
	isLocked := func(who string) bool {
		return slices.ContainsFunc(p.status().Lockouts, func(l control.Lockout) bool { return l.Key == who })
	}
	tries, dialogues, rang := 0, 0, 0
	for n := 0; tries < 200; n++ {
		who := attackers[n%len(attackers)]
		p.mustCtl("sim", "trunk", "ring", who)
		eventually(t, "answered or ringing", func() bool {
			st := p.status()
			return portState(st, 1).State == "ringing" || st.Trunks[0].InCall && portState(st, 1).State == "idle" && len(p.recording(t)) > 0
		})
		if portState(p.status(), 1).State == "ringing" {
			// Locked out: an ordinary caller now, ringing the porters.
			rang++
			tries++
			p.mustCtl("sim", "trunk", "hangup")
			eventually(t, "the ringing stops", func() bool { return portState(p.status(), 1).State == "idle" && !inCall() })
			continue
		}
		dialogues++
		p.dtmf(t, "270001")
		for tries < 200 {
			p.dtmf(t, fmt.Sprintf("%06d#", 100000+tries*7919%900000))
			tries++
			if isLocked(who) {
				break
			}
			time.Sleep(20 * time.Millisecond) // past the 1-8 ms waits after each wrong PIN
		}
		p.mustCtl("sim", "trunk", "hangup") // the attacker does not wait for goodbye
		eventually(t, "the call is over", func() bool { return !inCall() })
	}
	locked := map[string]bool{}
	for _, l := range p.status().Lockouts {
		locked[l.Key] = true
	}
	for _, a := range attackers {
		if !locked[a] {
			t.Errorf("%s is not locked out", a)
		}
	}
	if len(locked) != len(attackers) {
		t.Errorf("lockouts %+v: someone else is locked out", p.status().Lockouts)
	}
	t.Logf("200 tries: %d calls reached the dialogue with %d PINs (%s checked, the others typed during the wait after a wrong one); %d calls rang the porters after the lockout",
		dialogues, tries-rang, p.metric("critline_pin_failures_total"), rang)
	if v := p.metric("critline_pin_failures_total"); v != "50" {
		t.Errorf("%s wrong PINs checked, want 50 (5 per number)", v)
	}
	if v := p.metric(`critline_remote_lockouts_total{kind="caller"}`); v != "10" {
		t.Errorf("lockouts %s", v)
	}
	if table := p.mustCtl("status"); !strings.Contains(table, "LOCKED OUT of remote activation: caller 07700900800") {
		t.Errorf("status does not show the lockouts:\n%s", table)
	}

	p.mustCtl("sim", "trunk", "ring", "07700900777")
	eventually(t, "the dialogue answers", inCall)
	h := newHeard(t, "en-GB")
	h.waitSaid(p, "enter-extension")
	p.dtmf(t, "270001")
	h.waitSaid(p, "enter-pin")
	p.dtmf(t, "246810#")
	h.waitSaid(p, "forwarding-off")
	p.dtmf(t, "1")
	p.dtmf(t, "07700900555#")
	h.waitSaid(p, "forwarding-to")
	p.dtmf(t, "1")
	eventually(t, "forwarding set by the member of staff", func() bool { return portState(p.status(), 1).Forwarding == "all->07700900555" })

	// The operator lifts one lockout.
	p.mustCtl("forward", "unlock", "caller", attackers[3])
	if n := len(p.status().Lockouts); n != 9 {
		t.Errorf("%d lockouts after lifting one", n)
	}
	if out, code := p.ctl("forward", "unlock", "port", "1"); code == 0 || !strings.Contains(out, "never locked out") {
		t.Errorf("unlock port: exit %d: %s", code, out)
	}
}

// Issue 16, point 5: the SIM's forwarding acts on every call to its
// number, so a port's forwarding is mirrored into the mobile network only
// when the trunk serves that port alone, and status says why not
// otherwise. When it is mirrored, it is never the network's unconditional
// forward: ordinary calls and the member of staff's call to cancel still
// reach the appliance while it runs, and the network forwards calls only
// while the appliance cannot take them.
func TestMirrorOnlyForALineOfItsOwn(t *testing.T) {
	t.Run("refused when the SIM serves two ports", func(t *testing.T) {
		cfg := remoteConfig(t, simConfig(t), "", "")
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(b), "pin = \"246810\"\n", "pin = \"246810\"\nforward_mirror = true\n", 1)), 0o644)
		p := startDaemon(t, cfg)
		eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
		if m := portState(p.status(), 1).ForwardMirror; !strings.HasPrefix(m, "refused: the trunk's SIM also receives the calls of port 2") {
			t.Fatalf("forward_mirror %q", m)
		}
		if table := p.mustCtl("status"); !strings.Contains(table, "port 1: forwarding NOT mirrored into the mobile network") {
			t.Errorf("status table does not say so:\n%s", table)
		}
		// At start the appliance clears whatever the SIM held (an older
		// version's unconditional forward would take every port's calls).
		eventually(t, "the SIM's forwarding cleared at start", func() bool {
			c := p.mustCtl("sim", "trunk", "commands", "500")
			return strings.Contains(c, "AT+CCFC=0,4") && strings.Contains(c, "AT+CCFC=3,4")
		})
		p.mustCtl("forward", "1", "unconditional", "07700900555")
		if out := p.mustCtl("sim", "trunk", "forwarding"); !strings.Contains(out, "no call forwarding set") {
			t.Fatalf("the SIM forwards although it serves two ports:\n%s", out)
		}
		if c := p.mustCtl("sim", "trunk", "commands", "500"); strings.Contains(c, ",3,\"") {
			t.Fatalf("forwarding set in the network:\n%s", c)
		}
	})
	t.Run("mirrored for a SIM of its own, cancelled by phone while on", func(t *testing.T) {
		cfg := remoteConfig(t, simConfig(t), `staff_numbers = ["07700900777"]`, "ports = [1]")
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, []byte(strings.Replace(string(b), "pin = \"246810\"\n", "pin = \"246810\"\nforward_mirror = true\n", 1)), 0o644)
		p := startDaemon(t, cfg)
		eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
		if m := portState(p.status(), 1).ForwardMirror; m != "on" {
			t.Fatalf("forward_mirror %q", m)
		}
		inCall := func() bool { return p.status().Trunks[0].InCall }
		setByPhone := func(keys ...string) {
			t.Helper()
			p.mustCtl("sim", "trunk", "ring", "07700900777")
			eventually(t, "the dialogue answers", inCall)
			h := newHeard(t, "en-GB")
			h.waitSaid(p, "enter-extension")
			p.dtmf(t, "270001")
			h.waitSaid(p, "enter-pin")
			p.dtmf(t, "246810#")
			for _, k := range keys {
				p.dtmf(t, k)
				time.Sleep(300 * time.Millisecond)
			}
			eventually(t, "the dialogue hangs up", func() bool { return !inCall() })
		}
		setByPhone("1", "07700900555#", "1")
		want := []string{"busy: active to 07700900555", "no-reply: active to 07700900555", "not-reachable: active to 07700900555"}
		eventually(t, "mirrored into the network", func() bool {
			out := p.mustCtl("sim", "trunk", "forwarding")
			return !strings.Contains(out, "unconditional") && strings.Contains(out, want[0]) && strings.Contains(out, want[1]) && strings.Contains(out, want[2])
		})
		// An ordinary call still reaches the appliance, which forwards it
		// itself (deflection): the SIM's forwarding did not swallow it.
		p.mustCtl("sim", "trunk", "ring", "07700900123")
		eventually(t, "the appliance deflects the call to 07700900555", func() bool {
			return strings.Contains(p.mustCtl("sim", "trunk", "commands", "500"), `AT+CTFR="07700900555"`)
		})
		if portState(p.status(), 2).State != "idle" {
			t.Error("port 2 rang for a trunk that serves port 1 alone")
		}
		eventually(t, "idle", func() bool { return !inCall() && portState(p.status(), 1).State == "idle" })
		// With the modem gone, the network forwards the call itself.
		p.mustCtl("sim", "trunk", "vanish")
		if out := p.mustCtl("sim", "trunk", "ring", "07700900124"); !strings.Contains(out, "forwarded the call to 07700900555: the modem is not reachable") {
			t.Fatalf("ring while the modem is gone: %s", out)
		}
		p.mustCtl("sim", "trunk", "return")
		eventually(t, "the trunk is back", func() bool { st := p.status(); return st.Trunks[0].Up && st.Trunks[0].Registered })
		// The member of staff cancels by phone, the mirror still on.
		setByPhone("0")
		eventually(t, "the network's forwarding erased", func() bool {
			return strings.Contains(p.mustCtl("sim", "trunk", "forwarding"), "no call forwarding set")
		})
		if pt := portState(p.status(), 1); pt.Forwarding != "" {
			t.Fatalf("forwarding not cancelled: %q", pt.Forwarding)
		}
		for _, c := range strings.Split(p.mustCtl("sim", "trunk", "commands", "500"), "\n") {
			if strings.HasPrefix(c, "AT+CCFC=0,3") {
				t.Errorf("the appliance set the network's unconditional forward: %s", c)
			}
		}
	})
}

// A language with no prompts leaves the dialogue on its tones.
func TestRemoteActivationTonesWithoutPrompts(t *testing.T) {
	dir := t.TempDir()
	override := filepath.Join(dir, "profile.toml")
	os.WriteFile(override, []byte("language = \"de-DE\"\n"), 0o644)
	cfg := remoteConfig(t, simConfig(t), `staff_numbers = ["07700900777"]`, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "profile = \"uk\"", "profile = \"uk\"\nprofile_file = \""+override+"\"", 1)), 0o644)
	p := startDaemon(t, cfg)
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	if r := p.status().Remote; r == nil || r.Prompts != "tones" {
		t.Fatalf("remote status %+v", r)
	}
	p.mustCtl("sim", "trunk", "ring", "07700900777")
	eventually(t, "the prompt tone (350+440 Hz)", func() bool {
		s := p.recording(t)
		if len(s) < 4000 {
			return false
		}
		return goertzelPower(s[800:4000], 350)+goertzelPower(s[800:4000], 440) > 0.7
	})
	p.mustCtl("sim", "trunk", "hangup")
}

// Configurations that would fail staff in an incident are refused, each
// with the key and the fix.
func TestRemoteActivationConfigChecks(t *testing.T) {
	bin := buildBinaries(t)
	for _, tc := range []struct {
		name, extra, survivability, want string
	}{
		{"remote trunk is the only trunk", "", "remote_trunk = \"lte\"\n", "survivability.remote_trunk: \"lte\" is the only trunk"},
		{"staff number", `staff_numbers = ["call me"]`, "", "staff_numbers[0]: \"call me\" is not a telephone number"},
		{"service extension of a port", `service_extension = "270002"`, "", "is port 2's extension"},
		{"prompts directory", `prompts = "/nonexistent/prompts"`, "", "survivability.forwarding.prompts: prompts /nonexistent/prompts"},
		{"language without prompts", `language = "fr-FR"`, "", "no built-in prompts in \"fr-FR\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := remoteConfig(t, simConfig(t), tc.extra, "")
			if tc.survivability != "" {
				b, _ := os.ReadFile(cfg)
				os.WriteFile(cfg, []byte(strings.Replace(string(b), "[survivability]\n", "[survivability]\n"+tc.survivability, 1)), 0o644)
			}
			out, err := exec.Command(filepath.Join(bin, "critlined"), "--check-config", "--config", cfg).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 78 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %v, want 78 and %q:\n%s", err, tc.want, out)
			}
		})
	}
}

// A member of staff's dialogue holds the lodge's only trunk when a porter
// dials 999: the dialogue is cut and the emergency call goes out at once,
// every time.
func TestEmergencyPreemptsTheDialogue(t *testing.T) {
	p := startDaemon(t, remoteConfig(t, simConfig(t), `staff_numbers = ["07700900777"]`, ""))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	const runs = 10
	for i := range runs {
		p.mustCtl("sim", "trunk", "ring", "07700900777")
		eventually(t, "the dialogue answers", func() bool {
			st := p.status()
			return st.Trunks[0].InCall && len(p.recording(t)) > 0
		})
		if i%2 == 1 {
			p.dtmf(t, "270001") // halfway through: waiting for the PIN
		}
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
		p.mustCtl("sim", "dial", "1", "999")
		eventually(t, fmt.Sprintf("run %d: the emergency call is up on the trunk", i), func() bool {
			pt := portState(p.status(), 1)
			return (pt.State == "connected" || pt.State == "ringback") && pt.Route == "lte"
		})
		if out := p.mustCtl("sim", "trunk", "status"); !strings.Contains(out, `outbound to "999"`) {
			t.Fatalf("run %d: the trunk is not calling 999:\n%s", i, out)
		}
		// The emergency operator hears the porter (silent here), never a
		// prompt of the dialogue that was cut.
		eventually(t, "a second of the emergency call", func() bool { return len(p.recording(t)) > 8000 })
		for _, v := range p.recording(t) {
			if v > 3000 || v < -3000 {
				t.Fatalf("run %d: the emergency call carries the dialogue's audio (sample %d)", i, v)
			}
		}
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "the trunk is free", func() bool {
			return !p.status().Trunks[0].InCall && portState(p.status(), 1).State == "idle"
		})
	}
	if !strings.Contains(p.log.String(), "pre-empting a call for an emergency call") {
		t.Error("no pre-emption logged")
	}
}
