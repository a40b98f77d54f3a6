package sip

// Network paths: a registrar is reached over the LAN, over a modem's data
// connection, or over either. Each path has sockets of its own, bound to
// its interface (SO_BINDTODEVICE) so its SIP and RTP leave by it whatever
// the routing table prefers, and a sipgo stack of its own, so a reply never
// leaves by another path's socket. Each registrar is probed over every path
// it may use (health keyed by registrar and path: regPath); the path in use
// is the most preferred healthy one, with the registrar's fail-back rule.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/critline/critline/hal"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Path names the daemon uses. A path's name labels metrics and status.
const (
	PathLAN  = "lan"  // the board's LAN ([board] link)
	PathWWAN = "wwan" // a modem's data connection ([[trunk]] data_interface)
)

// Path is one network path registrars are reached by.
type Path struct {
	Name string
	// Interface binds the path's SIP and RTP sockets to a network interface
	// (SO_BINDTODEVICE), so they leave by it whatever the default route;
	// "" leaves the choice to the kernel's routing.
	Interface string
	// Listen is the path's UDP (and TCP) address. "": Config.Listen for
	// the first path; any free port on every address for the others.
	Listen string
	// ProbeInterval is how often registrars are probed over the path
	// (default Config.ProbeInterval). A metered path wants a long one.
	ProbeInterval time.Duration
	// KeepAlive sends a CRLFCRLF datagram (RFC 5626's double-CRLF, which
	// it defines for streams; over UDP it specifies STUN) to every
	// registrar in use over the path this often, so a carrier NAT keeps the
	// mapping the registrar reaches the lines by; TCP connections get
	// kernel keep-alives at the same interval. 0: none.
	KeepAlive time.Duration
	// HoldDown is how long registrars over the path keep their verdict
	// when the path's interface or bearer goes away (a data session being
	// re-established), so the appliance does not flap between modes; 0:
	// down at once.
	HoldDown time.Duration
	// NAT learns the public address the registrars see (the top Via's
	// received and rport, RFC 3581, asked for with rport) and gives it in
	// Contact and SDP: the carrier's NAT then forwards the registrar's
	// requests and the far end's media.
	NAT bool
}

// PathState is what the network below says of a path: its interface is up
// with an address (source "link"), the modem's data bearer is connected
// (source "bearer"). A path is up while every source that spoke says up.
type PathState struct {
	Up     bool
	Addr   netip.Addr // the interface's IPv4 address, when known
	Detail string     // why it is down
}

// Sources of PathState.
const (
	SourceLink   = "link"
	SourceBearer = "bearer"
)

// PathStatus is one path as status shows it.
type PathStatus struct {
	Name      string
	Interface string
	Up        bool       // no source says down
	Addr      netip.Addr // the interface's address
	Detail    string     // why it is down
	Since     time.Time  // of the last change of Up
	// Bytes on the wire (IP and UDP headers included), by kind and
	// direction.
	SIPIn, SIPOut, RTPIn, RTPOut uint64
}

// pathStack is one network path's SIP stack.
type pathStack struct {
	cfg   Path
	idx   int
	u     *UA
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	pc    *countConn
	qp    *quickProbes // nil: the socket is no *net.UDPConn (quickprobe.go)
	tcpLn net.Listener
	port  int
	bind  netip.Addr // the listen host (unspecified: every address)

	sipIn, sipOut, rtpIn, rtpOut atomic.Uint64

	mu      sync.Mutex
	sources map[string]PathState
	addr    netip.Addr
	down    bool
	since   time.Time
	gen     int // bumped at every change of down: a hold-down timer of an older change is void
	hold    hal.Timer
}

// ipUDPOverhead is the IPv4 and UDP headers a datagram costs on the wire.
const ipUDPOverhead = 28

func (p *pathStack) isDown() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down
}

// status is the path as status shows it.
func (p *pathStack) status() PathStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PathStatus{Name: p.cfg.Name, Interface: p.cfg.Interface, Up: !p.down, Addr: p.addr, Since: p.since,
		SIPIn: p.sipIn.Load(), SIPOut: p.sipOut.Load(), RTPIn: p.rtpIn.Load(), RTPOut: p.rtpOut.Load()}
	for _, src := range []string{SourceLink, SourceBearer} {
		if st, ok := p.sources[src]; ok && !st.Up {
			s.Detail = st.Detail
			if s.Detail == "" {
				s.Detail = src + " down"
			}
			break
		}
	}
	return s
}

// Paths returns every path's state and the data it carried.
func (u *UA) Paths() []PathStatus {
	out := make([]PathStatus, len(u.paths))
	for i, p := range u.paths {
		out[i] = p.status()
	}
	return out
}

