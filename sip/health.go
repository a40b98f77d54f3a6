package sip

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const lossWindow = 20

// registrar is one rung of the ladder and its probed health.
type registrar struct {
	cfg    Registrar
	idx    int
	host   string
	port   int
	domain string
	tp     string // UDP | TCP | TLS
	cli    *sipgo.Client

	mu      sync.Mutex
	ips     []netip.Addr
	dest    string // ip:port requests go to
	adv     netip.Addr
	known   bool
	up      bool
	misses  int
	oks     int
	upSince time.Time
	rtt     time.Duration
	window  [lossWindow]bool // true = lost
	wn, wi  int
}

func (r *registrar) destination() (string, netip.Addr, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dest, r.adv, r.dest != ""
}

// health returns the published view.
func (r *registrar) health() RegistrarHealth {
	r.mu.Lock()
	defer r.mu.Unlock()
	lost := 0
	for i := 0; i < r.wn; i++ {
		if r.window[i] {
			lost++
		}
	}
	loss := 0.0
	if r.wn > 0 {
		loss = float64(lost) / float64(r.wn)
	}
	return RegistrarHealth{Registrar: r.cfg.Name, Index: r.idx, Up: r.up, Known: r.known, RTT: r.rtt, Loss: loss}
}

// isDown is true only for a known-down registrar.
func (r *registrar) isDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.known && !r.up
}

// upFor reports how long the registrar has been up (0 when it is not).
func (r *registrar) upFor(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.up {
		return 0
	}
	return now.Sub(r.upSince)
}

// record folds one probe result in and reports whether the verdict changed.
func (r *registrar) record(ok bool, rtt time.Duration, downAfter, upAfter int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.window[r.wi] = !ok
	r.wi = (r.wi + 1) % lossWindow
	r.wn = min(r.wn+1, lossWindow)
	if ok {
		r.rtt = rtt
		r.oks++
		r.misses = 0
		if !r.up && (!r.known || r.oks >= upAfter) {
			r.up, r.known, r.upSince = true, true, time.Now()
			r.restartWindowLocked(false, r.oks)
			return true
		}
		return false
	}
	r.misses++
	r.oks = 0
	if (r.up || !r.known) && r.misses >= downAfter {
		r.up, r.known = false, true
		r.restartWindowLocked(true, r.misses)
		return true
	}
	return false
}

// Registrars returns every registrar's health, in ladder order.
func (u *UA) Registrars() []RegistrarHealth {
	out := make([]RegistrarHealth, len(u.regs))
	for i, r := range u.regs {
		out[i] = r.health()
	}
	return out
}

// probeLoop sends OPTIONS every ProbeInterval; probes overlap when the
// timeout is longer than the interval, so a dead registrar is noticed
// within about ProbeTimeout + DownAfter*ProbeInterval.
func (u *UA) probeLoop(r *registrar) {
	defer u.wg.Done()
	t := time.NewTicker(u.cfg.ProbeInterval)
	defer t.Stop()
	for {
		u.wg.Add(1)
		go u.probe(r)
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (u *UA) probe(r *registrar) {
	defer u.wg.Done()
	ok, rtt := u.sendProbe(r)
	if u.ctx.Err() != nil {
		return
	}
	name := r.cfg.Name
	if ok {
		u.m.registrarProbes.WithLabelValues(name, "answered").Inc()
		u.m.registrarRTT.WithLabelValues(name).Observe(rtt.Seconds())
	} else {
		u.m.registrarProbes.WithLabelValues(name, "lost").Inc()
	}
	if !r.record(ok, rtt, u.cfg.DownAfter, u.cfg.UpAfter) {
		return
	}
	h := r.health()
	h.At = u.clock.Now()
	if h.Up {
		u.m.registrarUp.WithLabelValues(name).Set(1)
		u.log.Info("registrar up", "registrar", name, "rtt", h.RTT)
	} else {
		u.m.registrarUp.WithLabelValues(name).Set(0)
		u.log.Warn("registrar down", "registrar", name, "lost_probes", u.cfg.DownAfter)
	}
	u.publish(h)
	for _, l := range u.lines {
		l.poke(r.idx, h.Up)
	}
}

// sendProbe sends one OPTIONS; any response at all means the registrar is
// alive.
func (u *UA) sendProbe(r *registrar) (bool, time.Duration) {
	if !u.resolve(r) {
		return false, 0
	}
	dest, adv, _ := r.destination()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: r.domain, Port: r.port})
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "critline", Host: adv.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: r.domain}, Params: sip.NewParams()})
	ctx, cancel := context.WithTimeout(u.ctx, u.cfg.ProbeTimeout)
	defer cancel()
	start := time.Now()
	res, err := r.cli.Do(ctx, req)
	if err != nil || res == nil {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			u.log.Debug("probe failed", "registrar", r.cfg.Name, "err", err)
		}
		return false, 0
	}
	return true, time.Since(start)
}
