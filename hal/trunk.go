package hal

import (
	"context"
	"errors"
	"time"
)

// TrunkEventKind says what happened on a trunk.
type TrunkEventKind int

const (
	// TrunkIncoming: an inbound call is ringing; CallerID and Presentation
	// say who (the first event of a call; repeated rings are not events).
	TrunkIncoming TrunkEventKind = iota + 1
	// TrunkAlerting: an outbound call is ringing at the far end.
	TrunkAlerting
	// TrunkAnswered: the call (either direction) is connected.
	TrunkAnswered
	// TrunkEnded: the call is over; Reason says why.
	TrunkEnded
	// TrunkDigit: the far end sent a DTMF digit (Digit).
	TrunkDigit
	// TrunkState: the trunk's status changed (Status).
	TrunkState
	// TrunkWaiting: a second call arrived during a call (call waiting);
	// CallerID and Presentation say who. It rings nowhere until the
	// consumer acts (TrunkServices.Hold, Deflect) or the caller gives up
	// (TrunkEnded). If the other call ends first, the network offers it as
	// an ordinary call: TrunkIncoming follows with the same Call.
	TrunkWaiting
	// TrunkHeld: the call is on hold (TrunkServices.Hold, Transfer): the
	// trunk's audio no longer carries it. TrunkAnswered says it is back.
	TrunkHeld
)

func (k TrunkEventKind) String() string {
	switch k {
	case TrunkIncoming:
		return "incoming"
	case TrunkAlerting:
		return "alerting"
	case TrunkAnswered:
		return "answered"
	case TrunkEnded:
		return "ended"
	case TrunkDigit:
		return "digit"
	case TrunkState:
		return "state"
	case TrunkWaiting:
		return "waiting"
	case TrunkHeld:
		return "held"
	}
	return "unknown"
}

// Presentation is how the network presented the caller's number.
type Presentation int

const (
	PresentationAllowed     Presentation = iota // number given
	PresentationWithheld                        // caller withheld it ("P", private)
	PresentationUnavailable                     // network could not give it ("O", out of area)
)

// TrunkCallID names one call on a trunk. A trunk gives each call (dialled
// or offered) its own, never reused while the trunk lives, and every event
// of that call carries it, so the consumer can tell a late report of an
// old call (its end, after a pre-emption or a hang-up) from the next call's.
// Zero is no call.
type TrunkCallID uint64

// TrunkEvent is one thing a trunk reports.
type TrunkEvent struct {
	Kind         TrunkEventKind
	Call         TrunkCallID  // the call the event is about; 0 for TrunkState
	CallerID     string       // TrunkIncoming, TrunkWaiting
	CallerName   string       // TrunkIncoming, TrunkWaiting, when the network sends one
	Presentation Presentation // TrunkIncoming, TrunkWaiting
	Reason       error        // TrunkEnded: nil for a normal clear, else one of the Err* below (wrapped)
	Digit        rune         // TrunkDigit
	Status       TrunkStatus  // TrunkState
	At           time.Time
}

// NetworkService is what the network in reach lets a trunk do.
type NetworkService int

const (
	// ServiceNone: no network in reach (or not known yet): no call at all.
	ServiceNone NetworkService = iota
	// ServiceLimited: not registered, but a network is in reach that takes
	// emergency calls (3GPP TS 23.122 "limited service": no SIM, SIM
	// refused, roaming not allowed...): emergency numbers only.
	ServiceLimited
	// ServiceFull: registered (home or roaming), or an analogue line
	// present: any call.
	ServiceFull
)

func (s NetworkService) String() string {
	switch s {
	case ServiceLimited:
		return "limited"
	case ServiceFull:
		return "full"
	}
	return "none"
}

// TrunkStatus is a trunk's health as the NOC and the router see it.
type TrunkStatus struct {
	Up         bool // the device answers and is usable
	Registered bool // registered on the network (cellular) or line present (analogue)
	// Service is what the network lets the trunk do now: a trunk carries
	// an ordinary call only with Up and ServiceFull, an emergency call
	// with Up and ServiceLimited or better.
	Service   NetworkService
	Operator  string  // network name, when known
	SignalDBm float64 // received signal strength; 0 when unknown
	InCall    bool
	Detail    string // human-readable reason when not Up
}

// CanCall reports whether the trunk can place an ordinary call now.
func (s TrunkStatus) CanCall() bool { return s.Up && s.Service == ServiceFull }

// CanCallEmergency reports whether the trunk can place an emergency call
// now (registered, or in limited service).
func (s TrunkStatus) CanCallEmergency() bool { return s.Up && s.Service >= ServiceLimited }

// Errors a trunk reports for a call attempt or a call's end, so the router
// can tell a busy number from a broken trunk and move to the next rung.
var (
	ErrTrunkDown  = errors.New("trunk down")
	ErrTrunkBusy  = errors.New("trunk already in a call")
	ErrBusy       = errors.New("called number busy")
	ErrNoAnswer   = errors.New("no answer")
	ErrNoCarrier  = errors.New("no carrier")
	ErrNoDialtone = errors.New("no dial tone")
	ErrRejected   = errors.New("call rejected by the network")
)

// Trunk is a PSTN trunk carrying one call at a time: a cellular or
// analogue-line modem, or an FXO port. A trunk that also implements
// TrunkServices may hold a second call (waiting or held); the methods here
// then act on the call in the foreground (ringing, dialling or connected).
type Trunk interface {
	// Name is the trunk's configured name.
	Name() string
	// Dial starts an outbound call to number. It returns once the trunk has
	// accepted the attempt, with the call's identity; progress arrives as
	// events carrying it (some may be delivered before Dial returns). A
	// refused attempt returns an error and no event follows.
	Dial(ctx context.Context, number string) (TrunkCallID, error)
	// Answer picks up the ringing inbound call id (from its
	// TrunkIncoming); it fails when that call is no longer ringing.
	Answer(ctx context.Context, id TrunkCallID) error
	// Hangup clears call id (or rejects it while it rings). A call that is
	// already over is left alone, whatever the trunk carries now: a late
	// hang-up never clears the next call.
	Hangup(ctx context.Context, id TrunkCallID) error
	// SendDTMF sends digits in the current call.
	SendDTMF(ctx context.Context, digits string) error
	// Events delivers the trunk's events; it is closed by Close.
	Events() <-chan TrunkEvent
	// Status returns the latest known status without touching the device.
	Status() TrunkStatus
	// Audio is the call's voice stream, or nil when the board wires the
	// trunk's audio to the line in analogue.
	Audio() PCM
	// Close releases the device.
	Close() error
}
