package modem

import (
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

const frameBytes = hal.FrameSamples * 2 // s16le

// voice is the trunk's call audio over the module's PCM serial port (8 kHz
// s16le mono), as a hal.PCM. ReadFrame is paced by the trunk's clock, one
// frame per 20 ms, and plays what the module sent through a small jitter
// buffer: playout starts once JitterFrames are buffered, a gap plays
// silence (and re-primes), and frames beyond MaxJitter are dropped oldest
// first, so the module's clock drifting against ours costs a frame now and
// then, never a stall. WriteFrame hands frames to a writer goroutine and
// never blocks. The port underneath comes and goes with the modem.
type voice struct {
	clock    hal.Clock
	m        *metrics
	log      *slog.Logger
	target   int
	maxDepth int

	mu      sync.Mutex
	p       io.ReadWriteCloser
	gen     uint64
	q       []hal.Frame
	partial []byte
	primed  bool
	next    time.Duration
	closed  bool
	closing chan struct{}
	wq      chan hal.Frame
	rx      uint64 // frames received from the module, ever
}

// received is the number of frames the module has sent so far.
func (v *voice) received() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rx
}

func newVoice(cfg Config, m *metrics, log *slog.Logger) *voice {
	v := &voice{
		clock: cfg.Clock, m: m, log: log,
		target: cfg.JitterFrames, maxDepth: cfg.MaxJitter,
		closing: make(chan struct{}),
		wq:      make(chan hal.Frame, 5),
	}
	go v.writer()
	return v
}

// attach starts using port p (the previous one, if any, is closed).
func (v *voice) attach(p io.ReadWriteCloser) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		p.Close()
		return
	}
	if v.p != nil {
		v.p.Close()
	}
	v.p = p
	v.gen++
	v.partial = v.partial[:0]
	go v.reader(p, v.gen)
}

// detach closes the port (the modem went away).
func (v *voice) detach() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.p != nil {
		v.p.Close()
		v.p = nil
		v.gen++
	}
}

func (v *voice) attached() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.p != nil
}

// reset drops buffered audio at a call's start and end.
func (v *voice) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.q = v.q[:0]
	v.primed = false
	for {
		select {
		case <-v.wq:
			continue
		default:
		}
		return
	}
}

func (v *voice) reader(p io.ReadWriteCloser, gen uint64) {
	buf := make([]byte, 4*frameBytes)
	for {
		n, err := p.Read(buf)
		v.mu.Lock()
		if v.gen != gen {
			v.mu.Unlock()
			return
		}
		for b := buf[:n]; len(b) > 0; {
			k := min(len(b), frameBytes-len(v.partial))
			v.partial = append(v.partial, b[:k]...)
			b = b[k:]
			if len(v.partial) == frameBytes {
				var f hal.Frame
				for i := range f {
					f[i] = int16(binary.LittleEndian.Uint16(v.partial[2*i:]))
				}
				v.partial = v.partial[:0]
				v.rx++
				if len(v.q) >= v.maxDepth {
					v.q = v.q[1:]
					v.m.dropped.Inc()
				}
				v.q = append(v.q, f)
			}
		}
		if err != nil {
			if v.p == p {
				v.p = nil
				v.gen++
			}
			v.mu.Unlock()
			v.log.Warn("modem: voice port closed", "err", err)
			return
		}
		v.mu.Unlock()
	}
}

func (v *voice) writer() {
	buf := make([]byte, frameBytes)
	for {
		select {
		case f := <-v.wq:
			for i, s := range f {
				binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
			}
			v.mu.Lock()
			p := v.p
			v.mu.Unlock()
			if p == nil {
				v.m.dropped.Inc() // no port (the modem is away)
				continue
			}
			if _, err := p.Write(buf); err != nil {
				v.m.dropped.Inc()
				v.log.Debug("modem: voice write failed", "err", err)
			}
		case <-v.closing:
			return
		}
	}
}

// ReadFrame waits for the next 20 ms frame time and returns what the far
// end sent for it, or silence.
func (v *voice) ReadFrame(f *hal.Frame) error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return hal.ErrClosed
	}
	now := v.clock.Now()
	if v.next == 0 || v.next < now-10*hal.FrameDuration {
		v.next = now + hal.FrameDuration // first read, or the reader stalled
	}
	due := v.next
	v.next += hal.FrameDuration
	v.mu.Unlock()

	if wait := due - v.clock.Now(); wait > 0 {
		tick := make(chan struct{})
		t := v.clock.AfterFunc(wait, func() { close(tick) })
		select {
		case <-tick:
		case <-v.closing:
			t.Stop()
			return hal.ErrClosed
		}
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return hal.ErrClosed
	}
	if len(v.q) > 0 && (v.primed || len(v.q) >= v.target) {
		*f = v.q[0]
		v.q = v.q[1:]
		v.primed = true
		return nil
	}
	if v.primed {
		v.m.underruns.Inc()
		v.primed = false
	}
	clear(f[:])
	return nil
}

// WriteFrame queues f for the far end; when the port is behind, the oldest
// queued frame is dropped.
func (v *voice) WriteFrame(f *hal.Frame) error {
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return hal.ErrClosed
	}
	select {
	case v.wq <- *f:
		return nil
	default:
	}
	select {
	case <-v.wq:
		v.m.dropped.Inc()
	default:
	}
	select {
	case v.wq <- *f:
	default:
		v.m.dropped.Inc()
	}
	return nil
}

// Close ends the stream: a blocked ReadFrame returns hal.ErrClosed.
func (v *voice) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	close(v.closing)
	if v.p != nil {
		v.p.Close()
		v.p = nil
		v.gen++
	}
	return nil
}
