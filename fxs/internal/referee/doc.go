// Package referee wraps the few libspandsp functions the fxs tests use as
// an outside judge of the audio a port produces: adsi_rx (caller ID) and
// dtmf_tx (DTMF keyed into the handset). It is built only with the
// "spandsp" tag (cgo, Debian's libspandsp-dev) and imported only by tests.
//
// It mirrors part of fxs/dsp/internal/spandsp, which Go's internal rule
// keeps out of reach of package fxs.
package referee
