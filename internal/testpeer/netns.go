package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// NetNS is a test host: a network namespace joined to this one by a veth
// pair, so a test can run a peer "across the LAN" and cut the cable.
// Addresses come from a /30 of TEST-NET-2 (198.51.100.0/24) chosen by the
// process id, so test binaries running side by side (go test ./... runs
// packages in parallel) do not share one; an unreachable route for them
// stays behind the cable, so with the cable cut nothing leaks towards the
// default route.
type NetNS struct {
	t      testing.TB
	Name   string
	HostIf string
	HostIP string // this side of the cable
	PeerIP string // the namespace's side

	closeOnce sync.Once
	close     func()
}

// Close removes the namespace and its cable now (processes still inside
// keep an anonymous copy until they exit). The test's end does it anyway.
func (n *NetNS) Close() { n.closeOnce.Do(n.close) }

// NewNetNS creates the namespace and its cable; both vanish when the test
// ends, or at Close. It needs root and the ip command (iproute2). A process
// has one at a time: Close the first before making another in the same
// test.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookTool(t, "ip", "iproute2")
	sweepStaleNetNS()
	id := os.Getpid() // whole, so sweepStaleNetNS can tell a live owner from a dead one
	block := id % 64 * 4
	for range 64 { // the first /30 from ours on that no interface uses
		out, _ := exec.Command("ip", "-o", "addr", "show", "to", fmt.Sprintf("198.51.100.%d/30", block)).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			break
		}
		block = (block + 4) % 256
	}
	n := &NetNS{t: t, Name: fmt.Sprintf("critline-t%d", id), HostIf: fmt.Sprintf("clh%d", id),
		HostIP: fmt.Sprintf("198.51.100.%d", block+1), PeerIP: fmt.Sprintf("198.51.100.%d", block+2)}
	subnet := fmt.Sprintf("198.51.100.%d/30", block)
	peerIf := fmt.Sprintf("clp%d", id)
	n.run("ip", "netns", "add", n.Name)
	n.close = func() {
		exec.Command("ip", "link", "del", n.HostIf).Run()
		exec.Command("ip", "netns", "del", n.Name).Run()
		exec.Command("ip", "route", "del", "unreachable", subnet, "metric", "4000").Run()
	}
	t.Cleanup(n.Close)
	exec.Command("ip", "route", "del", "unreachable", subnet, "metric", "4000").Run()
	n.run("ip", "route", "add", "unreachable", subnet, "metric", "4000")
	n.run("ip", "link", "add", n.HostIf, "type", "veth", "peer", "name", peerIf)
	n.run("ip", "link", "set", peerIf, "netns", n.Name)
	n.run("ip", "addr", "add", n.HostIP+"/30", "dev", n.HostIf)
	n.run("ip", "link", "set", n.HostIf, "up")
	n.run("ip", "netns", "exec", n.Name, "ip", "addr", "add", n.PeerIP+"/30", "dev", peerIf)
	n.run("ip", "netns", "exec", n.Name, "ip", "link", "set", peerIf, "up")
	n.run("ip", "netns", "exec", n.Name, "ip", "link", "set", "lo", "up")
	return n
}

// sweepStaleNetNS removes the namespaces and cables a test process that
// died without its cleanup (killed by a timeout, say) left behind: kernel
// state outlives the process, and a stale cable's route to TEST-NET-2
// would take another test's packets.
func sweepStaleNetNS() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		var id string
		switch {
		case strings.HasPrefix(name, "critline-t"): // NewNetNS
			id = strings.TrimPrefix(name, "critline-t")
		case strings.HasPrefix(name, "cl"): // NewSite: cl<pid>-<n>-<role>
			id, _, _ = strings.Cut(strings.TrimPrefix(name, "cl"), "-")
		}
		if id == "" || strings.Trim(id, "0123456789") != "" {
			continue
		}
		if _, err := os.Stat("/proc/" + id); err == nil {
			continue // its process (or one with its id) still runs
		}
		exec.Command("ip", "link", "del", "clh"+id).Run()
		exec.Command("ip", "netns", "del", name).Run()
	}
}

func (n *NetNS) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Cut unplugs the cable (link down on this side).
func (n *NetNS) Cut() { n.run("ip", "link", "set", n.HostIf, "down") }

// Mend plugs it back.
func (n *NetNS) Mend() { n.run("ip", "link", "set", n.HostIf, "up") }
