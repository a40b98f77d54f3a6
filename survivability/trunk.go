package survivability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/pathtest"
)

// TrunkOptions is one PSTN trunk, in order of preference.
type TrunkOptions struct {
	Trunk hal.Trunk
	Kind  string // "modem", "sim": for status
	// Ports its inbound calls ring (all idle ones at once; the first to
	// answer takes the call). Empty rings every port.
	Ports []int
	// Number is the trunk's own number (remote activation, diverts).
	Number string
	// Group names the hunt group its inbound calls go to instead of Ports
	// (groups.go).
	Group string
}

// How long a trunk may take to accept a dialled call.
const trunkDialTimeout = 10 * time.Second

// How long an emergency call waits for a trunk that carries another
// emergency call (two porters dialling 999 at once): if the first attempt
// fails, the second gets the trunk; if it connects, the second moves on.
const trunkEmergencyWait = 8 * time.Second

// errPreempted ends an ordinary call whose trunk an emergency call needs.
var errPreempted = errors.New("pre-empted by an emergency call")

// maxEarlyEvents bounds the events of a call kept while its Dial is in
// flight (a call reports a handful).
const maxEarlyEvents = 64

// trunkLine owns one trunk: its event stream, the one call it carries and
// its health. Every trunk event names its call (hal.TrunkCallID); an event
// of a call that is no longer the trunk's current call (the late end of a
// call that was pre-empted or hung up) is dropped, never applied to the
// call that came next.
type trunkLine struct {
	a  *Appliance
	o  TrunkOptions
	t  hal.Trunk
	nm string

	emergWait time.Duration // trunkEmergencyWait; shorter in tests

	mu   sync.Mutex
	st   hal.TrunkStatus
	cur  *trunkCall
	free chan struct{} // closed while cur is nil (setCurLocked, release)
	// dialing: the Dial of cur is in flight, so cur has no identity yet;
	// events wait in early and are applied, in order, once it returns.
	dialing bool
	early   []hal.TrunkEvent
	sv      *trunkSvc // the second call and the network's services (trunk_services.go)
}

func (tl *trunkLine) name() string   { return tl.nm }
func (tl *trunkLine) kind() RungKind { return RungTrunk }

func (tl *trunkLine) status() hal.TrunkStatus {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.st
}

func (tl *trunkLine) busy() bool {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.cur != nil
}

// current is the call the trunk carries, nil when idle.
func (tl *trunkLine) current() *trunkCall {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.cur
}

// run reads the trunk's events until they end.
func (tl *trunkLine) run(ctx context.Context) {
	tl.setStatus(tl.t.Status())
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-tl.t.Events():
			if !ok {
				return
			}
			tl.event(ev)
		}
	}
}

func (tl *trunkLine) setStatus(st hal.TrunkStatus) {
	tl.mu.Lock()
	old := tl.st
	tl.st = st
	tl.mu.Unlock()
	changed := old.Up != st.Up || old.CanCall() != st.CanCall() || old.CanCallEmergency() != st.CanCallEmergency()
	tl.a.onTrunkStatus(tl.nm, st, changed)
}

// event takes one event from the trunk.
func (tl *trunkLine) event(ev hal.TrunkEvent) {
	if ev.Kind == hal.TrunkState {
		tl.setStatus(ev.Status)
		if !ev.Status.Up {
			// A vanished device ends its call (a call still being dialled
			// fails by itself: its Dial returns the error).
			tl.mu.Lock()
			c := tl.cur
			if tl.dialing {
				c = nil
			}
			tl.mu.Unlock()
			if c != nil {
				c.end(fmt.Errorf("%w: %s", hal.ErrTrunkDown, ev.Status.Detail))
			}
		}
		return
	}
	tl.mu.Lock()
	if tl.dialing {
		if len(tl.early) < maxEarlyEvents {
			tl.early = append(tl.early, ev)
		}
		tl.mu.Unlock()
		return
	}
	tl.mu.Unlock()
	tl.dispatch(ev)
}

