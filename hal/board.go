package hal

// Port is one FXS port's hardware: its line signalling, its lifeline relay
// and its audio device.
type Port struct {
	ID    int
	Line  Line
	Relay Relay
	Audio PCM
}

// Board is an opened board: every port plus the board-wide sensors. Close
// puts every relay into bypass before releasing anything.
type Board interface {
	// Kind is the backend's name ("sim", "gpio").
	Kind() string
	Ports() []Port
	Power() PowerSensor
	Link() LinkSensor
	Close() error
}
