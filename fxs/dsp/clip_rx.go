package dsp

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

	marks  int // consecutive mark bits while idle
	inByte bool
	bitIdx int
	cur    byte
	pre    int // mark bits before this byte's start bit
	msg    [rxMaxMsgLength]byte
	msgLen int
	want   int // total bytes of the message once the length is known
	inMsg  bool
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
	r.marks = 0
	r.inByte = false
	r.inMsg = false
	r.msgLen = 0
}

// Process consumes samples of any length.
func (r *CallerIDReceiver) Process(samples []int16) {
	for _, s := range samples {
		bit, ok, carrier := r.demod.push(s)
		if !carrier {
			r.marks = 0
			r.inByte = false
			r.inMsg = false
			continue
		}
		if ok {
			r.bit(bit)
		}
	}
}

// bit runs the 8N1 framing on the recovered bit stream.
func (r *CallerIDReceiver) bit(mark bool) {
	if !r.inByte {
		if mark {
			if r.marks <= rxMaxIdleBits { // saturate: only comparisons matter
				r.marks++
			}
			if r.inMsg && r.marks > rxMaxIdleBits {
				r.inMsg = false
			}
			return
		}
		r.inByte = true // a start bit
		r.pre = r.marks
		r.marks = 0
		r.bitIdx = 0
		r.cur = 0
		return
	}
	r.bitIdx++
	if r.bitIdx <= 8 {
		if mark {
			r.cur |= 1 << (r.bitIdx - 1)
		}
		return
	}
	r.inByte = false
	if !mark {
		r.inMsg = false // framing error
		return
	}
	r.marks = 1 // the stop bit
	r.byteDone(r.cur)
}

// byteDone takes one framed byte.
func (r *CallerIDReceiver) byteDone(b byte) {
	if !r.inMsg {
		if r.pre < rxMinMarkBits || !knownMessageType(b) {
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
// message: SDMF caller ID (0x04) and message waiting (0x06); call set-up /
// MDMF (0x80), message waiting (0x82), advice of charge (0x86), SMS (0x89).
func knownMessageType(b byte) bool {
	switch b {
	case 0x04, 0x06, 0x80, 0x82, 0x86, 0x89:
		return true
	}
	return false
}