// countConn counts a path's SIP datagrams.
type countConn struct {
	net.PacketConn
	p *pathStack
}

// ReadFrom is sipgo's read of the path's socket. The answers to quick
// probes are taken out here (only from the address each probe went to:
// the registrar's, so on the allow-list) and never reach sipgo; reading
// an address port rather than a *net.UDPAddr makes a read that allocates
// nothing.
func (c *countConn) ReadFrom(b []byte) (int, net.Addr, error) {
	uc, ok := c.PacketConn.(*net.UDPConn)
	if !ok {
		n, a, err := c.PacketConn.ReadFrom(b)
		if n > 0 {
			c.p.countSIP(true, n)
		}
		return n, a, err
	}
	for {
		n, ap, err := uc.ReadFromUDPAddrPort(b)
		if n > 0 {
			c.p.countSIP(true, n)
		}
		if err != nil && !ap.IsValid() {
			return n, nil, err
		}
		if err == nil && c.p.qp != nil && c.p.qp.answer(b[:n], ap) {
			continue
		}
		return n, net.UDPAddrFromAddrPort(ap), err
	}
}

func (c *countConn) WriteTo(b []byte, a net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, a)
	if n > 0 {
		c.p.countSIP(false, n)
	}
	return n, err
}

func (p *pathStack) countSIP(in bool, n int) {
	n += ipUDPOverhead
	if in {
		p.sipIn.Add(uint64(n))
		p.u.m.pathBytes.WithLabelValues(p.cfg.Name, "in", "sip").Add(float64(n))
	} else {
		p.sipOut.Add(uint64(n))
		p.u.m.pathBytes.WithLabelValues(p.cfg.Name, "out", "sip").Add(float64(n))
	}
}

// rtpCounter counts a call's RTP on its path (rtp.Counter).
type rtpCounter struct{ p *pathStack }

func (c rtpCounter) Sent(n int) {
	n += ipUDPOverhead
	c.p.rtpOut.Add(uint64(n))
	c.p.u.m.pathBytes.WithLabelValues(c.p.cfg.Name, "out", "rtp").Add(float64(n))
}

func (c rtpCounter) Received(n int) {
	n += ipUDPOverhead
	c.p.rtpIn.Add(uint64(n))
	c.p.u.m.pathBytes.WithLabelValues(c.p.cfg.Name, "in", "rtp").Add(float64(n))
}

// listenPath opens the path's UDP socket (and the TCP listener when a
// registrar on the path uses TCP), bound to its interface.
func (u *UA) listenPath(p *pathStack, tcp bool) error {
	addr := p.cfg.Listen
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sip: path %s: listen %q: %w", p.cfg.Name, addr, err)
	}
	p.bind, _ = netip.ParseAddr(host)
	lc := p.listenConfig()
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return fmt.Errorf("sip: path %s: listen udp %s: %w (is another SIP program running? set sip.listen)", p.cfg.Name, addr, err)
	}
	p.pc = &countConn{PacketConn: pc, p: p}
	p.qp = newQuickProbes(pc)
	p.port = pc.LocalAddr().(*net.UDPAddr).Port
	if tcp {
		if p.tcpLn, err = lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, fmt.Sprint(p.port))); err != nil {
			pc.Close()
			return fmt.Errorf("sip: path %s: listen tcp: %w", p.cfg.Name, err)
		}
	}
	return nil
}

// listenConfig binds sockets to the path's interface.
func (p *pathStack) listenConfig() net.ListenConfig {
	return net.ListenConfig{Control: p.control}
}

func (p *pathStack) control(_, _ string, c syscall.RawConn) error {
	if p.cfg.Interface == "" {
		return nil
	}
	var err error
	if cerr := c.Control(func(fd uintptr) { err = bindToDevice(fd, p.cfg.Interface) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("binding to interface %s: %w (the daemon needs CAP_NET_RAW on kernels before 5.7)", p.cfg.Interface, err)
	}
	return nil
}

// dialer makes sipgo's TCP and TLS connections leave by the path, with
// kernel keep-alives when the path wants them.
func (p *pathStack) dialer(laddr net.Addr) net.Dialer {
	d := net.Dialer{Timeout: time.Minute, LocalAddr: laddr, Control: p.control}
	if p.cfg.KeepAlive > 0 {
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: p.cfg.KeepAlive, Interval: p.cfg.KeepAlive, Count: 3}
	}
	return d
}

