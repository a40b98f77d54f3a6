package hal

import (
	"context"
	"errors"
	"time"
)

// Supplementary services: what a trunk's network can do with a call besides
// answer and clear it (3GPP TS 22.004). A cellular network offers them to
// the subscriber; an analogue line offers its own through the exchange and
// is not driven here.

// TrunkService names a network service a trunk may offer.
type TrunkService string

// The services critline uses.
const (
	// ServiceDeflection sends a ringing or waiting call to another number
	// without answering it (call deflection, 3GPP TS 22.072; AT+CTFR,
	// TS 27.007 7.14).
	ServiceDeflection TrunkService = "deflection"
	// ServiceHold puts the active call on hold and connects the other one,
	// waiting or held (call hold, TS 22.083; AT+CHLD=2, TS 27.007 7.13).
	ServiceHold TrunkService = "hold"
	// ServiceTransfer joins the held call to the other one and leaves both
	// (explicit call transfer, TS 22.091; AT+CHLD=4).
	ServiceTransfer TrunkService = "transfer"
	// ServiceCallWaiting tells of a second caller during a call instead of
	// giving them busy (call waiting, TS 22.083; AT+CCWA, TS 27.007 7.12).
	ServiceCallWaiting TrunkService = "call-waiting"
)

// TrunkServiceNames lists the services in the order status shows them.
func TrunkServiceNames() []TrunkService {
	return []TrunkService{ServiceDeflection, ServiceHold, ServiceTransfer, ServiceCallWaiting}
}

// ServiceSupport is how far a supplementary service is known to work.
type ServiceSupport string

// Support of a service.
const (
	// SupportUnknown: not found out yet (the trunk is down or starting).
	SupportUnknown ServiceSupport = "unknown"
	// SupportAbsent: the module does not have the command.
	SupportAbsent ServiceSupport = "unsupported"
	// SupportAvailable: the module has it and the network has not refused
	// it since the last registration change. Whether the network carries
	// it is known only once it has been used (27.007 has no query for it).
	SupportAvailable ServiceSupport = "available"
	// SupportWorking: the network carried it since the last registration
	// change.
	SupportWorking ServiceSupport = "working"
	// SupportRefused: the network refused it (Detail has the error); it is
	// tried again after the next registration change.
	SupportRefused ServiceSupport = "refused"
)

// ServiceStatus is one service's state.
type ServiceStatus struct {
	Service TrunkService
	Support ServiceSupport
	Detail  string    // the refusal as the module gave it, or why support is unknown
	Since   time.Time // when Support was last changed
}

// Usable reports whether the service is worth trying.
func (s ServiceStatus) Usable() bool {
	return s.Support == SupportAvailable || s.Support == SupportWorking
}

// Errors of supplementary services, wrapped by TrunkServices methods.
var (
	// ErrServiceRefused: the network refused the service (+CME ERROR 3
	// "operation not allowed", 257 "network rejected request", 262
	// "service not available", ...). The service is marked refused.
	ErrServiceRefused = errors.New("service refused by the network")
	// ErrServiceUnsupported: the module has no such command, or the
	// service was refused before and not yet found again.
	ErrServiceUnsupported = errors.New("service not offered on this trunk")
	// ErrBadTarget: the network refused the number to deflect or transfer
	// to (+CME ERROR 259 "invalid deflected to number", 260 "deflected to
	// own number", or a failed call to it); the service itself works.
	ErrBadTarget = errors.New("target number refused")
	// ErrNoSuchCall: the call is not in a state the operation applies to
	// (over, or not ringing, waiting, held or active as needed).
	ErrNoSuchCall = errors.New("no such call on the trunk")
)

// HoldOp is a call-hold operation on a trunk's calls, as 3GPP TS 22.030
// numbers them ("n SEND" on a mobile, R n on a network line) and AT+CHLD=n
// sends them. It acts on the state of both calls together.
type HoldOp int

// Hold operations.
const (
	// HoldReleaseOther releases the held call, or, when a call is waiting,
	// rejects it (user determined user busy: the caller hears busy or is
	// forwarded on busy).
	HoldReleaseOther HoldOp = 0
	// HoldReleaseActive releases the active call and connects the other
	// (waiting or held) one.
	HoldReleaseActive HoldOp = 1
	// HoldSwap holds the active call and connects the other (waiting or
	// held) one; with a held call alone it retrieves it.
	HoldSwap HoldOp = 2
	// HoldConference joins the held call to the active one (multiparty).
	HoldConference HoldOp = 3
	// HoldTransfer joins the two calls to each other and leaves both
	// (explicit call transfer).
	HoldTransfer HoldOp = 4
)

func (o HoldOp) String() string {
	switch o {
	case HoldReleaseOther:
		return "release-other"
	case HoldReleaseActive:
		return "release-active"
	case HoldSwap:
		return "swap"
	case HoldConference:
		return "conference"
	case HoldTransfer:
		return "transfer"
	}
	return "hold-op(?)"
}

// TrunkServices is implemented by trunks whose network offers supplementary
// services (a cellular modem); find it with a type assertion on the
// hal.Trunk. Calls are named by TrunkEvent.Call. Results arrive as events
// as well: a deflected or transferred call ends (TrunkEnded, Reason nil), a
// held call reports TrunkHeld, a connected one TrunkAnswered.
type TrunkServices interface {
	// Services reports what the trunk found out about each service.
	Services() []ServiceStatus
	// Deflect sends the ringing or waiting call to number without
	// answering it.
	Deflect(ctx context.Context, call TrunkCallID, number string) error
	// Hold applies a call-hold operation to the trunk's calls.
	Hold(ctx context.Context, op HoldOp) error
	// Release clears one call, leaving the other.
	Release(ctx context.Context, call TrunkCallID) error
	// Transfer hands the connected call to number: it is held, number is
	// dialled, and once that call rings or answers the two are joined and
	// the trunk leaves both. If number cannot be reached the call is
	// connected again and the error says why.
	Transfer(ctx context.Context, call TrunkCallID, number string) error
}
