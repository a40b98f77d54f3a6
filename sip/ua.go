package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip/rtp"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// UA is critline's SIP user agent: every line's registration, every
// registrar's health, and the calls.
type UA struct {
	cfg   Config
	log   *slog.Logger
	clock hal.Clock
	m     *metrics

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	rtp *rtp.Allocator

	regs   []*registrar
	paths  []*pathStack // paths[0] is the primary: its socket, stack and port are pc, ua, srv, listenPort
	lines  []*line
	byExt  map[string]*line
	byPort map[int]*line

	allowed atomic.Pointer[map[netip.Addr]struct{}]

	listenPort int
	listenIP   netip.Addr
	pc         net.PacketConn
	tcpLn      net.Listener
	tlsLn      *tlsListener // tlslisten.go
	ka         keepAlive    // keepalive.go

	callMu sync.Mutex
	// calls by Call-ID: a list, because a call between two of our own lines
	// through a proxying PBX (not a back-to-back UA) keeps one Call-ID for
	// both its dialogs; the tags tell them apart (lookupCall).
	calls map[string][]*Call

	invMu    sync.Mutex
	invites  map[string]*Call     // outbound calls by Call-ID, kept a while after they end (late responses)
	canceled map[string]time.Time // CANCELs that came before their INVITE, by Call-ID and branch
	// pending: inbound INVITEs being handled, by Call-ID and branch; the
	// channel is closed when a CANCEL for one reaches onStrayCancel (sipgo
	// hands each message to its own goroutine, so a CANCEL can miss the
	// INVITE's transaction and still arrive while the INVITE is handled).
	pending map[string]chan struct{}

	dlg dialogBook // the calls in progress, on stable storage (Config.Dialogs)

	bgMu     sync.Mutex
	bgDone   bool
	bg       sync.WaitGroup // BYEs and CANCELs in flight
	bgCtx    context.Context
	bgCancel context.CancelFunc

	subMu   sync.Mutex
	subs    map[int]chan Event
	nextSub int

	notifyMu       sync.Mutex
	notifyHandlers map[string]NotifyHandler // mwi.go: NOTIFYs of other event packages
	subsMu         sync.Mutex
	mwiSubs        []*mwiSub // mwi.go: our message-waiting subscriptions

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	closed  atomic.Bool
}

// New checks cfg and registers the metrics. Nothing is bound or sent until
// Start.
func New(cfg Config) (*UA, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sip config: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("sip metrics: %w", err)
	}
	u := &UA{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, m: m,
		byExt: map[string]*line{}, byPort: map[int]*line{},
		calls: map[string][]*Call{}, subs: map[int]chan Event{},
		invites: map[string]*Call{}, canceled: map[string]time.Time{}, pending: map[string]chan struct{}{},
	}
	empty := map[netip.Addr]struct{}{}
	u.allowed.Store(&empty)
	for i, pc := range cfg.Paths {
		u.paths = append(u.paths, &pathStack{cfg: pc, idx: i, u: u, sources: map[string]PathState{}})
		m.pathLinkUp.WithLabelValues(pc.Name).Set(1)
		for _, dir := range []string{"in", "out"} {
			for _, kind := range []string{"sip", "rtp"} {
				m.pathBytes.WithLabelValues(pc.Name, dir, kind)
			}
		}
	}
	for i, rc := range cfg.Registrars {
		hp, _ := registrarHostPort(rc)
		host, portS, _ := net.SplitHostPort(hp)
		port, _ := strconv.Atoi(portS)
		dom := rc.Domain
		if dom == "" {
			dom = host
		}
		r := &registrar{cfg: rc, idx: i, host: host, port: port, domain: dom, tp: strings.ToUpper(rc.Transport)}
		for j, name := range rc.Paths {
			p := u.pathNamed(name)
			r.paths = append(r.paths, &regPath{r: r, p: p, idx: j, kick: make(chan struct{}, 1)})
			m.pathUp.WithLabelValues(rc.Name, name).Set(0)
			m.pathActive.WithLabelValues(rc.Name, name).Set(b2f(j == 0))
			m.pathRTT.WithLabelValues(rc.Name, name)
			m.pathProbes.WithLabelValues(rc.Name, name, "answered")
			m.pathProbes.WithLabelValues(rc.Name, name, "lost")
		}
		u.regs = append(u.regs, r)
		m.registrarUp.WithLabelValues(rc.Name).Set(0)
		m.registrarRTT.WithLabelValues(rc.Name) // the series exists before the first answer
		m.inviteTimeouts.WithLabelValues(rc.Name, "first-response")
		m.inviteTimeouts.WithLabelValues(rc.Name, "progress")
		m.lateAnswers.WithLabelValues(rc.Name)
		m.initDialects(rc) // metrics_dialects.go
		m.registrarBursts.WithLabelValues(rc.Name, "alive")
		m.registrarBursts.WithLabelValues(rc.Name, "silent")
	}
	for _, lc := range cfg.Lines {
		l := newLine(lc, len(u.regs))
		u.lines = append(u.lines, l)
		u.byExt[lc.Extension] = l
		u.byPort[lc.Port] = l
		for _, r := range u.regs {
			m.lineRegistered.WithLabelValues(strconv.Itoa(lc.Port), r.cfg.Name).Set(0)
		}
		m.srtpFailures.WithLabelValues(strconv.Itoa(lc.Port))
	}
	return u, nil
}

