package fxs

// Flash-hook services: what an exchange line or an analogue adapter does
// with R (a timed-break recall, or a North American hook flash) when the
// port applies the services itself (Config.Services):
//
//   - One call: R holds it and plays recall dial tone; the porter dials an
//     enquiry call. R again before it is answered (dialling, ringing, busy)
//     abandons it and takes the held call back.
//   - A second call (a call waiting, announced by the call-waiting tone and
//     caller ID on call waiting; or one held): R and the profile's code
//     digit, or R alone where the profile says (North America), swaps
//     between the two (the other is held), ends one, joins the two into a
//     three-way call mixed in the port (each party hears the other two), or
//     transfers (joins the two and leaves).
//   - Hanging up with a call held: transfer when Config.TransferOnHangup
//     (attended once the enquiry call answered, blind while it rings),
//     otherwise the held call rings the porter back. With a call waiting,
//     the waiting call rings.
//
// How a call is held, and how two calls are joined when the porter leaves,
// is the call's and the router's business (Holder, Transferer): the port
// only decides. A call that is not a Holder is held here: its audio is no
// longer pumped. Calls whose route takes the network's own recall codes (a
// mobile trunk with a second call of its own, Recaller) still get them.

import (
	"fmt"
	"time"

	"github.com/critline/critline/fxs/bridge"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
)

// Holder is implemented by calls the port can put on hold and take back
// (a SIP call: a re-INVITE offering a=sendonly, then a=sendrecv). Hold must
// return at once (the request goes on in the background). A call without
// it is held by the port: its audio is no longer pumped, so the far end
// hears silence.
type Holder interface {
	Hold(on bool) error
}

// Rejecter is implemented by inbound calls that can be refused as busy: a
// waiting call the porter turns away (R0; SIP 486 Busy Here). Others are
// hung up.
type Rejecter interface {
	Reject() error
}

// TransferRequest is two of a porter's calls to be joined, the port
// leaving both (call transfer).
type TransferRequest struct {
	Port int
	// Held is the call on hold (the transferee), Target the porter's
	// current call (the transfer target).
	Held, Target           Call
	HeldMedia, TargetMedia Media // their audio as the port had it (TargetMedia may be nil: ringing)
	// TargetAnswered: the target answered (attended transfer); otherwise
	// it is still ringing (blind transfer).
	TargetAnswered bool
	// Number is the number the porter dialled for the target; "" when
	// the target is a call that came in.
	Number string
	// OnHook: the porter hung up to transfer (else R and a code).
	OnHook bool
}

// Transferer is implemented by a Router that can transfer: join the held
// call and the target and take both off the port. Transfer is called on
// the port's worker and must return at once; it returns where each call's
// progress goes from then on (the port forwards every later update of the
// two calls there, in order, from its worker: Update must not block). On
// an error the port takes the calls back: the target is hung up and the
// held call rings the porter back.
type Transferer interface {
	Transfer(req TransferRequest) (held, target Progress, err error)
}

// Services the port reports (EventService's Detail), for metrics.
const (
	ServiceEnquiry     = "enquiry"    // R with one call: held, recall dial tone
	ServiceRetrieve    = "retrieve"   // back to the held call (R during an enquiry, R1...)
	ServiceSwap        = "swap"       // the held (or waiting) call taken, the other held
	ServiceConference  = "conference" // a three-way call
	ServiceSplit       = "split"      // out of a three-way, the other party held
	ServiceTransfer    = "transfer"   // two calls joined, the porter left
	ServiceWaiting     = "waiting"    // a call waiting was announced
	ServiceAnswered    = "waiting-answered"
	ServiceRejected    = "waiting-rejected"
	ServiceReleased    = "released"  // one of two calls ended by a code (R0, R1)
	ServiceRingBack    = "ring-back" // the porter hung up with a call held: it rings them back
	ServiceTransferErr = "transfer-failed"
)

// ringBackTimeout is how long a held call rings the porter back before it
// is ended.
const ringBackTimeout = 2 * time.Minute

// leg is a call of the port's other than the current one: held (or the
// second party of a three-way), or waiting.
type leg struct {
	call      Call
	inbound   InboundCall // a waiting call, not yet answered
	media     Media
	gen       uint64
	direction string
	number    string
	cid       dsp.CallerID
}

// label names the leg for logs and status.
func (l *leg) label() string {
	if l.number != "" {
		return l.number
	}
	if l.cid.Number != "" {
		return l.cid.Number
	}
	return "withheld"
}

