// Package modemsim is a simulated cellular modem (SIM7600-like, with
// Quectel and plain 27.007 dialects) on real Linux ptys: an AT port and a
// PCM voice port (8 kHz s16le, 20 ms chunks), each published under a stable
// symlink that survives the simulator "vanishing" (USB unplug) and
// "returning" (re-enumeration) on a new /dev/pts/N. It answers the AT
// commands hal/modem uses and the common others, rings with caller ID,
// reports call progress, carries voice both ways, and is steered through
// Sim.Control (the verbs of `critlinectl sim trunk ...`) or its Go methods:
// ring, far-end answer/reject/busy/no answer, network loss, wedge, garbage,
// slow answers, echo, vanish and return, signal level, voice gaps. Like a
// mobile network it keeps two calls per subscriber (one waiting or held)
// and carries the supplementary services the driver uses: call waiting
// (+CCWA), call hold and explicit call transfer (+CHLD), call deflection
// (+CTFR); the verb `service` makes the network refuse any of them with
// the +CME ERROR a real network gives, or the module lack the command. It
// answers the data-connection commands the driver dials with (AT$QCRMCALL,
// AT+QNETDEVCTL, AT+CGACT, AT+CGDCONT, the USB network mode) and the verb
// `data` drops, refuses or slows the session; it moves no packets (tests
// give the board a real interface for that).
//
// It is a product feature (demos, training, field dry runs) and the peer of
// hal/modem's tests. It knows nothing of critline above the hal: no routing,
// no SIP. The simulated board's lines and audio live in hal/sim.
package modemsim
