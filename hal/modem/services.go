package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/hal"
)

// Supplementary services (hal.TrunkServices): call deflection (AT+CTFR),
// call hold and explicit call transfer (AT+CHLD) and call waiting
// (AT+CCWA), 3GPP TS 27.007 7.12-7.14.
//
// What the trunk can do is found out when the modem comes up and again on
// every registration change: the module's own answers (AT+CHLD=? lists the
// hold operations it has, AT+CTFR=? whether it deflects) say what it
// supports; call waiting is switched on in the network (AT+CCWA=1,1) and
// the network's answer to the query (AT+CCWA=1,2) says whether it took. The
// network's support of deflection, hold and transfer shows only when they
// are used: a refusal (+CME ERROR 3, 4, 257, 262 ...) marks the service
// refused until the next registration change, so the appliance falls back
// at once instead of trying again on every call.

var _ hal.TrunkServices = (*Trunk)(nil)

// services is what the trunk knows of each service; guarded by Trunk.mu.
type services struct {
	st   map[hal.TrunkService]*hal.ServiceStatus
	hold holdOps // from AT+CHLD=?; nil ops when not known
	m    *metrics
}

func (s *services) init(m *metrics, detail string) {
	s.m = m
	s.st = map[hal.TrunkService]*hal.ServiceStatus{}
	now := time.Now()
	for _, n := range hal.TrunkServiceNames() {
		s.st[n] = &hal.ServiceStatus{Service: n, Support: hal.SupportUnknown, Detail: detail, Since: now}
		m.svcSupported.WithLabelValues(string(n)).Set(0)
		m.svcRefusals.WithLabelValues(string(n))
	}
}

func (s *services) setLocked(n hal.TrunkService, st hal.ServiceSupport, detail string) {
	cur := s.st[n]
	if cur.Support != st || cur.Detail != detail {
		if cur.Support != st {
			cur.Since = time.Now()
		}
		cur.Support, cur.Detail = st, detail
	}
	v := 0.0
	if cur.Usable() {
		v = 1
	}
	s.m.svcSupported.WithLabelValues(string(n)).Set(v)
}

func (s *services) setAllLocked(st hal.ServiceSupport, detail string) {
	for _, n := range hal.TrunkServiceNames() {
		s.setLocked(n, st, detail)
	}
	s.hold = holdOps{}
}

// workedLocked records that the network carried a service.
func (s *services) workedLocked(n hal.TrunkService) {
	if s.st[n].Support != hal.SupportWorking {
		s.setLocked(n, hal.SupportWorking, "")
	}
}

// Services reports what the trunk found out about each service, in the
// order of hal.TrunkServiceNames.
func (t *Trunk) Services() []hal.ServiceStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]hal.ServiceStatus, 0, len(t.svc.st))
	for _, n := range hal.TrunkServiceNames() {
		out = append(out, *t.svc.st[n])
	}
	return out
}

// probeSoonLocked queues a service probe (once).
func (t *Trunk) probeSoonLocked() {
	if t.probing {
		return
	}
	t.probing = t.act(t.probeServices)
}