// dispatch applies a call event to the call it names.
func (tl *trunkLine) dispatch(ev hal.TrunkEvent) {
	if tl.testEvent(ev) {
		return
	}
	if ev.Kind == hal.TrunkIncoming {
		if !tl.a.svcIncoming(tl, ev) {
			tl.incoming(ev)
		}
		return
	}
	if tl.a.svcEvent(tl, ev) {
		return
	}
	tl.mu.Lock()
	c := tl.cur
	mine := c != nil && c.id == ev.Call
	tl.mu.Unlock()
	if !mine {
		tl.a.log.Debug("trunk event of a call that is over: ignored", "trunk", tl.nm, "event", ev.Kind, "call", ev.Call)
		return
	}
	switch ev.Kind {
	case hal.TrunkAlerting:
		c.alerting()
	case hal.TrunkAnswered:
		c.answered()
	case hal.TrunkEnded:
		c.end(ev.Reason)
	case hal.TrunkDigit:
		c.digit(ev.Digit)
	}
}

// replay applies, in order, the events that arrived while a Dial was in
// flight, then lets events through again.
func (tl *trunkLine) replay() {
	for {
		tl.mu.Lock()
		evs := tl.early
		tl.early = nil
		if len(evs) == 0 {
			tl.dialing = false
			tl.mu.Unlock()
			return
		}
		tl.mu.Unlock()
		for _, ev := range evs {
			tl.dispatch(ev)
		}
	}
}

// whyNotLocked says why the trunk cannot place an ordinary call.
func (tl *trunkLine) whyNotLocked() string {
	switch {
	case !tl.st.Up:
		if tl.st.Detail != "" {
			return tl.st.Detail
		}
		return "modem not answering"
	case tl.st.Service == hal.ServiceLimited:
		return "not registered: emergency calls only (limited service)"
	}
	return "no network"
}

