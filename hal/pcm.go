package hal

import "time"

// The one audio format every endpoint in critline speaks.
const (
	SampleRate    = 8000                  // samples per second
	FrameSamples  = 160                   // samples per frame
	FrameDuration = 20 * time.Millisecond // one frame
)

// Frame is 20 ms of 8 kHz signed 16-bit mono audio.
type Frame [FrameSamples]int16

// PCM is a full-duplex audio device (or a stream that behaves like one). The
// device's clock paces the stream: ReadFrame blocks until the device has
// captured the next frame, and the consumer writes one frame to play for each
// frame it reads. Implementations must allow one reader and one writer
// goroutine at once.
type PCM interface {
	// ReadFrame fills f with the next captured frame (what the handset's
	// microphone or the far end sent), blocking until it is available.
	ReadFrame(f *Frame) error
	// WriteFrame queues f for playback (to the earpiece, or to the far end).
	// It must not block for longer than one frame; a device that is behind
	// drops or the backend recovers, it never stalls the caller.
	WriteFrame(f *Frame) error
	// Close ends the stream; a blocked ReadFrame returns ErrClosed.
	Close() error
}
