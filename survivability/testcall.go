package survivability

// Path test calls (issue 17): a short call on exactly one rung of the
// ladder, placed by survivability/pathtest to prove the rung carries calls
// and audio. A test call is nobody's call: no port rings or hears it,
// status shows it on no port, the porters' call metrics do not count it.
// It obeys the toll-fraud guard like any call leaving by a trunk, and it
// gives way at once to any porter's call: a porter lifting a handset or a
// port starting to ring is activity (OnActivity), and a call wanting the
// trunk a test holds (999 above all) takes it from the test on the spot.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/sip/rtp"
	"github.com/critline/critline/survivability/pathtest"
)

// testDialTimeout bounds how long a trunk may take to accept a test call
// (as an ordinary call's trunkDialTimeout).
const testDialTimeout = trunkDialTimeout

// PlaceTestCall dials number on exactly the rung named (kind
// pathtest.KindTrunk or KindRegistrar, and its configured name), never
// along the ladder. A number leaving by a trunk is screened by the
// toll-fraud guard (rewritten, or refused with pathtest.ErrBlocked) and its
// minutes are booked. A trunk that carries a porter's call, or cannot call,
// refuses (pathtest.ErrRouteBusy, hal.ErrTrunkDown). It returns once the
// call is under way; ctx bounds the dialling, not the call: end it with
// Hangup.
func (a *Appliance) PlaceTestCall(ctx context.Context, kind, route, number string) (pathtest.Call, error) {
	switch kind {
	case pathtest.KindTrunk:
		for _, tl := range a.trunks {
			if tl.nm == route {
				return tl.placeTest(ctx, number)
			}
		}
	case pathtest.KindRegistrar:
		if _, ok := a.regs[route]; ok {
			return a.placeSIPTest(ctx, route, number)
		}
	}
	return nil, fmt.Errorf("%s %q: %w", kind, route, pathtest.ErrNoSuchRoute)
}

// OnActivity registers f, called (on the caller's goroutine: f must not
// block) whenever a porter does something that a test must give way to: a
// handset lifted, a port ringing or starting a call. It returns a function
// that unregisters f.
func (a *Appliance) OnActivity(f func(why string)) (cancel func()) {
	a.actMu.Lock()
	defer a.actMu.Unlock()
	a.actSeq++
	id := a.actSeq
	if a.act == nil {
		a.act = map[uint64]func(string){}
	}
	a.act[id] = f
	return func() {
		a.actMu.Lock()
		defer a.actMu.Unlock()
		delete(a.act, id)
	}
}

// activity tells the registered functions about a porter's activity.
func (a *Appliance) activity(why string) {
	a.actMu.Lock()
	fs := make([]func(string), 0, len(a.act))
	for _, f := range a.act {
		fs = append(fs, f)
	}
	a.actMu.Unlock()
	for _, f := range fs {
		f(why)
	}
}

// portActivity turns a port's event into activity: a handset lifted, or a
// state other than idle (ringing, dialling, a call).
func (a *Appliance) portActivity(id int, ev fxs.Event) {
	switch {
	case ev.Kind == fxs.EventHook && ev.OffHook:
		a.activity(fmt.Sprintf("port %d handset lifted", id))
	case ev.Kind == fxs.EventState && ev.State != fxs.StateIdle && ev.State != fxs.StateStopped:
		a.activity(fmt.Sprintf("port %d %s", id, ev.State))
	}
}

// TestIdle says whether a path test may start now: no handset off-hook (on
// the board, or on a copper line behind a relay that can tell), no port
// ringing or in a call, no trunk carrying a call. why says what is in use.
func (a *Appliance) TestIdle() (idle bool, why string) {
	for _, id := range a.order {
		p := a.ports[id]
		sn := p.fx.Snapshot()
		switch {
		case sn.OffHook:
			return false, fmt.Sprintf("port %d handset off-hook", id)
		case sn.State != fxs.StateIdle && sn.State != fxs.StateStopped:
			return false, fmt.Sprintf("port %d %s", id, sn.State)
		case p.hw.Relay.Bypass() && lineInUse(p.hw.Relay):
			return false, fmt.Sprintf("port %d in a call on its copper line", id)
		}
	}
	for _, tl := range a.trunks {
		if c := tl.current(); c != nil && c.test == nil {
			return false, fmt.Sprintf("trunk %s carries a call", tl.nm)
		}
	}
	return true, ""
}