// stackOptions are the sipgo options of one path's user agent.
func (u *UA) stackOptions(p *pathStack) []sipgo.UserAgentOption {
	tcp := &sip.TransportTCP{DialerCreate: p.dialer}
	tls := &sip.TransportTLS{TransportTCP: &sip.TransportTCP{DialerCreate: p.dialer}}
	opts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent(u.cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(u.filter),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: tcp, TLS: tls})),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerUnhandledResponseHandler(u.onLateResponse)),
	}
	if u.cfg.TLS != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(u.cfg.TLS))
	}
	return opts
}

// fromListener makes a UDP request leave from the path's listening socket.
func (p *pathStack) fromListener(req *sip.Request) {
	if req.Transport() != "UDP" || p.pc == nil {
		return
	}
	a := p.pc.LocalAddr().(*net.UDPAddr)
	req.Laddr = sip.Addr{IP: a.IP, Port: a.Port, Hostname: a.IP.String()}
}

// localAddr is our address on the path towards peer: the listen address
// when specific, the interface's address for a bound path, else what the
// kernel routes towards peer (the configured advertise address first, on
// the first path).
func (u *UA) localAddr(p *pathStack, peer netip.Addr, port int) netip.Addr {
	if p.idx == 0 && (p.cfg.Interface == "" || u.cfg.Advertise != "") {
		return u.advertiseFor(peer, port)
	}
	if p.bind.IsValid() && !p.bind.IsUnspecified() {
		return p.bind
	}
	if p.cfg.Interface == "" {
		return routedFrom(peer, port)
	}
	p.mu.Lock()
	a := p.addr
	p.mu.Unlock()
	if a.IsValid() {
		return a
	}
	if a := interfaceAddr(p.cfg.Interface); a.IsValid() {
		return a
	}
	return netip.IPv4Unspecified()
}

// routedFrom is the local address the kernel routes towards peer.
func routedFrom(peer netip.Addr, port int) netip.Addr {
	c, err := net.Dial("udp", netip.AddrPortFrom(peer, uint16(port)).String())
	if err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	return netip.MustParseAddr("127.0.0.1")
}

// interfaceAddr is the first IPv4 address of a network interface, if any.
func interfaceAddr(name string) netip.Addr {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Is4() {
			return pfx.Addr()
		}
	}
	return netip.Addr{}
}

// buildClient (re)makes rp's client for its current local address: Via
// carries it (and rport on a NAT path), UDP requests leave from the path's
// socket.
func (u *UA) buildClient(rp *regPath) error {
	r, p := rp.r, rp.p
	r.mu.Lock()
	var peer netip.Addr
	if len(r.ips) > 0 {
		peer = r.ips[0]
	}
	r.mu.Unlock()
	if !peer.IsValid() {
		peer = netip.IPv4Unspecified()
	}
	local := u.localAddr(p, peer, r.port)
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(local.String()), sipgo.WithClientPort(p.port), sipgo.WithClientLogger(u.log)}
	if r.tp == "UDP" {
		// Requests leave from the listening socket, so replies and the
		// registrar's requests reach the port in our Contact.
		opts = append(opts, sipgo.WithClientConnectionAddr(p.pc.LocalAddr().String()))
	}
	if p.cfg.NAT {
		opts = append(opts, sipgo.WithClientNAT())
	}
	cli, err := sipgo.NewClient(p.ua, opts...)
	if err != nil {
		return fmt.Errorf("sip: client for %s over %s: %w", r.cfg.Name, p.cfg.Name, err)
	}
	rp.mu.Lock()
	rp.cli, rp.local = cli, local
	rp.mu.Unlock()
	return nil
}

// SetPathState tells the UA what the network below says of a path (its
// interface and address from source "link", a modem's data bearer from
// source "bearer"). A path that goes down takes its registrars down at
// once, or, with a HoldDown, holds their verdict while it comes back; a
// path that comes back (or gets a new address) is probed at once and its
// lines register again with the new address.
func (u *UA) SetPathState(name, source string, st PathState) {
	p := u.pathNamed(name)
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.sources == nil {
		p.sources = map[string]PathState{}
	}
	p.sources[source] = st
	wasDown, oldAddr := p.down, p.addr
	p.down = false
	for _, s := range p.sources {
		p.down = p.down || !s.Up
	}
	if source == SourceLink && st.Addr.IsValid() {
		p.addr = st.Addr
	}
	changed := wasDown != p.down
	renumbered := p.addr != oldAddr && oldAddr.IsValid() && !p.down
	if changed {
		p.since = time.Now()
		p.gen++
		if p.hold != nil {
			p.hold.Stop()
			p.hold = nil
		}
	}
	down, gen := p.down, p.gen
	p.mu.Unlock()
	u.m.pathLinkUp.WithLabelValues(name).Set(b2f(!down))
	if !u.started.Load() || u.closed.Load() {
		return // Start reads the state
	}
	switch {
	case changed && down:
		u.log.Warn("network path down", "path", name, "source", source, "detail", st.Detail, "hold_down", p.cfg.HoldDown)
		u.pathLost(p, gen)
	case changed:
		u.log.Info("network path up", "path", name, "source", source, "address", p.status().Addr)
		u.pathBack(p, "path up")
	case renumbered:
		u.log.Info("network path has a new address", "path", name, "was", oldAddr, "now", st.Addr)
		u.pathBack(p, "new address")
	}
}

