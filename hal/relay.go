package hal

import "errors"

// LineInUse is implemented by a Relay whose board can sense a handset
// off-hook on the PSTN side of the relay (a line-in-use detector, as an FXO
// port or a loop-current sensor provides). In bypass the SLIC cannot see the
// handset, so this is the only way to know a PSTN call is up: the appliance
// leaves bypass only when it reports false. Boards without it are taken at
// their hook input's word, which in bypass always reads on-hook.
type LineInUse interface {
	LineInUse() (bool, error)
}

// LineSense is implemented by a Relay whose board can measure the copper
// line behind it: a line-voltage sense input wired, like the line-in-use
// detector, on the handset's side of the relay's contacts. It therefore
// reads the copper line only while the relay is in bypass (the handset on
// the line); on the board's side it would read the SLIC's own feed, and
// LineVoltage returns ErrNotInBypass. A live line reads its on-hook
// battery (about 48-52 V in the UK) or, with a handset off-hook on it, the
// loop voltage (a few volts); a cut or dead line reads about 0 V.
//
// Boards without it cannot prove the copper line: a path test of that
// line reports "cannot-test", never "ok".
type LineSense interface {
	LineVoltage() (volts float64, err error)
}

// ErrNotInBypass is returned by LineSense.LineVoltage while the relay has
// the handset on the board: the sensor sees the copper line only in bypass.
var ErrNotInBypass = errors.New("relay not in bypass: the line sensor sees the copper line only in bypass")