// probeServices finds out what the module and the network offer. It runs
// on the supervisor goroutine when the modem comes up and after every
// registration change.
func (t *Trunk) probeServices(eng *engine) {
	t.mu.Lock()
	t.probing = false
	t.mu.Unlock()
	ctx, to := t.ctx, t.cfg.CommandTimeout
	set := func(n hal.TrunkService, st hal.ServiceSupport, detail string) {
		t.mu.Lock()
		t.svc.setLocked(n, st, detail)
		t.mu.Unlock()
	}
	// What the module has: local answers, no network round trip.
	resp, err := eng.exec(ctx, &request{cmd: "AT+CHLD=?", prefixes: []string{"+CHLD:"}}, to)
	var ops holdOps
	var ae *ATError
	switch {
	case err == nil:
		l, _ := resp.Line("+CHLD:")
		if ops, err = parseCHLDTest(l); err != nil {
			t.log.Warn("modem: bad answer to AT+CHLD=?", "err", err)
		}
	case errors.As(err, &ae):
		t.log.Info("modem: the module has no call hold (AT+CHLD)", "err", err)
	default:
		t.log.Warn("modem: probing the services", "err", err)
		return
	}
	t.mu.Lock()
	t.svc.hold = ops
	t.mu.Unlock()
	for _, s := range []struct {
		n  hal.TrunkService
		op string
	}{{hal.ServiceHold, "2"}, {hal.ServiceTransfer, "4"}} {
		if ops.has(s.op) {
			set(s.n, hal.SupportAvailable, "")
		} else {
			set(s.n, hal.SupportAbsent, "the module's AT+CHLD does not list operation "+s.op)
		}
	}
	_, err = eng.exec(ctx, &request{cmd: "AT+CTFR=?"}, to)
	switch {
	case err == nil:
		set(hal.ServiceDeflection, hal.SupportAvailable, "")
	case errors.As(err, &ae):
		set(hal.ServiceDeflection, hal.SupportAbsent, "the module refuses AT+CTFR=?: "+ae.Final)
	default:
		t.log.Warn("modem: probing call deflection", "err", err)
		return
	}

	// Call waiting lives in the network: switch it on (with the +CCWA
	// report) and ask whether it took.
	t.mu.Lock()
	reg := t.status.Registered
	t.mu.Unlock()
	if !reg {
		set(hal.ServiceCallWaiting, hal.SupportUnknown, "not registered on a network")
		return
	}
	if _, err := eng.exec(ctx, &request{cmd: "AT+CCWA=1,1"}, t.cfg.NetworkTimeout); err != nil {
		if !errors.As(err, &ae) {
			set(hal.ServiceCallWaiting, hal.SupportUnknown, "no answer to AT+CCWA=1,1: "+err.Error())
			return
		}
		switch o, _, _ := classifyServiceFinal(ae.Final); o {
		case outcomeTransient:
			set(hal.ServiceCallWaiting, hal.SupportUnknown, "the network did not answer: "+ae.Final)
		default:
			t.markRefused(hal.ServiceCallWaiting, ae)
		}
		t.log.Warn("modem: the network refuses call waiting: a second caller gets busy", "err", err)
		return
	}
	resp, err = eng.exec(ctx, &request{cmd: "AT+CCWA=1,2", prefixes: []string{"+CCWA:"}}, t.cfg.NetworkTimeout)
	if err != nil {
		set(hal.ServiceCallWaiting, hal.SupportAvailable, "switched on; the network did not confirm: "+err.Error())
		return
	}
	active, answered := false, false
	for _, l := range resp.Lines {
		on, err := parseCCWAStatus(l)
		if err != nil {
			continue
		}
		answered = true
		active = active || on
	}
	switch {
	case active:
		set(hal.ServiceCallWaiting, hal.SupportWorking, "")
	case answered:
		t.mu.Lock()
		t.svc.setLocked(hal.ServiceCallWaiting, hal.SupportRefused, "the network reports call waiting off for voice after AT+CCWA=1,1")
		t.m.svcRefusals.WithLabelValues(string(hal.ServiceCallWaiting)).Inc()
		t.mu.Unlock()
		t.log.Warn("modem: the network keeps call waiting off: a second caller gets busy")
	default:
		set(hal.ServiceCallWaiting, hal.SupportAvailable, "switched on; the network gave no status")
	}
}

// markRefused marks n refused with the module's answer.
func (t *Trunk) markRefused(n hal.TrunkService, ae *ATError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _, text := classifyServiceFinal(ae.Final)
	detail := ae.Final
	if text != "" && !strings.Contains(detail, text) {
		detail += " (" + text + ")"
	}
	t.svc.setLocked(n, hal.SupportRefused, detail)
	t.m.svcRefusals.WithLabelValues(string(n)).Inc()
}

// serviceErr turns a failed service command into an error the consumer can
// act on, and records a refusal.
func (t *Trunk) serviceErr(n hal.TrunkService, what string, err error) error {
	var ae *ATError
	if !errors.As(err, &ae) {
		return fmt.Errorf("trunk %q: %s: %w", t.cfg.Name, what, err)
	}
	switch o, _, _ := classifyServiceFinal(ae.Final); o {
	case outcomeRefused:
		t.markRefused(n, ae)
		t.log.Warn("modem: the network refused a service", "service", n, "err", err)
		return fmt.Errorf("trunk %q: %s: %w: %w", t.cfg.Name, what, hal.ErrServiceRefused, err)
	case outcomeBadTarget:
		return fmt.Errorf("trunk %q: %s: %w: %w", t.cfg.Name, what, hal.ErrBadTarget, err)
	case outcomeNotNow:
		return fmt.Errorf("trunk %q: %s: %w: %w", t.cfg.Name, what, hal.ErrNoSuchCall, err)
	default:
		return fmt.Errorf("trunk %q: %s: the network cannot be reached just now: %w", t.cfg.Name, what, err)
	}
}

func (t *Trunk) serviceState(n hal.TrunkService) hal.ServiceStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	return *t.svc.st[n]
}

