// Package sim is the simulated board: every hal interface implemented in
// memory, with the same debounce and timestamp behaviour as the kernel's GPIO
// character device, so code above cannot tell it from hardware except by
// speed. It is a product feature (demos, training, field dry runs), driven by
// `critlinectl sim ...` through the daemon, and the board unit tests run on.
//
// The simulated modem lives apart, in hal/sim/modemsim, on a real pty so the
// serial code path is always the real one. Nothing here knows about tones,
// digits, SIP or routing: the board only moves levels and samples. The one
// exception is the handsets themselves: they are caller-display telephones
// that answer the alert of caller ID on call waiting with DTMF D, as such a
// phone does (handset.go).
package sim
