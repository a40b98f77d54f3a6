package rtp

import (
	"time"

	"github.com/critline/critline/hal"
)

// jbSlots is the jitter buffer's capacity in frames (1.28 s).
const jbSlots = 64

// JitterConfig tunes a Jitter buffer. Zero values take the defaults.
type JitterConfig struct {
	MinDepth int // frames of margin always kept (default 1)
	MaxDepth int // frames of margin at most (default 20)
	Window   int // pulls over which the margin is judged (default 50 = 1 s)
}

// JitterStats counts what the buffer did.
type JitterStats struct {
	Played    uint64 // frames played from received audio
	Concealed uint64 // frames played in place of a missing packet (loss or late)
	Inserted  uint64 // frames added to slow playout down (underflow or adaptation)
	Dropped   uint64 // frames skipped to catch up with a faster sender
	Late      uint64 // packets that arrived after their playout time
	Resyncs   uint64 // times the buffer restarted on a timestamp jump or new SSRC
	Depth     int    // current margin in frames
	Target    int    // current target margin in frames
}

// Jitter is an adaptive playout buffer for 8 kHz audio that follows its
// consumer's clock: the consumer pulls one frame per 20 ms of its own
// device clock and the buffer keeps a margin of frames that tracks the
// measured jitter. A sender whose clock runs fast fills the buffer and
// frames are dropped; a slow one drains it and frames are inserted, so the
// delay never drifts however long the call lasts. It holds no clock of its
// own: arrival times are passed in. Not safe for concurrent use.
type Jitter struct {
	cfg     JitterConfig
	frames  [jbSlots]hal.Frame
	slotIdx [jbSlots]int64 // frame index held by each slot, -1 for none

	started   bool
	prefill   bool
	ssrc      uint32
	lastTS    uint32
	extTS     int64 // extended timestamp of lastTS, relative to the first packet
	next      int64 // frame index to play next
	high      int64 // highest frame index holding audio
	lateRun   int
	holdOnce  bool
	last      hal.Frame
	concealed int // consecutive concealed frames

	// RFC 3550 interarrival jitter, in samples scaled by 16
	jitter16    int64
	lastTransit int64
	haveTransit bool

	pulls    int
	minDepth int
	target   int

	stats JitterStats
}

// NewJitter returns an empty buffer.
func NewJitter(cfg JitterConfig) *Jitter {
	j := &Jitter{}
	j.Init(cfg)
	return j
}

// Init (re)sets the buffer in place.
func (j *Jitter) Init(cfg JitterConfig) {
	if cfg.MinDepth <= 0 {
		cfg.MinDepth = 1
	}
	if cfg.MaxDepth <= 0 || cfg.MaxDepth > jbSlots/2 {
		cfg.MaxDepth = 20
	}
	if cfg.MaxDepth < cfg.MinDepth {
		cfg.MaxDepth = cfg.MinDepth
	}
	if cfg.Window <= 0 {
		cfg.Window = 50
	}
	*j = Jitter{cfg: cfg, target: cfg.MinDepth, minDepth: 1 << 30}
	for i := range j.slotIdx {
		j.slotIdx[i] = -1
	}
}

// Stats returns the counters.
func (j *Jitter) Stats() JitterStats {
	s := j.stats
	s.Depth = j.depth()
	s.Target = j.target
	return s
}

// JitterSamples returns the RFC 3550 interarrival jitter estimate in samples.
func (j *Jitter) JitterSamples() float64 { return float64(j.jitter16) / 16 }

func (j *Jitter) depth() int {
	if !j.started || j.high < j.next {
		return 0
	}
	return int(j.high - j.next + 1)
}

func (j *Jitter) resync(ssrc, ts uint32) {
	cfg, st, jit := j.cfg, j.stats, j.jitter16
	target := j.target
	j.Init(cfg)
	j.stats, j.jitter16 = st, jit
	j.target = target
	j.stats.Resyncs++
	j.started, j.prefill = true, true
	j.ssrc, j.lastTS, j.extTS = ssrc, ts, 0
	j.next, j.high = 0, -1
}