// Start binds the SIP and RTP sockets, then starts probing every registrar
// and registering every line. It returns once listening; registration goes
// on in the background until Close.
func (u *UA) Start(ctx context.Context) error {
	if !u.started.CompareAndSwap(false, true) {
		return errors.New("sip: UA already started")
	}
	u.ctx, u.cancel = context.WithCancel(context.WithoutCancel(ctx))
	u.bgCtx, u.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	var err error
	for _, p := range u.paths {
		tcp := false
		for _, r := range u.regs {
			tcp = tcp || (r.tp == "TCP" && r.pathFor(p) != nil)
		}
		if err = u.listenPath(p, tcp); err != nil {
			u.closePaths()
			return err
		}
	}
	prim := u.paths[0]
	u.pc, u.tcpLn = prim.pc, prim.tcpLn
	u.listenPort = prim.port
	u.listenIP = prim.bind
	bindIP := u.listenIP
	if !bindIP.IsValid() {
		bindIP = netip.IPv4Unspecified()
	}
	if u.rtp, err = rtp.NewAllocator(bindIP, u.cfg.RTPPortMin, u.cfg.RTPPortMax); err != nil {
		u.closePaths()
		return err
	}
	for _, p := range u.paths {
		if p.ua, err = sipgo.NewUA(u.stackOptions(p)...); err != nil {
			u.closePaths()
			return fmt.Errorf("sip: %w", err)
		}
		if p.srv, err = sipgo.NewServer(p.ua, sipgo.WithServerLogger(u.log)); err != nil {
			u.closePaths()
			return fmt.Errorf("sip: %w", err)
		}
		u.registerHandlers(p)
	}
	u.ua, u.srv = prim.ua, prim.srv
	// The TLS listener serves the primary path's stack (tlslisten.go).
	if u.tlsLn, err = u.listenTLS(); err != nil {
		u.closePaths()
		return err
	}
	for _, r := range u.regs {
		u.resolve(r)
		if err := u.initClient(r); err != nil {
			return err
		}
	}
	for _, p := range u.paths {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			if err := p.srv.ServeUDP(p.pc); err != nil && !u.closed.Load() {
				u.log.Error("sip udp listener stopped", "path", p.cfg.Name, "err", err)
			}
		}()
		if p.tcpLn != nil {
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				err := p.srv.ServeTCP(p.tcpLn) // never nil: it returns when the listener closes
				if !u.closed.Load() {
					u.log.Error("sip tcp listener stopped", "path", p.cfg.Name, "err", err)
				}
			}()
		}
		// Requests must leave from the listener: wait until sipgo has it.
		for i := 0; i < 200; i++ {
			if c, err := p.ua.TransportLayer().GetConnection("udp", p.pc.LocalAddr().String()); err == nil && c != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		u.log.Info("sip listening", "path", p.cfg.Name, "interface", p.cfg.Interface, "udp", p.pc.LocalAddr().String())
		if p.cfg.KeepAlive > 0 {
			u.wg.Add(1)
			go u.keepAliveLoop(p)
		}
	}
	u.serveTLS() // tlslisten.go
	u.log.Info("sip started", "registrars", len(u.regs), "lines", len(u.lines), "paths", pathNames(u.cfg.Paths))
	for _, r := range u.regs {
		for _, rp := range r.paths {
			if rp.p.isDown() && rp.forceDown() { // a path known down before start
				u.m.pathUp.WithLabelValues(r.cfg.Name, rp.p.cfg.Name).Set(0)
			}
			u.wg.Add(1)
			go u.probeLoop(rp)
		}
		u.settle(r, "start")
	}
	for _, l := range u.lines {
		if u.cfg.Register == RegisterFirst {
			u.wg.Add(1)
			go u.lineLoop(l)
			continue
		}
		for i := range u.regs {
			u.wg.Add(1)
			go u.bindLoop(l, i)
		}
	}
	u.endLeftovers()
	u.startMWI()        // mwi.go
	u.startKeepAlives() // keepalive.go
	return nil
}