// handoff is a transferred call whose progress the port forwards.
type handoff struct {
	sink  Progress
	queue []CallUpdate
}

// services is the port's state of its flash-hook services; guarded by
// Port.mu except mix (the pump's).
type services struct {
	on         bool // Config.Services
	xferHangup bool // Config.TransferOnHangup

	held        *leg // on hold, or the other party of the three-way
	waiting     *leg // a call waiting
	conf        bool // three-way: held is joined with the current call
	fromWaiting bool // held came from taking a waiting call (a lone flash swaps)
	local       bool // the pending recall code is for the port's own services
	ringBack    *leg // the held call ringing the porter back
	ringBackSlt timerSlot
	cid         dsp.CallerID // the current inbound call's caller ID
	handed      map[uint64]*handoff
	genSeq      uint64

	mix bridge.Mixer // the pump's, for a three-way
}

// nextGen allocates a call generation; each call the port ever holds has
// its own, so updates find the right one whichever role it has now.
func (p *Port) nextGen() uint64 {
	p.sv.genSeq++
	return p.sv.genSeq
}

func (p *Port) emitService(what, detail string) {
	p.emitLocked(Event{Kind: EventService, Detail: what, Digits: detail})
	p.log.Info("flash-hook service", "service", what, "detail", detail)
}

// takeActiveLocked takes the current call off the port as a leg: the port
// no longer pumps its audio nor hears of it as its current call.
func (p *Port) takeActiveLocked() *leg {
	l := &leg{call: p.call, inbound: p.inbound, media: p.media, gen: p.callGen, direction: p.direction, number: p.number, cid: p.sv.cid}
	if l.direction == "out" {
		l.cid = dsp.CallerID{Number: p.number}
	}
	p.call, p.inbound, p.media = nil, nil, nil
	p.callGen = p.nextGen()
	return l
}

// putActiveLocked makes l the port's current call.
func (p *Port) putActiveLocked(l *leg) {
	p.call, p.inbound, p.media, p.callGen, p.direction, p.number = l.call, l.inbound, l.media, l.gen, l.direction, l.number
	p.sv.cid = l.cid
}

// holdLegLocked asks a Holder to hold (or take back) its call.
func (p *Port) holdLegLocked(l *leg, on bool) {
	h, ok := l.call.(Holder)
	if !ok {
		return
	}
	p.work.push("hold", func() {
		if err := h.Hold(on); err != nil {
			p.log.Info("hold", "on", on, "err", err)
		}
	})
}

// hangupLegLocked hangs up a call that is not the current one.
func (p *Port) hangupLegLocked(l *leg) {
	if l == nil || l.call == nil {
		return
	}
	c := l.call
	p.work.push("hangup", func() {
		if err := c.Hangup(); err != nil {
			p.log.Info("hanging up", "err", err)
		}
	})
}

// ---- R ----

// servicesRecallLocked takes R when the port applies the services itself;
// it reports whether it did.
func (p *Port) servicesRecallLocked() bool {
	if !p.sv.on {
		return false
	}
	if p.recallWait { // R again while a code was awaited: start over
		p.recallWait, p.sv.local = false, false
		p.disarm(&p.recallSlt)
	}
	if p.sv.held != nil && !p.sv.conf && p.enquiryStateLocked() {
		p.emitService(ServiceRetrieve, "R during the enquiry call")
		p.retrieveLocked("R: back to " + p.sv.held.label())
		return true
	}
	if p.sv.waiting != nil && p.state != StateConnected && p.state != StateRinging && p.state != StateIdle {
		// The current call ended with a call waiting: R takes it.
		p.endCallLocked(true)
		p.answerWaitingLocked("R: took the waiting call")
		return true
	}
	if p.state != StateConnected {
		return false
	}
	if rc, ok := p.call.(Recaller); ok && rc.TakesRecallCodes() {
		return false // the network's own second call (a mobile trunk): its codes (waiting.go)
	}
	if p.sv.held != nil || p.sv.waiting != nil {
		p.localCodesLocked()
		return true
	}
	if p.emergCall {
		// An emergency call is never put on hold by a recall (a slip of
		// the hook switch must not leave the operator in silence).
		p.emitLocked(Event{Kind: EventRecall, Detail: "ignored in an emergency call"})
		return true
	}
	p.enquiryLocked()
	return true
}

