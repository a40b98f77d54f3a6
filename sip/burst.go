package sip

// Suspicion and probe bursts (issue 19): a registrar that has been
// answering within milliseconds and then leaves a probe or an INVITE
// unanswered for a few of its own round-trip times is suspected at once,
// and a burst of probes settles the question within a few more: any answer
// (to a probe of the burst, to the probe that was late, to the INVITE)
// clears it; none at all is the verdict "down". One lost datagram on a
// healthy link is thus never taken for death: the burst's probes are
// answered. A registrar with no round-trip history gets the fixed
// deadlines (ProbeTimeout, FirstResponse) as before.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	// rttMultiple: a registrar is late when it has not answered within this
	// many times the slowest of its recent probe answers (at least
	// Config.RTTFloor).
	rttMultiple = 3
	// rttHistory is how many answers a registrar must have given before
	// its round-trip time is trusted for a deadline.
	rttHistory = 3
	// reliableFloor is the least deadline over TCP or TLS: a lost segment
	// holds up everything behind it on the connection until the sender's
	// retransmission timer (at least 200 ms on Linux) fires, so a deadline
	// shorter than that would take one lost segment for a dead registrar.
	reliableFloor = 300 * time.Millisecond
)

// suspicion is what a registrar's recent answers say about how quickly it
// answers, and the burst under way.
type suspicion struct {
	mu      sync.Mutex
	rtts    [lossWindow]time.Duration // the last answers' round-trip times
	n, i    int
	answers uint64 // answers of any kind so far: a mark to ask "any since?"
	cur     *burst // the burst under way, if any
}

// burst is one probe burst and its verdict.
type burst struct {
	done  chan struct{} // closed when the verdict is in
	alive bool          // the verdict, valid once done is closed
	start time.Duration // on the UA's clock
}

// settled returns a burst whose verdict is already in.
func settled(alive bool) *burst {
	b := &burst{done: make(chan struct{}), alive: alive}
	close(b.done)
	return b
}

// heard books an answer from the registrar (rtt 0: an answer whose
// round-trip time is not a probe's, such as an INVITE's response) and
// clears a burst under way. A probe answered only after its request was
// retransmitted (T1) gives no round-trip time (Karn's rule: it may answer
// either copy), or one lost datagram would stretch the deadlines to the
// ceiling for the next 20 probes.
func (s *suspicion) heard(rtt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers++
	if rtt > 0 && rtt < sip.T1 {
		s.rtts[s.i] = rtt
		s.i = (s.i + 1) % lossWindow
		s.n = min(s.n+1, lossWindow)
	}
	if b := s.cur; b != nil {
		s.cur = nil
		b.alive = true
		close(b.done)
	}
}

// mark is a point in the registrar's answers, for answeredSince: answers
// are counted, not timed, so the question needs no clock.
func (s *suspicion) mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers
}

// answeredSince reports whether any answer arrived after mark m.
func (s *suspicion) answeredSince(m uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers > m
}

// deadline is how long the registrar may take to answer before it is late:
// rttMultiple times the slowest of its recent answers, at least floor, at
// most ceiling. ok is false without enough history (use ceiling).
func (s *suspicion) deadline(floor, ceiling time.Duration) (d time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < rttHistory {
		return ceiling, false
	}
	var slowest time.Duration
	for _, r := range s.rtts[:s.n] {
		slowest = max(slowest, r)
	}
	return min(max(floor, rttMultiple*slowest), ceiling), true
}

// lateAfter is how long a registrar may take to answer over path rp
// before it is suspected, and whether bursts apply at all (they do while
// the path is up, with enough round-trip history, and bursts are on).
// Each path keeps its own history: the LAN and a mobile data connection
// have round-trip times an order of magnitude apart.
func (u *UA) lateAfter(rp *regPath, ceiling time.Duration) (time.Duration, bool) {
	if u.cfg.ProbeBurst <= 0 {
		return ceiling, false
	}
	rp.mu.Lock()
	up := rp.up && rp.known
	rp.mu.Unlock()
	if !up {
		return ceiling, false
	}
	floor := u.cfg.RTTFloor
	if rp.r.tp != "UDP" {
		floor = max(floor, reliableFloor)
	}
	return rp.susp.deadline(floor, ceiling)
}