// place dials out; it is a rung of the ladder. An ordinary call needs a
// trunk that can call (modem up and registered) and free. An emergency
// call tries the trunk whatever it reports (the network has the last word:
// limited service takes emergency calls) and pre-empts an ordinary call on
// it; it never pre-empts another emergency call.
func (tl *trunkLine) place(ctx context.Context, port int, number string, at *attempt) (fxs.Call, error) {
	emerg := at.lc.emerg
	tl.mu.Lock()
	if !emerg && !tl.st.CanCall() {
		why := tl.whyNotLocked()
		tl.mu.Unlock()
		return nil, fmt.Errorf("trunk %s: %w: %s", tl.nm, hal.ErrTrunkDown, why)
	}
	if old := tl.cur; old != nil {
		switch {
		case old.test != nil:
			// A path test gives way to any porter's call at once.
			tl.mu.Unlock()
			tl.stopTest(old, "a call from port "+fmt.Sprint(port))
		case !emerg:
			tl.mu.Unlock()
			return nil, fmt.Errorf("trunk %s: %w", tl.nm, hal.ErrTrunkBusy)
		case old.emerg:
			// Never pre-empt an emergency call: wait a moment for the trunk.
			free := tl.free
			tl.mu.Unlock()
			due, stop := tl.a.after(tl.emergWait)
			select {
			case <-free:
				stop()
			case <-due:
				return nil, fmt.Errorf("trunk %s: %w with another emergency call", tl.nm, hal.ErrTrunkBusy)
			case <-ctx.Done():
				stop()
				return nil, ctx.Err()
			}
		default:
			tl.mu.Unlock()
			tl.preempt(old)
		}
		tl.mu.Lock()
		if tl.cur != nil {
			tl.mu.Unlock()
			return nil, fmt.Errorf("trunk %s: %w (taken again meanwhile)", tl.nm, hal.ErrTrunkBusy)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, trunkDialTimeout)
	defer cancel()
	c := &trunkCall{tl: tl, port: port, at: at, dir: "out", number: number, emerg: emerg,
		cancelDial: cancel, dialed: make(chan struct{})}
	if err := tl.dialLocked(dctx, c, number); err != nil {
		if c.wasPreempted() {
			return nil, &fxs.CallError{Reason: fxs.FailCongestion, Err: fmt.Errorf("trunk %s: %w", tl.nm, errPreempted)}
		}
		return nil, fmt.Errorf("trunk %s: dialling %s: %w", tl.nm, number, err)
	}
	return c, nil
}

// preempt ends an ordinary call to make room for an emergency call: the
// trunk hangs it up, and its porter (or the ports it rings) hear it end.
// It returns once the trunk is free (or the call gone).
func (tl *trunkLine) preempt(c *trunkCall) {
	tl.a.log.Warn("pre-empting a call for an emergency call", "trunk", tl.nm, "direction", c.dir, "port", c.portID(), "number", c.number)
	tl.a.svcPreempt(tl)
	c.mu.Lock()
	c.preempted = true
	c.mu.Unlock()
	if c.dialed != nil {
		// Perhaps still being dialled: stop the attempt and let its Dial
		// settle. A Dial that failed is its place()'s to report.
		c.cancelDial()
		<-c.dialed
		if tl.current() != c {
			c.markOver()
			return
		}
	}
	c.clear(errPreempted)
}

func (tl *trunkLine) release(c *trunkCall) {
	tl.mu.Lock()
	if tl.cur == c {
		tl.clearCurLocked()
	}
	tl.mu.Unlock()
	tl.a.svcReleased(tl, c)
}

// dialLocked makes c the trunk's call and dials number for it. tl.mu is
// held on entry and released. The events the trunk reported during the dial
// are replayed and c.dialed is closed before it returns; when the dial
// failed, the trunk is free again (unless another call has taken it).
func (tl *trunkLine) dialLocked(ctx context.Context, c *trunkCall, number string) error {
	tl.setCurLocked(c)
	tl.dialing, tl.early = true, nil
	tl.mu.Unlock()

	id, err := tl.t.Dial(ctx, number)
	tl.mu.Lock()
	c.id = id
	if err != nil && tl.cur == c {
		tl.clearCurLocked()
	}
	tl.mu.Unlock()
	tl.replay()
	close(c.dialed)
	return err
}

// setCurLocked makes c the trunk's call.
func (tl *trunkLine) setCurLocked(c *trunkCall) {
	if tl.cur == nil {
		tl.free = make(chan struct{})
	}
	tl.cur = c
	tl.a.callStarting()
}

// clearCurLocked leaves the trunk free, and says so to whoever waits.
func (tl *trunkLine) clearCurLocked() {
	tl.cur = nil
	if tl.free != nil {
		close(tl.free)
		tl.free = nil
	}
}

// incoming offers an inbound trunk call to the ports that can ring.
func (tl *trunkLine) incoming(ev hal.TrunkEvent) {
	tl.mu.Lock()
	if cur := tl.cur; cur != nil {
		tl.mu.Unlock()
		if cur.callID() != ev.Call {
			// A second call while the trunk carries one (a waiting call):
			// not offered; the network gives the caller busy.
			tl.a.log.Warn("a second call on the trunk while it carries one: not offered", "trunk", tl.nm, "caller", ev.CallerID, "call", ev.Call)
		}
		return
	}
	c := &trunkCall{tl: tl, id: ev.Call, dir: "in", number: ev.CallerID, offers: map[int]fxs.Progress{}}
	tl.setCurLocked(c)
	tl.mu.Unlock()
	if tl.remoteEntry(c, ev) {
		return // remote activation (remote_entry.go)
	}
	cid := dsp.CallerID{Time: time.Now(), Number: ev.CallerID, Name: ev.CallerName}
	switch ev.Presentation {
	case hal.PresentationWithheld:
		cid.Number, cid.NumberAbsence = "", dsp.Absence('P')
	case hal.PresentationUnavailable:
		cid.Number, cid.NumberAbsence = "", dsp.Absence('O')
	}
	if cid.Number == "" && cid.NumberAbsence == 0 {
		cid.NumberAbsence = dsp.Absence('O')
	}
	if tl.a.groupTrunkCall(c, cid) { // the trunk names a hunt group (groups_callers.go)
		return
	}
	tl.a.routeInbound(c, tl.o.Ports, cid) // divert, ring the ports, or refuse at once
}

// trunkCall is a call on a trunk, either direction. An inbound call is
// offered to several ports at once; the first to answer takes it.
type trunkCall struct {
	tl     *trunkLine
	dir    string // "in" | "out"
	number string
	emerg  bool // an outbound emergency call: never pre-empted
	// id is the trunk's name for the call, set by Dial (outbound, under
	// tl.mu) or by its TrunkIncoming event (inbound).
	id hal.TrunkCallID

	cancelDial context.CancelFunc // outbound: stops its Dial
	dialed     chan struct{}      // outbound: closed once its Dial returned and its early events were applied

	mu     sync.Mutex
	port   int
	at     *attempt             // outbound
	offers map[int]fxs.Progress // inbound: port -> its progress
	remote *remoteCall          // inbound on the service trunk: the remote-activation dialogue
	// ringback: a staff call the dialogue put through to the lodge
	// (answered already, preAnswered) plays ringback until a port answers.
	ringback    *remoteCall
	preAnswered bool
	answer      bool
	over        bool
	preempted   bool
	x           callExtra // the network's services (trunk_services.go)
	// test is set on a path test's call (testcall.go): its events go to
	// the test, never to a port, and any porter's call takes the trunk.
	test *trunkTest
	grp  *hunt // inbound for a hunt group: its hunt (groups.go)
}

func (c *trunkCall) callID() hal.TrunkCallID {
	c.tl.mu.Lock()
	defer c.tl.mu.Unlock()
	return c.id
}

func (c *trunkCall) portID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

func (c *trunkCall) wasPreempted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.preempted
}

