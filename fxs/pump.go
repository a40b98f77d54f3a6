package fxs

import (
	"errors"
	"time"

	"github.com/critline/critline/hal"
)

// pump moves one frame in and one frame out per device frame until the
// device is closed. In steady state it does not allocate.
func (p *Port) pump() {
	var in, out hal.Frame
	for {
		if err := p.audio.ReadFrame(&in); err != nil {
			if errors.Is(err, hal.ErrClosed) || p.isClosed() {
				return
			}
			p.audioError("reading the audio device", err)
			time.Sleep(hal.FrameDuration)
			continue
		}
		p.mu.Lock()
		p.counters.Frames++
		if p.dtmfOn {
			p.dtmf.Process(in[:])
			for i := 0; i < p.dtmfN; i++ {
				p.counters.DTMFDigits++
				p.digitLocked(p.dtmfBuf[i], "dtmf")
			}
			p.dtmfN = 0
		}
		src, m, cw := p.src, p.media, p.cwOn
		mute := false
		if cw {
			mute = p.waitingFrameLocked(&p.cwFrame)
		}
		switch src {
		case srcTone:
			p.tone.Fill(&out)
		case srcCID:
			n := copy(out[:], p.cidBuf[p.cidPos:])
			clear(out[n:])
			p.cidPos += n
			if p.cidPos >= len(p.cidBuf) {
				p.cidFinishedLocked()
			}
		default:
			clear(out[:])
		}
		p.mu.Unlock()
		if src == srcPeer && m != nil {
			if mute {
				clear(in[:]) // caller ID on call waiting: the far end hears nothing of it
			}
			if err := m.WriteFrame(&in); err != nil {
				p.audioError("sending audio to the call", err)
			}
			if err := m.ReadFrame(&out); err != nil {
				clear(out[:])
				p.audioError("receiving audio from the call", err)
			}
		}
		switch {
		case cw && src == srcPeer && mute:
			out = p.cwFrame
		case cw && src == srcPeer:
			for i, v := range p.cwFrame {
				out[i] = sat16(int32(out[i]) + int32(v))
			}
		}
		if err := p.audio.WriteFrame(&out); err != nil {
			if errors.Is(err, hal.ErrClosed) || p.isClosed() {
				return
			}
			p.audioError("writing the audio device", err)
		}
	}
}

func sat16(v int32) int16 {
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return int16(v)
}

func (p *Port) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// audioError counts an error and logs the first of a run and every 500th.
func (p *Port) audioError(what string, err error) {
	p.mu.Lock()
	p.counters.AudioErrors++
	c := p.counters.AudioErrors
	p.mu.Unlock()
	if c == 1 || c%500 == 0 {
		p.log.Warn(what, "err", err, "errors", c)
	}
}