// watchProbe arms the late timer of a probe sent now: unanswered within
// the registrar's deadline (and nothing else heard from it meanwhile), it
// starts a burst. The returned function disarms it.
func (u *UA) watchProbe(rp *regPath) (stop func()) {
	late, ok := u.lateAfter(rp, u.cfg.ProbeTimeout)
	if !ok || late >= u.cfg.ProbeTimeout {
		return func() {}
	}
	sent := rp.susp.mark()
	t := u.clock.AfterFunc(late, func() {
		if !rp.susp.answeredSince(sent) {
			u.suspect(rp, "probe unanswered")
		}
	})
	return func() { t.Stop() }
}

// suspect starts a probe burst to a registrar over path rp, or joins the
// one under way, and returns it. A path already known down gets a settled
// "down" burst; nil means no verdict is coming (bursts are off, or the
// path's health is not known yet): wait for the fixed deadlines.
func (u *UA) suspect(rp *regPath, why string) *burst {
	if u.cfg.ProbeBurst <= 0 || u.ctx.Err() != nil {
		return nil
	}
	rp.mu.Lock()
	up, known := rp.up, rp.known
	rp.mu.Unlock()
	if !known {
		return nil
	}
	if !up {
		return settled(false)
	}
	s := &rp.susp
	s.mu.Lock()
	if b := s.cur; b != nil {
		s.mu.Unlock()
		return b
	}
	// Like background: never started once Close has begun waiting.
	u.bgMu.Lock()
	if u.bgDone {
		u.bgMu.Unlock()
		s.mu.Unlock()
		return nil
	}
	u.bg.Add(1)
	u.bgMu.Unlock()
	b := &burst{done: make(chan struct{}), start: u.clock.Now()}
	s.cur = b
	s.mu.Unlock()
	u.log.Debug("registrar suspected: probe burst", "registrar", rp.r.cfg.Name, "path", rp.p.cfg.Name, "why", why)
	go func() {
		defer u.bg.Done()
		u.runBurst(rp, b)
	}()
	return b
}

// runBurst sends ProbeBurst probes spread over one answer deadline, then
// waits one more deadline for an answer. Any answer clears the registrar
// (suspicion.heard); none is the verdict down.
func (u *UA) runBurst(rp *regPath, b *burst) {
	r := rp.r
	var probes sync.WaitGroup
	defer probes.Wait()
	wait, _ := u.lateAfter(rp, u.cfg.ProbeTimeout)
	n := u.cfg.ProbeBurst
	var gap time.Duration
	if n > 1 {
		gap = wait / time.Duration(n-1)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-b.done:
			u.m.registrarBursts.WithLabelValues(r.cfg.Name, "alive").Inc()
			return
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		probes.Go(func() {
			if ok, rtt := u.sendProbe(rp); ok && u.ctx.Err() == nil {
				rp.susp.heard(rtt)
			}
		})
		if i < n-1 {
			t.Reset(gap)
		}
	}
	// The last probe's deadline. A timer that fires far too late means this
	// process was not running (a loaded board): answers may be waiting
	// unread in the socket, so they get one more deadline.
	for extra := 0; extra < 2; extra++ {
		due := time.Now().Add(wait)
		t.Reset(wait)
		select {
		case <-b.done:
			u.m.registrarBursts.WithLabelValues(r.cfg.Name, "alive").Inc()
			return
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(due) < wait/2 {
			break
		}
		u.log.Debug("probe burst: this process was held up; waiting once more", "registrar", r.cfg.Name, "late_by", time.Since(due))
	}
	s := &rp.susp
	s.mu.Lock()
	if s.cur != b { // an answer came in the same instant
		s.mu.Unlock()
		u.m.registrarBursts.WithLabelValues(r.cfg.Name, "alive").Inc()
		return
	}
	// The verdict: the path, and then the registrar (pathVerdict settles
	// it), are down before anyone waiting on the burst hears it, so a call
	// moving on never finds the registrar still up.
	s.cur = nil
	changed := rp.markDown(n + 1)
	u.m.registrarBursts.WithLabelValues(r.cfg.Name, "silent").Inc()
	b.alive = false
	s.mu.Unlock()
	u.pathVerdict(rp, changed, fmt.Sprintf("silent to a burst of %d probes for %s", n, (u.clock.Now()-b.start).Round(time.Millisecond)))
	close(b.done)
}

// markDown gives the path the verdict down after lost unanswered probes
// (a burst's and the one that started it); false when it was not up. Lock
// order: suspicion.mu, then regPath.mu.
func (rp *regPath) markDown(lost int) bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if !rp.up {
		return false
	}
	rp.up, rp.known = false, true
	rp.oks = 0
	rp.restartWindowLocked(true, lost)
	return true
}

