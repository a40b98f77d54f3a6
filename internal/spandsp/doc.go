// Package spandsp wraps the few parts of Debian's libspandsp (0.0.6) that
// the fxs and fxs/dsp tests use as a referee: dtmf_rx, dtmf_tx, adsi_rx and adsi_tx.
//
// It is test support only. Its cgo code builds only with the "spandsp" build
// tag (go test -tags spandsp, after apt-get install libspandsp-dev
// pkg-config gcc); without the tag the package is empty. Production code
// never imports it, so critline itself stays pure Go (CGO_ENABLED=0).
package spandsp
