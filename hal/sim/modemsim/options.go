package modemsim

import (
	"log/slog"
	"math"
	"time"
)

// Variant is the AT dialect the simulator speaks.
type Variant string

const (
	SIMCom  Variant = "simcom"  // SIM7600: +CLCC reports, VOICE CALL: BEGIN/END, +RXDTMF, AT+CPCMREG
	Quectel Variant = "quectel" // EC25: ^DSCI, +QTONEDET, +QIND, AT+QPCMV
	Generic Variant = "generic" // 27.007 only: call results and +CLCC on request
)

// Options configure a simulator.
type Options struct {
	Dir     string  // directory for the stable symlinks (required)
	Name    string  // AT port is Dir/Name, PCM port Dir/Name-pcm; default "modem"
	Variant Variant // default SIMCom
	NoPCM   bool    // no voice port

	RingInterval  time.Duration // RING + +CLIP repeat; default 3s
	AlertAfter    time.Duration // dialled far end starts ringing; default 300ms
	AnswerAfter   time.Duration // ... and answers (ondial answer); default 1.5s
	NoAnswerAfter time.Duration // ... gives up (ondial noanswer); default 8s

	Logger *slog.Logger
}

// SMS is a message the driver sent.
type SMS struct {
	To   string
	Text string
	At   time.Time
}

// Tone returns a sine of hz at peak amplitude amp (of 32767), lasting d, at 8 kHz.
func Tone(hz float64, amp float64, d time.Duration) []int16 {
	n := int(d.Seconds() * 8000)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/8000))
	}
	return out
}
