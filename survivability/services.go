package survivability

// The flash-hook services of the ports (issue 14 point 3): the port
// decides (fxs/services.go); here its calls are held and taken back (a SIP
// call by re-INVITE), a second SIP call to a port in a call waits instead
// of getting busy, and the services are counted. Transfers are in
// transfer.go.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// How a port's hook flash is used ([[port]] flash): the appliance applies
// the services itself, or passes the flash to the PBX in one of the SIP
// ways (sip.Flash*).
const (
	FlashLocal = "local"
)

// holdTimeout bounds one re-INVITE that holds or resumes a call.
const holdTimeout = 20 * time.Second

// flashMetrics count the services.
type flashMetrics struct {
	services  *prometheus.CounterVec // port, service
	transfers *prometheus.CounterVec // port, method, result
}

func newFlashMetrics(reg prometheus.Registerer, ports []int) (*flashMetrics, error) {
	m := &flashMetrics{
		services: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_flash_services_total",
			Help: "Flash-hook services used on a port, by service: enquiry (R with one call), swap, conference (three-way), split, transfer, retrieve, released (one of two calls ended by a code), waiting (a call waiting announced), waiting-answered, waiting-rejected, ring-back (hung up with a call held), transfer-failed.",
		}, []string{"port", "service"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_transfers_total",
			Help: "Call transfers by the porter, by method (refer: the PBX's callers joined by SIP REFER; bridge: joined inside the appliance) and result (ok: the two parties were connected; failed).",
		}, []string{"port", "method", "result"}),
	}
	for _, c := range []prometheus.Collector{m.services, m.transfers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, id := range ports {
		for _, s := range []string{fxs.ServiceEnquiry, fxs.ServiceSwap, fxs.ServiceConference, fxs.ServiceTransfer, fxs.ServiceWaiting, fxs.ServiceAnswered} {
			m.services.WithLabelValues(portLabel(id), s)
		}
		for _, meth := range []string{transferREFER, transferBridge} {
			for _, r := range []string{"ok", "failed"} {
				m.transfers.WithLabelValues(portLabel(id), meth, r)
			}
		}
	}
	return m, nil
}

// serviceEvent counts a port's flash-hook service.
func (a *Appliance) serviceEvent(p *port, ev fxs.Event) {
	if a.fm == nil || ev.Detail == "" {
		return
	}
	a.fm.services.WithLabelValues(portLabel(p.opt.ID), ev.Detail).Inc()
}

// sipHolder applies a port's hold and resume to a SIP call in order, off
// the port's worker: the latest wish wins, one re-INVITE at a time.
type sipHolder struct {
	mu   sync.Mutex
	want bool
	have bool
	busy bool
}

func (h *sipHolder) set(a *Appliance, c *sip.Call, on bool) {
	h.mu.Lock()
	h.want = on
	if h.busy {
		h.mu.Unlock()
		return
	}
	h.busy = true
	h.mu.Unlock()
	go func() {
		for {
			h.mu.Lock()
			want := h.want
			if want == h.have {
				h.busy = false
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), holdTimeout)
			err := c.Hold(ctx, want)
			cancel()
			if err != nil && !errors.Is(err, sip.ErrNotAnswered) {
				a.log.Warn("hold by re-INVITE failed; the port holds the call itself (the far end hears silence)", "port", c.Port(), "hold", want, "err", err)
			}
			h.mu.Lock()
			h.have = want // failed or not: never retried in a loop
			h.mu.Unlock()
		}
	}()
}

// Hold implements fxs.Holder for an outbound SIP call.
func (c *sipCall) Hold(on bool) error {
	c.hold.set(c.a, c.current(), on)
	return nil
}

// Hold implements fxs.Holder for an inbound SIP call.
func (s *sipInbound) Hold(on bool) error {
	s.mu.Lock()
	call := s.call
	s.mu.Unlock()
	if call == nil {
		return errors.New("call not answered")
	}
	s.hold.set(s.a, call, on)
	return nil
}

// Reject implements fxs.Rejecter: a waiting caller turned away hears busy.
func (s *sipInbound) Reject() error {
	s.mu.Lock()
	s.rejected = true
	s.mu.Unlock()
	return s.ic.Reject(486, "Busy Here")
}

// Hold implements fxs.Holder for the current attempt; a route that cannot
// hold (a trunk) is held by the port, which stops pumping its audio.
func (lc *ladderCall) Hold(on bool) error {
	lc.mu.Lock()
	call := lc.call
	lc.mu.Unlock()
	if h, ok := call.(fxs.Holder); ok {
		return h.Hold(on)
	}
	return nil
}

// waitingSIP offers an inbound SIP call to a port in a call as a call
// waiting; it reports whether the port took it.
func (a *Appliance) waitingSIP(p *port, in *sipInbound, cid dsp.CallerID) (fxs.Progress, bool) {
	if !p.opt.CallWaiting {
		return nil, false
	}
	pr, err := p.fx.OfferWaitingCall(in, cid)
	if err != nil {
		a.log.Info("inbound SIP call: no call waiting on the port", "port", p.opt.ID, "err", err)
		return nil, false
	}
	a.log.Info("inbound SIP call waiting", "port", p.opt.ID, "caller", cid.Number)
	return pr, true
}