// Deflect sends the ringing or waiting call to number without answering it
// (AT+CTFR); the call ends (TrunkEnded, Reason nil).
func (t *Trunk) Deflect(ctx context.Context, call hal.TrunkCallID, number string) error {
	if !validNumber(number, false) || strings.ContainsAny(number, "*#") {
		return fmt.Errorf("trunk %q: deflect to %q: not a phone number: use digits and a leading + only", t.cfg.Name, number)
	}
	eng, err := t.engine()
	if err != nil {
		return err
	}
	if st := t.serviceState(hal.ServiceDeflection); st.Support == hal.SupportAbsent {
		return fmt.Errorf("trunk %q: deflect: %w: %s", t.cfg.Name, hal.ErrServiceUnsupported, st.Detail)
	}
	t.mu.Lock()
	c := t.slotLocked(call)
	if c == nil || (c.state != callRinging && c.state != callWaiting) {
		t.mu.Unlock()
		return fmt.Errorf("trunk %q: deflect: %w: the call is not ringing or waiting", t.cfg.Name, hal.ErrNoSuchCall)
	}
	t.mu.Unlock()
	_, err = eng.exec(ctx, &request{cmd: fmt.Sprintf(`AT+CTFR="%s",%d`, number, numberType(number))}, t.cfg.NetworkTimeout)
	if err != nil {
		return t.serviceErr(hal.ServiceDeflection, "deflect to "+number, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.svc.workedLocked(hal.ServiceDeflection)
	t.endCallLocked(t.slotLocked(call), nil, "deflected")
	t.pollSoonLocked()
	return nil
}

// Hold applies a call-hold operation (AT+CHLD=<op>). Conference is not
// offered: one porter, one voice channel.
func (t *Trunk) Hold(ctx context.Context, op hal.HoldOp) error {
	svc := hal.ServiceHold
	switch op {
	case hal.HoldReleaseOther, hal.HoldReleaseActive, hal.HoldSwap:
	case hal.HoldTransfer:
		svc = hal.ServiceTransfer
	default:
		return fmt.Errorf("trunk %q: %s: %w: critline does not join calls in a conference", t.cfg.Name, op, hal.ErrServiceUnsupported)
	}
	eng, err := t.engine()
	if err != nil {
		return err
	}
	t.mu.Lock()
	act := t.findLocked(callActive)
	other := t.findLocked(callWaiting, callHeld)
	var actID, otherID hal.TrunkCallID
	var otherState callState
	if act != nil {
		actID = act.id
	}
	if other != nil {
		otherID, otherState = other.id, other.state
	}
	var why string
	switch op {
	case hal.HoldReleaseOther:
		if other == nil {
			why = "no call is waiting or held"
		}
	case hal.HoldReleaseActive:
		if act == nil && other == nil {
			why = "no call"
		}
	case hal.HoldSwap:
		if act == nil && other == nil {
			why = "no call to hold or retrieve"
		}
		if act == nil && otherState == callWaiting {
			why = "the waiting call rings as an ordinary call: answer it"
		}
	case hal.HoldTransfer:
		if t.findLocked(callHeld) == nil || t.findLocked(callActive, callAlerting) == nil {
			why = "a transfer needs a held call and a connected or ringing one"
		}
	}
	known := t.svc.hold.ops != nil
	has := t.svc.hold.has(fmt.Sprint(int(op)))
	t.mu.Unlock()
	if why != "" {
		return fmt.Errorf("trunk %q: %s: %w: %s", t.cfg.Name, op, hal.ErrNoSuchCall, why)
	}
	if known && !has {
		return fmt.Errorf("trunk %q: %s: %w: the module's AT+CHLD does not list %d", t.cfg.Name, op, hal.ErrServiceUnsupported, int(op))
	}
	t.mu.Lock()
	t.holding++
	t.mu.Unlock()
	_, err = eng.exec(ctx, &request{cmd: fmt.Sprintf("AT+CHLD=%d", int(op))}, t.cfg.NetworkTimeout)
	t.mu.Lock()
	t.holding--
	if err != nil {
		if w := t.findLocked(callWaiting); w != nil && t.callsLocked() == 1 {
			t.waitingToRingingLocked(w) // its call ended meanwhile
		}
		t.mu.Unlock()
		return t.serviceErr(svc, op.String(), err)
	}
	defer t.mu.Unlock()
	if op != hal.HoldReleaseOther {
		t.svc.workedLocked(svc)
	}
	a, o := t.slotLocked(actID), t.slotLocked(otherID)
	switch op {
	case hal.HoldReleaseOther:
		if o != nil {
			result := "answered"
			if o.state == callWaiting {
				result = "rejected"
			}
			t.endCallLocked(o, nil, result)
		}
	case hal.HoldReleaseActive:
		if o != nil {
			t.setActiveLocked(o) // first, so the end below leaves it connected
		}
		t.endCallLocked(a, nil, "answered")
	case hal.HoldSwap:
		if a != nil {
			t.setHeldLocked(a)
		}
		if o != nil {
			t.setActiveLocked(o)
		}
	case hal.HoldTransfer:
		for i := range t.calls {
			if t.calls[i].id != 0 {
				t.endCallLocked(&t.calls[i], nil, "transferred")
			}
		}
	}
	t.pollSoonLocked()
	return nil
}

// Transfer hands the connected call to number by explicit call transfer:
// AT+CHLD=2 holds it, ATD dials number, and once that call rings (or, on a
// network that joins only answered calls, answers) AT+CHLD=4 joins the two
// and the trunk leaves both. If number cannot be reached, or the network
// will not join the calls, the call is retrieved and the error says why.
func (t *Trunk) Transfer(ctx context.Context, call hal.TrunkCallID, number string) error {
	if !validNumber(number, false) || strings.ContainsAny(number, "*#") {
		return fmt.Errorf("trunk %q: transfer to %q: not a phone number: use digits and a leading + only", t.cfg.Name, number)
	}
	if _, err := t.engine(); err != nil {
		return err
	}
	if st := t.serviceState(hal.ServiceTransfer); st.Support == hal.SupportAbsent {
		return fmt.Errorf("trunk %q: transfer: %w: %s", t.cfg.Name, hal.ErrServiceUnsupported, st.Detail)
	}
	t.mu.Lock()
	c := t.slotLocked(call)
	ok := c != nil && c.state == callActive && t.callsLocked() == 1
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("trunk %q: transfer: %w: the call must be connected and alone", t.cfg.Name, hal.ErrNoSuchCall)
	}
	if err := t.Hold(ctx, hal.HoldSwap); err != nil {
		return fmt.Errorf("trunk %q: transfer: holding the call: %w", t.cfg.Name, err)
	}
	retrieve := func(cause error) error {
		rctx, cancel := context.WithTimeout(context.Background(), t.cfg.NetworkTimeout)
		defer cancel()
		if err := t.Hold(rctx, hal.HoldSwap); err != nil {
			t.log.Error("modem: transfer failed and the held call could not be retrieved", "err", err)
			return fmt.Errorf("%w (and retrieving the held call failed: %v)", cause, err)
		}
		return cause
	}
	leg, err := t.dial(ctx, number, true)
	if err != nil {
		return retrieve(fmt.Errorf("trunk %q: transfer to %s: %w: %w", t.cfg.Name, number, hal.ErrBadTarget, err))
	}
	// Wait for the second call to ring or answer, then join; a network
	// that refuses to join a ringing call gets another try once it
	// answers.
	deadline := time.NewTimer(t.cfg.DialTimeout)
	defer deadline.Stop()
	tried := callIdle
	for {
		t.mu.Lock()
		lc := t.slotLocked(leg)
		st := callIdle
		if lc != nil {
			st = lc.state
		}
		orig := t.slotLocked(call)
		changed := t.changed
		t.mu.Unlock()
		if orig == nil {
			t.releaseLeg(leg)
			return fmt.Errorf("trunk %q: transfer: the caller hung up while held", t.cfg.Name)
		}
		if lc == nil {
			return retrieve(fmt.Errorf("trunk %q: transfer to %s: %w: the call to it failed", t.cfg.Name, number, hal.ErrBadTarget))
		}
		if (st == callAlerting || st == callActive) && st != tried {
			tried = st
			err := t.Hold(ctx, hal.HoldTransfer)
			if err == nil {
				return nil
			}
			if st == callActive || errors.Is(err, hal.ErrBadTarget) {
				t.releaseLeg(leg)
				return retrieve(fmt.Errorf("trunk %q: transfer to %s: %w", t.cfg.Name, number, err))
			}
			t.log.Info("modem: the network will not join a ringing call; waiting for an answer", "err", err)
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.releaseLeg(leg)
			return retrieve(fmt.Errorf("trunk %q: transfer to %s: %w: no answer in %v", t.cfg.Name, number, hal.ErrBadTarget, t.cfg.DialTimeout))
		case <-ctx.Done():
			t.releaseLeg(leg)
			return retrieve(fmt.Errorf("trunk %q: transfer to %s: %w", t.cfg.Name, number, ctx.Err()))
		case <-t.done:
			return fmt.Errorf("trunk %q: %w", t.cfg.Name, hal.ErrClosed)
		}
	}
}

// releaseLeg clears the second leg of a failed transfer.
func (t *Trunk) releaseLeg(leg hal.TrunkCallID) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.NetworkTimeout)
	defer cancel()
	eng, err := t.engine()
	if err == nil {
		err = t.releaseOne(ctx, eng, leg)
	}
	if err != nil {
		t.log.Warn("modem: clearing the transfer's second call", "err", err)
	}
	t.mu.Lock()
	t.endCallLocked(t.slotLocked(leg), nil, "abandoned")
	t.mu.Unlock()
}