func (c *trunkCall) alerting() {
	if c.test != nil {
		c.test.send(pathtest.Event{Kind: pathtest.Alerting})
		return
	}
	if c.at != nil {
		c.at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "trunk " + c.tl.nm})
	}
}

func (c *trunkCall) answered() {
	c.mu.Lock()
	c.answer = c.answer || !c.preAnswered // a staff call put through to the lodge waits for a port
	c.mu.Unlock()
	if c.test != nil {
		c.test.answeredNow()
		return
	}
	if c.at != nil {
		var m fxs.Media
		if a := c.tl.t.Audio(); a != nil {
			m = a
		}
		c.at.update(fxs.CallUpdate{State: fxs.CallAnswered, Media: m, Detail: "trunk " + c.tl.nm})
	}
}

func (c *trunkCall) digit(d rune) {
	if c.test != nil {
		c.test.send(pathtest.Event{Kind: pathtest.Digit, Digit: d})
		return
	}
	c.mu.Lock()
	remote := c.remote
	c.mu.Unlock()
	if remote != nil {
		remote.digit(d)
		return
	}
	c.tl.a.trunkDigit(c, d)
}

// markOver marks the call finished; only the first caller gets true.
func (c *trunkCall) markOver() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return false
	}
	c.over = true
	return true
}

// end: the network or the far end cleared the call (its TrunkEnded, or the
// trunk went away). Whoever listens hears of it once.
func (c *trunkCall) end(reason error) {
	if !c.markOver() {
		return
	}
	c.tl.release(c)
	c.notify(reason)
}

// clear hangs the call up on the trunk and tells whoever listens why (a
// pre-emption): the porter hears the call end.
func (c *trunkCall) clear(reason error) {
	if !c.markOver() {
		return
	}
	if err := c.hangupTrunk(); err != nil {
		c.tl.a.log.Warn("trunk: clearing a call", "trunk", c.tl.nm, "err", err)
	}
	c.tl.release(c)
	c.notify(reason)
}

// hangupTrunk clears this call, and only this call, on the trunk.
func (c *trunkCall) hangupTrunk() error {
	if done, err := c.tl.a.svcHangup(c); done {
		return err
	}
	id := c.callID()
	if id == 0 {
		if c.cancelDial != nil {
			c.cancelDial() // its Dial is in flight: the trunk drops the attempt
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.tl.t.Hangup(ctx, id)
}

// notify tells the call's listeners it is over.
func (c *trunkCall) notify(reason error) {
	c.mu.Lock()
	h := c.grp
	c.mu.Unlock()
	if h != nil && h.trunkOver() {
		return // an outside member had it (groups_callers.go)
	}
	if c.tl.a.svcNotify(c, reason) {
		return
	}
	if c.test != nil {
		c.test.finished(reason)
		return
	}
	c.mu.Lock()
	answered, offers, remote, rb := c.answer, c.offers, c.remote, c.ringback
	c.offers = nil
	c.mu.Unlock()
	if remote != nil {
		remote.stop()
		return
	}
	if rb != nil {
		rb.stop() // a staff call for the lodge: its ringback ends too
	}
	detail := "trunk " + c.tl.nm
	if reason != nil {
		detail += ": " + reason.Error()
	}
	if c.at != nil {
		if answered {
			if reason == nil {
				detail = "trunk " + c.tl.nm + ": far end cleared"
			}
			c.at.update(fxs.CallUpdate{State: fxs.CallEnded, Detail: detail})
			return
		}
		retry, fr := classifyTrunkErr(reason)
		c.at.fail(retry, fr, detail)
		return
	}
	if reason == nil {
		detail = "caller cleared"
	}
	for _, p := range offers {
		p.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: detail})
	}
	if !answered {
		c.tl.a.inboundUnanswered(c, offers)
		return
	}
	c.tl.a.inboundEnded(c, answered)
}

