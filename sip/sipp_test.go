package sip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/sip/rtp"
)

// sipp runs one sipp instance on 127.0.0.3 (not a registrar address, so
// everything it says to critline must come through kamailio).
type sippRun struct {
	cmd  *exec.Cmd
	out  *syncBuf
	done chan struct{}
	err  error
	Port int
}

func startSipp(t testing.TB, args ...string) *sippRun {
	t.Helper()
	bin := testenv.LookTool(t, "sipp", "sip-tester")
	s := &sippRun{out: &syncBuf{}, done: make(chan struct{}), Port: freeUDPPort(t, "127.0.0.3")}
	base := []string{"-i", "127.0.0.3", "-p", fmt.Sprint(s.Port), "-mi", "127.0.0.3", "-mp", fmt.Sprint(freeUDPPort(t, "127.0.0.3")),
		"-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-trace_msg", "-error_file", filepath.Join(t.TempDir(), "err.log")}
	s.cmd = exec.Command(bin, append(base, args...)...)
	s.cmd.Dir = t.TempDir()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
	return s
}

// wait returns sipp's exit error (nil = every call succeeded).
func (s *sippRun) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(d):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("sipp still running after %s", d)
	}
}

func (s *sippRun) errors() string {
	b, _ := os.ReadFile(filepath.Join(s.cmd.Dir, "err.log"))
	if logs, _ := filepath.Glob(filepath.Join(s.cmd.Dir, "*_messages.log")); len(logs) > 0 {
		m, _ := os.ReadFile(logs[0])
		if len(m) > 6000 {
			m = m[len(m)-6000:]
		}
		b = append(b, m...)
	}
	out := s.out.String()
	if len(out) > 3000 {
		out = out[len(out)-3000:]
	}
	return string(b) + "\n" + out
}

// scenario writes testdata/name with the {{..}} replacements and keeps one
// of the <!--CALLER--> / <!--LINE--> / <!--REDIRECT--> blocks.
func scenario(t testing.TB, name, keep string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(repl...).Replace(string(b))
	for _, blk := range []string{"CALLER", "LINE", "REDIRECT"} {
		re := regexp.MustCompile(`(?s)<!--` + blk + `-->.*?<!--/` + blk + `-->`)
		if blk != keep {
			s = re.ReplaceAllString(s, "")
		}
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeAlawWav writes a G.711 A-law WAV file of a sine.
func writeAlawWav(t testing.TB, hz float64, seconds float64) string {
	t.Helper()
	n := int(seconds * hal.SampleRate)
	data := make([]byte, n)
	for i := range data {
		data[i] = rtp.ALaw.EncodeSample(int16(9000 * math.Sin(2*math.Pi*hz*float64(i)/hal.SampleRate)))
	}
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(4 + 8 + 18 + 8 + n))
	b.WriteString("WAVEfmt ")
	w(uint32(18))
	w(uint16(6)) // A-law
	w(uint16(1))
	w(uint32(8000))
	w(uint32(8000))
	w(uint16(1))
	w(uint16(8))
	w(uint16(0))
	b.WriteString("data")
	w(uint32(n))
	b.Write(data)
	p := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pump plays a tone into the call and records what comes back, one frame
// per 20 ms like an FXS port, until stop closes or the call ends.
func pump(c *Call, hz float64, stop <-chan struct{}) []int16 {
	var got []int16
	var f, g hal.Frame
	tick := time.NewTicker(hal.FrameDuration)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return got
		case <-c.Done():
			return got
		case <-tick.C:
		}
		for i := range f {
			f[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n*hal.FrameSamples+i)/hal.SampleRate))
		}
		if c.Media().WriteFrame(&f) != nil {
			return got
		}
		if c.Media().ReadFrame(&g) != nil {
			return got
		}
		got = append(got, g[:]...)
	}
}

// toneHz finds the frequency of the loudest stretch (>= 0.5 s) of audio
// by zero crossings; 0 when there is none.
func toneHz(s []int16) float64 {
	// Keep frames with energy.
	var loud []int16
	for i := 0; i+hal.FrameSamples <= len(s); i += hal.FrameSamples {
		var e float64
		for _, x := range s[i : i+hal.FrameSamples] {
			e += float64(x) * float64(x)
		}
		if math.Sqrt(e/hal.FrameSamples) > 1000 {
			loud = append(loud, s[i:i+hal.FrameSamples]...)
		}
	}
	if len(loud) < hal.SampleRate/2 {
		return 0
	}
	crossings := 0
	for i := 1; i < len(loud); i++ {
		if loud[i-1] < 0 && loud[i] >= 0 {
			crossings++
		}
	}
	return float64(crossings) * hal.SampleRate / float64(len(loud))
}
