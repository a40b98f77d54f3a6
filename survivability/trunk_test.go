package survivability

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
	"github.com/critline/critline/sip"
)

// fakeTrunk is a hal.Trunk whose events the test sends by hand, so the
// order of a pre-empted call's late end and the next call's progress is
// the test's to choose.
type fakeTrunk struct {
	events chan hal.TrunkEvent

	mu      sync.Mutex
	next    hal.TrunkCallID
	dialled []string
	hungUp  []hal.TrunkCallID
}

func newFakeTrunk() *fakeTrunk { return &fakeTrunk{events: make(chan hal.TrunkEvent, 64)} }

func (f *fakeTrunk) Name() string { return "lte" }
func (f *fakeTrunk) Dial(ctx context.Context, number string) (hal.TrunkCallID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.dialled = append(f.dialled, number)
	return f.next, nil
}
func (f *fakeTrunk) dialledCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dialled)
}
func (f *fakeTrunk) Answer(context.Context, hal.TrunkCallID) error { return nil }
func (f *fakeTrunk) Hangup(_ context.Context, id hal.TrunkCallID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hungUp = append(f.hungUp, id)
	return nil
}
func (f *fakeTrunk) SendDTMF(context.Context, string) error { return nil }
func (f *fakeTrunk) Events() <-chan hal.TrunkEvent          { return f.events }
func (f *fakeTrunk) Status() hal.TrunkStatus {
	return hal.TrunkStatus{Up: true, Registered: true, Service: hal.ServiceFull}
}
func (f *fakeTrunk) Audio() hal.PCM { return nil }
func (f *fakeTrunk) Close() error   { return nil }

// updates records what a port hears of its call.
type updates struct {
	mu  sync.Mutex
	got []fxs.CallUpdate
}

func (u *updates) Update(c fxs.CallUpdate) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got = append(u.got, c)
}

