package bridge

import (
	"sync"

	"github.com/critline/critline/hal"
)

// Media is one call's audio as a pump sees it: the shape of fxs.Media and
// hal.PCM, repeated here so that this package needs nothing above hal.
type Media interface {
	ReadFrame(f *hal.Frame) error
	WriteFrame(f *hal.Frame) error
}

// Buffer sizes of each direction of a Pair, in frames.
const (
	// Prime is how many frames must be buffered before playout (re)starts.
	Prime = 2
	// Depth is the most frames a direction holds; a frame written into a
	// full direction pushes out the oldest.
	Depth = 4
)

// Stats counts one direction of a Pair.
type Stats struct {
	Frames  uint64 // frames written into the direction
	Played  uint64 // frames read out that carried written audio
	Dropped uint64 // frames dropped because the reader fell behind (the writer's clock is faster)
	Inserts uint64 // silent frames played because none was ready (the reader's clock is faster, or the writer paused)
}

// direction is one way across a pair: a ring of frames.
type direction struct {
	mu     sync.Mutex
	buf    [Depth]hal.Frame
	head   int // the oldest frame
	n      int // frames buffered
	primed bool
	closed bool
	st     Stats
}

func (d *direction) write(f *hal.Frame) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.st.Frames++
	if d.n == Depth {
		d.head = (d.head + 1) % Depth
		d.n--
		d.st.Dropped++
	}
	d.buf[(d.head+d.n)%Depth] = *f
	d.n++
	d.mu.Unlock()
}

func (d *direction) read(f *hal.Frame) {
	d.mu.Lock()
	if d.closed || d.n == 0 || (!d.primed && d.n < Prime) {
		if d.primed {
			d.st.Inserts++ // the frame due is missing: play silence and prime again
			d.primed = false
		}
		d.mu.Unlock()
		clear(f[:])
		return
	}
	d.primed = true
	*f = d.buf[d.head]
	d.head = (d.head + 1) % Depth
	d.n--
	d.st.Played++
	d.mu.Unlock()
}

func (d *direction) close() {
	d.mu.Lock()
	d.closed = true
	d.n = 0
	d.mu.Unlock()
}

func (d *direction) stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// Pair is two Media ends joined back to back. Create it with NewPair; its
// zero value is not usable. Safe for concurrent use: each end is normally
// pumped by its own goroutine.
type Pair struct {
	ab, ba direction
	a, b   End
}

// End is one side of a Pair, an fxs.Media: WriteFrame sends a frame to the
// other side, ReadFrame returns the other side's next frame (or silence).
// Neither ever blocks beyond a mutex held for a frame's copy.
type End struct {
	out, in *direction
}

// NewPair returns a pair ready for use.
func NewPair() *Pair {
	p := &Pair{}
	p.a = End{out: &p.ab, in: &p.ba}
	p.b = End{out: &p.ba, in: &p.ab}
	return p
}

// A is one end (by convention the caller's side).
func (p *Pair) A() *End { return &p.a }

// B is the other end.
func (p *Pair) B() *End { return &p.b }

// Close ends the pair: from now on both ends read silence and writes go
// nowhere. A port still pumping an end after its call ended hears nothing.
func (p *Pair) Close() {
	p.ab.close()
	p.ba.close()
}

// Stats returns the counters of each direction: A to B, and B to A.
func (p *Pair) Stats() (ab, ba Stats) { return p.ab.stats(), p.ba.stats() }

// WriteFrame hands f to the other end.
func (e *End) WriteFrame(f *hal.Frame) error {
	e.out.write(f)
	return nil
}

// ReadFrame fills f with the other end's next frame, or silence.
func (e *End) ReadFrame(f *hal.Frame) error {
	e.in.read(f)
	return nil
}
