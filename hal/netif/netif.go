package netif

import (
	"net/netip"
	"slices"
)

// State is one interface as last read.
type State struct {
	Name   string
	Exists bool
	// Up: administratively up with carrier (IFF_UP and IFF_RUNNING).
	Up    bool
	Addrs []netip.Addr // IPv4 addresses, in the kernel's order
}

// Usable reports an interface that can carry traffic now: up with an
// address.
func (s State) Usable() bool { return s.Up && len(s.Addrs) > 0 }

// Addr is the interface's first IPv4 address (zero when none).
func (s State) Addr() netip.Addr {
	if len(s.Addrs) == 0 {
		return netip.Addr{}
	}
	return s.Addrs[0]
}

// Equal reports the same state.
func (s State) Equal(o State) bool {
	return s.Name == o.Name && s.Exists == o.Exists && s.Up == o.Up && slices.Equal(s.Addrs, o.Addrs)
}

// Why says, for a person, why the interface cannot carry traffic ("" when
// it can).
func (s State) Why() string {
	switch {
	case !s.Exists:
		return "interface " + s.Name + " not present"
	case !s.Up:
		return "interface " + s.Name + " down (no carrier)"
	case len(s.Addrs) == 0:
		return "interface " + s.Name + " has no IPv4 address"
	}
	return ""
}