// Addr is the bound UDP address (useful with port 0).
func (u *UA) Addr() netip.AddrPort {
	if u.pc == nil {
		return netip.AddrPort{}
	}
	return u.pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close hangs up every call, unregisters every line (best effort, 1 s) and
// stops.
func (u *UA) Close() error {
	if !u.started.Load() || !u.closed.CompareAndSwap(false, true) {
		return nil
	}
	u.callMu.Lock()
	calls := make([]*Call, 0, len(u.calls))
	for _, cs := range u.calls {
		calls = append(calls, cs...)
	}
	u.callMu.Unlock()
	for _, c := range calls {
		c.Hangup()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	// The BYEs just sent get the same second as the un-registrations.
	byes := make(chan struct{})
	go func() {
		// The lock orders the Adds made so far (under bgMu) before this Wait.
		u.bgMu.Lock()
		//lint:ignore SA2001 an empty critical section is the point: see above
		u.bgMu.Unlock()
		u.bg.Wait()
		close(byes)
	}()
	var wg sync.WaitGroup
	for _, l := range u.lines {
		l.mu.Lock()
		bound := append([]bool(nil), l.bound...)
		l.mu.Unlock()
		for i, b := range bound {
			if !b {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.doRegister(ctx, l, u.regs[i], 0)
			}()
		}
	}
	wg.Wait()
	select {
	case <-byes:
	case <-ctx.Done():
	}
	cancel()
	u.cancel()
	u.bgMu.Lock()
	u.bgDone = true
	u.bgMu.Unlock()
	u.bgCancel()
	u.bg.Wait()
	u.dlg.close()
	u.closePaths()
	u.closeTLS()
	u.wg.Wait()
	var err error
	for _, p := range u.paths {
		if p.ua != nil {
			err = errors.Join(err, p.ua.Close())
		}
		p.mu.Lock()
		if p.hold != nil {
			p.hold.Stop()
		}
		p.mu.Unlock()
	}
	return err
}

// closePaths closes every path's listeners.
func (u *UA) closePaths() {
	for _, p := range u.paths {
		if p.pc != nil {
			p.pc.Close()
		}
		if p.tcpLn != nil {
			p.tcpLn.Close()
		}
	}
}

// registerHandlers serves a path's requests. Every path serves the same
// methods (add new ones here, so they work over every path); an INVITE
// belongs to the path it came by.
func (u *UA) registerHandlers(p *pathStack) {
	if p.idx == 0 {
		p.srv.OnInvite(u.onInvite)
	} else {
		p.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) { u.onInviteOver(p, req, tx) })
	}
	p.srv.OnAck(u.onAck)
	p.srv.OnBye(u.onBye)
	p.srv.OnCancel(u.onStrayCancel)
	p.srv.OnOptions(u.onOptions)
	p.srv.OnNotify(u.onNotify) // by Event: refer (refer.go), message-summary (mwi.go)
	p.srv.OnUpdate(u.onUpdate) // offer.go
	p.srv.OnPrack(u.onPrack)   // prack.go
	p.srv.OnNoRoute(func(req *sip.Request, tx sip.ServerTransaction) {
		u.respond(tx, req, 405, "Method Not Allowed")
	})
}

// filter is the transport read filter: only registrars may speak to us.
// UDP datagrams from anyone else are dropped (nil, nil keeps the listener
// alive); a TCP connection from anyone else is closed.
func (u *UA) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	var ip netip.Addr
	switch a := p.RemoteAddr.(type) {
	case *net.UDPAddr:
		ip = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		ip = a.AddrPort().Addr().Unmap()
	}
	if _, ok := (*u.allowed.Load())[ip]; ok && ip.IsValid() {
		return u.filterTransport(p, data)
	}
	u.m.untrustedDropped.Inc()
	if strings.EqualFold(p.Transport, "udp") {
		return nil, nil
	}
	return nil, fmt.Errorf("untrusted peer %s", ip)
}

