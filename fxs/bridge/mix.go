package bridge

import (
	"errors"

	"github.com/critline/critline/hal"
)

// Mixer joins three parties so that each hears the other two: a porter in
// a three-way call (the port's own microphone and earpiece) and two calls,
// each a Media (an RTP stream, a trunk's voice channel, a Pair's end). It
// keeps its scratch frames, so a frame period allocates nothing. A Mixer
// is used by one pump at a time.
type Mixer struct {
	a, b   hal.Frame // what each call says this period
	toA    hal.Frame
	toB    hal.Frame
	Errors uint64 // reads or writes of the calls that failed and were passed over (a lost frame is silence)
}

// Exchange mixes one frame period, the way the port's pump exchanges a
// frame with a single call: mic is what the porter says, ear receives what
// the porter hears (a and b together). a hears the porter and b; b hears
// the porter and a. Like Relay it reads each call before writing to it (an
// RTP stream gives one frame per frame written, the first one free; a
// trunk's voice channel sets the pace). It returns hal.ErrClosed when a
// call's media is closed; other errors are counted and the frame is
// silence.
func (m *Mixer) Exchange(mic, ear *hal.Frame, a, b Media) error {
	if err := m.check(a.ReadFrame(&m.a), &m.a); err != nil {
		return err
	}
	if err := m.check(b.ReadFrame(&m.b), &m.b); err != nil {
		return err
	}
	Mix3(mic, &m.a, &m.b, ear, &m.toA, &m.toB)
	if err := m.check(a.WriteFrame(&m.toA), nil); err != nil {
		return err
	}
	return m.check(b.WriteFrame(&m.toB), nil)
}

func (m *Mixer) check(err error, read *hal.Frame) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, hal.ErrClosed) {
		return err
	}
	m.Errors++
	if read != nil {
		clear(read[:])
	}
	return nil
}

// Mix3 mixes three parties' frames x, y, z (what each says) into what each
// hears: toX = y+z, toY = x+z, toZ = x+y, saturated to 16 bits. The outputs
// may not alias the inputs.
func Mix3(x, y, z, toX, toY, toZ *hal.Frame) {
	for i := range x {
		a, b, c := int32(x[i]), int32(y[i]), int32(z[i])
		toX[i] = sat16(b + c)
		toY[i] = sat16(a + c)
		toZ[i] = sat16(a + b)
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
