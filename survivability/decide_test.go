package survivability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
)

// A registrar's standing across an outage, on a manual clock: usable until
// it fails, down while down, recovering for the fail-back period once back,
// usable again after it; never while the LAN is down.
func TestClassifyRegistrar(t *testing.T) {
	const fb = 30 * time.Second
	clk := hal.NewManualClock(time.Hour)
	r := regFacts{up: true, known: true, upSince: clk.Now(), lanGated: true}
	at := func(want regClass, lan bool, what string) {
		t.Helper()
		if got := classifyRegistrar(r, lan, clk.Now(), fb); got != want {
			t.Errorf("%s at %v: %v, want %v", what, clk.Now(), got, want)
		}
	}
	at(regUsable, true, "up since start (never failed)")
	at(regDown, false, "LAN down")
	r.up, r.everDown = false, true
	clk.Advance(5 * time.Second)
	at(regDown, true, "down")
	r.up, r.upSince = true, clk.Now()
	at(regRecovering, true, "just back")
	clk.Advance(fb - time.Millisecond)
	at(regRecovering, true, "a millisecond before the fail-back period ends")
	clk.Advance(time.Millisecond)
	at(regUsable, true, "the fail-back period over")
	at(regDown, false, "usable, but the LAN is down")

	for _, c := range []struct {
		r    regFacts
		lan  bool
		want regClass
	}{
		{regFacts{}, true, regRecovering}, // not probed yet: tried, after the usable ones
		{regFacts{known: true}, true, regDown},
		{regFacts{known: true, up: true}, true, regUsable},
		{regFacts{known: true, up: true, everDown: true, upSince: time.Hour}, true, regRecovering},
		{regFacts{lanGated: true}, false, regDown},
		// Issue 15: a registrar that may be reached over the modem's data
		// connection is not taken down with the LAN (sip moves it), and one
		// whose path is coming back is held: after the free trunks, but a
		// route for the mode.
		{regFacts{known: true, up: true}, false, regUsable},
		{regFacts{known: true, up: true, holding: true}, true, regHeld},
		{regFacts{known: true, up: true, holding: true, lanGated: true}, false, regDown},
		{regFacts{known: true, holding: true}, true, regDown},
	} {
		if got := classifyRegistrar(c.r, c.lan, time.Hour, fb); got != c.want {
			t.Errorf("%+v lan=%v: %v, want %v", c.r, c.lan, got, c.want)
		}
	}
}

func TestFailbackDue(t *testing.T) {
	const fb = 30 * time.Second
	now := time.Hour
	regs := []regFacts{
		{up: true, known: true, lanGated: true},                                                // never failed: nothing to wait for
		{up: true, known: true, lanGated: true, everDown: true, upSince: now - 10*time.Second}, // 20 s left
		{up: true, known: true, lanGated: true, everDown: true, upSince: now - 25*time.Second}, // 5 s left: the soonest
		{up: false, known: true, lanGated: true, everDown: true, upSince: now - time.Minute},   // down
		{up: true, known: true, lanGated: true, everDown: true, upSince: now - time.Minute},    // already usable
	}
	if got := failbackDue(regs, true, now, fb); got != 5*time.Second {
		t.Errorf("due in %v, want 5s", got)
	}
	if got := failbackDue(regs, false, now, fb); got != 0 {
		t.Errorf("LAN down: due in %v, want none", got)
	}
	cloud := regFacts{up: true, known: true, everDown: true, upSince: now - 28*time.Second} // over the data path too
	if got := failbackDue(append(regs, cloud), false, now, fb); got != 2*time.Second {
		t.Errorf("LAN down, a registrar reached over the data path recovering: due in %v, want 2s", got)
	}
	if got := failbackDue(regs[:1], true, now, fb); got != 0 {
		t.Errorf("nothing recovering: due in %v, want none", got)
	}
}

func TestClassifyTrunk(t *testing.T) {
	full := hal.TrunkStatus{Up: true, Registered: true, Service: hal.ServiceFull}
	limited := hal.TrunkStatus{Up: true, Service: hal.ServiceLimited}
	none := hal.TrunkStatus{Up: true, Service: hal.ServiceNone}
	down := hal.TrunkStatus{}
	for _, c := range []struct {
		st          hal.TrunkStatus
		inCall, emg bool
		want        trunkClass
	}{
		{full, false, false, trunkFree},
		{limited, false, false, trunkFreeLimited},
		{none, false, false, trunkNoNetwork},
		{down, false, false, trunkNoNetwork},
		{full, true, false, trunkBusy},
		{full, true, true, trunkBusyEmergency},
		{limited, true, true, trunkBusyEmergency},
	} {
		if got := classifyTrunk(c.st, c.inCall, c.emg); got != c.want {
			t.Errorf("%+v in call %v emergency %v: %v, want %v", c.st, c.inCall, c.emg, got, c.want)
		}
	}
}

