package sim

import (
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// PCM is a simulated port audio device. Like a real codec it is paced by its
// own clock: ReadFrame returns one 20 ms frame per 20 ms of board time, filled
// from audio queued with Board.Play (the handset's microphone) or silence.
// Frames written are what the earpiece receives; Board.Listen records them.
//
// It is a hal.Pausable: while paused its clock is stopped (no timers run),
// microphone audio plays into the void and the earpiece hears silence, which
// a recording in progress receives at the pace of board time.
type PCM struct {
	port  int
	clock hal.Clock

	mu       sync.Mutex
	next     time.Duration // when the next captured frame is due
	mic      []int16
	phone    handset
	taps     []*tap
	closed   bool
	closing  chan struct{}
	paused   bool
	pausedAt time.Duration // board time up to which a paused device is accounted for
	tapTimer hal.Timer     // completes recordings while paused
	frames   uint64        // frames captured
	pauses   uint64
}

type tap struct {
	want int
	buf  []int16
	done chan []int16
}

func newPCM(port int, clock hal.Clock) *PCM {
	return &PCM{port: port, clock: clock, closing: make(chan struct{})}
}

// ReadFrame blocks until the next frame period has elapsed, then returns the
// microphone audio for it. A read while paused resumes the device.
func (p *PCM) ReadFrame(f *hal.Frame) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return hal.ErrClosed
	}
	if p.paused {
		p.resumeLocked()
	}
	now := p.clock.Now()
	if p.next == 0 || p.next < now-10*hal.FrameDuration {
		// First read, or the reader stalled: a real device would have
		// overrun; restart the pace from now.
		p.next = now + hal.FrameDuration
	}
	due := p.next
	p.next += hal.FrameDuration
	p.mu.Unlock()

	if wait := due - p.clock.Now(); wait > 0 {
		tick := make(chan struct{})
		t := p.clock.AfterFunc(wait, func() { close(tick) })
		select {
		case <-tick:
		case <-p.closing:
			t.Stop()
			return hal.ErrClosed
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames++
	n := copy(f[:], p.mic)
	p.mic = p.mic[n:]
	clear(f[n:])
	return nil
}

// WriteFrame delivers a frame to the earpiece. It never blocks.
func (p *PCM) WriteFrame(f *hal.Frame) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	if ack := p.phone.earpiece(f[:]); ack != nil {
		p.mic = append(p.mic, ack...)
	}
	p.feedLocked(f[:])
	return nil
}

// feedLocked appends samples to every recording, delivering those complete.
func (p *PCM) feedLocked(s []int16) {
	if len(p.taps) == 0 {
		return
	}
	kept := p.taps[:0]
	for _, t := range p.taps {
		n := min(t.want-len(t.buf), len(s))
		t.buf = append(t.buf, s[:n]...)
		if len(t.buf) >= t.want {
			t.done <- t.buf
			continue
		}
		kept = append(kept, t)
	}
	p.taps = kept
}

// Pause stops the device clock (hal.Pausable).
func (p *PCM) Pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	if p.paused {
		return nil
	}
	p.paused, p.pausedAt = true, p.clock.Now()
	p.pauses++
	p.armTapsLocked()
	return nil
}

// Resume restarts the device clock (hal.Pausable): the next captured frame
// is due one frame period from now.
func (p *PCM) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	if p.paused {
		p.resumeLocked()
	}
	return nil
}

func (p *PCM) resumeLocked() {
	p.catchUpLocked()
	p.paused = false
	if p.tapTimer != nil {
		p.tapTimer.Stop()
		p.tapTimer = nil
	}
	p.next = p.clock.Now() + hal.FrameDuration
}

// catchUpLocked accounts for the board time since pausedAt: the earpiece
// heard silence and the microphone's audio was lost.
func (p *PCM) catchUpLocked() {
	now := p.clock.Now()
	n := int((now - p.pausedAt) * hal.SampleRate / time.Second)
	if n <= 0 {
		return
	}
	p.pausedAt += time.Duration(n) * time.Second / hal.SampleRate
	p.mic = p.mic[min(n, len(p.mic)):]
	for len(p.taps) > 0 && n > 0 {
		var silence [hal.FrameSamples]int16
		k := min(n, len(silence))
		p.feedLocked(silence[:k])
		n -= k
	}
}

// armTapsLocked schedules, while paused, the moment the next recording in
// progress is complete, so a listener to an idle port gets its silence on
// time without the device clock running.
func (p *PCM) armTapsLocked() {
	if p.tapTimer != nil {
		p.tapTimer.Stop()
		p.tapTimer = nil
	}
	if !p.paused || len(p.taps) == 0 {
		return
	}
	short := p.taps[0].want - len(p.taps[0].buf)
	for _, t := range p.taps[1:] {
		short = min(short, t.want-len(t.buf))
	}
	d := time.Duration(short)*time.Second/hal.SampleRate - (p.clock.Now() - p.pausedAt)
	p.tapTimer = p.clock.AfterFunc(max(d, 0), func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed || !p.paused {
			return
		}
		p.catchUpLocked()
		p.armTapsLocked()
	})
}

// Paused reports whether the device clock is stopped.
func (p *PCM) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Frames reports how many frames the device has captured, and how many times
// it has been paused.
func (p *PCM) Frames() (captured, pauses uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames, p.pauses
}

// Close stops the device; recordings in progress are delivered as they are.
func (p *PCM) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if p.paused {
		p.catchUpLocked()
	}
	if p.tapTimer != nil {
		p.tapTimer.Stop()
		p.tapTimer = nil
	}
	p.closed = true
	close(p.closing)
	for _, t := range p.taps {
		t.done <- t.buf
	}
	p.taps = nil
	return nil
}

// inject queues microphone audio and returns its playing time from now.
func (p *PCM) inject(s []int16) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.catchUpLocked() // what was queued before now has played into the void
	}
	p.mic = append(p.mic, s...)
	return time.Duration(len(p.mic)) * time.Second / hal.SampleRate
}

func (p *PCM) tap(n int) <-chan []int16 {
	t := &tap{want: n, buf: make([]int16, 0, n), done: make(chan []int16, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		t.done <- nil
		return t.done
	}
	if p.paused {
		p.catchUpLocked() // the recording starts now
	}
	p.taps = append(p.taps, t)
	p.armTapsLocked()
	return t.done
}

var _ hal.Pausable = (*PCM)(nil)