// classifyTrunkErr says whether another route may do better, and which
// tone the porter hears if not.
func classifyTrunkErr(err error) (retry bool, r fxs.FailReason) {
	switch {
	case err == nil:
		return false, fxs.FailCongestion
	case errors.Is(err, errPreempted):
		return false, fxs.FailCongestion
	case errors.Is(err, hal.ErrBusy):
		return false, fxs.FailBusy
	case errors.Is(err, hal.ErrNoAnswer):
		return false, fxs.FailCongestion
	case errors.Is(err, hal.ErrRejected):
		return false, fxs.FailUnobtainable
	}
	// No carrier, no dial tone, trunk down or busy, transport trouble.
	return true, fxs.FailCongestion
}

// Hangup implements fxs.Call: the porter hung up (or no port could take
// an inbound call). The trunk clears this call only.
func (c *trunkCall) Hangup() error {
	c.mu.Lock()
	remote, rb := c.remote, c.ringback
	c.mu.Unlock()
	if remote != nil {
		remote.stop() // the dialogue ends with its call
	}
	if rb != nil {
		rb.stop()
	}
	_, err := c.hangup()
	return err
}

// hangup clears the call on the trunk unless it is already over; first
// says this call did it.
func (c *trunkCall) hangup() (first bool, err error) {
	if !c.markOver() {
		return false, nil
	}
	err = c.hangupTrunk()
	c.tl.release(c)
	return true, err
}

// SendDigit implements fxs.DigitSender.
func (c *trunkCall) SendDigit(d rune) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.tl.t.SendDTMF(ctx, string(d))
}

// portCall is one port's view of an inbound trunk call offered to several.
type portCall struct {
	c    *trunkCall
	port int
}

// Answer implements fxs.InboundCall: the first port to answer takes the
// call; the others stop ringing.
func (pc *portCall) Answer() (fxs.Media, error) {
	c := pc.call()
	c.mu.Lock()
	if c.over || c.answer {
		c.mu.Unlock()
		return nil, errors.New("call already answered elsewhere or cleared")
	}
	c.answer = true
	c.port = pc.port
	others := map[int]fxs.Progress{}
	for p, pr := range c.offers {
		if p != pc.port {
			others[p] = pr
		}
	}
	c.offers = map[int]fxs.Progress{pc.port: c.offers[pc.port]}
	c.mu.Unlock()
	for _, pr := range others {
		pr.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "answered on another port"})
	}
	c.mu.Lock()
	rb, pre := c.ringback, c.preAnswered
	c.mu.Unlock()
	if pre && rb != nil {
		rb.release() // answered by the dialogue already: take its audio over
	} else if err := c.tl.a.svcAnswer(pc); err != nil {
		c.end(err)
		return nil, err
	}
	c.tl.a.inboundAnswered(c, pc.port)
	if a := c.tl.t.Audio(); a != nil {
		return a, nil
	}
	return nil, nil
}

// Hangup implements fxs.Call for the port that answered.
func (pc *portCall) Hangup() error {
	c := pc.call()
	c.mu.Lock()
	mine := c.answer && c.port == pc.port
	c.mu.Unlock()
	if !mine {
		return nil
	}
	first, err := c.hangup()
	if first {
		c.tl.a.inboundEnded(c, true)
	}
	return err
}

// SendDigit implements fxs.DigitSender.
func (pc *portCall) SendDigit(d rune) error { return pc.call().SendDigit(d) }

// call is the trunk call the port is in now (a porter's recall code may
// move them to the other of two calls).
func (pc *portCall) call() *trunkCall {
	tl := pc.c.tl
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return pc.c
}
