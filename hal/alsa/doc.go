// Package alsa is the PCM audio backend: a full-duplex hal.PCM on an ALSA
// device, driven through the kernel's PCM interface (/dev/snd/pcmC*D*p and
// ...c) with plain ioctls, in pure Go, so it cross-compiles without cgo or
// alsa-lib.
//
// The device is set up for interleaved signed 16-bit little-endian samples,
// one channel (or two, using the left), at 8 kHz, or at an integer multiple of
// 8 kHz the device offers, converted with a linear-phase FIR resampler.
// Periods are 20 ms, so each ReadFrame is one device period: the device's
// clock paces the stream. Overruns and underruns are recovered from (prepare,
// restart, re-prime playback with silence) and counted, never returned.
//
// What does not live here: mixing, gain, tones and codecs (fxs/dsp, sip/rtp),
// alsa-lib's plugin layer (dmix, plughw conversions beyond rate and
// channels), and device discovery beyond "hw:CARD,DEV" names. Device-name
// parsing and the resampler build everywhere; the device code needs Linux.
package alsa