func (u *updates) has(s fxs.CallState) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.got {
		if c.State == s {
			return true
		}
	}
	return false
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// An emergency call pre-empts the ordinary call on the only trunk: the
// trunk hangs up that call (by its identity), its porter hears it end, and
// the old call's late end, arriving after the emergency call was dialled,
// is not applied to the emergency call.
func TestPreemptionIgnoresTheOldCallsLateEnd(t *testing.T) {
	board, prof := simBoard(t, 1, 2)
	ft := newFakeTrunk()
	a, tl, ctx := runTrunk(t, Options{Board: board, Profile: prof, Emergency: []string{"999"}, Trunks: []TrunkOptions{{Trunk: ft, Kind: "sim"}}})

	// Port 2's ordinary call, answered.
	ordinary := &updates{}
	if _, err := (&router{a: a, port: 2}).Route(ctx, fxs.RouteRequest{Port: 2, Number: "07700900123"}, ordinary); err != nil {
		t.Fatal(err)
	}
	// Route returns at once and works the ladder on its own goroutine.
	waitUntil(t, "ordinary call dialled", func() bool { return ft.dialledCount() == 1 })
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: 1}
	waitUntil(t, "ordinary call answered", func() bool { return ordinary.has(fxs.CallAnswered) })

	// Port 1 dials 999: the only trunk is busy, its call is pre-empted.
	emergency := &updates{}
	if _, err := (&router{a: a, port: 1}).Route(ctx, fxs.RouteRequest{Port: 1, Number: "999", Emergency: true}, emergency); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "999 dialled", func() bool { return ft.dialledCount() == 2 })
	ft.mu.Lock()
	hungUp, dialled := append([]hal.TrunkCallID(nil), ft.hungUp...), append([]string(nil), ft.dialled...)
	ft.mu.Unlock()
	if len(hungUp) != 1 || hungUp[0] != 1 || len(dialled) != 2 || dialled[1] != "999" {
		t.Fatalf("hung up %v, dialled %v: want call 1 cleared, then 999 dialled", hungUp, dialled)
	}
	waitUntil(t, "the pre-empted porter hears the call end", func() bool { return ordinary.has(fxs.CallEnded) })

	// The old call's end arrives late, then the emergency call's progress.
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkEnded, Call: 1}
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkAlerting, Call: 2}
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: 2}
	waitUntil(t, "the emergency call answered", func() bool { return emergency.has(fxs.CallAnswered) })
	if emergency.has(fxs.CallFailed) || emergency.has(fxs.CallEnded) {
		t.Fatalf("the old call's end reached the emergency call: %+v", emergency.got)
	}
	if c := tl.current(); c == nil || c.callID() != 2 || !c.emerg {
		t.Fatalf("the trunk's current call is %+v, want the emergency call 2", c)
	}
	// A second emergency call never pre-empts the first: it waits a moment
	// for the trunk, and moves on (here: fails) when it stays busy...
	tl.emergWait = 50 * time.Millisecond
	second := &updates{}
	if _, err := (&router{a: a, port: 2}).Route(ctx, fxs.RouteRequest{Port: 2, Number: "999", Emergency: true}, second); err == nil {
		waitUntil(t, "the second emergency call fails", func() bool { return second.has(fxs.CallFailed) })
	}
	ft.mu.Lock()
	if len(ft.hungUp) != 1 || len(ft.dialled) != 2 {
		t.Fatalf("an emergency call was pre-empted: hung up %v, dialled %v", ft.hungUp, ft.dialled)
	}
	ft.mu.Unlock()
	// ...and takes the trunk when the first ends while it waits.
	tl.emergWait = 5 * time.Second
	third := &updates{}
	routed := make(chan error, 1)
	go func() {
		_, err := (&router{a: a, port: 2}).Route(ctx, fxs.RouteRequest{Port: 2, Number: "999", Emergency: true}, third)
		routed <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it start waiting; the outcome does not depend on it
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkEnded, Call: 2}
	if err := <-routed; err != nil {
		t.Fatalf("the waiting emergency call did not get the trunk: %v", err)
	}
	waitUntil(t, "the waiting emergency call dialled", func() bool { return ft.dialledCount() == 3 })
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: 3}
	waitUntil(t, "the waiting emergency call answered", func() bool { return third.has(fxs.CallAnswered) })
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.hungUp) != 1 || len(ft.dialled) != 3 || ft.dialled[2] != "999" {
		t.Fatalf("hung up %v, dialled %v", ft.hungUp, ft.dialled)
	}
}

// noSIP stands in for the SIP lines where a test needs registrar rungs
// but places no call.
type noSIP struct{}

func (noSIP) Dial(context.Context, int, string, sip.DialOptions) (*sip.Call, error) {
	return nil, errors.New("no SIP in this test")
}
func (noSIP) Subscribe(int) (<-chan sip.Event, func()) { return nil, func() {} }

