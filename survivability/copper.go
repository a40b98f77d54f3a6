package survivability

// The copper check of a path test (issue 17): with the port idle, its relay
// puts the handset on the copper line behind it for a moment, the board's
// line sensor reads the line's voltage, and the relay goes back. A call
// arriving meanwhile ends the check at once and waits for the relay to be
// back before the port rings.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/pathtest"
)

// CopperSettle is how long a copper check holds the handset on the line
// before it reads the line sensor (relay contacts and the sensor's filter
// settle in tens of milliseconds).
const CopperSettle = 200 * time.Millisecond

// copperRestoreWait bounds how long a call arriving during a copper check
// waits for the relay to be back on the board.
const copperRestoreWait = 2 * time.Second

// copperCheck is the copper check under way (one at a time).
type copperCheck struct {
	mu   sync.Mutex
	port int
	stop func()        // ends the check early (once)
	done chan struct{} // closed once the relay is back (or left for the porter)
}

// CheckCopper reads the copper line behind a port's relay. The port must
// be idle, like the whole appliance (TestIdle); a board without a sensor on
// that line gives pathtest.ErrCannotSense, never a reading.
func (a *Appliance) CheckCopper(ctx context.Context, id int) (pathtest.CopperReading, error) {
	p := a.ports[id]
	if p == nil {
		return pathtest.CopperReading{}, fmt.Errorf("port %d: %w", id, pathtest.ErrNoSuchRoute)
	}
	if !p.copper {
		return pathtest.CopperReading{}, fmt.Errorf("port %d: %w", id, pathtest.ErrNoCopper)
	}
	ls, ok := p.hw.Relay.(hal.LineSense)
	if !ok {
		return pathtest.CopperReading{}, fmt.Errorf("port %d: %w", id, pathtest.ErrCannotSense)
	}
	if idle, why := a.TestIdle(); !idle {
		return pathtest.CopperReading{}, fmt.Errorf("port %d: %w: %s", id, pathtest.ErrRouteBusy, why)
	}
	if p.hw.Relay.Bypass() {
		v, err := ls.LineVoltage()
		return pathtest.CopperReading{Volts: v}, err
	}
	a.check.mu.Lock()
	if a.check.port != 0 {
		other := a.check.port
		a.check.mu.Unlock()
		return pathtest.CopperReading{}, fmt.Errorf("port %d: %w: port %d's copper check is under way", id, pathtest.ErrRouteBusy, other)
	}
	abrt, done := make(chan struct{}), make(chan struct{})
	a.check.port, a.check.done, a.check.stop = id, done, sync.OnceFunc(func() { close(abrt) })
	a.check.mu.Unlock()
	defer func() {
		a.check.mu.Lock()
		a.check.port, a.check.stop, a.check.done = 0, nil, nil
		a.check.mu.Unlock()
		close(done)
	}()

	p.checking.Store(true)
	start := a.o.Clock.Now()
	a.log.Info("copper check: handset to the line behind the relay for a moment", "port", id)
	if err := p.hw.Relay.SetBypass(true); err != nil {
		p.checking.Store(false)
		a.reevaluate("copper check failed")
		return pathtest.CopperReading{}, fmt.Errorf("port %d: moving the relay to the line: %w", id, err)
	}
	a.m.relayBypass.WithLabelValues(portLabel(id)).Set(1)
	r := pathtest.CopperReading{Moved: true}
	settled, stopT := a.after(CopperSettle)
	var err error
	select {
	case <-settled:
		r.Volts, err = ls.LineVoltage()
	case <-abrt:
		err = pathtest.ErrPreempted
	case <-ctx.Done():
		err = ctx.Err()
	}
	stopT()
	// Give the handset back to the board at once unless the port's mode
	// wants it on the line now, or a handset lifted there meanwhile is in
	// a call (then the usual relay logic moves it when the call is over).
	a.mu.Lock()
	want := p.bypass
	a.mu.Unlock()
	if !want && !lineInUse(p.hw.Relay) {
		if err := p.hw.Relay.SetBypass(false); err != nil {
			a.log.Error("copper check: relay back to the board", "port", id, "err", err)
		} else {
			a.m.relayBypass.WithLabelValues(portLabel(id)).Set(0)
		}
	}
	p.checking.Store(false)
	a.reevaluate(fmt.Sprintf("copper check of port %d over", id))
	r.OnLine = a.o.Clock.Now() - start
	r.Restored = !p.hw.Relay.Bypass()
	if !r.Restored {
		a.mu.Lock()
		stays := p.bypass // the port's mode wants it on the line now
		a.mu.Unlock()
		r.Restored = stays
	}
	a.log.Info("copper check over", "port", id, "volts", r.Volts, "on_line", r.OnLine, "relay_back", !p.hw.Relay.Bypass(), "err", err)
	return r, err
}

// endCopperCheck ends a copper check under way, if any, and waits (a
// moment at most) until its relay is back: a call is arriving for the
// ports, and a port rings only with its handset on the board.
func (a *Appliance) endCopperCheck() {
	a.check.mu.Lock()
	stop, done := a.check.stop, a.check.done
	a.check.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	late, stopT := a.after(copperRestoreWait)
	defer stopT()
	select {
	case <-done:
	case <-late:
		a.log.Warn("a call arrived during a copper check and the relay is not back yet")
	}
}

// CanSenseCopper reports whether the board can read the copper line behind
// a port's relay (a copper line there, and a sensor on it).
func (a *Appliance) CanSenseCopper(id int) bool {
	p := a.ports[id]
	if p == nil || !p.copper {
		return false
	}
	_, ok := p.hw.Relay.(hal.LineSense)
	return ok
}