func (u *UA) pathNamed(name string) *pathStack {
	for _, p := range u.paths {
		if p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// pathLost takes the registrars on a path down, or holds their verdict
// for the path's HoldDown: a data session re-established within it (with a
// new address, typically) leaves the mode alone.
func (u *UA) pathLost(p *pathStack, gen int) {
	held := false
	for _, r := range u.regs {
		for _, rp := range r.paths {
			if rp.p != p {
				continue
			}
			if p.cfg.HoldDown > 0 && rp.usable() {
				rp.mu.Lock()
				rp.holding = true
				rp.mu.Unlock()
				held = true
			} else if rp.forceDown() {
				u.m.pathUp.WithLabelValues(r.cfg.Name, p.cfg.Name).Set(0)
			}
		}
		u.settle(r, "path "+p.cfg.Name+" down")
	}
	if !held {
		return
	}
	p.mu.Lock()
	p.hold = u.clock.AfterFunc(p.cfg.HoldDown, func() {
		p.mu.Lock()
		stale := p.gen != gen || !p.down
		p.hold = nil
		p.mu.Unlock()
		if stale || u.ctx.Err() != nil {
			return
		}
		u.log.Warn("network path still down after the hold-down: its registrars are down", "path", p.cfg.Name, "hold_down", p.cfg.HoldDown)
		for _, r := range u.regs {
			for _, rp := range r.paths {
				if rp.p == p && rp.forceDown() {
					u.m.pathUp.WithLabelValues(r.cfg.Name, p.cfg.Name).Set(0)
				}
			}
			u.settle(r, "hold-down over")
		}
	})
	p.mu.Unlock()
}

// pathBack ends a hold, rebuilds the path's clients for its (new) address,
// probes at once and makes the lines bound over it register again.
func (u *UA) pathBack(p *pathStack, why string) {
	for _, r := range u.regs {
		for _, rp := range r.paths {
			if rp.p != p {
				continue
			}
			rp.mu.Lock()
			rp.holding = false
			rp.epoch++ // bindings over the path register again (and learn the NAT's new mapping)
			if rp.forced {
				// Down because the path was, not because the registrar
				// was silent: the first answer over the path decides, as
				// at start (not UpAfter answers at the path's interval).
				rp.known, rp.forced = false, false
			}
			rp.mu.Unlock()
			if err := u.buildClient(rp); err != nil {
				u.log.Error("rebuilding the path's client", "registrar", r.cfg.Name, "path", p.cfg.Name, "err", err)
			}
			select {
			case rp.kick <- struct{}{}:
			default:
			}
		}
		u.settle(r, why)
		for _, l := range u.lines {
			l.poke(r.idx, false)
		}
	}
}

// callsOver counts the calls in progress over rp.
func (u *UA) callsOver(rp *regPath) int {
	u.callMu.Lock()
	calls := make([]*Call, 0, len(u.calls))
	for _, cs := range u.calls {
		for _, c := range cs {
			if c.via == rp {
				calls = append(calls, c)
			}
		}
	}
	u.callMu.Unlock()
	n := 0
	for _, c := range calls {
		if c.State() != StateEnded {
			n++
		}
	}
	return n
}

// settle works out the registrar's path in use and its verdict: the path
// in use stays while it is up (or not probed yet); when it fails, the next
// healthy path takes over at once; a more preferred path takes over again
// only when it has been up for FailbackAfter and no call is using the
// current one (fail-over fast, fail-back slow and idle, as between
// registrars). The registrar is up while its path is (a held verdict
// included). Changes are published, and the lines re-register over the new
// path.
func (u *UA) settle(r *registrar, why string) (published bool) {
	now := u.clock.Now()
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	cp := r.paths[cur]
	facts := make([]pathFacts, len(r.paths))
	for i, rp := range r.paths {
		facts[i] = rp.facts()
	}
	next := choosePath(facts, cur, now, u.cfg.FailbackAfter, func() bool { return u.callsOver(cp) > 0 })
	np := r.paths[next]
	np.mu.Lock()
	known, up, holding := np.known, np.up, np.holding
	np.mu.Unlock()
	r.mu.Lock()
	moved := next != cur
	changed := up != r.up || known != r.known
	heldChanged := holding != r.holding
	r.cur, r.known, r.holding = next, known, holding
	if up && !r.up {
		r.upSince = now
	}
	r.up = up
	r.mu.Unlock()
	if !moved && !changed && !heldChanged {
		return false
	}
	name := r.cfg.Name
	if moved {
		u.log.Warn("registrar reached over another path", "registrar", name, "path", np.p.cfg.Name,
			"was", cp.p.cfg.Name, "why", why)
		for _, rp := range r.paths {
			u.m.pathActive.WithLabelValues(name, rp.p.cfg.Name).Set(b2f(rp == np))
		}
	}
	if changed {
		u.m.registrarUp.WithLabelValues(name).Set(b2f(up))
		if up {
			u.log.Info("registrar up", "registrar", name, "path", np.p.cfg.Name, "rtt", np.health().RTT)
		} else {
			u.log.Warn("registrar down", "registrar", name, "lost_probes", u.cfg.DownAfter, "why", why)
		}
	}
	if heldChanged && holding {
		u.log.Warn("registrar's path lost its interface: verdict held while the data session comes back", "registrar", name, "path", np.p.cfg.Name)
	}
	h := r.health()
	h.At = u.clock.Now()
	u.publish(h)
	for _, l := range u.lines {
		l.poke(r.idx, up)
	}
	return true
}

// pathFacts is what settle knows of one path to a registrar.
type pathFacts struct {
	known, up bool
	holding   bool          // its interface or bearer is coming back: verdict held
	upSince   time.Duration // on the UA's clock
}

func (rp *regPath) facts() pathFacts {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return pathFacts{known: rp.known, up: rp.up, holding: rp.holding, upSince: rp.upSince}
}

// choosePath says which path (index into paths, in the order of
// preference) a registrar is reached over, the current one being cur:
// it stays while it is up or not probed yet; when it is known down, the
// first path that is up takes over at once (or it stays: nowhere better);
// a path preferred over the current one takes over only once it has been
// up, and not held, for failbackAfter, and no call uses the current path
// (busy, asked only then): fail over fast, fail back slow and idle.
func choosePath(paths []pathFacts, cur int, now, failbackAfter time.Duration, busy func() bool) int {
	c := paths[cur]
	switch {
	case !c.known:
		return cur
	case !c.up:
		for i, p := range paths {
			if p.known && p.up {
				return i
			}
		}
		return cur
	}
	for i := 0; i < cur; i++ {
		p := paths[i]
		if p.known && p.up && !p.holding && now-p.upSince >= failbackAfter && !busy() {
			return i
		}
	}
	return cur
}

// keepAliveLoop sends a CRLF keep-alive over UDP from the path's socket
// to every registrar in use over it: a carrier NAT drops an idle UDP
// mapping within tens of seconds, and the registrar reaches the lines by
// that mapping. (RFC 5626 4.4.1 has CRLF for connection-oriented
// transports and STUN for UDP; registrars and sipgo alike take a lone
// CRLFCRLF datagram as a keep-alive and ignore it, which is all a NAT
// needs.)
func (u *UA) keepAliveLoop(p *pathStack) {
	defer u.wg.Done()
	t := time.NewTicker(p.cfg.KeepAlive)
	defer t.Stop()
	crlf := []byte("\r\n\r\n")
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		if p.isDown() {
			continue
		}
		for _, r := range u.regs {
			rp := r.current()
			if rp.p != p || r.tp != "UDP" {
				continue
			}
			r.mu.Lock()
			dest := r.dest
			r.mu.Unlock()
			ap, err := netip.ParseAddrPort(dest)
			if err != nil {
				continue
			}
			if _, err := p.pc.WriteTo(crlf, net.UDPAddrFromAddrPort(ap)); err != nil && !errors.Is(err, net.ErrClosed) {
				u.log.Debug("keep-alive not sent", "registrar", r.cfg.Name, "path", p.cfg.Name, "err", err)
			}
		}
	}
}

// pathFor is the registrar's regPath over p (nil when the registrar does
// not use p).
func (r *registrar) pathFor(p *pathStack) *regPath {
	for _, rp := range r.paths {
		if rp.p == p {
			return rp
		}
	}
	return nil
}

// pathNames lists the names for messages.
func pathNames(ps []Path) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, ", ")
}