// ---- trunk ----

// trunkTest is a test call on a trunk.
type trunkTest struct {
	tl     *trunkLine
	c      *trunkCall
	events chan pathtest.Event

	mu         sync.Mutex
	answered   bool
	answeredAt time.Time
	over       bool
	booked     bool // the guard has been told the call started
}

// testEvents is the buffer of a test call's events (a handful, plus the
// digits of a DTMF check).
const testEvents = 64

func (t *trunkTest) send(ev pathtest.Event) {
	ev.At = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return
	}
	if ev.Kind == pathtest.Ended {
		t.over = true
	}
	select {
	case t.events <- ev:
	default:
		if ev.Kind == pathtest.Ended { // the end is never lost: make room
			<-t.events
			t.events <- ev
		}
	}
	if ev.Kind == pathtest.Ended {
		close(t.events)
	}
}

func (t *trunkTest) Events() <-chan pathtest.Event { return t.events }

func (t *trunkTest) Media() pathtest.Media {
	t.mu.Lock()
	answered := t.answered
	t.mu.Unlock()
	if !answered {
		return nil
	}
	if a := t.tl.t.Audio(); a != nil {
		return a
	}
	return nil
}

func (t *trunkTest) SendDTMF(digits string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.tl.t.SendDTMF(ctx, digits)
}

func (t *trunkTest) Hangup() error {
	first, err := t.c.hangup()
	if first {
		t.finished(nil)
	}
	return err
}

func (t *trunkTest) From() string { return "trunk " + t.tl.nm }

// answeredNow: the far end answered (trunkCall.answered).
func (t *trunkTest) answeredNow() {
	t.mu.Lock()
	first := !t.answered
	t.answered = true
	if first {
		t.answeredAt = time.Now()
		t.booked = t.tl.a.guard != nil
	}
	booked := first && t.booked
	t.mu.Unlock()
	if booked {
		t.tl.a.guard.CallStarted(t.tl.nm)
	}
	if first {
		t.send(pathtest.Event{Kind: pathtest.Answered})
	}
}

// finished books the call's minutes and reports its end once.
func (t *trunkTest) finished(reason error) {
	t.mu.Lock()
	booked, at := t.booked, t.answeredAt
	t.booked = false
	t.mu.Unlock()
	if booked {
		t.tl.a.guard.CallEnded(t.tl.nm, time.Since(at))
	}
	t.send(pathtest.Event{Kind: pathtest.Ended, Err: reason})
}

// placeTest dials a test call on the trunk: screened by the guard, only
// on a trunk that can call and carries no call.
func (tl *trunkLine) placeTest(ctx context.Context, number string) (pathtest.Call, error) {
	dialled, _, err := tl.a.screen(tl, number, false)
	if err != nil {
		return nil, fmt.Errorf("trunk %s: %w: %v", tl.nm, pathtest.ErrBlocked, err)
	}
	t := &trunkTest{tl: tl, events: make(chan pathtest.Event, testEvents)}
	// Logged before the trunk's lock is taken: a slow log must never hold
	// the trunk up for a porter's call (999 included).
	tl.a.log.Info("path test call", "trunk", tl.nm, "number", dialled)
	tl.mu.Lock()
	if !tl.st.CanCall() {
		why := tl.whyNotLocked()
		tl.mu.Unlock()
		return nil, fmt.Errorf("trunk %s: %w: %s", tl.nm, hal.ErrTrunkDown, why)
	}
	if tl.cur != nil {
		tl.mu.Unlock()
		return nil, fmt.Errorf("trunk %s: %w", tl.nm, pathtest.ErrRouteBusy)
	}
	dctx, cancel := context.WithTimeout(ctx, testDialTimeout)
	defer cancel()
	c := &trunkCall{tl: tl, dir: "out", number: dialled, test: t, cancelDial: cancel, dialed: make(chan struct{})}
	t.c = c
	if err := tl.dialLocked(dctx, c, dialled); err != nil {
		c.markOver()
		if c.wasPreempted() {
			return nil, fmt.Errorf("trunk %s: %w", tl.nm, pathtest.ErrPreempted)
		}
		return nil, fmt.Errorf("trunk %s: dialling %s: %w", tl.nm, dialled, err)
	}
	return t, nil
}

