package sip

// Probes without transactions (issue 19). A registrar probe is one OPTIONS
// out and any response back; it needs none of a client transaction's
// machinery (a state machine, Timers A and B, a context timer, a channel
// hop per response). On an idle appliance that machinery, run twice a
// second, was most of the CPU it used. So a probe is written straight to
// the path's transport, and its response, which no transaction claims,
// comes back through sipgo's unhandled-response hook (onLateResponse) and
// is matched here by its Via branch. Over UDP an unanswered probe is sent
// again once at T1, as the transaction's Timer A did.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// probeResult is how a probe ended: answered (res set) or not.
type probeResult struct {
	ok  bool
	rtt time.Duration
}

// probeTable holds the probes awaiting an answer, by Via branch.
type probeTable struct {
	mu     sync.Mutex
	out    map[string]*outProbe
	closed bool           // the UA is closing: no new probes
	wg     sync.WaitGroup // probes whose done has not returned
}

// outProbe is one probe awaiting its answer.
type outProbe struct {
	rp     *regPath
	start  time.Duration // on the UA's clock
	expire *time.Timer   // ProbeTimeout: lost
	resend *time.Timer   // T1 (UDP): sent again
	done   func(probeResult)
}

// startProbe sends one OPTIONS to rp's registrar over rp's path and calls
// done exactly once with the result: from the goroutine that delivers the
// answer, from the timeout's, or before it returns when the probe could
// not be sent (or the UA is closing).
func (u *UA) startProbe(rp *regPath, done func(probeResult)) {
	u.probes.mu.Lock()
	if u.probes.closed {
		u.probes.mu.Unlock()
		done(probeResult{})
		return
	}
	u.probes.wg.Add(1) // under mu: never after closeProbes has begun its Wait
	u.probes.mu.Unlock()
	finish := func(pr probeResult) {
		defer u.probes.wg.Done()
		done(pr)
	}
	r := rp.r
	if !u.resolve(r) {
		finish(probeResult{})
		return
	}
	r.mu.Lock()
	dest := r.dest
	r.mu.Unlock()
	cli := rp.client()
	if cli == nil || rp.p.ua == nil {
		finish(probeResult{})
		return
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: r.domain, Port: r.port})
	req.SetTransport(r.tp)
	req.SetDestination(dest)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "critline", Host: rp.advertise().String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: r.domain}, Params: sip.NewParams()})
	if err := sipgo.ClientRequestBuild(cli, req); err != nil {
		u.log.Debug("probe not built", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "err", err)
		finish(probeResult{})
		return
	}
	via := req.Via()
	branch, _ := via.Params.Get("branch")
	if branch == "" {
		finish(probeResult{})
		return
	}

	op := &outProbe{rp: rp, start: u.clock.Now(), done: finish}
	u.probes.mu.Lock()
	if u.probes.closed {
		u.probes.mu.Unlock()
		finish(probeResult{})
		return
	}
	if u.probes.out == nil {
		u.probes.out = map[string]*outProbe{}
	}
	u.probes.out[branch] = op
	op.expire = time.AfterFunc(u.cfg.ProbeTimeout, func() { u.endProbe(branch, nil) })
	if r.tp == "UDP" && sip.T1 < u.cfg.ProbeTimeout {
		op.resend = time.AfterFunc(sip.T1, func() {
			if err := u.writeProbe(rp, req.Clone()); err != nil {
				u.log.Debug("probe retransmission failed", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "err", err)
			}
		})
	}
	u.probes.mu.Unlock()

	if err := u.writeProbe(rp, req.Clone()); err != nil {
		u.log.Debug("probe failed", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "err", err)
		u.endProbe(branch, nil)
	}
}

// writeProbe writes a built probe to the path's transport: a reliable
// transport's connection is made (or reused) within ProbeTimeout.
func (u *UA) writeProbe(rp *regPath, req *sip.Request) error {
	ctx, cancel := context.WithTimeout(u.ctx, u.cfg.ProbeTimeout)
	defer cancel()
	conn, err := rp.p.ua.TransportLayer().ClientRequestConnection(ctx, req)
	if err != nil {
		return fmt.Errorf("connection: %w", err)
	}
	defer conn.TryClose()
	return conn.WriteMsg(req)
}

// endProbe ends the probe with the given branch: answered by res, or lost
// (res nil). It reports whether the branch was a probe still awaiting its
// answer; a second answer (to the retransmission) is not.
func (u *UA) endProbe(branch string, res *sip.Response) bool {
	u.probes.mu.Lock()
	op := u.probes.out[branch]
	delete(u.probes.out, branch)
	u.probes.mu.Unlock()
	if op == nil {
		return false
	}
	op.expire.Stop()
	if op.resend != nil {
		op.resend.Stop()
	}
	if res == nil {
		op.done(probeResult{})
		return true
	}
	rtt := u.clock.Now() - op.start
	if u.ctx.Err() == nil {
		u.learnPublic(op.rp, res)
	}
	op.done(probeResult{ok: true, rtt: rtt})
	return true
}

// probeAnswered takes a response that may answer one of our probes (from
// onLateResponse: no transaction claimed it) and reports whether it did.
func (u *UA) probeAnswered(res *sip.Response) bool {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.OPTIONS || res.IsProvisional() {
		return false
	}
	via := res.Via()
	if via == nil {
		return false
	}
	branch, _ := via.Params.Get("branch")
	if branch == "" {
		return false
	}
	// Not awaited any more (a second answer, the retransmission's, or one
	// after the timeout): nothing more to do either way.
	u.endProbe(branch, res)
	return true
}

// closeProbes ends every probe awaiting its answer as lost, refuses new
// ones and waits until every probe's done has returned: the UA is closing.
func (u *UA) closeProbes() {
	u.probes.mu.Lock()
	u.probes.closed = true
	branches := make([]string, 0, len(u.probes.out))
	for b := range u.probes.out {
		branches = append(branches, b)
	}
	u.probes.mu.Unlock()
	for _, b := range branches {
		u.endProbe(b, nil)
	}
	u.probes.wg.Wait()
}

// sendProbe sends one probe and waits for its result.
func (u *UA) sendProbe(rp *regPath) (bool, time.Duration) {
	ch := make(chan probeResult, 1)
	u.startProbe(rp, func(pr probeResult) { ch <- pr })
	pr := <-ch
	return pr.ok, pr.rtt
}