// The order of the rungs, for every mix of two registrars and two trunks
// that matters: ordinary calls only where they can go, in configured order;
// emergency calls everywhere, in emergency_route order, pre-emption and
// waiting last.
func TestPlanLadder(t *testing.T) {
	names := func(plan []step) string {
		var out []string
		for _, s := range plan {
			k := "r"
			if s.kind == RungTrunk {
				k = "t"
			}
			out = append(out, fmt.Sprintf("%s%d", k, s.i))
		}
		return strings.Join(out, " ")
	}
	U, H, R, D := regUsable, regHeld, regRecovering, regDown
	F, L, B, E, N := trunkFree, trunkFreeLimited, trunkBusy, trunkBusyEmergency, trunkNoNetwork
	for _, c := range []struct {
		name   string
		regs   []regClass
		trunks []trunkClass
		emerg  bool
		route  string
		want   string
	}{
		{"ordinary: registrars first, in order", []regClass{U, U}, []trunkClass{F, F}, false, "", "r0 r1 t0 t1"},
		{"ordinary: recovering registrars after the trunks", []regClass{R, U}, []trunkClass{F}, false, "", "r1 t0 r0"},
		{"ordinary: down registrars and unusable trunks left out", []regClass{D, D}, []trunkClass{L, B, N, E}, false, "", ""},
		{"ordinary: a busy trunk is no rung", []regClass{U}, []trunkClass{B, F}, false, "", "r0 t1"},
		{"ordinary: no SIP, trunks only", nil, []trunkClass{F, F}, false, "", "t0 t1"},
		{"999 pbx-first", []regClass{U, U}, []trunkClass{F}, true, EmergencyPBXFirst, "r0 r1 t0"},
		{"999 default route is pbx-first", []regClass{U}, []trunkClass{F}, true, "", "r0 t0"},
		{"999 trunk-first", []regClass{U}, []trunkClass{F, L}, true, EmergencyTrunkFirst, "t0 t1 r0"},
		{"999 pbx-first: limited trunks after registered ones", []regClass{U}, []trunkClass{L, F}, true, "", "r0 t1 t0"},
		{"999: every rung there is, pre-emption and waiting last", []regClass{D, R}, []trunkClass{E, N, B}, true, "", "r1 t2 r0 t1 t0"},
		{"999: the only trunk busy, PBX up: the PBX first, pre-emption after", []regClass{U}, []trunkClass{B}, true, EmergencyTrunkFirst, "r0 t0"},
		{"999: nothing at all", nil, nil, true, "", ""},
		{"ordinary: a held registrar after the free trunks, before recovering ones", []regClass{H, R}, []trunkClass{F}, false, "", "t0 r0 r1"},
		{"999: a held registrar after every free trunk", []regClass{H, U}, []trunkClass{L, F}, true, "", "r1 t1 t0 r0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := names(planLadder(c.regs, c.trunks, c.emerg, c.route)); got != c.want {
				t.Errorf("ladder %q, want %q", got, c.want)
			}
		})
	}
}

func TestNoRouteWhy(t *testing.T) {
	for _, c := range []struct {
		trunks []trunkClass
		lan    bool
		want   string
	}{
		{[]trunkClass{trunkBusy}, true, "every trunk is busy"},
		{nil, false, "LAN down and no trunk configured"},
		{[]trunkClass{trunkNoNetwork}, false, "no route left"},
	} {
		if got := noRouteWhy(c.trunks, c.lan); !strings.Contains(got, c.want) {
			t.Errorf("%v lan %v: %q, want %q", c.trunks, c.lan, got, c.want)
		}
	}
}

