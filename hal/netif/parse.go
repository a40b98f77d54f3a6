package netif

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// rtnetlink message types this package follows (linux/rtnetlink.h).
const (
	rtmNewLink = 16
	rtmDelLink = 17
	rtmNewAddr = 20
	rtmDelAddr = 21
)

// event is one rtnetlink notification: its type and the interface index it
// is about.
type event struct {
	Type  uint16
	Index int32
}

// parseEvents splits a netlink datagram into the link and address
// notifications it carries. A message of another type is skipped; a
// truncated or malformed one ends the datagram with an error (what came
// before it is kept).
func parseEvents(b []byte) ([]event, error) {
	var out []event
	for len(b) > 0 {
		if len(b) < 16 {
			return out, fmt.Errorf("netif: %d bytes left, shorter than a netlink header", len(b))
		}
		n := binary.NativeEndian.Uint32(b[0:4])
		typ := binary.NativeEndian.Uint16(b[4:6])
		if n < 16 || int(n) > len(b) {
			return out, fmt.Errorf("netif: message length %d does not fit the %d bytes left", n, len(b))
		}
		body := b[16:n]
		switch typ {
		case rtmNewLink, rtmDelLink:
			// struct ifinfomsg: family, pad, type (u16), index (s32), ...
			if len(body) < 16 {
				return out, errors.New("netif: link message too short")
			}
			out = append(out, event{Type: typ, Index: int32(binary.NativeEndian.Uint32(body[4:8]))})
		case rtmNewAddr, rtmDelAddr:
			// struct ifaddrmsg: family, prefixlen, flags, scope (u8 each), index (u32)
			if len(body) < 8 {
				return out, errors.New("netif: address message too short")
			}
			out = append(out, event{Type: typ, Index: int32(binary.NativeEndian.Uint32(body[4:8]))})
		}
		// Messages are 4-byte aligned.
		adv := (int(n) + 3) &^ 3
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return out, nil
}
