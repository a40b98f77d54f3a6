package testpeer

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/critline/critline/internal/testenv"
)

// Site is an appliance's whole network, in network namespaces made by the
// test: the board with two interfaces, lan0 (the LAN) and wwan0 (standing
// for the modem's data connection); the campus, reachable only over the
// LAN, with a router to the internet; the mobile carrier, whose NAT
// (nftables masquerade, a short UDP timeout) puts wwan0 on the internet
// behind a public address that can change; and the internet, where the
// cloud lives. The campus does not route the carrier's traffic in: the
// campus PBX is reachable from the LAN only.
//
//	board  lan0  10.10.0.2/24 ---- lanp 10.10.0.1  campus (campus PBX on 10.10.0.1)
//	       wwan0 100.64.0.2/24 --- wwp 100.64.0.1  carrier (NAT to 203.0.113.1)
//	campus cup 192.0.2.1/30 ------ cin 192.0.2.2   internet
//	carrier nup 203.0.113.1/24 --- nin 203.0.113.254 internet
//	internet lo: 198.18.0.10 (cloud PBX), 198.18.0.20 (a cloud phone),
//	             198.18.0.30 (an emergency operator)
//
// Everything is removed when the test ends. It needs root, ip (iproute2),
// nft (nftables) and conntrack.
type Site struct {
	t                           testing.TB
	Board, Campus, Carrier, Net string // namespace names
	LANIf, DataIf               string // the board's interfaces
	BoardLAN, CampusIP          string // 10.10.0.2, 10.10.0.1
	BoardData, CarrierIP        string // the board's data address now (100.64.0.2 at first), the carrier's gateway
	Public                      string // the carrier NAT's public address now
	CloudIP, PhoneIP            string // 198.18.0.10, 198.18.0.20
	OperatorIP                  string // 198.18.0.30: an emergency operator's answering point
	natTimeout                  int
}

var siteSeq atomic.Int32

// SiteOptions tune the site.
type SiteOptions struct {
	// NATTimeout is the carrier NAT's UDP timeout in seconds (every UDP
	// mapping, answered or not, is dropped after this long idle); default 30.
	NATTimeout int
}

