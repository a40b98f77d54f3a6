package dsp

import "github.com/critline/critline/hal"

// samples per bit at 1200 bit/s and 8 kHz, in exact fractional form.
const (
	bitNum = hal.SampleRate // a bit lasts bitNum/bitDen samples
	bitDen = FSKBaud
)

// Receiver tuning: a message must follow at least rxMinMarkBits of
// continuous mark (spandsp asks for more than 10); an idle mark run this
// long inside a message aborts it.
const (
	rxMinMarkBits  = 8
	rxMaxIdleBits  = 40
	rxMaxMsgLength = 2 + 255 + 1
)

// CallerIDReceiver demodulates caller-ID FSK (V.23 or Bell 202), frames the
// 8N1 bytes, finds a message after the mark signal and hands it over when
// its checksum is right. It is for tests and for trunks (caller ID on an
// analogue line). It is not safe for concurrent use; Process does not
// allocate.
type CallerIDReceiver struct {
	demod     fskDemod
	onMessage func([]byte)

	n         int64 // samples seen
	lastMark  bool
	markRun   int64 // consecutive mark samples (while idle)
	inByte    bool
	next      int64 // sample index (times bitDen) of the next bit centre
	bitIdx    int
	cur       byte
	preMarks  int64 // mark run before this byte's start bit
	msg       [rxMaxMsgLength]byte
	msgLen    int
	want      int // total bytes of the message once the length is known
	inMsg     bool
	lastByteN int64
}

// NewCallerIDReceiver returns a receiver for std that calls onMessage with
// each complete message whose checksum is correct (type, length, parameters
// and checksum, ready for ParseCallerID). The slice is only valid during
// the call; copy it to keep it.
func NewCallerIDReceiver(std FSKStandard, onMessage func(msg []byte)) *CallerIDReceiver {
	r := &CallerIDReceiver{demod: newFSKDemod(std), onMessage: onMessage}
	r.Reset()
	return r
}

// Reset forgets all audio seen so far.
func (r *CallerIDReceiver) Reset() {
	r.demod.reset()
	r.n = 0
	r.lastMark = false
	r.markRun = 0
	r.inByte = false
	r.inMsg = false
	r.msgLen = 0
}

// Process consumes samples of any length.
func (r *CallerIDReceiver) Process(samples []int16) {
	for _, s := range samples {
		mark, carrier := r.demod.push(s)
		r.n++
		if !carrier {
			r.lastMark = false
			r.markRun = 0
			r.inByte = false
			r.inMsg = false
			continue
		}
		if !r.inByte {
			if mark {
				r.markRun++
				r.lastMark = true
				if r.inMsg && r.markRun > rxMaxIdleBits*bitNum/bitDen {
					r.inMsg = false
				}
				continue
			}
			if !r.lastMark {
				continue // a space with no mark before it: not a start edge
			}
			// Start edge: bit centres from here.
			r.inByte = true
			r.preMarks = r.markRun
			r.bitIdx = 0
			r.cur = 0
			r.next = r.n*bitDen + bitNum/2 // centre of the start bit
			r.markRun = 0
			r.lastMark = false
			continue
		}
		if r.n*bitDen < r.next {
			continue
		}
		// At a bit centre.
		switch {
		case r.bitIdx == 0:
			if mark { // a glitch, not a start bit
				r.inByte = false
				r.lastMark = true
				r.markRun = 1
				continue
			}
		case r.bitIdx <= 8:
			if mark {
				r.cur |= 1 << (r.bitIdx - 1)
			}
		default:
			r.inByte = false
			r.lastMark = mark
			if mark {
				r.markRun = 1
				r.byteDone(r.cur)
			} else {
				r.markRun = 0 // framing error
				r.inMsg = false
			}
			continue
		}
		r.bitIdx++
		r.next += bitNum
	}
}

// byteDone takes one framed byte.
func (r *CallerIDReceiver) byteDone(b byte) {
	if !r.inMsg {
		if r.preMarks*bitDen < rxMinMarkBits*bitNum || !knownMessageType(b) {
			return
		}
		r.inMsg = true
		r.msg[0] = b
		r.msgLen = 1
		r.want = 0
		return
	}
	r.msg[r.msgLen] = b
	r.msgLen++
	if r.msgLen == 2 {
		r.want = int(b) + 3
	}
	if r.want > 0 && r.msgLen == r.want {
		r.inMsg = false
		var sum byte
		for _, c := range r.msg[:r.msgLen] {
			sum += c
		}
		if sum == 0 && r.onMessage != nil {
			r.onMessage(r.msg[:r.msgLen])
		}
	}
}

// knownMessageType reports whether b starts an ETSI or Bellcore data
// message.
func knownMessageType(b byte) bool {
	switch b {
	case 0x04, 0x06, 0x0b, 0x80, 0x82, 0x86, 0x89:
		return true
	}
	return false
}
