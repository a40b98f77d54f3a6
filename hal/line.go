package hal

import (
	"errors"
	"time"
)

// HookEvent is one debounced change of an FXS line's loop state, as the
// hardware reported it. At is the kernel's monotonic timestamp of the edge
// (never the time the event reached user space), Seq the line's event
// sequence number: a gap between consecutive Seq values means the kernel or
// the backend lost events and the consumer must re-read the hook state.
type HookEvent struct {
	Port    int
	OffHook bool          // loop state after the edge: true = loop closed (off-hook)
	At      time.Duration // monotonic, same base as Clock.Now
	Seq     uint32        // per-line sequence number, starting at 1
}

// RingDrive says how a board's SLIC produces ringing voltage.
type RingDrive int

const (
	// RingEnable boards have a ring-enable input: while it is asserted the
	// SLIC or a ring generator puts ringing voltage on the line by itself.
	RingEnable RingDrive = iota
	// RingToggle boards put the SLIC in ring mode with SetRing and make the
	// ring waveform by toggling line polarity (the forward/reverse input) at
	// the ring frequency; the FXS engine does the toggling.
	RingToggle
)

func (d RingDrive) String() string {
	switch d {
	case RingEnable:
		return "enable"
	case RingToggle:
		return "toggle"
	}
	return "unknown"
}

// Line is one FXS port's signalling: hook detection in, ringing and polarity
// out. Implementations must be safe for concurrent use.
type Line interface {
	// Port is the port id from the configuration.
	Port() int
	// Events delivers hook edges in order. The backend never blocks on a
	// full channel; it drops the event (the consumer sees a Seq gap).
	Events() <-chan HookEvent
	// OffHook reads the current debounced loop state.
	OffHook() (bool, error)
	// RingDrive tells the FXS engine how to ring this line.
	RingDrive() RingDrive
	// SetRing asserts or releases the ring output (ring enable, or ring mode
	// on RingToggle boards).
	SetRing(on bool) error
	// SetReverse sets line polarity: false = forward (normal), true =
	// reversed. Used for caller-ID signalling, answer supervision and, on
	// RingToggle boards, to make the ring waveform.
	SetReverse(reversed bool) error
}

// Relay is a port's lifeline relay. In bypass (its de-energised, safe state)
// the handset is wired straight to the PSTN line; energised, the handset is
// on the board's SLIC.
type Relay interface {
	// SetBypass puts the port on the PSTN line (true) or on the board (false).
	SetBypass(bypass bool) error
	// Bypass reports the relay's commanded state.
	Bypass() bool
}

// PowerState is the board's supply as last sensed.
type PowerState struct {
	Mains      bool          // mains present
	BatteryLow bool          // the UPS says the battery is nearly empty
	At         time.Duration // monotonic time of the reading
}

// PowerSensor reports the board's supply.
type PowerSensor interface {
	// Power returns the current state.
	Power() (PowerState, error)
	// Events delivers every change, never blocking the backend.
	Events() <-chan PowerState
}

// LinkState is the LAN link as last sensed.
type LinkState struct {
	Up bool
	At time.Duration
}

// LinkSensor reports the LAN link (carrier) state.
type LinkSensor interface {
	Link() (LinkState, error)
	Events() <-chan LinkState
}

// ErrClosed is returned by operations on a closed device.
var ErrClosed = errors.New("hal: device closed")
