// Package hal holds critline's hardware contracts: small interfaces for an FXS
// line (hook events, ring, polarity, loop power), the lifeline relay, power
// sensing, LAN link sensing, a PCM audio stream (8 kHz, signed 16-bit, mono,
// 20 ms frames paced by the device, optionally Pausable so an idle port's
// device can stop), a PSTN trunk and, optionally, its module's data
// connection (DataBearer: the board's second IP path), plus the clock every
// timestamp and timer above the backends comes from.
//
// Nothing here touches hardware and nothing here imports another critline
// package. Backends live in sub-packages (hal/gpio, hal/alsa, hal/modem,
// hal/sim) and are imported only by cmd (wiring) and by tests; the logic above
// (fxs, sip, survivability) sees only these interfaces, so it runs the same on
// a real board, on the simulated board and under a manual clock in unit tests.
package hal
