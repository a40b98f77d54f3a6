package survivability

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/hal"
)

// svcFakeTrunk is a fakeTrunk with call waiting and call hold working
// (deflection and transfer refused): it records the hold operations and
// answers asked of it and reports nothing by itself, so the test chooses
// the order in which the network's reports arrive (modules differ in it).
type svcFakeTrunk struct {
	*fakeTrunk // its mu guards the fields below too

	holds   []hal.HoldOp
	answers int
	gate    chan struct{} // non-nil: Hold waits for it to close, as a command waits for its OK
}

func (f *svcFakeTrunk) Services() []hal.ServiceStatus {
	var out []hal.ServiceStatus
	for _, s := range hal.TrunkServiceNames() {
		st := hal.ServiceStatus{Service: s, Support: hal.SupportWorking}
		if s == hal.ServiceDeflection || s == hal.ServiceTransfer {
			st.Support = hal.SupportRefused
		}
		out = append(out, st)
	}
	return out
}

func (f *svcFakeTrunk) Answer(context.Context, hal.TrunkCallID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers++
	return nil
}

func (f *svcFakeTrunk) Hold(ctx context.Context, op hal.HoldOp) error {
	f.mu.Lock()
	f.holds = append(f.holds, op)
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// holdUntil makes the next hold operations wait for the returned func
// (which may be called more than once).
func (f *svcFakeTrunk) holdUntil() (ok func()) {
	g := make(chan struct{})
	f.mu.Lock()
	f.gate = g
	f.mu.Unlock()
	return sync.OnceFunc(func() {
		f.mu.Lock()
		f.gate = nil
		f.mu.Unlock()
		close(g)
	})
}

func (f *svcFakeTrunk) Deflect(context.Context, hal.TrunkCallID, string) error {
	return hal.ErrServiceRefused
}
func (f *svcFakeTrunk) Release(context.Context, hal.TrunkCallID) error { return nil }
func (f *svcFakeTrunk) Transfer(context.Context, hal.TrunkCallID, string) error {
	return hal.ErrServiceRefused
}

func (f *svcFakeTrunk) holdOps() []hal.HoldOp {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.holds)
}

func (f *svcFakeTrunk) answered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answers
}

func (f *svcFakeTrunk) hangups() []hal.TrunkCallID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hungUp)
}