// The order of the rungs: ordinary calls only where they can go, emergency
// calls everywhere, in the configured emergency route's order, pre-empting
// a busy trunk only when nothing else is left.
func TestLadderOrder(t *testing.T) {
	board, prof := simBoard(t, 1, 2)
	full := hal.TrunkStatus{Up: true, Registered: true, Service: hal.ServiceFull}
	limited := hal.TrunkStatus{Up: true, Service: hal.ServiceLimited}
	none := hal.TrunkStatus{Up: true, Service: hal.ServiceNone}
	for _, c := range []struct {
		name      string
		route     string
		pbx       string // up | down
		trunk     hal.TrunkStatus
		busy      bool
		emergency bool
		want      string
	}{
		{"ordinary, all well", "", "up", full, false, false, "registrar:pbx trunk:lte"},
		{"ordinary, trunk in limited service", "", "down", limited, false, false, ""},
		{"ordinary, trunk busy", "", "up", full, true, false, "registrar:pbx"},
		{"999 pbx-first", "", "up", full, false, true, "registrar:pbx trunk:lte"},
		{"999 trunk-first", EmergencyTrunkFirst, "up", full, false, true, "trunk:lte registrar:pbx"},
		{"999 trunk busy: the PBX first, pre-emption last", EmergencyTrunkFirst, "up", full, true, true, "registrar:pbx trunk:lte"},
		{"999 PBX down, trunk limited", "", "down", limited, false, true, "trunk:lte registrar:pbx"},
		{"999 PBX down, no network: both tried all the same", "", "down", none, false, true, "registrar:pbx trunk:lte"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := New(Options{Board: board, Profile: prof, Registerer: nil, EmergencyRoute: c.route,
				Registrars: []RegistrarOptions{{Name: "pbx"}}, Trunks: []TrunkOptions{{Trunk: newFakeTrunk()}}})
			if err != nil {
				t.Fatal(err)
			}
			a.AttachSIP(noSIP{})
			a.regs["pbx"].known, a.regs["pbx"].up = true, c.pbx == "up"
			tl := a.trunks[0]
			tl.setStatus(c.trunk)
			if c.busy {
				tl.setCurLocked(&trunkCall{tl: tl, id: 7, dir: "in"})
			}
			rungs, _ := a.ladder(1, "x", c.emergency)
			if got := strings.Join(rungNames(rungs), " "); got != c.want {
				t.Fatalf("ladder %q, want %q", got, c.want)
			}
		})
	}
}

// TestOnCallHearsTrunkCalls: Options.OnCall hears every call the trunk
// takes on, inbound and outbound, before the trunk dials or the call is
// offered (the daemon's CPU governor puts every CPU back on it: a trunk
// call may reach no port, whose audio would otherwise tell it).
func TestOnCallHearsTrunkCalls(t *testing.T) {
	board, prof := simBoard(t, 1)
	ft := newFakeTrunk()
	var mu sync.Mutex
	heard, dialledBefore := 0, 0
	onCall := func() {
		mu.Lock()
		defer mu.Unlock()
		heard++
		dialledBefore += ft.dialledCount()
	}
	a, tl, ctx := runTrunk(t, Options{Board: board, Profile: prof, Trunks: []TrunkOptions{{Trunk: ft, Kind: "sim"}}, OnCall: onCall})
	count := func() int { mu.Lock(); defer mu.Unlock(); return heard }

	out := &updates{}
	if _, err := (&router{a: a, port: 1}).Route(ctx, fxs.RouteRequest{Port: 1, Number: "07700900123"}, out); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "outbound call dialled", func() bool { return ft.dialledCount() == 1 })
	if n := count(); n != 1 {
		t.Fatalf("OnCall heard %d calls after an outbound trunk call, want 1", n)
	}
	mu.Lock()
	if dialledBefore != 0 {
		t.Errorf("OnCall was told after the trunk dialled")
	}
	mu.Unlock()
	ft.events <- hal.TrunkEvent{Kind: hal.TrunkEnded, Call: 1}
	waitUntil(t, "outbound call over", func() bool { return !tl.busy() })

	ft.events <- hal.TrunkEvent{Kind: hal.TrunkIncoming, Call: 2, CallerID: "01223000000"}
	waitUntil(t, "inbound call taken on", func() bool { return count() == 2 })
}

// simBoard is a sim board with the given ports, closed when the test ends,
// and the UK profile.
func simBoard(t *testing.T, ports ...int) (*sim.Board, *profile.Profile) {
	t.Helper()
	board, err := sim.New(sim.Options{Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { board.Close() })
	prof, err := profile.Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	return board, prof
}

// runTrunk is an appliance made with o, whose first trunk runs (until the
// test ends) and is known to be able to call.
func runTrunk(t *testing.T, o Options) (*Appliance, *trunkLine, context.Context) {
	t.Helper()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tl := a.trunks[0]
	go tl.run(ctx)
	waitUntil(t, "trunk known", func() bool { return tl.status().CanCall() })
	return a, tl, ctx
}