// enquiryStateLocked: the porter is making an enquiry call that has not
// been answered (or has failed).
func (p *Port) enquiryStateLocked() bool {
	switch p.state {
	case StateDialTone, StateCollecting, StateRouting, StateRingback, StateEarlyMedia,
		StateBusy, StateCongestion, StateUnobtainable, StateParked:
		return true
	}
	return false
}

// localCodesLocked waits for the code digit after R (or acts at once on a
// profile without codes).
func (p *Port) localCodesLocked() {
	r := p.prof.Recall
	if len(r.Codes) == 0 {
		p.localActionLocked("R", p.contextFlashLocked())
		return
	}
	p.recallWait, p.sv.local = true, true
	p.emitLocked(Event{Kind: EventRecall, Detail: "R: waiting for the code digit"})
	p.arm(&p.recallSlt, r.DigitTimeout, func() {
		if !p.recallWait || !p.sv.local {
			return
		}
		p.recallWait, p.sv.local = false, false
		if f := p.contextFlashLocked(); f != "" && p.state == StateConnected {
			p.localActionLocked("R", f)
			return
		}
		p.emitLocked(Event{Kind: EventRecall, Detail: "R: no code dialled"})
	})
}

// contextFlashLocked is what R alone does now.
func (p *Port) contextFlashLocked() string {
	r := p.prof.Recall
	switch {
	case p.sv.conf && r.FlashConference != "":
		return r.FlashConference
	case p.sv.held != nil && !p.sv.fromWaiting && r.FlashEnquiry != "":
		return r.FlashEnquiry
	}
	return r.Flash
}

// localRecallDigitLocked takes the digit after R as one of the port's own
// codes; it reports whether it did.
func (p *Port) localRecallDigitLocked(d rune) bool {
	if !p.recallWait || !p.sv.local {
		return false
	}
	p.recallWait, p.sv.local = false, false
	p.disarm(&p.recallSlt)
	a := p.prof.Recall.Codes[string(d)]
	if a == "" {
		p.emitLocked(Event{Kind: EventRecall, Detail: fmt.Sprintf("R%c: not a code of profile %s", d, p.prof.Name)})
		return true
	}
	p.localActionLocked("R"+string(d), a)
	return true
}

// localActionLocked carries out a recall action on the port's calls.
func (p *Port) localActionLocked(code, a string) {
	h, w := p.sv.held, p.sv.waiting
	done := true
	switch a {
	case profile.RecallSwap:
		switch {
		case w != nil:
			held := p.takeActiveLocked()
			p.sv.held, p.sv.fromWaiting = held, true
			p.holdLegLocked(held, true)
			p.answerWaitingLocked(code + ": took the waiting call, " + held.label() + " held")
		case h != nil && p.sv.conf:
			p.sv.conf = false
			p.holdLegLocked(h, true)
			p.emitService(ServiceSplit, code+": "+h.label()+" held")
		case h != nil:
			cur := p.takeActiveLocked()
			p.sv.held = cur
			p.holdLegLocked(cur, true)
			p.putActiveLocked(h)
			p.holdLegLocked(h, false)
			p.emitService(ServiceSwap, code+": "+h.label()+", "+cur.label()+" held")
			p.enterLocked(StateConnected, code+": swapped to "+h.label())
		default:
			done = false
		}
	case profile.RecallReleaseActive:
		switch {
		case w != nil:
			p.endCallLocked(true)
			p.emitService(ServiceReleased, code+": current call ended")
			p.answerWaitingLocked(code + ": took the waiting call")
		case h != nil:
			p.emitService(ServiceReleased, code+": current call ended")
			p.retrieveLocked(code + ": back to " + h.label())
		default:
			done = false
		}
	case profile.RecallReleaseOther:
		switch {
		case w != nil:
			p.rejectWaitingLocked(code)
		case h != nil:
			p.sv.held, p.sv.conf, p.sv.fromWaiting = nil, false, false
			p.hangupLegLocked(h)
			p.emitService(ServiceReleased, code+": "+h.label()+" ended")
		default:
			done = false
		}
	case profile.RecallConference:
		switch {
		case p.sv.conf:
			done = false
		case w != nil:
			cur := p.takeActiveLocked()
			p.sv.held, p.sv.conf, p.sv.fromWaiting = cur, true, true
			p.answerWaitingLocked(code + ": took the waiting call into a three-way")
			p.emitService(ServiceConference, code+": "+cur.label()+" and "+w.label())
		case h != nil:
			p.sv.conf = true
			p.holdLegLocked(h, false)
			p.emitService(ServiceConference, code+": "+h.label()+" and "+p.currentLabelLocked())
		default:
			done = false
		}
	case profile.RecallTransfer:
		done = h != nil && p.transferLocked(false)
		if done {
			p.enterLocked(StateDialTone, code+": transferred")
		}
	default:
		done = false
	}
	if !done {
		p.emitLocked(Event{Kind: EventRecall, Detail: code + ": " + a + ": nothing to act on"})
	}
}

