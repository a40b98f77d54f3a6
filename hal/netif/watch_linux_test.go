//go:build linux

package netif

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// wait reads a subscription until a state matches (the newest state wins
// on the channel, so a state in passing may be skipped, never the last).
func wait(t *testing.T, ch <-chan State, what string, ok func(State) bool) State {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no event: %s", what)
		}
	}
}

// A real interface (one end of a veth pair): its carrier and its addresses
// are seen as the kernel announces them.
func TestWatchSeesCarrierAndAddresses(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.LookTool(t, "ip", "iproute2")
	a, b := fmt.Sprintf("clw%da", os.Getpid()%100000), fmt.Sprintf("clw%db", os.Getpid()%100000)
	ip(t, "link", "add", a, "type", "veth", "peer", "name", b)
	t.Cleanup(func() { exec.Command("ip", "link", "del", a).Run() })
	w, err := Watch([]string{a}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if s := w.State(a); !s.Exists || s.Up || s.Usable() || s.Why() == "" {
		t.Fatalf("a new veth end, down: %+v", s)
	}
	ch := w.Subscribe(a)
	link := w.Link(a, nil)
	ip(t, "link", "set", b, "up")
	ip(t, "link", "set", a, "up")
	wait(t, ch, "carrier up", func(s State) bool { return s.Up })
	select {
	case ls := <-link.Events():
		if !ls.Up {
			t.Fatalf("link sensor: %+v", ls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no link event")
	}
	ip(t, "addr", "add", "192.0.2.77/24", "dev", a)
	s := wait(t, ch, "an address", func(s State) bool { return s.Usable() })
	if s.Addr() != netip.MustParseAddr("192.0.2.77") {
		t.Fatalf("address %v", s.Addr())
	}
	// A re-established session with another address.
	ip(t, "addr", "del", "192.0.2.77/24", "dev", a)
	ip(t, "addr", "add", "192.0.2.78/24", "dev", a)
	wait(t, ch, "the new address", func(s State) bool { return s.Addr() == netip.MustParseAddr("192.0.2.78") && len(s.Addrs) == 1 })
	// The far end goes away: no carrier.
	ip(t, "link", "set", b, "down")
	s = wait(t, ch, "carrier lost", func(s State) bool { return !s.Up })
	if !strings.Contains(s.Why(), "no carrier") {
		t.Fatalf("why: %q", s.Why())
	}
	if ls, _ := link.Link(); ls.Up {
		t.Fatal("link sensor still up")
	}
	ip(t, "link", "del", a)
	wait(t, ch, "interface gone", func(s State) bool { return !s.Exists })
}