// Push stores one packet's audio. payload is G.711 in law; arrival is the
// consumer-side time the packet arrived.
func (j *Jitter) Push(ssrc, ts uint32, law Law, payload []byte, arrival time.Duration) {
	if len(payload) == 0 {
		return
	}
	if !j.started {
		j.resync(ssrc, ts)
		j.stats.Resyncs = 0
	} else if ssrc != j.ssrc {
		j.resync(ssrc, ts)
	}
	ext := j.extTS + int64(int32(ts-j.lastTS))
	fi := floorDiv(ext, hal.FrameSamples)
	// A jump of more than the buffer's span either way is a new stream.
	if fi >= j.next+jbSlots || fi < j.next-jbSlots {
		j.resync(ssrc, ts)
		ext, fi = 0, 0
	}
	if int32(ts-j.lastTS) > 0 || ext == 0 {
		j.lastTS, j.extTS = ts, ext
	}
	j.updateJitter(ext, arrival)

	if fi+int64((len(payload)-1)/hal.FrameSamples) < j.next {
		j.stats.Late++
		j.lateRun++
		if j.lateRun > 25 { // half a second of nothing but late packets: follow them
			j.resync(ssrc, ts)
		}
		return
	}
	j.lateRun = 0
	tab := &ulawDec
	if law == ALaw {
		tab = &alawDec
	}
	for pos, rem := ext, payload; len(rem) > 0; {
		f := floorDiv(pos, hal.FrameSamples)
		off := int(pos - f*hal.FrameSamples)
		n := min(len(rem), hal.FrameSamples-off)
		if f >= j.next && f < j.next+jbSlots {
			slot := int(f % jbSlots)
			if j.slotIdx[slot] != f {
				j.slotIdx[slot] = f
				j.frames[slot] = hal.Frame{}
			}
			fr := j.frames[slot][off : off+n]
			for i := range fr {
				fr[i] = tab[rem[i]]
			}
			if f > j.high {
				j.high = f
			}
		}
		pos += int64(n)
		rem = rem[n:]
	}
}

func (j *Jitter) updateJitter(ext int64, arrival time.Duration) {
	arr := int64(arrival) * hal.SampleRate / int64(time.Second)
	transit := arr - ext
	if j.haveTransit {
		d := transit - j.lastTransit
		if d < 0 {
			d = -d
		}
		if d > 8*hal.SampleRate { // a jump, not jitter
			d = 0
		}
		j.jitter16 += d - (j.jitter16+8)/16
	}
	j.lastTransit, j.haveTransit = transit, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Pull writes the next frame to play into f. It never blocks; with nothing
// to play it writes silence (or a fading copy of the last frame).
func (j *Jitter) Pull(f *hal.Frame) {
	if !j.started {
		*f = hal.Frame{}
		return
	}
	d := j.depth()
	if j.prefill {
		if d < j.target+1 {
			*f = hal.Frame{}
			return
		}
		j.prefill = false
	}
	if d < j.minDepth {
		j.minDepth = d
	}
	j.pulls++
	if j.pulls >= j.cfg.Window {
		j.adapt()
	}
	if d == 0 || j.holdOnce {
		// Underflow, or adaptation asked for one more frame of delay.
		j.holdOnce = false
		j.conceal(f)
		j.stats.Inserted++
		return
	}
	slot := int(j.next % jbSlots)
	if j.slotIdx[slot] == j.next {
		*f = j.frames[slot]
		j.last = *f
		j.slotIdx[slot] = -1
		j.concealed = 0
		j.stats.Played++
	} else {
		j.conceal(f)
		j.stats.Concealed++
	}
	j.next++
}

// adapt runs once per window: it sets the target from the jitter estimate
// and drops or inserts one frame when the smallest margin seen over the
// window strays from it.
func (j *Jitter) adapt() {
	// Target: enough frames to cover about three times the mean jitter.
	t := int((3*j.jitter16/16 + hal.FrameSamples - 1) / hal.FrameSamples)
	t = max(j.cfg.MinDepth, min(t, j.cfg.MaxDepth))
	j.target = t
	margin := j.minDepth - 1
	switch {
	case margin > j.target+1:
		// The sender is ahead of us: skip one frame.
		slot := int(j.next % jbSlots)
		if j.slotIdx[slot] == j.next {
			j.slotIdx[slot] = -1
		}
		j.next++
		j.stats.Dropped++
	case margin < j.target && j.minDepth > 0:
		j.holdOnce = true
	}
	j.pulls, j.minDepth = 0, 1<<30
}

// conceal repeats the last frame at falling level for a few frames, then
// plays silence.
func (j *Jitter) conceal(f *hal.Frame) {
	j.concealed++
	if j.concealed > 3 {
		*f = hal.Frame{}
		return
	}
	for i, s := range j.last {
		j.last[i] = s / 2
	}
	*f = j.last
}