// A port's mode: an unregistered line is not normal; a worse mode applies
// at once, a better one only when the port is idle (no call is cut); on a
// low battery a port with copper goes to lifeline.
func TestPortMode(t *testing.T) {
	for _, c := range []struct {
		name string
		app  Mode
		p    portFacts
		low  bool
		want Mode
	}{
		{"first evaluation takes the appliance's", Survivable, portFacts{}, false, Survivable},
		{"normal and registered", Normal, portFacts{mode: Normal, idle: true, sipOn: true, lineOK: true}, false, Normal},
		{"normal but the line is not registered", Normal, portFacts{mode: Normal, idle: true, sipOn: true, trunkOK: true}, false, Survivable},
		{"not registered and no trunk", Normal, portFacts{mode: Normal, idle: true, sipOn: true}, false, Lifeline},
		{"no SIP at all: the appliance's mode", Normal, portFacts{mode: Normal, idle: true}, false, Normal},
		{"worse applies in a call", Survivable, portFacts{mode: Normal, sipOn: true, lineOK: true}, false, Survivable},
		{"better waits for idle", Normal, portFacts{mode: Survivable, sipOn: true, lineOK: true}, false, Survivable},
		{"better when idle", Normal, portFacts{mode: Survivable, idle: true, sipOn: true, lineOK: true}, false, Normal},
		{"battery low with copper", Normal, portFacts{mode: Normal, idle: true, sipOn: true, lineOK: true, copper: true}, true, Lifeline},
		{"battery low without copper keeps serving", Normal, portFacts{mode: Normal, idle: true, sipOn: true, lineOK: true}, true, Normal},
	} {
		if got := portMode(c.app, c.p, c.low); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The relay: bypass only where copper is behind it, for lifeline, an
// engineer, a failed emergency call or a low battery.
func TestWantBypass(t *testing.T) {
	for _, c := range []struct {
		p    portFacts
		mode Mode
		low  bool
		want bool
	}{
		{portFacts{copper: true}, Normal, false, false},
		{portFacts{copper: true}, Survivable, false, false},
		{portFacts{copper: true}, Lifeline, false, true},
		{portFacts{copper: true, forced: true}, Normal, false, true},
		{portFacts{copper: true, sos: true}, Normal, false, true},
		{portFacts{copper: true}, Normal, true, true},
		{portFacts{}, Lifeline, true, false},
		{portFacts{forced: true, sos: true}, Lifeline, true, false},
	} {
		if got := wantBypass(c.p, c.mode, c.low); got != c.want {
			t.Errorf("%+v %v low=%v: %v, want %v", c.p, c.mode, c.low, got, c.want)
		}
	}
}

// feedSIP stands in for the SIP lines: the test sends registrar health.
type feedSIP struct {
	noSIP
	ch chan sip.Event
}

func (f feedSIP) Subscribe(int) (<-chan sip.Event, func()) { return f.ch, func() {} }

// clockAppliance is an appliance on the sim board and a manual clock, with
// a fake trunk and the SIP lines ua, marked running and settled.
func clockAppliance(t *testing.T, clk hal.Clock, ua sipLines) *Appliance {
	t.Helper()
	board, prof := simBoard(t, 1)
	ft := newFakeTrunk()
	a, err := New(Options{Board: board, Profile: prof, Clock: clk, FailbackAfter: 30 * time.Second,
		Registrars: []RegistrarOptions{{Name: "pbx"}}, Trunks: []TrunkOptions{{Trunk: ft}}})
	if err != nil {
		t.Fatal(err)
	}
	a.AttachSIP(ua)
	a.mu.Lock()
	a.running, a.settled = true, true
	a.mu.Unlock()
	a.trunks[0].setStatus(ft.Status())
	return a
}

// pubSIP publishes as the real UA does: to the subscribers it has now, and
// to nobody before the first.
type pubSIP struct {
	noSIP
	mu   sync.Mutex
	subs []chan sip.Event
}

func (p *pubSIP) Subscribe(n int) (<-chan sip.Event, func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan sip.Event, n)
	p.subs = append(p.subs, ch)
	return ch, func() {}
}

func (p *pubSIP) publish(e sip.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.subs {
		ch <- e
	}
}

// The UA publishes its first verdicts within a millisecond of its start,
// which the daemon begins right after the appliance's Run: a verdict
// published before the appliance's event loop runs still arrives (a
// registrar that stays up is never published again, and the appliance
// once waited in its start-up mode for good: seen as a 20 s test timeout
// under load).
func TestSIPVerdictBeforeTheEventLoopArrives(t *testing.T) {
	ua := &pubSIP{}
	a := clockAppliance(t, hal.NewManualClock(time.Hour), ua)
	ua.publish(sip.RegistrarHealth{Registrar: "pbx", Known: true, Up: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sipEvents(ctx)
	waitUntil(t, "normal on the verdict published before the loop ran", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.mode == Normal
	})
}

// The whole appliance on a manual clock: a registrar that fails and comes
// back is trusted again, and idle lines return to normal, exactly when the
// fail-back period has passed on the appliance's clock (the timer is the
// clock's, not the wall's).
func TestFailbackOnTheAppliancesClock(t *testing.T) {
	clk := hal.NewManualClock(time.Hour)
	feed := feedSIP{ch: make(chan sip.Event, 8)}
	a := clockAppliance(t, clk, feed)
	health := func(up bool) {
		feed.ch <- sip.RegistrarHealth{Registrar: "pbx", Known: true, Up: up}
	}
	mode := func() Mode {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.mode
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.sipEvents(ctx)

	health(true)
	waitUntil(t, "normal", func() bool { return mode() == Normal })
	health(false)
	waitUntil(t, "survivable", func() bool { return mode() == Survivable })
	health(true)
	// The registrar is marked up under the lock; the re-evaluation that
	// arms the fail-back timer (on the clock's reading of that moment)
	// follows after the unlock. Advancing the clock before it is armed
	// would arm it a whole period later: wait for both.
	waitUntil(t, "the registrar known up, the fail-back timer armed", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.regs["pbx"].up && a.failback != nil
	})
	if m := mode(); m != Survivable {
		t.Fatalf("back at once: %v, want survivable for the fail-back period", m)
	}
	clk.Advance(30*time.Second - time.Millisecond)
	if m := mode(); m != Survivable {
		t.Fatalf("normal before the fail-back period is over: %v", m)
	}
	clk.Advance(20 * time.Millisecond) // the fail-back timer fires inside Advance
	if m := mode(); m != Normal {
		t.Fatalf("after the fail-back period: %v, want normal", m)
	}
}