func (p *Port) currentLabelLocked() string {
	if p.number != "" {
		return p.number
	}
	if p.sv.cid.Number != "" {
		return p.sv.cid.Number
	}
	return "withheld"
}

// enquiryLocked holds the current call and gives recall dial tone.
func (p *Port) enquiryLocked() {
	l := p.takeActiveLocked()
	p.sv.held, p.sv.fromWaiting, p.sv.conf = l, false, false
	p.holdLegLocked(l, true)
	p.emitService(ServiceEnquiry, "R: "+l.label()+" held")
	p.enterLocked(StateDialTone, "R: "+l.label()+" held; enquiry call")
}

// retrieveLocked ends the enquiry call (if any) and takes the held call
// back.
func (p *Port) retrieveLocked(detail string) {
	h := p.sv.held
	if h == nil {
		return
	}
	if p.call != nil || p.routeStop != nil {
		p.endCallLocked(true)
	}
	wasConf := p.sv.conf
	p.sv.held, p.sv.conf, p.sv.fromWaiting = nil, false, false
	p.putActiveLocked(h)
	if !wasConf {
		p.holdLegLocked(h, false)
	}
	p.enterLocked(StateConnected, detail)
}

// answerWaitingLocked makes the waiting call the current one and answers
// it; its audio comes when Answer returns.
func (p *Port) answerWaitingLocked(detail string) {
	w := p.sv.waiting
	if w == nil {
		return
	}
	p.sv.waiting = nil
	p.stopWaitingLocked()
	p.putActiveLocked(w)
	p.media = nil
	p.emitService(ServiceAnswered, detail)
	p.enterLocked(StateConnected, detail)
	call, gen := w.inbound, w.gen
	p.work.push("answer", func() {
		m, err := call.Answer()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		if err != nil {
			p.log.Info("answering the waiting call", "err", err)
			p.updateLocked(gen, CallUpdate{State: CallEnded, Detail: "answer failed: " + err.Error()})
			return
		}
		switch {
		case gen == p.callGen && p.state == StateConnected:
			p.media = m
		case p.sv.held != nil && p.sv.held.gen == gen:
			p.sv.held.media = m
		}
	})
}

// rejectWaitingLocked turns the waiting caller away (busy).
func (p *Port) rejectWaitingLocked(code string) {
	w := p.sv.waiting
	p.sv.waiting = nil
	p.stopWaitingLocked()
	p.emitService(ServiceRejected, code+": "+w.label())
	c := w.call
	p.work.push("reject", func() {
		var err error
		if r, ok := c.(Rejecter); ok {
			err = r.Reject()
		} else {
			err = c.Hangup()
		}
		if err != nil {
			p.log.Info("refusing the waiting call", "err", err)
		}
	})
}

// ---- a call waiting ----

