// Package hook decodes an FXS line's timestamped loop edges into what the
// porter did: lifted the handset (seize), dialled a digit on a rotary dial
// (loop-disconnect pulses), pressed recall (a timed break, "flash"), or hung
// up (clear). It works only from the edge timestamps the hardware gave
// (hal.HookEvent.At), never from when an event happened to arrive, and keeps
// no timers of its own: the caller asks for the next Deadline and calls
// Expire when it has passed, so the decoder runs the same under a manual
// clock.
//
// It does not read the line, own a goroutine or know what a digit means.
package hook
