package hal

import "time"

// DataState is where a modem's data connection (its packet-data bearer,
// seen by the kernel as a network interface of its own) is.
type DataState string

// Data connection states.
const (
	// DataDown: not connected (never yet, or lost); the trunk is
	// connecting it again with a backoff.
	DataDown DataState = "down"
	// DataConnecting: a connect command was accepted and the session is
	// being set up.
	DataConnecting DataState = "connecting"
	// DataUp: the module reports the data session connected.
	DataUp DataState = "up"
	// DataExternal: something else brings the bearer up (ModemManager, the
	// module's own auto-connect): the trunk does not dial it, the network
	// interface alone says whether it is there.
	DataExternal DataState = "external"
)

// DataStatus is a modem's data connection as the NOC and the path logic
// see it.
type DataStatus struct {
	State     DataState
	Interface string // the kernel's network interface it appears as ("wwan0")
	// Bearer says who brings it up: "at" (the trunk, by AT commands on the
	// port it already owns) or "external".
	Bearer string
	// USBMode is the module's network-device mode as it reports it ("ecm",
	// "rndis", "rmnet", "mbim"), "" when it does not say.
	USBMode  string
	Detail   string    // why it is not up, or how it came up
	Since    time.Time // of the last change of State
	Connects int       // sessions set up since the trunk started
}

// DataBearer is implemented by a trunk whose module also gives the board a
// second IP path: a data connection that appears as a network interface.
// The trunk keeps it up (or, with an external bearer, only reports it);
// voice calls keep using the same AT port, never fought over by a second
// program.
type DataBearer interface {
	DataStatus() DataStatus
	// DataEvents delivers every change of DataStatus (newest wins when the
	// reader falls behind); it is closed when the trunk closes.
	DataEvents() <-chan DataStatus
}
