// Package forwarding keeps each port's call forwarding (unconditional, on
// busy, on no answer after a ring time) and runs remote activation: a
// caller rings the appliance's service number, enters a port, that port's
// PIN and a forward-to number by DTMF, and hears a confirmation tone.
//
// Every change, whether from the field tool ("ctl"), remote activation
// ("remote") or the mobile network ("network"), is checked (forward-to
// numbers obey the toll-fraud guard; emergency numbers and the appliance's
// own numbers are refused), logged with who made it, counted, persisted
// (package store) and, for a port so configured, mirrored into the mobile
// network through a NetworkForwarder (e.g. AT+CCFC) without ever waiting
// for it.
//
// PINs are mandatory for remote activation (6 to 16 digits, not trivially
// guessable), held only as PBKDF2-SHA256 hashes and compared in constant
// time. MaxFailures wrong entries lock out both the caller's number and the
// port for the lockout time; lockouts and failure counts survive restarts;
// PIN attempts across all callers are rate-limited.
//
// The DTMF dialogue is a state machine (Dialogue) fed digits and timeouts
// that tells its caller which tone to play and when to hang up; Session
// drives one with an hal.Clock. Playing tones, answering and routing
// forwarded calls belong to the call router, not here.
package forwarding
