package forwarding

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// Network forwarding reasons (3GPP TS 27.007 +CCFC <reason>): the reason
// strings a NetworkForwarder is given.
const (
	NetUnconditional = "unconditional" // every call, before it reaches the SIM
	NetBusy          = "busy"          // the SIM is in a call
	NetNoReply       = "no-reply"      // the SIM rings and nobody answers
	NetNotReachable  = "not-reachable" // the modem is off or out of coverage
)

// NetReasons lists the network reasons the mirror manages, in the order
// it sends them.
func NetReasons() []string {
	return []string{NetUnconditional, NetBusy, NetNoReply, NetNotReachable}
}

// unconditionalRing is the network's no-reply time used to mirror
// unconditional forwarding: short, so that while the appliance is down a
// caller rings only briefly before the network forwards the call.
const unconditionalRing = 5 * time.Second

// netWant is what one network reason should be set to ("" = cleared).
type netWant struct {
	number string
	ring   time.Duration
}

// networkWants maps a port's forwarding onto the network's reasons. The
// mobile network's forwarding acts on every call to the SIM's number, also
// the call of a member of staff who rings in to cancel, so unconditional
// forwarding is never mirrored as the network's unconditional forward:
// it becomes forward-on-no-reply (after a short ring), on not-reachable and
// on busy. While the appliance runs it answers or forwards calls itself
// before the network's timer ends; while it is down (no power, no daemon,
// no modem) the network forwards them. No-answer forwarding also covers
// not-reachable, and so does busy forwarding when nothing else is set:
// with the appliance down, nobody could answer anyway.
func networkWants(s Settings) map[string]netWant {
	w := map[string]netWant{NetUnconditional: {}, NetBusy: {}, NetNoReply: {}, NetNotReachable: {}}
	switch {
	case s.Unconditional != "":
		w[NetBusy] = netWant{number: s.Unconditional}
		w[NetNoReply] = netWant{number: s.Unconditional, ring: unconditionalRing}
		w[NetNotReachable] = netWant{number: s.Unconditional}
		return w
	case s.NoAnswer != "":
		w[NetNoReply] = netWant{number: s.NoAnswer, ring: s.NoAnswerAfter}
		w[NetNotReachable] = netWant{number: s.NoAnswer}
	case s.Busy != "":
		w[NetNotReachable] = netWant{number: s.Busy}
	}
	if s.Busy != "" {
		w[NetBusy] = netWant{number: s.Busy}
	}
	return w
}

// mirrorPolicy decides which port may be mirrored: the single port with
// forward_mirror, and only when the SIM's calls are that port's calls
// alone. It returns the port (0: none) and, when a mirror is configured
// but refused, why.
func mirrorPolicy(ports map[int]*portCfg, network NetworkForwarder, serves []int) (int, string) {
	want := 0
	for id, p := range ports {
		if p.mirror {
			want = id
		}
	}
	if want == 0 {
		return 0, ""
	}
	if network == nil {
		return 0, "no cellular modem trunk to mirror into"
	}
	s := slices.Clone(serves)
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) == 1 && s[0] == want {
		return want, ""
	}
	others := make([]string, 0, len(s))
	for _, id := range s {
		if id != want {
			others = append(others, fmt.Sprint(id))
		}
	}
	return 0, fmt.Sprintf("the trunk's SIM also receives the calls of port %s: network forwarding would forward them too; "+
		"give the trunk this port alone ([[trunk]] ports = [%d]) to mirror", strings.Join(others, ", "), want)
}

// MirrorState says whether port's forwarding is mirrored into the mobile
// network: "on", "refused: WHY", or "" when the port does not ask for it.
func (m *Manager) MirrorState(port int) string {
	pc, ok := m.ports[port]
	switch {
	case !ok || !pc.mirror:
		return ""
	case m.mirrorPort == port:
		return "on"
	}
	return "refused: " + m.mirrorRefused
}