// resolve looks a registrar's host up and widens the allow-list.
func (u *UA) resolve(r *registrar) bool {
	r.mu.Lock()
	have := len(r.ips) > 0
	r.mu.Unlock()
	if have {
		return true
	}
	ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", r.host)
	if err != nil || len(ips) == 0 {
		u.log.Warn("registrar address does not resolve", "registrar", r.cfg.Name, "host", r.host, "err", err)
		return false
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	r.mu.Lock()
	r.ips = ips
	r.dest = netip.AddrPortFrom(ips[0], uint16(r.port)).String()
	r.mu.Unlock()
	for _, rp := range r.paths {
		local := u.localAddr(rp.p, ips[0], r.port)
		rp.mu.Lock()
		rp.local = local
		rp.mu.Unlock()
	}
	for {
		old := u.allowed.Load()
		next := make(map[netip.Addr]struct{}, len(*old)+len(ips))
		for a := range *old {
			next[a] = struct{}{}
		}
		for _, a := range ips {
			next[a] = struct{}{}
		}
		if u.allowed.CompareAndSwap(old, &next) {
			return true
		}
	}
}

// advertiseFor picks the address we give a registrar: the configured one,
// the specific listen address, or what the kernel routes towards it.
func (u *UA) advertiseFor(peer netip.Addr, port int) netip.Addr {
	if u.cfg.Advertise != "" {
		a, _ := netip.ParseAddr(u.cfg.Advertise)
		return a
	}
	if u.listenIP.IsValid() && !u.listenIP.IsUnspecified() {
		return u.listenIP
	}
	c, err := net.Dial("udp", netip.AddrPortFrom(peer, uint16(port)).String())
	if err == nil {
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	return netip.MustParseAddr("127.0.0.1")
}

// initClient makes the registrar's client over each of its paths.
func (u *UA) initClient(r *registrar) error {
	for _, rp := range r.paths {
		if err := u.buildClient(rp); err != nil {
			return err
		}
	}
	return nil
}

// registrarFor finds the registrar a request came from: the one at its
// source address and port (two PBXs may share a host), else the first at
// its address.
func (u *UA) registrarFor(req *sip.Request) *registrar {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return u.regs[0]
	}
	ip := ap.Addr().Unmap()
	var byIP *registrar
	for _, r := range u.regs {
		r.mu.Lock()
		for _, a := range r.ips {
			if a != ip {
				continue
			}
			if int(ap.Port()) == r.port {
				r.mu.Unlock()
				return r
			}
			if byIP == nil {
				byIP = r
			}
		}
		r.mu.Unlock()
	}
	if byIP != nil {
		return byIP
	}
	return u.regs[0]
}

func (u *UA) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	if code >= 400 {
		u.m.requestsRejected.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		u.log.Debug("sip respond failed", "code", code, "err", err)
	}
}

func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		u.log.Debug("sip respond failed", "err", err)
	}
}

// lineFor maps a request to a line by its Request-URI user: our Contact
// carries the extension, so a registrar's INVITE does too.
func (u *UA) lineFor(req *sip.Request) *line {
	return u.byExt[req.Recipient.User]
}

// lookupCall finds the call an in-dialog request belongs to: the Call-ID
// and both tags must match (From carries the peer's tag, To ours), so a
// request that merely knows a Call-ID cannot end or move someone's call.
func (u *UA) lookupCall(req *sip.Request) *Call {
	id := req.CallID()
	if id == nil || req.From() == nil || req.To() == nil {
		return nil
	}
	u.callMu.Lock()
	cs := slices.Clone(u.calls[id.Value()])
	u.callMu.Unlock()
	fromTag, _ := req.From().Params.Get("tag")
	toTag, _ := req.To().Params.Get("tag")
	for _, c := range cs {
		c.mu.Lock()
		local, remote := c.localTag, c.remoteTag
		c.mu.Unlock()
		if local != "" && remote != "" && fromTag == remote && toTag == local {
			return c
		}
	}
	return nil
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c != nil && u.ackInDialog(c, req) {
		return // the ACK of a re-INVITE's 2xx (offer.go)
	}
	if c != nil && c.srv != nil {
		if err := c.srv.ReadAck(req, tx); err != nil {
			u.log.Debug("ack not for this dialog", "call", c.CallID, "err", err)
		} else {
			c.ackArrived()
		}
	}
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.lookupCall(req)
	if c == nil {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	switch {
	case c.srv != nil:
		err = c.srv.ReadBye(req, tx)
	case c.cli != nil:
		err = c.cli.ReadBye(req, tx)
	}
	if err != nil {
		u.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.end(nil, "remote BYE")
}

// background runs f (a BYE, a CANCEL) off the caller's path, bounded by
// the transaction timers; Close waits for it a moment, then cancels it.
func (u *UA) background(f func(ctx context.Context)) {
	u.bgMu.Lock()
	defer u.bgMu.Unlock()
	if u.bgDone {
		return
	}
	u.bg.Add(1)
	go func() {
		defer u.bg.Done()
		ctx, cancel := context.WithTimeout(u.bgCtx, 64*sip.T1+time.Second)
		defer cancel()
		f(ctx)
	}()
}
