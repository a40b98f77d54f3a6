//go:build linux

package modemsim

// What the mobile network does with call forwarding set on the SIM
// (AT+CCFC): an unconditional forward takes every call before it reaches
// the modem; not-reachable takes calls while the modem has vanished;
// no-reply takes a call left ringing for the forward's time (default
// 20 s). And a recording of what the driver sent during the last call, so
// tests can hear what a caller heard.

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/critline/critline/internal/audiofile"
)

// maxRecording bounds the per-call recording (ten minutes).
const maxRecording = 10 * 60 * 8000

// networkForwardLocked says where the network sends a new inbound call
// instead of the modem ("" = to the modem).
func (s *Sim) networkForwardLocked() (to, why string) {
	if f, ok := s.st.fwd[0]; ok && f.active {
		return f.number, "unconditional call forwarding is on for this SIM"
	}
	if f, ok := s.st.fwd[3]; ok && f.active && s.att == nil {
		return f.number, "the modem is not reachable and forwarding when not reachable is on"
	}
	return "", ""
}

// noReplyLocked arms the network's no-reply forward for the ringing call.
func (s *Sim) noReplyLocked(c *simCall) {
	f, ok := s.st.fwd[2]
	if !ok || !f.active {
		return
	}
	secs := f.secs
	if secs == 0 {
		secs = 20
	}
	s.afterLocked(c, time.Duration(secs)*time.Second, func() {
		if c.stat != 4 {
			return
		}
		s.log.Info("the network forwarded an unanswered call", "from", c.number, "to", f.number, "after_s", secs)
		s.forwarded = append(s.forwarded, fmt.Sprintf("%s -> %s (no reply after %d s)", c.number, f.number, secs))
		s.endCallLocked(c, "")
	})
}

// recordLocked adds what the driver sent during a connected call.
func (s *Sim) recordLocked(samples []int16) {
	if s.findLocked(0) != nil && len(s.recording) < maxRecording {
		s.recording = append(s.recording, samples[:min(len(samples), maxRecording-len(s.recording))]...)
	}
}

// Recording returns what the driver sent to the far end during the
// current or last call (up to ten minutes); a new call starts a new one.
func (s *Sim) Recording() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.recording...)
}

func (s *Sim) cRecording(args []string) (string, error) {
	if err := nargs(args, 1, 1); err != nil {
		return "", err
	}
	rec := s.Recording()
	var b bytes.Buffer
	if err := audiofile.EncodeWAV(&b, rec); err != nil {
		return "", err
	}
	if err := os.WriteFile(args[0], b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("wrote %.2f s of what the far end heard in the last call to %s", float64(len(rec))/8000, args[0]), nil
}

func (s *Sim) cForwarded(args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.forwarded) == 0 {
		return "no call forwarded by the network", nil
	}
	var b bytes.Buffer
	for _, f := range s.forwarded {
		fmt.Fprintln(&b, f)
	}
	return string(bytes.TrimRight(b.Bytes(), "\n")), nil
}
