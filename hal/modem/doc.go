// Package modem drives a PSTN trunk made of an AT-command modem on a serial
// port: a cellular module (SIMCom SIM7600, Quectel EC25 class) or an
// analogue-line voice modem. It holds the AT engine (one writer, one reader,
// per-command timeouts, final results matched to the command in flight,
// unsolicited results delivered as events even inside a response), the
// lifecycle that keeps the modem usable (init, liveness probe, reopen with
// backoff after a wedge, an unplug or a USB re-enumeration), the call state
// machine (two calls: one connected, one waiting or held), the network's
// supplementary services (call deflection, hold, explicit call transfer and
// call waiting, found out at start and on every registration change), the
// voice stream over the module's PCM serial port, and the module's data
// connection (its network-device mode's data call, dialled on the same AT
// port and kept up: data.go), all behind hal.Trunk, hal.TrunkServices,
// hal.PCM and hal.DataBearer.
//
// What does not live here: routing (which trunk, which number is allowed),
// tones and DTMF detection in audio (fxs/dsp), and the modem simulator
// (hal/sim/modemsim), which is this package's test peer.
package modem
