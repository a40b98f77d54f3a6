package sip

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const lossWindow = 20

// registrar is one rung of the ladder: its address and, for each network
// path it may be reached by, that path's probed health (regPath). Its own
// verdict is the verdict of the path in use.
type registrar struct {
	cfg    Registrar
	idx    int
	host   string
	port   int
	domain string
	tp     string     // UDP | TCP | TLS
	paths  []*regPath // in the configured order of preference

	mu      sync.Mutex
	ips     []netip.Addr
	dest    string // ip:port requests go to
	cur     int    // the path in use: index into paths
	known   bool
	up      bool
	holding bool
	upSince time.Duration // on the UA's clock
}

// regPath is a registrar as reached over one network path: the path's
// client, the address we give the registrar over it (the NAT's public one
// once learned), and the path's own probed health (verdict, RTT, loss),
// keyed by (registrar, path).
type regPath struct {
	r   *registrar
	p   *pathStack
	idx int // in r.paths

	mu      sync.Mutex
	cli     *sipgo.Client
	local   netip.Addr     // our address on the path (Via, and Contact/SDP until a public one is known)
	pub     netip.AddrPort // the public address the registrar saw (Via received/rport), on NAT paths
	holding bool           // the path lost its interface or bearer: the verdict is held (Path.HoldDown)
	forced  bool           // the down verdict is the path's (forceDown), not the probes'
	known   bool
	up      bool
	misses  int
	oks     int
	upSince time.Duration // on the UA's clock
	rtt     time.Duration
	window  [lossWindow]bool // true = lost
	wn, wi  int
	susp    suspicion     // round-trip history and the probe burst under way (burst.go)
	kick    chan struct{} // probe at once (the path came back, or was renumbered)
	epoch   int           // bumped when the path comes back or is renumbered: bindings over it are renewed
}

// destination is where requests to the registrar go, and the address we
// advertise to it over the path in use.
func (r *registrar) destination() (string, netip.Addr, bool) {
	rp := r.current()
	r.mu.Lock()
	dest := r.dest
	r.mu.Unlock()
	return dest, rp.advertise(), dest != ""
}

// current is the path in use.
func (r *registrar) current() *regPath {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paths[r.cur]
}

// client is the current path's client.
func (r *registrar) client() *sipgo.Client { return r.current().client() }

func (rp *regPath) client() *sipgo.Client {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.cli
}

// advertise is the address put in Contact and SDP over this path.
func (rp *regPath) advertise() netip.Addr {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.p != nil && rp.p.cfg.NAT && rp.pub.IsValid() {
		return rp.pub.Addr()
	}
	return rp.local
}

// contactPort is the port put in Contact over this path: the NAT's
// public one once learned, else the path's listening port.
func (rp *regPath) contactPort() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.p.cfg.NAT && rp.pub.IsValid() {
		return int(rp.pub.Port())
	}
	return rp.p.port
}

// health returns the path's published view.
func (rp *regPath) health() PathHealth {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	lost := 0
	for i := 0; i < rp.wn; i++ {
		if rp.window[i] {
			lost++
		}
	}
	loss := 0.0
	if rp.wn > 0 {
		loss = float64(lost) / float64(rp.wn)
	}
	h := PathHealth{Up: rp.up, Known: rp.known, Holding: rp.holding, RTT: rp.rtt, Loss: loss}
	if rp.p != nil {
		h.Path = rp.p.cfg.Name
	}
	if rp.pub.IsValid() {
		h.Public = rp.pub.String()
	}
	return h
}

// usable: the path is up (a held verdict included).
func (rp *regPath) usable() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.known && rp.up
}