// lostAfterAnswer books a probe lost while a later one was answered: loss,
// but no evidence of silence (it does not count towards DownAfter).
func (rp *regPath) lostAfterAnswer() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.window[rp.wi] = true
	rp.wi = (rp.wi + 1) % lossWindow
	rp.wn = min(rp.wn+1, lossWindow)
}

// retransmitInvite sends an outbound call's INVITE again at once, before
// the transaction's own Timer A (T1, 500 ms), when the registrar is late:
// one lost datagram then costs a few round-trip times, not T1. Only over
// UDP, and only while no response has come (the auth retry rewrites the
// INVITE after its 401/407).
func (u *UA) retransmitInvite(c *Call) {
	c.mu.Lock()
	if c.responded || c.given || c.inv == nil || c.inv.Transport() != "UDP" {
		c.mu.Unlock()
		return
	}
	again := c.inv.Clone()
	c.mu.Unlock()
	if err := c.client().WriteRequest(again, keepVia); err != nil {
		u.log.Debug("early INVITE retransmission failed", "call", c.CallID, "err", err)
	}
}

// pending returns the path's burst under way, a settled "down" one when
// the path is known down, or nil (nothing suspected).
func (rp *regPath) pending() *burst {
	rp.mu.Lock()
	down := rp.known && !rp.up
	rp.mu.Unlock()
	if down {
		return settled(false)
	}
	rp.susp.mu.Lock()
	defer rp.susp.mu.Unlock()
	return rp.susp.cur
}

// awaitFirst waits for the first response to an outbound INVITE. With
// round-trip history the registrar is late after a few of its round-trip
// times: the INVITE is sent again and a probe burst asks whether the
// registrar is there at all; silent to it, the attempt ends at once.
// Otherwise (an answer to the burst: the INVITE was lost, or the PBX is
// slow to take calls) it waits to the fixed ceiling, as it does for a
// registrar with no history, still ending at once if the registrar is
// found silent meanwhile (the probes' own bursts). proceed is true once a
// response came; otherwise err says why the attempt ended.
func (u *UA) awaitFirst(ctx context.Context, c *Call, first <-chan struct{}, ceiling time.Duration) (proceed bool, err error) {
	rp := c.path()
	start := time.Now()
	limit := time.NewTimer(ceiling)
	defer limit.Stop()
	var check <-chan time.Time
	late, quick := u.lateAfter(rp, ceiling)
	if quick && late < ceiling {
		t := time.NewTicker(late)
		defer t.Stop()
		check = t.C
	}
	var b *burst
	var verdict <-chan struct{}
	suspected, resent := false, 0
	for {
		select {
		case <-first:
			return true, nil
		case <-c.done:
			return false, c.Err()
		case <-ctx.Done():
			return false, c.abandon(ctx)
		case <-limit.C:
			u.suspect(rp, "INVITE unanswered at the ceiling") // evidence for the next call
			if err := u.firstResponseTimeout(c, "no response to INVITE within "+ceiling.String()); err != nil {
				return false, err
			}
			return true, nil // answered in the same instant
		case <-check:
			if verdict != nil {
				continue // a verdict is coming
			}
			if !suspected {
				suspected = true
				u.retransmitInvite(c)
				resent++
				b = u.suspect(rp, "INVITE unanswered")
			} else {
				// The registrar answered: watch its health (a probe's
				// burst may find it silent later).
				b = rp.pending()
			}
			if b != nil {
				verdict = b.done
			}
		case <-verdict:
			verdict = nil
			if b.alive {
				if resent < 2 {
					u.retransmitInvite(c) // the registrar is there: the INVITE was likely lost
					resent++
				}
				continue
			}
			took := time.Since(start).Round(time.Millisecond)
			if err := u.firstResponseTimeout(c, "no response to INVITE within "+took.String()+", nor to a probe burst"); err != nil {
				u.log.Info("outbound call: the registrar is silent; moving on", "port", c.l.cfg.Port, "registrar", c.r.cfg.Name, "path", rp.p.cfg.Name, "after", took)
				return false, err
			}
			return true, nil
		}
	}
}

// firstResponseTimeout gives an INVITE up for want of any response; nil
// when it was answered in the same instant.
func (u *UA) firstResponseTimeout(c *Call, why string) error {
	err := fmt.Errorf("registrar %s: %w: %s", c.r.cfg.Name, ErrTimeout, why)
	if !c.giveUp(err, "no response") {
		return nil
	}
	u.m.inviteTimeouts.WithLabelValues(c.r.cfg.Name, "first-response").Inc()
	return err
}
