package survivability

// The entries to remote activation, and what they cost the porters:
//
//   - the service extension: a SIP line of its own on the registrars;
//     only its calls reach the dialogue, so the porters lose nothing;
//   - staff numbers on a trunk: only calls from those numbers reach the
//     dialogue, which offers the lodge (star, or no key at all); every
//     other caller rings the porters as before;
//   - a trunk dedicated to remote activation ([survivability]
//     remote_trunk): every call on it reaches the dialogue; it must not
//     be the lodge's only trunk (config refuses that).

import (
	"context"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/sip/rtp"
	"github.com/critline/critline/survivability/forwarding"
)

// trunkLeg is an inbound trunk call answered by the dialogue.
type trunkLeg struct{ c *trunkCall }

func (l trunkLeg) media() hal.PCM {
	if a := l.c.tl.t.Audio(); a != nil {
		return a
	}
	return nil
}

func (l trunkLeg) paced() bool { return true } // the modem's voice clock

func (l trunkLeg) hangup() error { return l.c.Hangup() }

// remoteEntry decides whether an inbound trunk call reaches the dialogue
// rather than the porters, and if so starts it. It reports whether it
// took the call.
func (tl *trunkLine) remoteEntry(c *trunkCall, ev hal.TrunkEvent) bool {
	f := tl.a.fwd
	if f == nil || !f.Enabled() {
		return false
	}
	caller := ev.CallerID
	if ev.Presentation != hal.PresentationAllowed {
		caller = ""
	}
	call := forwarding.Call{Caller: caller}
	switch {
	case tl.a.o.RemoteTrunk == tl.nm:
		call.Entry = forwarding.EntryTrunk
	case caller != "" && f.IsStaff(caller):
		if f.CallerLocked(caller) {
			// A locked-out staff number is an ordinary caller: the
			// porters answer it.
			tl.a.log.Info("staff number locked out of remote activation: ringing the porters", "trunk", tl.nm, "caller", caller)
			return false
		}
		call.Entry, call.Lodge = forwarding.EntryStaff, true
	default:
		return false
	}
	go tl.a.remoteOnTrunk(c, call, ev)
	return true
}

// remoteOnTrunk answers a trunk call and runs the dialogue on it.
func (a *Appliance) remoteOnTrunk(c *trunkCall, call forwarding.Call, ev hal.TrunkEvent) {
	rc := a.newRemoteCall(trunkLeg{c})
	if call.Lodge {
		rc.toLodge = func(rc *remoteCall) { a.remoteToLodge(c, rc, ev) }
	}
	c.mu.Lock()
	c.remote = rc
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.tl.t.Answer(ctx, c.callID()); err != nil {
		a.log.Warn("remote activation: answering failed", "trunk", c.tl.nm, "err", err)
		c.end(err)
		return
	}
	a.log.Info("remote activation call", "trunk", c.tl.nm, "caller", call.Caller, "entry", call.Entry)
	rc.start(call)
}

// remoteToLodge puts a staff member's call, answered by the dialogue,
// through to the porters: their phones ring with the caller's number and
// the caller hears ringback until one answers.
func (a *Appliance) remoteToLodge(c *trunkCall, rc *remoteCall, ev hal.TrunkEvent) {
	rc.ringback(fxs.DSPTone(a.ringbackTone()))
	c.mu.Lock()
	c.remote = nil
	c.ringback = rc
	c.preAnswered = true
	c.answer = false // answered by the dialogue, not yet by a port
	c.mu.Unlock()
	if !a.offerInbound(c, c.tl.o.Ports, trunkCallerID(ev)) {
		a.log.Warn("staff call for the lodge: no port free to ring; hanging up", "trunk", c.tl.nm, "caller", ev.CallerID)
		rc.stop()
		_ = c.Hangup()
		c.end(nil)
	}
}

