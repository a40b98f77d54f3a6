package sip

import (
	"errors"
	"fmt"
)

// Errors a call attempt or a registration reports. Test them with
// errors.Is; a *StatusError carries the response code.
var (
	// ErrTimeout: no response within the deadline (the first-response
	// deadline for INVITE, RegisterTimeout for REGISTER).
	ErrTimeout = errors.New("sip: no response in time")
	// ErrTransport: the request could not be sent or the connection failed.
	ErrTransport = errors.New("sip: transport error")
	// ErrServerFailure: a 5xx response.
	ErrServerFailure = errors.New("sip: server failure (5xx)")
	// ErrRejected: a 4xx or 6xx response (busy, not found, declined...).
	ErrRejected = errors.New("sip: rejected (4xx/6xx)")
	// ErrAuth: the registrar refused the line's credentials (403, or a
	// second challenge after we answered the first).
	ErrAuth = errors.New("sip: credentials refused")
	// ErrCanceled: we ended the attempt (Hangup or the context).
	ErrCanceled = errors.New("sip: canceled locally")
	// ErrUnknownPort: no line is configured for the port.
	ErrUnknownPort = errors.New("sip: no line for this port")
	// ErrUnknownRegistrar: no registrar by that name.
	ErrUnknownRegistrar = errors.New("sip: no such registrar")
	// ErrNoRegistrar: the line is registered nowhere and no registrar is up.
	ErrNoRegistrar = errors.New("sip: no registrar available")
	// ErrDecided: the inbound call was already answered, rejected or redirected.
	ErrDecided = errors.New("sip: call already decided")
)

// StatusError is a final non-2xx response.
type StatusError struct {
	Code      int
	Reason    string
	Registrar string
	// Targets are a redirection's (3xx) Contact URIs, most preferred
	// first (redirect.go).
	Targets []string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sip: %d %s from registrar %s", e.Code, e.Reason, e.Registrar)
}

// Is makes errors.Is(err, ErrServerFailure / ErrRejected) work.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrServerFailure:
		return e.Code >= 500 && e.Code < 600
	case ErrRejected:
		return e.Code >= 400 && e.Code < 500 || e.Code >= 600
	}
	return false
}
