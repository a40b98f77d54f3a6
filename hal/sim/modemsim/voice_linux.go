//go:build linux

package modemsim

// The voice port: the far end's audio paced by the modem's clock, what the
// appliance sends, and taps for tests and `sim trunk heard`.

import (
	"context"
	"errors"
	"time"
)

// voiceClock sends the far end's audio, 20 ms at a time, during a call
// with voice enabled (AT+CPCMREG=1 / AT+QPCMV=1; always for generic). It
// ticks only while voice flows, like the module's PCM clock: between calls
// it waits for a kick (kickVoiceLocked) from whatever could start voice.
func (s *Sim) voiceClock() {
	defer s.wg.Done()
	t := time.NewTicker(20 * time.Millisecond)
	t.Stop()
	defer t.Stop()
	running := false
	var pending []byte
	for {
		if !running {
			select {
			case <-s.voiceKick:
			case <-s.stop:
				return
			}
			s.mu.Lock()
			on := s.voiceOnLocked()
			s.mu.Unlock()
			if on {
				t.Reset(20 * time.Millisecond)
				running = true
			}
			continue
		}
		select {
		case <-t.C:
		case <-s.voiceKick:
			continue // already running
		case <-s.stop:
			return
		}
		s.mu.Lock()
		if !s.voiceOnLocked() {
			pending = pending[:0]
			t.Stop()
			running = false
			s.mu.Unlock()
			continue
		}
		if time.Now().Before(s.st.gapUntil) {
			s.mu.Unlock() // a gap: time passes, nothing is sent or lost
			continue
		}
		frame := make([]byte, 320)
		n := min(160, len(s.play))
		for i := range n {
			frame[2*i] = byte(s.play[i])
			frame[2*i+1] = byte(uint16(s.play[i]) >> 8)
		}
		s.play = s.play[n:]
		s.responderFrameLocked(frame)
		pending = append(pending, frame...)
		if len(pending) >= 320*max(1, s.st.jitter) {
			select {
			case s.att.pcmq <- pending:
			default:
			}
			pending = nil
		}
		s.mu.Unlock()
	}
}

// voiceOnLocked says whether voice flows: a call up, a voice port attached
// and PCM enabled.
func (s *Sim) voiceOnLocked() bool {
	c := s.findLocked(0) // the active call (another may be waiting or held)
	return c != nil && s.att != nil && s.att.pcm != nil &&
		(s.st.pcmOn || s.o.Variant == Generic)
}

// kickVoiceLocked tells a resting voice clock that voice may now flow.
func (s *Sim) kickVoiceLocked() {
	select {
	case s.voiceKick <- struct{}{}:
	default:
	}
}

func (s *Sim) pcmReader(a *attachment) {
	defer s.wg.Done()
	buf := make([]byte, 1024)
	var odd []byte
	for {
		n, err := a.pcm.master.Read(buf)
		if n > 0 {
			b := append(odd, buf[:n]...)
			samples := make([]int16, len(b)/2)
			for i := range samples {
				samples[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
			}
			odd = append([]byte(nil), b[len(samples)*2:]...)
			s.mu.Lock()
			s.echoHeardLocked(samples)
			s.nHeard += len(samples)
			s.heard = append(s.heard, samples...)
			s.recordLocked(samples)
			if len(s.heard) > 8000*60 {
				s.heard = append([]int16(nil), s.heard[len(s.heard)-8000*30:]...)
			}
			for i := 0; i < len(s.taps); {
				tp := s.taps[i]
				tp.buf = append(tp.buf, samples...)
				if len(tp.buf) >= tp.want {
					tp.done <- tp.buf[:tp.want]
					s.taps = append(s.taps[:i], s.taps[i+1:]...)
					continue
				}
				i++
			}
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Play queues audio (8 kHz mono samples) for the far end to send.
func (s *Sim) Play(samples []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.play = append(s.play, samples...)
}

// Listen returns the next n samples the driver sends to the far end.
func (s *Sim) Listen(ctx context.Context, n int) ([]int16, error) {
	t := &tap{want: n, done: make(chan []int16, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("modemsim: closed")
	}
	s.taps = append(s.taps, t)
	s.mu.Unlock()
	select {
	case b, ok := <-t.done:
		if !ok {
			return nil, errors.New("modemsim: closed")
		}
		return b, nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, x := range s.taps {
			if x == t {
				s.taps = append(s.taps[:i], s.taps[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// Heard returns the last (up to 30-60 s of) audio the driver sent and the
// total number of samples received since start.
func (s *Sim) Heard() (recent []int16, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.heard...), s.nHeard
}
