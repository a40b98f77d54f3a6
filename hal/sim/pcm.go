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
type PCM struct {
	port  int
	clock hal.Clock

	mu      sync.Mutex
	next    time.Duration // when the next captured frame is due
	mic     []int16
	phone   handset
	taps    []*tap
	closed  bool
	closing chan struct{}
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
// microphone audio for it.
func (p *PCM) ReadFrame(f *hal.Frame) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return hal.ErrClosed
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
	if len(p.taps) == 0 {
		return nil
	}
	kept := p.taps[:0]
	for _, t := range p.taps {
		n := min(t.want-len(t.buf), len(f))
		t.buf = append(t.buf, f[:n]...)
		if len(t.buf) >= t.want {
			t.done <- t.buf
			continue
		}
		kept = append(kept, t)
	}
	p.taps = kept
	return nil
}

// Close stops the device; recordings in progress are delivered as they are.
func (p *PCM) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
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
	p.taps = append(p.taps, t)
	return t.done
}