// record folds one probe result in, at now on the UA's clock, and reports
// whether the verdict changed.
func (rp *regPath) record(ok bool, rtt time.Duration, downAfter, upAfter int, now time.Duration) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.forced = false
	rp.window[rp.wi] = !ok
	rp.wi = (rp.wi + 1) % lossWindow
	rp.wn = min(rp.wn+1, lossWindow)
	if ok {
		rp.rtt = rtt
		rp.oks++
		rp.misses = 0
		if !rp.up && (!rp.known || rp.oks >= upAfter) {
			rp.up, rp.known, rp.upSince = true, true, now
			rp.restartWindowLocked(false, rp.oks)
			return true
		}
		return false
	}
	rp.misses++
	rp.oks = 0
	if (rp.up || !rp.known) && rp.misses >= downAfter {
		rp.up, rp.known = false, true
		rp.restartWindowLocked(true, rp.misses)
		return true
	}
	return false
}

// forceDown gives the down verdict at once (the path's interface is gone
// and no hold-down applies, or the hold-down ran out). It reports whether
// the verdict changed.
func (rp *regPath) forceDown() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.holding = false
	if rp.known && !rp.up {
		return false
	}
	rp.up, rp.known, rp.oks, rp.forced = false, true, 0, true
	rp.restartWindowLocked(true, 1)
	return true
}

// Registrars returns every registrar's health, in ladder order.
func (u *UA) Registrars() []RegistrarHealth {
	out := make([]RegistrarHealth, len(u.regs))
	for i, r := range u.regs {
		out[i] = r.health()
	}
	return out
}

// health is the registrar's published view: the path in use and every
// path's own health.
func (r *registrar) health() RegistrarHealth {
	r.mu.Lock()
	up, known, holding, cur := r.up, r.known, r.holding, r.cur
	r.mu.Unlock()
	h := RegistrarHealth{Registrar: r.cfg.Name, Index: r.idx, Up: up, Known: known, Holding: holding}
	for i, rp := range r.paths {
		ph := rp.health()
		h.Paths = append(h.Paths, ph)
		if i == cur {
			h.Path, h.RTT, h.Loss = ph.Path, ph.RTT, ph.Loss
		}
	}
	return h
}

// isDown is true only for a known-down registrar.
func (r *registrar) isDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known && !r.up
}

// upFor reports how long the registrar has been up at now on the UA's
// clock (0 when it is not).
func (r *registrar) upFor(now time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.up {
		return 0
	}
	return now - r.upSince
}

// probeLoop sends OPTIONS over one path every one of the path's probe
// intervals; probes overlap when the timeout is longer than the interval,
// so a dead registrar is noticed within about ProbeTimeout +
// DownAfter*interval. While the path is known to be without its interface
// (or bearer) nothing is sent: its verdict is the path's (see pathLost).
func (u *UA) probeLoop(rp *regPath) {
	defer u.wg.Done()
	t := time.NewTicker(rp.p.cfg.ProbeInterval)
	defer t.Stop()
	for {
		if !rp.p.isDown() {
			u.wg.Add(1)
			go u.probe(rp)
		}
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		case <-rp.kick:
		}
	}
}

func (u *UA) probe(rp *regPath) {
	defer u.wg.Done()
	r := rp.r
	sent := rp.susp.mark()
	stop := u.watchProbe(rp) // late: a burst settles it (burst.go)
	ok, rtt := u.sendProbe(rp)
	stop()
	if u.ctx.Err() != nil || rp.p.isDown() {
		return // the path went away while the probe was out: pathLost decides
	}
	name, path := r.cfg.Name, rp.p.cfg.Name
	cur := r.current() == rp
	res := "lost"
	if ok {
		res = "answered"
		u.m.pathRTT.WithLabelValues(name, path).Observe(rtt.Seconds())
		if cur {
			u.m.registrarRTT.WithLabelValues(name).Observe(rtt.Seconds())
		}
	}
	u.m.pathProbes.WithLabelValues(name, path, res).Inc()
	if cur {
		u.m.registrarProbes.WithLabelValues(name, res).Inc()
	}
	if ok {
		rp.susp.heard(rtt)
	} else if rp.susp.answeredSince(sent) {
		rp.lostAfterAnswer() // a later probe was answered: no silence
		return
	}
	why := "probe"
	if !ok {
		why = "probes lost in a row"
	}
	u.pathVerdict(rp, rp.record(ok, rtt, u.cfg.DownAfter, u.cfg.UpAfter, u.clock.Now()), why)
}

