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
}

// trunkLine owns one trunk: its event stream, its single call, its health.
type trunkLine struct {
	a   *Appliance
	o   TrunkOptions
	t   hal.Trunk
	nm  string
	mu  sync.Mutex
	st  hal.TrunkStatus
	cur *trunkCall
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
	changed := tl.st.Up != st.Up
	tl.st = st
	tl.mu.Unlock()
	tl.a.onTrunkStatus(tl.nm, st, changed)
}

func (tl *trunkLine) event(ev hal.TrunkEvent) {
	switch ev.Kind {
	case hal.TrunkState:
		tl.setStatus(ev.Status)
		if !ev.Status.Up {
			// A vanished device ends its call.
			tl.mu.Lock()
			c := tl.cur
			tl.mu.Unlock()
			if c != nil {
				c.end(fmt.Errorf("%w: %s", hal.ErrTrunkDown, ev.Status.Detail))
			}
		}
		return
	case hal.TrunkIncoming:
		tl.incoming(ev)
		return
	}
	tl.mu.Lock()
	c := tl.cur
	tl.mu.Unlock()
	if c == nil {
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

// place dials out; it is a rung of the ladder.
func (tl *trunkLine) place(ctx context.Context, port int, number string, at *attempt) (fxs.Call, error) {
	tl.mu.Lock()
	if !tl.st.Up {
		tl.mu.Unlock()
		return nil, fmt.Errorf("trunk %s: %w", tl.nm, hal.ErrTrunkDown)
	}
	if tl.cur != nil {
		tl.mu.Unlock()
		return nil, fmt.Errorf("trunk %s: %w", tl.nm, hal.ErrTrunkBusy)
	}
	c := &trunkCall{tl: tl, port: port, at: at, dir: "out", number: number}
	tl.cur = c
	tl.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tl.t.Dial(dctx, number); err != nil {
		tl.release(c)
		return nil, fmt.Errorf("trunk %s: dialling %s: %w", tl.nm, number, err)
	}
	return c, nil
}

// preempt clears the trunk's current call to make room for an emergency
// call; it reports whether there was one.
func (tl *trunkLine) preempt() bool {
	tl.mu.Lock()
	c := tl.cur
	tl.mu.Unlock()
	if c == nil {
		return false
	}
	tl.a.log.Warn("pre-empting a call for an emergency call", "trunk", tl.nm, "port", c.port, "number", c.number)
	_ = c.Hangup()
	c.end(errors.New("pre-empted by an emergency call"))
	return true
}

func (tl *trunkLine) release(c *trunkCall) {
	tl.mu.Lock()
	if tl.cur == c {
		tl.cur = nil
	}
	tl.mu.Unlock()
}

// incoming offers an inbound trunk call to the ports.
func (tl *trunkLine) incoming(ev hal.TrunkEvent) {
	tl.mu.Lock()
	if tl.cur != nil {
		tl.mu.Unlock()
		return // a repeated RING of the call already offered
	}
	c := &trunkCall{tl: tl, dir: "in", number: ev.CallerID, offers: map[int]fxs.Progress{}}
	tl.cur = c
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
	if !tl.a.offerInbound(c, tl.o.Ports, cid) {
		tl.a.log.Warn("inbound trunk call: no port free to ring; rejecting", "trunk", tl.nm, "caller", ev.CallerID)
		_ = tl.t.Hangup(context.Background())
		tl.release(c)
	}
}

// trunkCall is a call on a trunk, either direction. For an inbound call it
// is offered to several ports at once; the first to answer takes it.
type trunkCall struct {
	tl     *trunkLine
	dir    string
	number string

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
}

func (c *trunkCall) alerting() {
	if c.at != nil {
		c.at.update(fxs.CallUpdate{State: fxs.CallAlerting, Detail: "trunk " + c.tl.nm})
	}
}

func (c *trunkCall) answered() {
	c.mu.Lock()
	c.answer = c.answer || !c.preAnswered // a staff call put through to the lodge waits for a port
	c.mu.Unlock()
	if c.at != nil {
		var m fxs.Media
		if a := c.tl.t.Audio(); a != nil {
			m = a
		}
		c.at.update(fxs.CallUpdate{State: fxs.CallAnswered, Media: m, Detail: "trunk " + c.tl.nm})
	}
}

func (c *trunkCall) digit(d rune) {
	c.mu.Lock()
	remote := c.remote
	c.mu.Unlock()
	if remote != nil {
		remote.digit(d)
		return
	}
	c.tl.a.trunkDigit(c, d)
}

// end reports the call's end once, to whoever is listening.
func (c *trunkCall) end(reason error) {
	c.mu.Lock()
	if c.over {
		c.mu.Unlock()
		return
	}
	c.over = true
	answered := c.answer
	offers := c.offers
	c.offers = nil
	remote, rb := c.remote, c.ringback
	c.mu.Unlock()
	c.tl.release(c)
	if remote != nil {
		remote.stop()
		return
	}
	if rb != nil {
		rb.stop()
	}
	if c.at != nil {
		if answered {
			c.at.update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "trunk " + c.tl.nm + ": far end cleared"})
			return
		}
		retry, fr := classifyTrunkErr(reason)
		detail := "trunk " + c.tl.nm
		if reason != nil {
			detail += ": " + reason.Error()
		}
		c.at.fail(retry, fr, detail)
		return
	}
	for _, p := range offers {
		p.Update(fxs.CallUpdate{State: fxs.CallEnded, Detail: "caller cleared"})
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

// Hangup implements fxs.Call.
func (c *trunkCall) Hangup() error {
	c.mu.Lock()
	over := c.over
	remote, rb := c.remote, c.ringback
	c.mu.Unlock()
	if remote != nil {
		remote.stop() // e.g. pre-empted by an emergency call: the dialogue ends now
	}
	if rb != nil {
		rb.stop()
	}
	if over {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.tl.t.Hangup(ctx)
	c.mu.Lock()
	c.over = true
	c.mu.Unlock()
	c.tl.release(c)
	return err
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
	c := pc.c
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
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.tl.t.Answer(ctx); err != nil {
			c.end(err)
			return nil, err
		}
	}
	c.tl.a.inboundAnswered(c, pc.port)
	if a := c.tl.t.Audio(); a != nil {
		return a, nil
	}
	return nil, nil
}

// Hangup implements fxs.Call for the port that answered.
func (pc *portCall) Hangup() error {
	c := pc.c
	c.mu.Lock()
	mine := c.answer && c.port == pc.port
	c.mu.Unlock()
	if !mine {
		return nil
	}
	err := c.Hangup()
	c.tl.a.inboundEnded(c, true)
	return err
}

// SendDigit implements fxs.DigitSender.
func (pc *portCall) SendDigit(d rune) error { return pc.c.SendDigit(d) }
