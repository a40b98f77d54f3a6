// Package forwarding keeps each port's call forwarding (unconditional, on
// busy, on no answer after a ring time) and runs remote activation: a
// member of staff rings the appliance (its SIP service extension, or a
// trunk from a staff number), keys their extension, its PIN and a
// forward-to number, hears the number read back, and confirms it.
//
// Every change, whether from the field tool ("ctl"), remote activation
// ("remote") or the mobile network ("network"), is checked (forward-to
// numbers obey the toll-fraud guard; emergency numbers and the appliance's
// own numbers are refused), logged with who made it, counted, persisted
// (package store) and, for the one port whose calls alone reach the
// trunk's SIM, mirrored into the mobile network through a
// NetworkForwarder (AT+CCFC) without ever waiting for it.
//
// PINs are mandatory for remote activation (6 to 16 digits, not trivially
// guessable), held only as PBKDF2-SHA256 hashes and compared in constant
// time. Defence is per calling number, never per port: each wrong entry
// makes that number wait twice as long as the last, MaxFailures lock it
// out, and each further lockout lasts twice as long. Withheld callers
// share one record; PIN checks across all callers (staff numbers
// excepted) are rate-limited. Every attempt is logged and counted; the
// records survive restarts; the operator can lift a lockout.
//
// The dialogue is a state machine (Dialogue) fed digits and timeouts that
// says which prompts to speak (or tones to play) and when to hang up or
// hand the call to the lodge; Session drives one with an hal.Clock.
// Speaking, answering and routing calls belong to the call router.
package forwarding
