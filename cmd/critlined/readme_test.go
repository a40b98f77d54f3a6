package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/audiofile"
)

// tourBlock returns the shell lines of the README's tour: the first ```sh
// block after the "A short tour" heading.
func tourBlock(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## A short tour")
	if i < 0 {
		t.Fatal("README.md has no \"## A short tour\" section")
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	if start < 0 {
		t.Fatal("the tour has no ```sh block")
	}
	s = s[start+len("```sh\n"):]
	s = s[:strings.Index(s, "```")]
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

var reAssign = regexp.MustCompile(`^[A-Z_]+=`)

// The README's tour runs as written against `make run`'s daemon: the
// binaries in bin/, examples/sim.toml, the socket and state in run/, run
// from the repository's top folder. Here that folder is a scratch one with
// bin/ and examples/ linked in, the daemon's SIP and metrics ports are free
// ones (make run's 5060 and 9469 may be taken by other tests), and the tour
// starts once the appliance has made its first decision, as it has by the
// time a person types the first command.
func TestREADMETour(t *testing.T) {
	bin := buildBinaries(t)
	top := t.TempDir()
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"bin": bin, "examples": examples} {
		if err := os.Symlink(target, filepath.Join(top, link)); err != nil {
			t.Fatal(err)
		}
	}
	p := startDaemonIn(t, simConfig(t), filepath.Join(top, "run"))
	eventually(t, "survivable (no PBX at 127.0.0.1:5070, the sim modem up)", func() bool { return p.status().Mode == "survivable" })

	var assign []string
	ran := 0
	for _, line := range tourBlock(t) {
		if reAssign.MatchString(line) {
			assign = append(assign, line)
			continue
		}
		script := strings.Join(append(assign, strings.ReplaceAll(line, "127.0.0.1:9469", p.metrics)), "\n")
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = top
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.ExitCode() == 124 && strings.HasPrefix(line, "timeout "):
			// the tour bounds a streaming verb with timeout(1)
		default:
			t.Errorf("README tour line failed (%v after %v):\n  %s\n%s", err, time.Since(start).Round(time.Millisecond), line, out.String())
			continue
		}
		ran++
		t.Logf("$ %s\n%s", line, strings.TrimRight(out.String(), "\n"))
		switch {
		case strings.Contains(line, " status ") && !strings.Contains(line, "--json"):
			if !strings.Contains(out.String(), "SURVIVABLE") {
				t.Errorf("status does not say SURVIVABLE:\n%s", out.String())
			}
			if strings.Contains(line, "GROUP") && !regexp.MustCompile(`lodge\s+270000\s+sequential\s+-\s+1\s+port:2`).MatchString(out.String()) {
				t.Errorf("status does not show the lodge group ringing port 2:\n%s", out.String())
			}
		case strings.Contains(line, "sim dial 1 999"):
			eventually(t, "the tour's 999 on the trunk", func() bool {
				pt := portState(p.status(), 1)
				return pt.Route == "lte" && (pt.State == "ringback" || pt.State == "connected")
			})
		case strings.Contains(line, "sim hook 2 off") && strings.Contains(line, "answer"):
			eventually(t, "port 2 answered the call", func() bool { return portState(p.status(), 2).State == "connected" })
		case strings.Contains(line, "sim dial 2 270001"):
			eventually(t, "the local call rings port 1", func() bool { return portState(p.status(), 1).State == "ringing" })
		case strings.Contains(line, "sim hook 1 off") && strings.Contains(line, "answers"):
			eventually(t, "the local call connected inside the appliance", func() bool {
				st := p.status()
				return portState(st, 1).State == "connected" && portState(st, 2).State == "connected" && portState(st, 2).Route == "local"
			})
		case strings.Contains(line, "sim dial 1 270000"):
			eventually(t, "the group rings port 2", func() bool {
				st := p.status()
				return portState(st, 2).State == "ringing" && len(st.Groups) == 1 && strings.Join(st.Groups[0].Ringing, ",") == "port:2"
			})
		case strings.Contains(line, "sim dial 1 270002"):
			eventually(t, "the enquiry call rings port 2, the trunk caller held", func() bool {
				st := p.status()
				return portState(st, 2).State == "ringing" && portState(st, 1).Held == "07700900888"
			})
		case strings.Contains(line, "sim hook 1 on") && strings.Contains(line, "transferred"):
			eventually(t, "the trunk caller transferred to port 2", func() bool {
				st := p.status()
				return len(st.Transfers) == 1 && st.Transfers[0].State == "joined" && portState(st, 1).State == "idle"
			})
		case strings.Contains(line, "sim trunk hangup") && strings.Contains(line, "port 2"):
			eventually(t, "port 2's transferred call ended with the caller's", func() bool {
				st := p.status()
				return len(st.Transfers) == 0 && portState(st, 2).State != "connected"
			})
		case strings.Contains(line, "sim listen 2") && strings.Contains(line, "cleared"):
			if st := portState(p.status(), 2).State; st == "connected" {
				t.Errorf("port 2 still connected after port 1 hung up")
			}
		case strings.Contains(line, "sim trunk heard"):
			// sim play returns at once: the far end's count grows while it plays.
			eventually(t, "the caller hearing port 2's speech", func() bool {
				return !strings.Contains(p.mustCtl("sim", "trunk", "heard"), "received 0.00 s")
			})
		case strings.Contains(line, "sim watch"):
			if !strings.Contains(out.String(), `"what":"ring"`) {
				t.Errorf("the watch saw no ringing:\n%s", out.String())
			}
		case strings.Contains(line, " test paths"):
			if !strings.Contains(out.String(), "2 paths: 2 ok") {
				t.Errorf("the tour's path tests did not both pass:\n%s", out.String())
			}
		case strings.HasPrefix(line, "curl "):
			if !strings.Contains(out.String(), "critline_mode{") {
				t.Errorf("metrics lack critline_mode:\n%s", out.String())
			}
		}
	}
	if ran < 10 {
		t.Errorf("only %d tour lines ran", ran)
	}
	// What the porter heard was recorded where the tour said.
	b, err := os.ReadFile(filepath.Join(top, "earpiece.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := audiofile.Decode(b); err != nil || len(s) < audiofile.SampleRate {
		t.Errorf("earpiece.wav: %d samples, %v", len(s), err)
	}
	// Port 2 heard the transferred trunk caller's tone.
	b, err = os.ReadFile(filepath.Join(top, "transferred.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := audiofile.Decode(b); err != nil || goertzelPower(s[len(s)/4:], 697) < 0.5 {
		t.Errorf("transferred.wav: port 2 did not hear the transferred caller's 697 Hz (%v)", err)
	}
	// Port 1 heard port 2's speech over the local call.
	b, err = os.ReadFile(filepath.Join(top, "local.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := audiofile.Decode(b); err != nil || rms(s) < 300 {
		t.Errorf("local.wav: port 1 heard RMS %.0f of port 2's speech (%v)", rms(s), err)
	}
}

// examples/speech.wav, the tour's spoken sample, is what the sim board
// takes (8 kHz mono 16-bit WAV), a few seconds long.
func TestSpeechSample(t *testing.T) {
	b, err := os.ReadFile("../../examples/speech.wav")
	if err != nil {
		t.Fatal(err)
	}
	s, err := audiofile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(s)) * time.Second / audiofile.SampleRate; d < time.Second || d > 10*time.Second {
		t.Fatalf("speech.wav lasts %v", d)
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	if len(s) == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(len(s)))
}
