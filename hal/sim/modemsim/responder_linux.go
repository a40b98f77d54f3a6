//go:build linux

package modemsim

// Responders: what the far end at a given number does once a dialled call
// to it is answered, like the test services real networks and PBXs offer
// (a "milliwatt" line answering with a steady 1004 Hz tone, a loop-back
// line echoing what it hears and the DTMF digits sent to it). Whether the
// call is answered at all stays the `ondial` verb's: busy and no answer
// apply to a responder's number too.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultResponderTone is the tone a "tone" responder plays: 1004 Hz, the
// test tone of telephone test lines (ANSI T1.209 "milliwatt").
const DefaultResponderTone = 1004.0

// responderLevel is the peak amplitude of a responder's tone: about -9
// dBm0, the level a test line sends.
const responderLevel = 9000.0

// echoDelay is how long an echo responder takes to send a DTMF digit it
// received back (a loop-back line's own detection and regeneration).
const echoDelay = 150 * time.Millisecond

// maxEcho bounds the audio an echo responder keeps to send back (one
// second); beyond it the oldest is dropped.
const maxEcho = 8000

// responder is what the far end at one number does once connected.
type responder struct {
	kind string  // "tone" or "echo"
	hz   float64 // tone
}

func (r responder) String() string {
	if r.kind == "tone" {
		return fmt.Sprintf("tone %g Hz", r.hz)
	}
	return "echo (audio and DTMF)"
}

// cResponder is the verb `responder`.
func (s *Sim) cResponder(args []string) (string, error) {
	if err := nargs(args, 0, 3); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(args) == 0 {
		if len(s.responders) == 0 {
			return "no responders: dialled numbers answer with silence", nil
		}
		nums := make([]string, 0, len(s.responders))
		for n := range s.responders {
			nums = append(nums, n)
		}
		sort.Strings(nums)
		var b strings.Builder
		for _, n := range nums {
			fmt.Fprintf(&b, "%s: %s\n", n, s.responders[n])
		}
		return strings.TrimRight(b.String(), "\n"), nil
	}
	num := args[0]
	if num == "" || strings.Trim(num, "+0123456789*#") != "" || len(num) > 20 {
		return "", fmt.Errorf("%q is not a number: give the digits the driver dials", num)
	}
	if len(args) < 2 {
		return "", fmt.Errorf("say what %s does: tone [HZ], echo or off", num)
	}
	var r responder
	switch strings.ToLower(args[1]) {
	case "tone":
		r = responder{kind: "tone", hz: DefaultResponderTone}
		if len(args) == 3 {
			hz, err := strconv.ParseFloat(args[2], 64)
			if err != nil || hz < 50 || hz > 3900 {
				return "", fmt.Errorf("%q: give a frequency in 50..3900 Hz", args[2])
			}
			r.hz = hz
		}
	case "echo":
		if len(args) == 3 {
			return "", fmt.Errorf("echo takes no argument")
		}
		r = responder{kind: "echo"}
	case "off":
		if len(args) == 3 {
			return "", fmt.Errorf("off takes no argument")
		}
		delete(s.responders, num)
		return num + ": no responder (answers with silence)", nil
	default:
		return "", fmt.Errorf("%q: use tone [HZ], echo or off", args[1])
	}
	s.responders[num] = r
	return fmt.Sprintf("%s answers with %s (whether it answers is ondial's)", num, r), nil
}

// responderFor is the responder of a dialled number, nil for none.
func (s *Sim) responderForLocked(number string) *responder {
	r, ok := s.responders[number]
	if !ok {
		return nil
	}
	return &r
}

// responderFrameLocked adds the active call's responder audio to frame
// (160 samples as s16le, 320 bytes).
func (s *Sim) responderFrameLocked(frame []byte) {
	c := s.findLocked(0)
	if c == nil || c.resp == nil {
		return
	}
	for i := range 160 {
		var v float64
		switch c.resp.kind {
		case "tone":
			v = responderLevel * math.Sin(2*math.Pi*c.resp.hz*float64(c.respPos)/8000)
			c.respPos++
		case "echo":
			if len(s.echo) == 0 {
				return
			}
			v = float64(s.echo[0])
			s.echo = s.echo[1:]
		}
		old := int16(uint16(frame[2*i]) | uint16(frame[2*i+1])<<8)
		x := int16(max(-32768, min(32767, v+float64(old))))
		frame[2*i], frame[2*i+1] = byte(x), byte(uint16(x)>>8)
	}
}

// echoHeardLocked keeps what the driver sent for an echo responder to send
// back.
func (s *Sim) echoHeardLocked(samples []int16) {
	c := s.findLocked(0)
	if c == nil || c.resp == nil || c.resp.kind != "echo" {
		s.echo = s.echo[:0]
		return
	}
	s.echo = append(s.echo, samples...)
	if len(s.echo) > maxEcho {
		s.echo = append(s.echo[:0], s.echo[len(s.echo)-maxEcho:]...)
	}
}

// echoDigitLocked sends a DTMF digit the driver sent (AT+VTS) back, as an
// echo responder does.
func (s *Sim) echoDigitLocked(d string) {
	c := s.findLocked(0)
	if c == nil || c.resp == nil || c.resp.kind != "echo" {
		return
	}
	// One queue drained in order: a timer per digit could fire out of
	// order (each runs on its own goroutine).
	first := s.echoDigits == ""
	s.echoDigits += d
	if !first {
		return
	}
	s.afterLocked(c, echoDelay, func() {
		ds := s.echoDigits
		s.echoDigits = ""
		if c.stat == 0 {
			for _, r := range ds {
				s.dtmfURCLocked(r)
			}
		}
	})
}

// dtmfURCLocked reports a DTMF digit from the far end the variant's way.
func (s *Sim) dtmfURCLocked(c rune) {
	switch s.o.Variant {
	case SIMCom:
		s.urcLocked("+RXDTMF: " + string(c))
	case Quectel:
		s.urcLocked(fmt.Sprintf("+QTONEDET: %d", c))
	default:
		s.urcLocked("+DTMF: " + string(c))
	}
}