// OfferWaitingCall announces a second inbound call to the porter in a call
// (the profile's call-waiting tone and, where it defines it, caller ID on
// call waiting) and keeps it for R and a code, or to ring when the porter
// hangs up. It fails with ErrBusy when the port cannot take a call
// waiting: its services are not its own (Config.Services), it is not in a
// call, or it already has a second call. The returned Progress takes the
// call's end (the caller gave up) and nothing else.
func (p *Port) OfferWaitingCall(call InboundCall, cid dsp.CallerID) (Progress, error) {
	if call == nil {
		return nil, fmt.Errorf("fxs: OfferWaitingCall with a nil call")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running || p.closed {
		return nil, ErrNotRunning
	}
	switch {
	case !p.sv.on:
		return nil, fmt.Errorf("%w: the port passes the flash to its PBX", ErrBusy)
	case p.state != StateConnected || !p.offHook:
		return nil, fmt.Errorf("%w: %s", ErrBusy, p.state)
	case p.emergCall:
		return nil, fmt.Errorf("%w: in an emergency call", ErrBusy)
	case p.sv.waiting != nil || p.sv.held != nil || p.cwOn:
		return nil, fmt.Errorf("%w: a second call already", ErrBusy)
	}
	if err := p.offerWaitingLocked(cid); err != nil {
		return nil, err
	}
	p.counters.CallsIn++
	w := &leg{call: call, inbound: call, gen: p.nextGen(), direction: "in", cid: cid, number: cid.Number}
	p.sv.waiting = w
	p.emitService(ServiceWaiting, w.label())
	return progress{p, w.gen}, nil
}

// ---- updates of calls other than the current one ----

// otherUpdateLocked applies an update of a held, waiting or transferred
// call; it reports whether gen was one.
func (p *Port) otherUpdateLocked(gen uint64, u CallUpdate) bool {
	over := u.State == CallEnded || u.State == CallFailed
	if h := p.sv.handed[gen]; h != nil {
		if h.sink == nil {
			h.queue = append(h.queue, u)
			return true
		}
		sink := h.sink
		p.work.push("handoff", func() { sink.Update(u) })
		if over {
			delete(p.sv.handed, gen)
		}
		return true
	}
	if h := p.sv.held; h != nil && h.gen == gen {
		switch {
		case over:
			p.sv.held, p.sv.conf, p.sv.fromWaiting = nil, false, false
			p.endedCall = gen
			p.emitService(ServiceReleased, h.label()+" cleared")
			if p.state == StateDialTone {
				p.playLocked(p.dialTone()) // plain dial tone now: nothing is held
			}
		case u.State == CallAnswered && u.Media != nil:
			h.media = u.Media
		}
		return true
	}
	if w := p.sv.waiting; w != nil && w.gen == gen {
		if over {
			p.sv.waiting = nil
			p.endedCall = gen
			p.stopWaitingLocked()
			p.emitLocked(Event{Kind: EventCallWaiting, Detail: "the waiting caller gave up"})
		}
		return true
	}
	return false
}

// activeEndedLocked: the current call ended from the far side; in a
// three-way the other party stays with the porter.
func (p *Port) activeEndedLocked() bool {
	h := p.sv.held
	if !p.sv.conf || h == nil || !p.offHook || p.state != StateConnected {
		return false
	}
	p.sv.held, p.sv.conf = nil, false
	p.putActiveLocked(h)
	p.emitService(ServiceReleased, "the other party of the three-way cleared")
	return true
}

// confMediaLocked is the second call the pump mixes in a three-way.
func (p *Port) confMediaLocked() Media {
	if !p.sv.conf || p.sv.held == nil {
		return nil
	}
	return p.sv.held.media
}

// ---- transfer ----

// transferLocked hands the held call and the current one to the router's
// Transferer to be joined; it reports whether it did (nothing to transfer
// to: the enquiry call is not ringing or answered).
func (p *Port) transferLocked(onHook bool) bool {
	tr, ok := p.router.(Transferer)
	h := p.sv.held
	if !ok || h == nil || p.call == nil {
		return false
	}
	answered := p.state == StateConnected
	if !answered && p.state != StateRingback && p.state != StateEarlyMedia {
		return false
	}
	req := TransferRequest{Port: p.id, Held: h.call, HeldMedia: h.media, Target: p.call, TargetMedia: p.media,
		TargetAnswered: answered, OnHook: onHook}
	if p.direction == "out" {
		req.Number = p.number
	}
	target := p.takeActiveLocked()
	if p.sv.handed == nil {
		p.sv.handed = map[uint64]*handoff{}
	}
	p.sv.handed[h.gen], p.sv.handed[target.gen] = &handoff{}, &handoff{}
	p.sv.held, p.sv.conf, p.sv.fromWaiting = nil, false, false
	kind := "blind (the target rings)"
	if answered {
		kind = "attended"
	}
	p.emitService(ServiceTransfer, h.label()+" to "+target.label()+", "+kind)
	p.work.push("transfer", func() {
		hs, ts, err := tr.Transfer(req)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.log.Warn("transfer failed: the held call comes back", "err", err)
			p.emitService(ServiceTransferErr, err.Error())
			p.takeBackLocked(h, target)
			return
		}
		p.bindHandoffLocked(h.gen, hs)
		p.bindHandoffLocked(target.gen, ts)
	})
	return true
}

// bindHandoffLocked starts forwarding a transferred call's updates.
func (p *Port) bindHandoffLocked(gen uint64, sink Progress) {
	h := p.sv.handed[gen]
	if h == nil {
		return
	}
	if sink == nil {
		delete(p.sv.handed, gen)
		return
	}
	h.sink = sink
	q := h.queue
	h.queue = nil
	for _, u := range q {
		p.work.push("handoff", func() { sink.Update(u) })
		if u.State == CallEnded || u.State == CallFailed {
			delete(p.sv.handed, gen)
		}
	}
}

