package netif

import (
	"encoding/binary"
	"testing"
)

func msg(typ uint16, body []byte) []byte {
	n := 16 + len(body)
	b := make([]byte, (n+3)&^3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[16:], body)
	return b
}

func TestParseEvents(t *testing.T) {
	link := make([]byte, 16)
	binary.NativeEndian.PutUint32(link[4:8], 7)
	addr := make([]byte, 9) // odd length: the next message starts aligned
	binary.NativeEndian.PutUint32(addr[4:8], 9)
	var b []byte
	b = append(b, msg(rtmNewLink, link)...)
	b = append(b, msg(3, nil)...) // NLMSG_DONE: skipped
	b = append(b, msg(rtmDelAddr, addr)...)
	evs, err := parseEvents(b)
	if err != nil || len(evs) != 2 || evs[0] != (event{rtmNewLink, 7}) || evs[1] != (event{rtmDelAddr, 9}) {
		t.Fatalf("%+v %v", evs, err)
	}
	if _, err := parseEvents(b[:20]); err == nil {
		t.Fatal("a truncated message was accepted")
	}
	if _, err := parseEvents(msg(rtmNewLink, link[:4])); err == nil {
		t.Fatal("a short link message was accepted")
	}
}

// Netlink datagrams come from the kernel, but nothing in them may panic
// the watcher.
func FuzzParseEvents(f *testing.F) {
	link := make([]byte, 16)
	f.Add(msg(rtmNewLink, link))
	f.Add(msg(rtmNewAddr, link[:8]))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 20, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseEvents(b)
	})
}