// NewSite builds the namespaces, links, routes and the carrier's NAT.
func NewSite(t testing.TB, o SiteOptions) *Site {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookTool(t, "ip", "iproute2")
	testenv.LookTool(t, "nft", "nftables")
	testenv.LookTool(t, "conntrack", "conntrack")
	if o.NATTimeout <= 0 {
		o.NATTimeout = 30
	}
	sweepStaleNetNS()
	id := fmt.Sprintf("cl%d-%d", os.Getpid(), siteSeq.Add(1)) // the whole pid: see sweepStaleNetNS
	s := &Site{t: t, Board: id + "-board", Campus: id + "-campus", Carrier: id + "-carrier", Net: id + "-net",
		LANIf: "lan0", DataIf: "wwan0", BoardLAN: "10.10.0.2", CampusIP: "10.10.0.1", BoardData: "100.64.0.2",
		CarrierIP: "100.64.0.1", Public: "203.0.113.1", CloudIP: "198.18.0.10", PhoneIP: "198.18.0.20", OperatorIP: "198.18.0.30",
		natTimeout: o.NATTimeout}
	all := []string{s.Board, s.Campus, s.Carrier, s.Net}
	t.Cleanup(func() {
		for _, ns := range all {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for _, ns := range all {
		s.run("ip", "netns", "add", ns)
		s.in(ns, "ip", "link", "set", "lo", "up")
		s.in(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	veth := func(a, aNS, b, bNS string) {
		s.run("ip", "link", "add", a, "netns", aNS, "type", "veth", "peer", "name", b, "netns", bNS)
	}
	veth(s.LANIf, s.Board, "lanp", s.Campus)
	veth(s.DataIf, s.Board, "wwp", s.Carrier)
	veth("cup", s.Campus, "cin", s.Net)
	veth("nup", s.Carrier, "nin", s.Net)
	addr := func(ns, dev, cidr string) {
		s.in(ns, "ip", "addr", "add", cidr, "dev", dev)
		s.in(ns, "ip", "link", "set", dev, "up")
	}
	addr(s.Board, s.LANIf, s.BoardLAN+"/24")
	addr(s.Campus, "lanp", s.CampusIP+"/24")
	addr(s.Board, s.DataIf, s.BoardData+"/24")
	addr(s.Carrier, "wwp", s.CarrierIP+"/24")
	addr(s.Campus, "cup", "192.0.2.1/30")
	addr(s.Net, "cin", "192.0.2.2/30")
	addr(s.Carrier, "nup", s.Public+"/24")
	addr(s.Net, "nin", "203.0.113.254/24")
	s.in(s.Net, "ip", "addr", "add", s.CloudIP+"/32", "dev", "lo")
	s.in(s.Net, "ip", "addr", "add", s.PhoneIP+"/32", "dev", "lo")
	s.in(s.Net, "ip", "addr", "add", s.OperatorIP+"/32", "dev", "lo")
	// The board: the LAN is the default route; the data connection a
	// second default with a worse metric (as systemd-networkd sets them,
	// docs/data-path.md), used by the sockets bound to wwan0. Loose
	// reverse-path filtering, so replies on wwan0 from hosts the LAN also
	// routes to are taken.
	s.in(s.Board, "ip", "route", "add", "default", "via", s.CampusIP, "dev", s.LANIf, "metric", "100")
	s.dataRoute()
	s.in(s.Board, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")
	s.in(s.Campus, "ip", "route", "add", "default", "via", "192.0.2.2")
	s.in(s.Carrier, "ip", "route", "add", "default", "via", "203.0.113.254")
	s.in(s.Net, "ip", "route", "add", "10.10.0.0/24", "via", "192.0.2.1")
	// The carrier: masquerade to its public address; UDP mappings dropped
	// after natTimeout seconds idle, whatever their state.
	s.in(s.Carrier, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout=%d", o.NATTimeout),
		fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout_stream=%d", o.NATTimeout))
	s.nft(s.Carrier, fmt.Sprintf(`table ip carrier {
	ct timeout udp-short {
		protocol udp
		l3proto ip
		policy = { unreplied : %d, replied : %d }
	}
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ct timeout set "udp-short"
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "nup" masquerade
	}
}`, o.NATTimeout, o.NATTimeout))
	// The internet: nothing from the carrier reaches the campus's private
	// addresses (they are not routed on the internet).
	s.nft(s.Net, `table ip internet {
	chain transit {
		type filter hook forward priority filter; policy accept;
		iifname "nin" ip daddr 10.0.0.0/8 drop
	}
}`)
	return s
}

func (s *Site) dataRoute() {
	s.in(s.Board, "ip", "route", "replace", "default", "via", s.CarrierIP, "dev", s.DataIf, "metric", "700")
}

func (s *Site) run(args ...string) {
	s.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside a namespace.
func (s *Site) in(ns string, args ...string) {
	s.t.Helper()
	s.run(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

func (s *Site) nft(ns, ruleset string) {
	s.t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("nft in %s: %v\n%s\n%s", ns, err, out, ruleset)
	}
}

// Exec is a command to run inside a namespace ("ip netns exec NS ...").
func (s *Site) Exec(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// CutLAN unplugs the LAN at the campus end: the board's lan0 loses its
// carrier.
func (s *Site) CutLAN() { s.in(s.Campus, "ip", "link", "set", "lanp", "down") }

// MendLAN plugs it back.
func (s *Site) MendLAN() { s.in(s.Campus, "ip", "link", "set", "lanp", "up") }

// CutUplink cuts the campus off the internet, the LAN's link staying up:
// only probes can tell the cloud is gone from the LAN.
func (s *Site) CutUplink() { s.in(s.Campus, "ip", "link", "set", "cup", "down") }

// MendUplink reconnects the campus.
func (s *Site) MendUplink() {
	s.in(s.Campus, "ip", "link", "set", "cup", "up")
	s.in(s.Campus, "ip", "route", "replace", "default", "via", "192.0.2.2")
}

// CutData takes the mobile data connection away at the carrier: the
// board's wwan0 loses its carrier.
func (s *Site) CutData() { s.in(s.Carrier, "ip", "link", "set", "wwp", "down") }

// MendData brings it back.
func (s *Site) MendData() { s.in(s.Carrier, "ip", "link", "set", "wwp", "up") }

// RenumberData gives the board's data interface a new address, as a
// re-established data session does (systemd-networkd's DHCP client would
// set it and the default route).
func (s *Site) RenumberData(addr string) {
	s.in(s.Board, "ip", "addr", "del", s.BoardData+"/24", "dev", s.DataIf)
	s.in(s.Board, "ip", "addr", "add", addr+"/24", "dev", s.DataIf)
	s.BoardData = addr
	s.dataRoute()
}

// ChangePublic moves the carrier's NAT to a new public address and drops
// every mapping (a CGNAT rebinding): the registrar now sees the board at
// another address, and nothing reaches the old one.
func (s *Site) ChangePublic(addr string) {
	s.in(s.Carrier, "sysctl", "-qw", "net.ipv4.conf.all.promote_secondaries=1", "net.ipv4.conf.nup.promote_secondaries=1")
	s.in(s.Carrier, "ip", "addr", "add", addr+"/24", "dev", "nup")
	s.in(s.Carrier, "ip", "addr", "del", s.Public+"/24", "dev", "nup")
	s.in(s.Carrier, "ip", "route", "replace", "default", "via", "203.0.113.254")
	s.Public = addr
	exec.Command("ip", "netns", "exec", s.Carrier, "conntrack", "-F").Run() // an empty table is not an error
}

// Mappings lists the carrier NAT's UDP mappings (conntrack -L).
func (s *Site) Mappings() string {
	out, _ := exec.Command("ip", "netns", "exec", s.Carrier, "conntrack", "-L", "-p", "udp").CombinedOutput()
	return string(out)
}

// Dial connects to addr from inside a namespace (for an HTTP client's
// DialContext): the socket stays in the namespace.
func Dial(ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetNS(ns, func() error {
		var err error
		c, err = net.Dial(network, addr)
		return err
	})
	return c, err
}

// DialContext is Dial for an http.Transport.
func DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(_ context.Context, network, addr string) (net.Conn, error) { return Dial(ns, network, addr) }
}
