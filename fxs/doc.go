// Package fxs is one analogue (FXS) port's engine: it makes a hal.Line and
// its hal.PCM audio device behave like a good exchange line. It decodes the
// hook (seize, clear, rotary pulses, timed-break recall) from the edges'
// timestamps, plays dial tone and every call-progress tone of the country
// profile, detects DTMF in the handset's audio, collects digits against a
// digit map with its timers, rings the line by the cadence on either board
// style (ring enable, or ring mode with polarity toggled at the ring
// frequency), sends caller ID where the standard puts it, tells a porter in
// a call of a second one (call-waiting tone, caller ID on call waiting with
// the handset's acknowledgement), turns R and a digit into the profile's
// recall action for calls that take them, and pumps audio frames between the
// device and the call's media stream. An idle or parked port whose device is
// a hal.Pausable rests: the device is stopped and the pump waits without a
// timer until a state that needs audio (off-hook, an offered call, a call)
// wakes it.
//
// The port asks a Router where a dialled number goes and accepts inbound
// calls through Offer; both speak the small interfaces in api.go. It never
// knows SIP, trunks, routes or metrics: those live in survivability, which
// implements Router and watches the port's events. Signal processing lives
// in fxs/dsp, the country data in fxs/profile, hook decoding in fxs/hook and
// dial plans in fxs/digitmap.
//
// Calls into the Router and Call run in order on the port's worker, never
// under the port's lock. A step that stalls beyond Config.StallAfter is
// abandoned so the port keeps taking and placing calls (Engine counts it);
// Probe proves the engine answers, for the daemon's watchdog.
package fxs
