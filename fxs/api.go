package fxs

import (
	"context"
	"errors"
	"fmt"

	"github.com/critline/critline/hal"
)

// Media is a call's audio stream as the port pumps it: one frame written
// (from the handset's microphone) and one frame read (for the earpiece)
// every 20 ms, paced by the port's own device. Neither call may block for
// more than a fraction of a frame: when the far end has nothing ready,
// ReadFrame fills silence or concealment (a jitter buffer's job). A
// hal.PCM satisfies Media.
type Media interface {
	ReadFrame(f *hal.Frame) error
	WriteFrame(f *hal.Frame) error
}

// RouteRequest is a dialled number the port wants connected.
type RouteRequest struct {
	Port      int    // the port's id
	Number    string // the digits dialled ('#' never included)
	Emergency bool   // the number is one of Config.Emergency
}

// Router decides where a dialled number goes and starts the call. The port
// calls Route from its own worker goroutine, never while holding its lock,
// so Route may block while the attempt starts; it should return as soon as
// the attempt is under way and report progress through the Progress it is
// given (which may already be called before Route returns). ctx is
// cancelled when the porter hangs up before Route returns.
//
// An error from Route fails the call: a *CallError says which tone to play
// (busy, congestion, number unobtainable); any other error plays congestion.
type Router interface {
	Route(ctx context.Context, req RouteRequest, progress Progress) (Call, error)
}

// Call is the port's handle on a call (either direction). The port calls
// its methods from its worker goroutine, never holding its lock, in order.
type Call interface {
	// Hangup clears the call: the porter hung up. It is called at most once,
	// and not after the call reported CallEnded or CallFailed.
	Hangup() error
}

// InboundCall is a call offered to the port with Offer.
type InboundCall interface {
	Call
	// Answer is called when the porter lifts the handset; it returns the
	// media stream to pump.
	Answer() (Media, error)
}

// Flasher is implemented by calls that take a recall (hook flash, "R")
// during the call: the port passes each recall on.
type Flasher interface {
	Flash() error
}

// DigitSender is implemented by calls that want digits dialled during the
// call (DTMF detected in the handset's audio, or pulses) out of band.
type DigitSender interface {
	SendDigit(digit rune) error
}

// CallState is what a call reports through Progress.
type CallState int

const (
	// CallAlerting: the far end is ringing; the port plays ringback.
	CallAlerting CallState = iota + 1
	// CallEarlyMedia: the far end sends audio before answering (Media).
	CallEarlyMedia
	// CallAnswered: the far end answered; Media (or the early media
	// stream, when Media is nil) carries the call. For a call already
	// connected (either direction), a non-nil Media replaces the stream the
	// port pumps (the far side moved, e.g. to another route).
	CallAnswered
	// CallFailed: the attempt failed before an answer; Reason says which
	// tone the porter hears.
	CallFailed
	// CallEnded: the far end cleared (or, for an offered call, the caller
	// gave up: ringing stops).
	CallEnded
)

func (s CallState) String() string {
	switch s {
	case CallAlerting:
		return "alerting"
	case CallEarlyMedia:
		return "early-media"
	case CallAnswered:
		return "answered"
	case CallFailed:
		return "failed"
	case CallEnded:
		return "ended"
	}
	return fmt.Sprintf("CallState(%d)", int(s))
}

// FailReason says why a call attempt failed, which picks the tone.
type FailReason int

const (
	// FailCongestion: no route or equipment available (congestion tone).
	// The zero value.
	FailCongestion FailReason = iota
	// FailBusy: the called number is busy (busy tone).
	FailBusy
	// FailUnobtainable: the number does not exist or is barred (number
	// unobtainable tone).
	FailUnobtainable
)

func (r FailReason) String() string {
	switch r {
	case FailCongestion:
		return "congestion"
	case FailBusy:
		return "busy"
	case FailUnobtainable:
		return "unobtainable"
	}
	return fmt.Sprintf("FailReason(%d)", int(r))
}

// CallUpdate is one progress report.
type CallUpdate struct {
	State  CallState
	Media  Media      // CallEarlyMedia, CallAnswered
	Reason FailReason // CallFailed
	Detail string     // free text for the event stream and logs
}

// Progress receives a call's updates. The port hands one to Router.Route
// for an outbound call and returns one from Offer for an inbound call. It is
// safe to call from any goroutine at any time, including from inside Route,
// Answer or Hangup; updates for a call the port has finished with are
// ignored.
type Progress interface {
	Update(u CallUpdate)
}

// CallError is an error a Router returns to say which tone to play.
type CallError struct {
	Reason FailReason
	Err    error
}

func (e *CallError) Error() string {
	if e.Err == nil {
		return "call failed: " + e.Reason.String()
	}
	return "call failed (" + e.Reason.String() + "): " + e.Err.Error()
}

func (e *CallError) Unwrap() error { return e.Err }

// Errors from Offer and SetCallWaiting.
var (
	// ErrBusy: the port is not idle (off-hook, ringing, or in a call), so
	// it cannot ring; the caller should divert or return busy.
	ErrBusy = errors.New("fxs: port busy")
	// ErrNotRunning: Run has not started or has returned.
	ErrNotRunning = errors.New("fxs: port not running")
	// ErrNotInCall: SetCallWaiting(true) on a port that is not in a call.
	ErrNotInCall = errors.New("fxs: port not in a call")
)