// Mirror retries: a failed reason is sent again after mirrorRetry,
// doubling up to mirrorRetryMax, until the network takes it (the modem may
// still be starting, or out of coverage).
const (
	mirrorRetry    = 5 * time.Second
	mirrorRetryMax = 5 * time.Minute
)

// mirrorQueue sends the latest wanted state of each network reason from
// one goroutine, so a slow or failing modem never holds up a change and
// quick successive changes collapse into the last one. What fails is
// tried again later.
type mirrorQueue struct {
	m       *Manager
	mu      sync.Mutex
	last    map[string]netWant  // what was last asked for
	pending map[string]*netWant // nil entry: nothing to do
	retry   map[string]netWant  // failed, to be sent again unless replaced
	backoff time.Duration
	timer   hal.Timer
	closed  bool
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (q *mirrorQueue) start(m *Manager) {
	q.m = m
	q.pending = map[string]*netWant{}
	q.last = map[string]netWant{}
	q.retry = map[string]netWant{}
	q.backoff = mirrorRetry
	q.wake = make(chan struct{}, 1)
	q.quit = make(chan struct{})
	q.done = make(chan struct{})
	go q.run()
}

// sync asks for the network state matching s; force sends every reason
// (at start: the network may hold anything).
func (q *mirrorQueue) sync(s Settings, force bool) {
	q.mu.Lock()
	for r, w := range networkWants(s) {
		if last, ok := q.last[r]; force || !ok || last != w {
			q.last[r] = w
			q.pending[r] = &w
			delete(q.retry, r)
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *mirrorQueue) stop() {
	q.once.Do(func() {
		q.mu.Lock()
		q.closed = true
		if q.timer != nil {
			q.timer.Stop()
		}
		q.mu.Unlock()
		close(q.quit)
	})
	<-q.done
}

// retryLater keeps a failed reason for another try, unless a newer want
// replaced it meanwhile.
func (q *mirrorQueue) retryLater(reason string, w netWant) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.pending[reason] != nil || q.last[reason] != w {
		return
	}
	q.retry[reason] = w
	if q.timer == nil {
		d := q.backoff
		q.backoff = min(2*q.backoff, mirrorRetryMax)
		q.timer = q.m.clock.AfterFunc(d, q.retryNow)
	}
}

func (q *mirrorQueue) retryNow() {
	q.mu.Lock()
	q.timer = nil
	for r, w := range q.retry {
		if q.pending[r] == nil {
			q.pending[r] = &w
		}
	}
	clear(q.retry)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *mirrorQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.wake:
			q.drain()
		case <-q.quit:
			q.drain()
			return
		}
	}
}

func (q *mirrorQueue) drain() {
	for {
		q.mu.Lock()
		var reason string
		var want *netWant
		for _, r := range NetReasons() {
			if w := q.pending[r]; w != nil {
				reason, want = r, w
				delete(q.pending, r)
				break
			}
		}
		q.mu.Unlock()
		if want == nil {
			return
		}
		if err := q.send(reason, *want); err != nil {
			q.retryLater(reason, *want)
			continue
		}
		q.mu.Lock()
		if len(q.retry) == 0 && q.timer == nil {
			q.backoff = mirrorRetry
		}
		q.mu.Unlock()
	}
}

func (q *mirrorQueue) send(reason string, w netWant) error {
	ctx, cancel := context.WithTimeout(context.Background(), q.m.cfg.MirrorTimeout)
	defer cancel()
	var err error
	if w.number == "" {
		err = q.m.network.ClearForwarding(ctx, reason)
	} else {
		err = q.m.network.SetForwarding(ctx, reason, w.number, w.ring)
	}
	if err != nil {
		q.m.m.mirrorFail.Inc()
		q.m.log.Warn("call forwarding not mirrored into the mobile network yet; the local setting stands, trying again later", "reason", reason, "number", w.number, "err", err)
		return err
	}
	q.m.log.Info("call forwarding mirrored into the mobile network", "reason", reason, "number", w.number, "ring_time", w.ring)
	return nil
}
