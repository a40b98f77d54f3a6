package hal

// LineInUse is implemented by a Relay whose board can sense a handset
// off-hook on the PSTN side of the relay (a line-in-use detector, as an FXO
// port or a loop-current sensor provides). In bypass the SLIC cannot see the
// handset, so this is the only way to know a PSTN call is up: the appliance
// leaves bypass only when it reports false. Boards without it are taken at
// their hook input's word, which in bypass always reads on-hook.
type LineInUse interface {
	LineInUse() (bool, error)
}
