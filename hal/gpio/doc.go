// Package gpio is the real board backend: it opens a hal.BoardProfile's lines
// on the Linux GPIO character device (uAPI v2, through go-gpiocdev) and
// serves them as a hal.Board.
//
// Hook, mains and battery-low inputs are requested with the profile's bias,
// polarity and kernel debounce, and both-edge events; each edge's kernel
// timestamp (CLOCK_MONOTONIC) and per-line sequence number reach
// hal.HookEvent unchanged. Gaps in the kernel's sequence numbers (its event
// FIFO overflowed) and events dropped because a consumer's channel was full
// are logged and counted (Board.Stats). Where the GPIO controller has no
// hardware debounce (the Pi's, gpio-sim) the kernel debounces in software and
// stamps an edge when the debounce period, rounded up to a tick, has expired:
// every timestamp is late by that amount, intervals are unchanged.
// Ring, polarity, relay and LED lines
// are outputs. Every relay is requested first, in bypass (de-energised),
// before any other line, and Close returns every relay to bypass before
// releasing anything; docs/wiring.md says what the hardware must do when the
// process dies and the kernel releases the lines.
//
// The LAN link sensor reads /sys/class/net/IFACE/carrier. Audio is not opened
// here unless the caller passes an opener with WithAudio (the backend never
// imports another backend).
//
// What does not live here: hook/flash/pulse decoding and ring cadence (package
// fxs), the simulated board (hal/sim), ALSA (hal/alsa). The package builds on
// Linux only; elsewhere it holds just this documentation.
package gpio
