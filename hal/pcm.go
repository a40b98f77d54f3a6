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

// Pausable is a PCM whose clock can be stopped while nobody needs its audio
// (an idle, on-hook port), so an idle board does no audio work at all: no
// interrupts, no wake-ups, no system calls. It is optional: a consumer
// type-asserts for it and keeps a plain PCM running.
//
// Pause and Resume are called by the goroutine that reads and writes the
// stream, between frames, never at the same time as ReadFrame or
// WriteFrame; Close may be called at any time, paused or not. After Pause
// the consumer calls neither ReadFrame nor WriteFrame until Resume.
type Pausable interface {
	PCM
	// Pause stops capture and playback. Audio the microphone picks up while
	// paused is lost, and the earpiece hears silence, as with a stopped
	// codec.
	Pause() error
	// Resume restarts the device clock. Playback is primed so that a
	// WriteFrame right after Resume is heard without a gap, and the next
	// ReadFrame returns the first frame captured after Resume, one frame
	// period later.
	Resume() error
}