// pathVerdict publishes a path's new verdict (changed) and settles which
// path its registrar uses and the registrar's own verdict; why says what
// took it down.
func (u *UA) pathVerdict(rp *regPath, changed bool, why string) {
	r := rp.r
	name, path := r.cfg.Name, rp.p.cfg.Name
	if changed {
		h := rp.health()
		u.m.pathUp.WithLabelValues(name, path).Set(b2f(h.Up))
		if len(r.paths) > 1 {
			if h.Up {
				u.log.Info("registrar path up", "registrar", name, "path", path, "rtt", h.RTT)
			} else {
				u.log.Warn("registrar path down", "registrar", name, "path", path, "why", why)
			}
		}
	}
	if !u.settle(r, why) && changed {
		h := r.health() // another path's verdict: status shows it
		h.At = u.clock.Now()
		u.publish(h)
	}
}

// sendProbe sends one OPTIONS over rp's path; any response at all means
// the registrar is alive over it. Over UDP it is a quick probe
// (quickprobe.go); on a NAT path sipgo's, whose response's Via tells the
// public address the registrar saw.
func (u *UA) sendProbe(rp *regPath) (bool, time.Duration) {
	r := rp.r
	if !u.resolve(r) {
		return false, 0
	}
	r.mu.Lock()
	dest := r.dest
	r.mu.Unlock()
	if q := rp.p.qp; q != nil && r.tp == "UDP" && !rp.p.cfg.NAT {
		if ap, err := netip.ParseAddrPort(dest); err == nil {
			if ok, rtt, done := u.quickProbe(rp, q, ap); done {
				return ok, rtt
			}
		}
	}
	adv := rp.advertise()
	cli := rp.client()
	if cli == nil {
		return false, 0
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: r.domain, Port: r.port})
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "critline", Host: adv.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: r.domain}, Params: sip.NewParams()})
	ctx, cancel := context.WithTimeout(u.ctx, u.cfg.ProbeTimeout)
	defer cancel()
	start := u.clock.Now()
	res, err := cli.Do(ctx, req)
	if err != nil || res == nil {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			u.log.Debug("probe failed", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "err", err)
		}
		return false, 0
	}
	rtt := u.clock.Now() - start
	u.learnPublic(rp, res)
	return true, rtt
}

// learnPublic reads the address the registrar saw us at from a response's
// top Via (received, rport: RFC 3581) and, on a NAT path, adopts it for
// Contact and SDP. A change (the carrier's NAT gave us a new address or
// port: a re-established data session, a NAT rebinding) makes the lines
// bound over the path register again at once.
func (u *UA) learnPublic(rp *regPath, res *sip.Response) {
	if rp.p == nil || !rp.p.cfg.NAT {
		return
	}
	via := res.Via()
	if via == nil {
		return
	}
	ip, err := netip.ParseAddr(via.Host)
	if v, ok := via.Params.Get("received"); ok {
		ip, err = netip.ParseAddr(v)
	}
	if err != nil {
		return
	}
	port := via.Port
	if v, ok := via.Params.Get("rport"); ok && v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
			port = n
		}
	}
	if port <= 0 || port > 65535 {
		return
	}
	pub := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	rp.mu.Lock()
	old := rp.pub
	rp.pub = pub
	rp.mu.Unlock()
	if old == pub {
		return
	}
	r := rp.r
	inUse := r.current() == rp
	switch {
	case old.IsValid() && inUse:
		u.log.Warn("public address on the path changed: registering again", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "was", old, "now", pub)
	case old.IsValid():
		// A path standing by has no keep-alives: the NAT may map each
		// probe afresh. Nothing is registered over it.
		u.log.Debug("public address on the path standing by changed", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "was", old, "now", pub)
	default:
		u.log.Info("public address on the path", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "address", pub)
	}
	u.publish(r.health())
	if inUse {
		for _, l := range u.lines {
			l.poke(r.idx, false)
		}
	}
}
