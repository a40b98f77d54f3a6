package firmware

import "errors"

// Reasons a bundle, an install or a confirmation is refused. Every error the
// package returns wraps one of these (test with errors.Is) and says more.
var (
	ErrNotBundle      = errors.New("not a critline firmware bundle")
	ErrBadManifest    = errors.New("bad manifest")
	ErrBadSignature   = errors.New("bad signature")
	ErrUntrustedKey   = errors.New("signed by an untrusted key")
	ErrTruncated      = errors.New("bundle truncated")
	ErrTrailingData   = errors.New("bundle has data after its last payload")
	ErrPayloadDigest  = errors.New("payload digest mismatch")
	ErrWrongBoard     = errors.New("wrong board")
	ErrDowngrade      = errors.New("security version lower than installed (anti-rollback)")
	ErrSlotTooSmall   = errors.New("slot too small")
	ErrReadback       = errors.New("slot read-back mismatch")
	ErrCallUp         = errors.New("a call is up")
	ErrBusy           = errors.New("another firmware operation is running")
	ErrBadState       = errors.New("bad boot-state file")
	ErrNothingToDo    = errors.New("nothing to do")
	ErrRolledBack     = errors.New("trial slot failed its health check; rolled back")
	ErrNotImplemented = errors.New("not implemented")
)