// Port 1 has a trunk caller; a second caller rings port 2, which answers
// (port 1's caller held) and hangs up, and the network (AT+CHLD=1) ends
// the second call and connects the first again. Modules report the
// command's OK, the release and the connection in different orders; in
// every order the appliance must leave the held call to the network (a
// swap of its own, AT+CHLD=2, would hold the caller the network has just
// connected) and give port 1 its caller back. The fake trunk stands in for
// the module so the order is the test's, not the scheduler's. (A stale
// call listing reporting the call held again after its connection is the
// modem driver's to discard: hal/modem TestStaleCallListingIsNotApplied.)
func TestHeldCallerBackWhateverTheReportOrder(t *testing.T) {
	board, prof := simBoard(t, 1, 2)
	ft := &svcFakeTrunk{fakeTrunk: newFakeTrunk()}
	a, err := New(Options{Board: board, Profile: prof, Emergency: []string{"999"},
		Ports:  []PortOptions{{ID: 1, Name: "desk"}, {ID: 2, Name: "night"}},
		Trunks: []TrunkOptions{{Trunk: ft, Kind: "sim"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	state := func(port int) fxs.State {
		p, _ := a.Port(port)
		return p.Snapshot().State
	}
	hook := func(port int, off bool) {
		t.Helper()
		if err := board.Hook(port, off); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "trunk known, ports idle", func() bool {
		return a.trunks[0].status().CanCall() && state(1) == fxs.StateIdle && state(2) == fxs.StateIdle
	})

	// The orders a module may report AT+CHLD=1's effects in: its OK and the
	// release of the active call and the held call's connection.
	orders := []string{
		"released, connected, ok", // URCs before the final result (SIMCom)
		"released, ok, connected", // the connection left to the next call-list poll
		"connected, released, ok",
		"ok, released, connected",
		"ok, connected, released",
	}
	rounds := 3 * len(orders)
	for i := range rounds {
		first, second := hal.TrunkCallID(2*i+1), hal.TrunkCallID(2*i+2)
		round := fmt.Sprintf("round %d: ", i)
		// Port 1 answers the first caller.
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkIncoming, Call: first, CallerID: "07700900111"}
		waitUntil(t, round+"port 1 rings", func() bool { return state(1) == fxs.StateRinging })
		answers := ft.answered()
		hook(1, true)
		waitUntil(t, round+"answer asked", func() bool { return ft.answered() == answers+1 })
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: first}
		waitUntil(t, round+"port 1 connected", func() bool { return state(1) == fxs.StateConnected })

		// A second caller, rung on port 2 and answered there: the
		// network holds the first and connects the second.
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkWaiting, Call: second, CallerID: "07700900222"}
		waitUntil(t, round+"port 2 rings", func() bool { return state(2) == fxs.StateRinging })
		holds := len(ft.holdOps())
		hook(2, true)
		waitUntil(t, round+"swap asked", func() bool { return len(ft.holdOps()) == holds+1 })
		if op := ft.holdOps()[holds]; op != hal.HoldSwap {
			t.Fatalf(round+"port 2 took the waiting call with hold op %d, want %d (swap)", op, hal.HoldSwap)
		}
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkHeld, Call: first}
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: second}
		waitUntil(t, round+"port 2 connected", func() bool { return state(2) == fxs.StateConnected })

		// Port 2 hangs up: release the active call, connect the held one.
		// The command's OK and the two reports come in this round's order,
		// each given time to be acted on alone.
		order := orders[i%len(orders)]
		round += order + ": "
		ok := ft.holdUntil()
		hook(2, false)
		waitUntil(t, round+"release-active asked", func() bool { return len(ft.holdOps()) == holds+2 })
		if op := ft.holdOps()[holds+1]; op != hal.HoldReleaseActive {
			ok()
			t.Fatalf(round+"port 2's hang-up sent hold op %d, want %d (release active)", op, hal.HoldReleaseActive)
		}
		for _, step := range strings.Split(order, ", ") {
			switch step {
			case "ok":
				ok()
			case "released":
				ft.events <- hal.TrunkEvent{Kind: hal.TrunkEnded, Call: second}
			case "connected":
				ft.events <- hal.TrunkEvent{Kind: hal.TrunkAnswered, Call: first}
			}
			time.Sleep(50 * time.Millisecond)
			if ops := ft.holdOps(); len(ops) != holds+2 {
				ok()
				t.Fatalf(round+"after %q the appliance sent hold ops %v: it swapped the caller the network is connecting back on hold", step, ops[holds+2:])
			}
		}
		waitUntil(t, round+"port 2 idle", func() bool { return state(2) == fxs.StateIdle })
		if s := state(1); s != fxs.StateConnected {
			t.Fatalf(round+"port 1 %s with its caller back, want connected", s)
		}

		// Port 1 hangs up: the trunk clears the first call.
		hangups := len(ft.hangups())
		hook(1, false)
		waitUntil(t, round+"hang-up asked", func() bool { return len(ft.hangups()) == hangups+1 })
		if id := ft.hangups()[hangups]; id != first {
			t.Fatalf(round+"hung up call %d, want %d", id, first)
		}
		ft.events <- hal.TrunkEvent{Kind: hal.TrunkEnded, Call: first}
		waitUntil(t, round+"both idle", func() bool { return state(1) == fxs.StateIdle && state(2) == fxs.StateIdle })
	}
	if m := a.Status().Trunks[0].MissedCalls; m != 0 {
		t.Fatalf("%d missed calls", m)
	}
}
