package fxs

import (
	"errors"
	"time"

	"github.com/critline/critline/hal"
)

// pump moves one frame in and one frame out per device frame until the
// device is closed. In steady state it does not allocate.
//
// When the device is a hal.Pausable, the pump rests while the port needs no
// audio (idle or parked, on-hook and not ringing): it pauses the device and
// waits, with no timer and no system call, until the port wakes it (see
// wakeAudioLocked). On waking it resumes the device and hands it the first
// frame of whatever the port now plays at once, so dial tone is not held
// back by the device's first period.
func (p *Port) pump() {
	pa, _ := p.audio.(hal.Pausable)
	var in, out hal.Frame
	for {
		if pa != nil {
			switch p.rest(pa) {
			case restClosed:
				return
			case restWoke:
				p.mu.Lock()
				src := p.fillLocked(&out)
				p.mu.Unlock()
				if src == srcPeer {
					clear(out[:]) // the call's stream starts with the next frame
				}
				if !p.writeOut(&out) {
					return
				}
			}
		}
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
		cw := p.cwOn
		mute := false
		if cw {
			mute = p.waitingFrameLocked(&p.cwFrame)
		}
		m, m2 := p.media, p.confMediaLocked()
		src := p.fillLocked(&out)
		p.mu.Unlock()
		switch {
		case src == srcPeer && m != nil && m2 != nil:
			// A three-way call: each party hears the other two (services.go).
			if err := p.sv.mix.Exchange(&in, &out, m, m2); err != nil {
				clear(out[:])
				p.audioError("mixing the three-way call", err)
			}
		case src == srcPeer && m != nil:
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
		if !p.writeOut(&out) {
			return
		}
	}
}

// fillLocked renders the port's own audio (tone, caller ID or silence) into
// out and returns the source; for srcPeer the caller fills out from the call.
func (p *Port) fillLocked(out *hal.Frame) source {
	src := p.src
	switch src {
	case srcTone:
		p.tone.Fill(out)
	case srcCID:
		n := copy(out[:], p.cidBuf[p.cidPos:])
		clear(out[n:])
		p.cidPos += n
		if p.cidPos >= len(p.cidBuf) {
			p.cidFinishedLocked()
			if p.src != srcCID {
				p.cidBuf = nil // an idle port holds no caller-ID audio (64 kB)
			}
		}
	default:
		clear(out[:])
	}
	return src
}

// writeOut plays a frame; false means the device is closed.
func (p *Port) writeOut(out *hal.Frame) bool {
	if err := p.audio.WriteFrame(out); err != nil {
		if errors.Is(err, hal.ErrClosed) || p.isClosed() {
			return false
		}
		p.audioError("writing the audio device", err)
	}
	return true
}

type restResult int

const (
	restNone   restResult = iota // the port needs audio: go on pumping
	restWoke                     // rested, and the port needs audio again
	restClosed                   // the port stopped
)

// rest pauses the device while the port needs no audio.
func (p *Port) rest(pa hal.Pausable) restResult {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return restClosed
	}
	if p.needAudioLocked() {
		p.mu.Unlock()
		return restNone
	}
	p.resting = true
	p.counters.AudioRests++
	p.mu.Unlock()
	if err := pa.Pause(); err != nil {
		if errors.Is(err, hal.ErrClosed) || p.isClosed() {
			return restClosed
		}
		// A device that cannot stop keeps running, as before resting.
		p.audioError("pausing the audio device", err)
		p.mu.Lock()
		p.resting = false
		p.mu.Unlock()
		return restNone
	}
	for {
		<-p.wake
		p.mu.Lock()
		closed, need := p.closed, p.needAudioLocked()
		if closed || need {
			p.resting = false
		}
		p.mu.Unlock()
		if closed {
			return restClosed
		}
		if need {
			break
		}
	}
	if err := pa.Resume(); err != nil {
		if errors.Is(err, hal.ErrClosed) || p.isClosed() {
			return restClosed
		}
		p.audioError("resuming the audio device", err)
	}
	return restWoke
}

// needAudioLocked says whether the port has anything to play or listen to:
// everything but an idle or parked (left off-hook, silent) port that is not
// ringing. Caller ID, answering and call waiting all happen in states that
// need it (ringing, connected).
func (p *Port) needAudioLocked() bool {
	switch p.state {
	case StateIdle, StateParked, StateStopped:
		return p.ring.active || p.mwi.active
	}
	return true
}

// wakeAudioLocked wakes a resting pump if the port now needs audio (called
// on every state change) or is stopping.
func (p *Port) wakeAudioLocked() {
	if !p.resting || (!p.closed && !p.needAudioLocked()) {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
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
