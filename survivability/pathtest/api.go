package pathtest

// What the tests need of the appliance, and the types it answers with.
// survivability.Appliance implements Appliance; this package imports
// nothing of survivability, so the configuration checks (which decode
// [survivability.path_tests]) stay light.

import (
	"context"
	"errors"
	"time"

	"github.com/critline/critline/hal"
)

// Appliance places test calls and reads copper lines.
type Appliance interface {
	// TestIdle says whether a test may start: no handset off-hook, no
	// port ringing or in a call, no trunk carrying a call; why says what
	// is in use.
	TestIdle() (idle bool, why string)
	// PlaceTestCall dials number on exactly one rung (kind KindTrunk or
	// KindRegistrar, and the rung's configured name), never along the
	// ladder, and returns once the call is under way.
	PlaceTestCall(ctx context.Context, kind, route, number string) (Call, error)
	// CheckCopper reads the copper line behind a port's relay, moving the
	// relay to the line for a moment if need be.
	CheckCopper(ctx context.Context, port int) (CopperReading, error)
	// CanSenseCopper says whether the board can read that line at all.
	CanSenseCopper(port int) bool
	// OnActivity calls f (which must not block) whenever a porter does
	// something a test must give way to; cancel unregisters it.
	OnActivity(f func(why string)) (cancel func())
}

// EventKind says what happened to a test call.
type EventKind int

const (
	// Alerting: the far end rings.
	Alerting EventKind = iota + 1
	// Answered: the far end answered; Call.Media carries its audio.
	Answered
	// Digit: the far end sent a DTMF digit.
	Digit
	// Ended: the call is over (Err says why; nil for a normal clear). It
	// is the last event.
	Ended
)

func (k EventKind) String() string {
	switch k {
	case Alerting:
		return "alerting"
	case Answered:
		return "answered"
	case Digit:
		return "digit"
	case Ended:
		return "ended"
	}
	return "unknown"
}

// Event is one thing a test call reports.
type Event struct {
	Kind  EventKind
	Digit rune  // Digit
	Err   error // Ended: nil for a normal clear, else why (ErrPreempted, hal.ErrBusy...)
	At    time.Time
}

// Media is a call's audio, one 20 ms frame at a time.
type Media interface {
	ReadFrame(f *hal.Frame) error
	WriteFrame(f *hal.Frame) error
}

// Call is a test call on one rung.
type Call interface {
	// Events reports the call's progress; Ended is the last event and
	// the channel is closed after it.
	Events() <-chan Event
	// Media is the call's audio once answered; nil before, and nil for a
	// route whose audio the appliance cannot hear (a trunk wired to the
	// line in analogue).
	Media() Media
	// SendDTMF sends digits to the far end (ErrNoDTMF when this call
	// takes none out of band).
	SendDTMF(digits string) error
	// Hangup clears the call; calling it again does nothing.
	Hangup() error
	// From says what the call was placed as ("line 270001", "trunk lte").
	From() string
}

// CopperReading is what a copper check found.
type CopperReading struct {
	// Volts is the line's voltage: the exchange's battery on a live line
	// with the handset on the hook (about 50 V), a few volts with a
	// handset off-hook on it, about 0 on a dead line.
	Volts float64
	// Moved: the relay was moved to the line for the check (false: it
	// was in bypass already).
	Moved bool
	// OnLine is how long the handset was on the line for the check.
	OnLine time.Duration
	// Restored: the relay is where the port's mode wants it again (a
	// handset lifted on the line meanwhile keeps it there until
	// replaced).
	Restored bool
}

// Errors the appliance answers with.
var (
	// ErrPreempted ends a test whose route a porter's call wanted, or a
	// copper check a call arrived during.
	ErrPreempted = errors.New("pre-empted: a porter's call needed the route")
	// ErrNoDTMF: the call takes no out-of-band DTMF.
	ErrNoDTMF = errors.New("the far end took no DTMF events")
	// ErrRouteBusy: the route (or a port) is in use now.
	ErrRouteBusy = errors.New("in use")
	// ErrNoSuchRoute names a rung or port that is not configured.
	ErrNoSuchRoute = errors.New("no such route")
	// ErrBlocked: the toll-fraud guard refused the number on this trunk.
	ErrBlocked = errors.New("refused by the toll-fraud guard")
	// ErrCannotSense: the board has no sensor on the line behind the
	// port's relay.
	ErrCannotSense = errors.New("the board cannot sense the line behind this relay")
	// ErrNoCopper: the port has no copper line behind its relay.
	ErrNoCopper = errors.New("no copper line behind the relay (behind_relay = \"none\")")
)