// takeBackLocked undoes a failed transfer: the target is hung up, the held
// call rings the porter back (or ends, if the port is busy meanwhile).
func (p *Port) takeBackLocked(h, target *leg) {
	ended := func(gen uint64) bool {
		hd := p.sv.handed[gen]
		delete(p.sv.handed, gen)
		if hd == nil {
			return true
		}
		for _, u := range hd.queue {
			if u.State == CallEnded || u.State == CallFailed {
				return true
			}
		}
		return false
	}
	if !ended(target.gen) {
		p.hangupLegLocked(target)
	}
	if ended(h.gen) {
		return
	}
	if p.state == StateIdle && !p.offHook {
		p.ringBackLocked(h)
		return
	}
	if p.state == StateDialTone && p.sv.held == nil && p.call == nil {
		// The porter is still off-hook (R4): back to the held call.
		p.putActiveLocked(h)
		p.holdLegLocked(h, false)
		p.enterLocked(StateConnected, "transfer failed: back to "+h.label())
		return
	}
	p.hangupLegLocked(h)
}

// ---- on-hook ----

// servicesOnHookLocked handles the porter hanging up with a second call:
// transfer, or the held (or waiting) call rings them. It reports whether
// it did.
func (p *Port) servicesOnHookLocked() bool {
	h, w := p.sv.held, p.sv.waiting
	if h == nil && w == nil {
		return false
	}
	if w != nil {
		p.sv.waiting = nil
	}
	switch {
	case h != nil && p.sv.xferHangup && p.transferLocked(true):
		p.enterLocked(StateIdle, "on-hook: transferred")
	case h != nil:
		conf := p.sv.conf
		p.endCallLocked(true)
		p.sv.held, p.sv.conf, p.sv.fromWaiting = nil, false, false
		p.enterLocked(StateIdle, "on-hook")
		if conf {
			p.hangupLegLocked(h)
		} else {
			p.ringBackLocked(h)
		}
	default:
		p.endCallLocked(true)
		p.enterLocked(StateIdle, "on-hook")
	}
	if w != nil {
		if p.state != StateIdle {
			// Rung back by the held call: the waiting caller hears busy.
			p.sv.waiting = w
			p.rejectWaitingLocked("on-hook")
			return true
		}
		p.putActiveLocked(w)
		p.enterLocked(StateRinging, "the waiting call rings")
		p.startRingingLocked(w.cid)
	}
	return true
}

// ringBackLocked rings an idle port with its held call; lifting the
// handset takes it back.
func (p *Port) ringBackLocked(h *leg) {
	p.putActiveLocked(h)
	p.inbound = nil
	p.direction = "in"
	p.sv.ringBack = h
	p.emitService(ServiceRingBack, h.label())
	p.enterLocked(StateRinging, "on-hook with "+h.label()+" held: it rings back")
	p.startRingingLocked(h.cid)
	gen := h.gen
	p.arm(&p.sv.ringBackSlt, ringBackTimeout, func() {
		if p.sv.ringBack == nil || p.callGen != gen || p.state != StateRinging {
			return
		}
		p.stopRingingLocked()
		p.endCallLocked(true)
		p.enterLocked(StateIdle, "the held call rang back unanswered")
	})
}

// answerRingBackLocked takes the held call back when the porter lifts the
// handset; it reports whether the ringing was a ring-back.
func (p *Port) answerRingBackLocked() bool {
	h := p.sv.ringBack
	if h == nil {
		return false
	}
	p.sv.ringBack = nil
	p.disarm(&p.sv.ringBackSlt)
	p.stopRingingLocked()
	p.media = h.media
	p.holdLegLocked(h, false)
	p.enterLocked(StateConnected, "back to "+h.label())
	return true
}

// servicesEnterLocked keeps the services' state in step with the port's.
func (p *Port) servicesEnterLocked(s State) {
	if s != StateRinging && p.sv.ringBack != nil {
		p.sv.ringBack = nil
		p.disarm(&p.sv.ringBackSlt)
	}
}

// endServicesLocked hangs up every call of the port's other than the
// current one (the port stops).
func (p *Port) endServicesLocked() {
	p.hangupLegLocked(p.sv.held)
	if w := p.sv.waiting; w != nil {
		p.hangupLegLocked(w)
	}
	p.sv.held, p.sv.waiting, p.sv.conf = nil, nil, false
	p.sv.ringBack = nil
	p.disarm(&p.sv.ringBackSlt)
}