// stopTest ends a test call to free the trunk for a porter's call (why
// says which); it returns once the trunk is free. The test hears
// pathtest.ErrPreempted.
func (tl *trunkLine) stopTest(c *trunkCall, why string) {
	tl.a.log.Info("path test call ended to free the trunk", "trunk", tl.nm, "for", why)
	c.mu.Lock()
	c.preempted = true
	c.mu.Unlock()
	if c.dialed != nil {
		c.cancelDial()
		<-c.dialed
		if tl.current() != c {
			if c.markOver() {
				c.test.finished(pathtest.ErrPreempted)
			}
			return
		}
	}
	c.clear(pathtest.ErrPreempted)
}

// testEvent takes the trunk's events of a test call in the foreground:
// a call arriving while a test holds the trunk ends the test first, then
// is handled as usual. It reports whether it took ev.
func (tl *trunkLine) testEvent(ev hal.TrunkEvent) bool {
	if ev.Kind != hal.TrunkIncoming && ev.Kind != hal.TrunkWaiting {
		return false
	}
	tl.mu.Lock()
	c := tl.cur
	tl.mu.Unlock()
	if c == nil || c.test == nil || c.id == ev.Call {
		return false
	}
	go func() {
		tl.stopTest(c, "a call arriving on the trunk")
		if ev.Kind == hal.TrunkIncoming {
			tl.dispatch(ev)
		}
		// A waiting call is offered again by the network as an
		// ordinary call once the test's call has gone.
	}()
	return true
}

// ---- SIP ----

// sipTest is a test call through one registrar, from one port's line.
type sipTest struct {
	call   *sip.Call
	from   string
	events chan pathtest.Event
}

func (t *sipTest) Events() <-chan pathtest.Event { return t.events }

func (t *sipTest) Media() pathtest.Media {
	select {
	case <-t.call.Answered():
		if m := t.call.Media(); m != nil {
			return m
		}
	default:
	}
	return nil
}

func (t *sipTest) SendDTMF(digits string) error {
	if err := t.call.SendDigits(digits); err != nil {
		return fmt.Errorf("%w: %v", pathtest.ErrNoDTMF, err)
	}
	return nil
}

func (t *sipTest) Hangup() error { return t.call.Hangup() }

func (t *sipTest) From() string { return t.from }

// follow turns the call's progress into events.
func (t *sipTest) follow() {
	defer close(t.events)
	emit := func(ev pathtest.Event) {
		ev.At = time.Now()
		select {
		case t.events <- ev:
		default:
		}
	}
	select {
	case <-t.call.Answered():
	default:
		emit(pathtest.Event{Kind: pathtest.Alerting})
	}
	select {
	case <-t.call.Answered():
		emit(pathtest.Event{Kind: pathtest.Answered})
	case <-t.call.Done():
		emit(pathtest.Event{Kind: pathtest.Ended, Err: endErr(t.call.Err(), errors.New("far end cleared before answering"))})
		return
	}
	var evs <-chan rtp.Event
	if m := t.call.Media(); m != nil {
		evs = m.Events()
	}
	for {
		select {
		case e, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			if d := e.Digit(); d != 0 {
				emit(pathtest.Event{Kind: pathtest.Digit, Digit: d})
			}
		case <-t.call.Done():
			emit(pathtest.Event{Kind: pathtest.Ended, Err: t.call.Err()})
			return
		}
	}
}

func endErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// placeSIPTest calls number through the registrar from a port's line: one
// registered with that registrar if there is one, else the first.
func (a *Appliance) placeSIPTest(ctx context.Context, registrar, number string) (pathtest.Call, error) {
	if a.sip == nil {
		return nil, fmt.Errorf("registrar %s: no SIP user agent", registrar)
	}
	if len(a.order) == 0 {
		return nil, fmt.Errorf("registrar %s: no line to call from", registrar)
	}
	a.mu.Lock()
	port := a.order[0]
	for _, id := range a.order {
		if a.ports[id].regs[registrar].registered {
			port = id
			break
		}
	}
	ext := a.ports[port].opt.Extension
	a.mu.Unlock()
	a.log.Info("path test call", "registrar", registrar, "number", number, "line", ext)
	call, err := a.sip.Dial(ctx, port, number, sip.DialOptions{Registrar: registrar})
	if err != nil {
		return nil, err // the UA's errors name the registrar
	}
	t := &sipTest{call: call, from: "line " + ext, events: make(chan pathtest.Event, testEvents)}
	go t.follow()
	return t, nil
}

var _ pathtest.Appliance = (*Appliance)(nil)