// ringbackTone is the profile's ringback, or a plain one if it does not
// parse (the profile was validated at start).
func (a *Appliance) ringbackTone() profile.Tone {
	t, err := a.o.Profile.Tones.Ringback.Parse("ringback")
	if err != nil {
		t, _ = a.o.Profile.Tones.Dial.Parse("ringback")
	}
	return t
}

// trunkCallerID is an inbound trunk call's caller ID as the ports show it.
func trunkCallerID(ev hal.TrunkEvent) dsp.CallerID {
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
	return cid
}

// sipLeg is an answered call to the service extension.
type sipLeg struct{ call *sip.Call }

func (l sipLeg) media() hal.PCM {
	if m := l.call.Media(); m != nil {
		return m
	}
	return nil
}

func (l sipLeg) paced() bool { return false } // RTP is paced by its writer

func (l sipLeg) hangup() error { return l.call.Hangup() }

// remoteSIP takes a call for the service extension; it reports whether
// the call was one.
func (a *Appliance) remoteSIP(ic *sip.IncomingCall) bool {
	if a.fwd == nil || a.o.ServiceExtension == "" || ic.Extension != a.o.ServiceExtension {
		return false
	}
	go a.remoteOnSIP(ic)
	return true
}

func (a *Appliance) remoteOnSIP(ic *sip.IncomingCall) {
	if !a.fwd.Enabled() {
		_ = ic.Reject(480, "Temporarily Unavailable")
		return
	}
	a.callStarting()
	call, err := ic.Answer()
	if err != nil {
		a.log.Info("remote activation: the service call was gone before it was answered", "from", ic.From, "err", err)
		return
	}
	caller := ic.From
	if caller == "anonymous" {
		caller = ""
	}
	rc := a.newRemoteCall(sipLeg{call})
	if !ic.PeerEvents() {
		rc.inband = dsp.NewDTMFDetector(rc.digit) // called from the pump, outside its lock
	}
	a.log.Info("remote activation call", "registrar", ic.Registrar, "caller", caller, "entry", forwarding.EntryService)
	rc.start(forwarding.Call{Caller: caller, Entry: forwarding.EntryService})
	go func() {
		var events <-chan rtp.Event
		if m := call.Media(); m != nil {
			events = m.Events()
		}
		for {
			select {
			case e := <-events:
				if d := e.Digit(); d != 0 {
					rc.digit(d)
				}
			case <-call.Done():
				rc.stop()
				return
			case <-rc.done:
				return
			}
		}
	}()
}

// serviceLineStatus follows the service extension's registration with
// each registrar (with [sip] register = "all" it is bound with all at
// once); it reports whether e was about that line.
func (a *Appliance) serviceLineStatus(e sip.LineStatus) bool {
	if a.o.ServiceExtension == "" || e.Extension != a.o.ServiceExtension {
		return false
	}
	if e.Registrar == "" {
		return true
	}
	a.mu.Lock()
	if a.svcRegs == nil {
		a.svcRegs = map[string]bool{}
	}
	a.svcRegs[e.Registrar] = e.Registered
	was := a.svcReg
	a.svcReg = ""
	for _, ro := range a.o.Registrars {
		if a.svcRegs[ro.Name] {
			a.svcReg = ro.Name
			break
		}
	}
	now := a.svcReg
	a.mu.Unlock()
	if now != was || e.Err != nil {
		a.log.Info("remote activation service extension registration", "extension", e.Extension, "registrar", e.Registrar, "registered", e.Registered, "err", e.Err)
	}
	return true
}

// remoteStatusLocked describes remote activation for status; a.mu held.
func (a *Appliance) remoteStatusLocked() *control.Remote {
	if a.fwd == nil || !a.fwd.Enabled() {
		return nil
	}
	r := &control.Remote{ServiceExtension: a.o.ServiceExtension, ServiceRegistered: a.svcReg,
		StaffNumbers: a.fwd.StaffNumbers(), ServiceTrunk: a.o.RemoteTrunk, Prompts: "tones"}
	if s := a.o.Prompts; s != nil {
		r.Prompts = s.Language() + " " + s.Source()
	}
	return r
}
