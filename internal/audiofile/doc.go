// Package audiofile reads and writes the audio files critline's field tool
// exchanges with the simulated board: WAV (PCM, 16-bit, mono, 8 kHz) or raw
// signed 16-bit little-endian samples at 8 kHz. Anything else is refused with
// the sox command that converts it.
package audiofile
