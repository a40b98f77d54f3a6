// Package dsp is critline's telephony signal processing: multi-frequency tone
// synthesis with cadences and levels in dBm0, DTMF detection (ETSI ES 201
// 235-3 limits) and generation, V.23 and Bell 202 FSK modulation and
// demodulation, caller-ID (CLIP) message building and parsing (MDMF and
// SDMF), and level measurement.
//
// Everything works on 8 kHz signed 16-bit mono audio, usually in hal.Frame
// sized blocks (20 ms, 160 samples). Levels follow spandsp's convention: a
// full-scale sine is +3.14 dBm0. The steady-state paths (ToneGen.Fill,
// DTMFDetector.Process, CallerIDReceiver.Process, AppendFSK into a buffer
// with room) do not allocate.
//
// One DSP function lives in each file, with its own test, in spandsp's
// house style. What does not live here: when to play what (cadence choice,
// caller-ID placement around ringing, digit maps) belongs to package fxs;
// G.711 and RTP belong to sip/rtp. This package is pure Go; spandsp is used
// only as a referee by tests built with the "spandsp" tag.
package dsp
