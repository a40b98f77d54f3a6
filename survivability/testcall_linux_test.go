//go:build linux

package survivability

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/pathtest"
)

const testLine = "07700900100"

// placeTest places a test call on the rig's trunk and waits for its answer.
func (r *svcRig) placeTest() pathtest.Call {
	r.t.Helper()
	c, err := r.a.PlaceTestCall(context.Background(), pathtest.KindTrunk, "lte", testLine)
	if err != nil {
		r.t.Fatal(err)
	}
	for ev := range c.Events() {
		switch ev.Kind {
		case pathtest.Answered:
			return c
		case pathtest.Ended:
			r.t.Fatalf("test call ended before its answer: %v", ev.Err)
		}
	}
	r.t.Fatal("test call events closed")
	return nil
}

// ended waits for a test call's end and returns why.
func ended(t *testing.T, c pathtest.Call) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed without an end")
			}
			if ev.Kind == pathtest.Ended {
				return ev.Err
			}
		case <-timeout:
			t.Fatal("the test call never ended")
		}
	}
}

// callsCounted sums critline_calls_total.
func (r *svcRig) callsCounted() float64 {
	var sum float64
	ch := make(chan prometheus.Metric, 64)
	r.a.m.calls.Collect(ch)
	close(ch)
	for m := range ch {
		var d dto.Metric
		m.Write(&d)
		sum += d.GetCounter().GetValue()
	}
	return sum
}

// A test call goes out on the one trunk named, carries the test line's
// tone, and is nobody's call: no port rings or shows it, the porters'
// call metrics do not count it.
func TestTestCallIsNobodysCall(t *testing.T) {
	r := newSvcRig(t)
	r.ctl("responder", testLine, "tone")
	c := r.placeTest()
	m := c.Media()
	if m == nil {
		t.Fatal("no media on an answered trunk test call")
	}
	var got []int16
	var f hal.Frame
	for range 100 {
		if err := m.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
		if err := m.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		got = append(got, f[:]...)
	}
	if lvl := dsp.ToneLevelDBm0(got[4000:], 1004); lvl < -20 {
		t.Fatalf("the test line's tone is not heard: %.1f dBm0", lvl)
	}
	for _, id := range []int{1, 2} {
		p, _ := r.a.Port(id)
		if sn := p.Snapshot(); sn.State != fxs.StateIdle || sn.Ringing {
			t.Fatalf("port %d is %s during a test call", id, sn.State)
		}
	}
	for _, p := range r.a.Status().Ports {
		if p.Route != "" {
			t.Fatalf("port %d shows route %q during a test call", p.ID, p.Route)
		}
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	if err := ended(t, c); err != nil {
		t.Fatalf("a hung-up test call ended with %v", err)
	}
	r.until("the trunk idle", func() bool { return r.calls() == "none" && !r.a.trunks[0].busy() })
	if n := r.callsCounted(); n != 0 {
		t.Fatalf("critline_calls_total counted %v calls for a test call", n)
	}
	cmds, _ := r.msim.Control([]string{"commands", "50"})
	if !strings.Contains(cmds, "ATD"+testLine+";") {
		t.Fatalf("the test call did not go out on the trunk:\n%s", cmds)
	}
}

// 999 takes the trunk from a test call at once, every time (the backstop
// under the tests' own giving way: here nothing listens for the porter's
// activity, so only the trunk's pre-emption frees it). Also an ordinary
// call does.
func TestEmergencyPreemptsTestCall(t *testing.T) {
	r := newSvcRig(t)
	r.ctl("responder", testLine, "tone")
	const runs = 15
	var waits []time.Duration
	for i := range runs {
		c := r.placeTest()
		number := "999"
		if i%5 == 4 {
			number = "07700900123" // an ordinary call takes the trunk from a test too
		}
		r.hook(1, true)
		r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
		r.dial(1, number)
		start := time.Now()
		err := ended(t, c)
		if !errors.Is(err, pathtest.ErrPreempted) {
			t.Fatalf("run %d: the test call ended with %v, want ErrPreempted", i, err)
		}
		r.until("the porter's call connected on the trunk", func() bool {
			return r.state(1) == fxs.StateConnected && strings.Contains(r.calls(), number)
		})
		waits = append(waits, time.Since(start))
		r.hook(1, false)
		r.until("idle", func() bool { return r.state(1) == fxs.StateIdle && r.calls() == "none" && !r.a.trunks[0].busy() })
	}
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	t.Logf("%d porter's calls took the trunk from a test call; from keying the number to connected: median %v, max %v", runs, waits[runs/2], waits[runs-1])
}

// A call arriving on the trunk during a test call ends the test and rings
// the ports.
func TestInboundCallEndsTestCall(t *testing.T) {
	r := newSvcRig(t)
	r.ctl("responder", testLine, "tone")
	c := r.placeTest()
	r.ctl("ring", "07700900555")
	if err := ended(t, c); !errors.Is(err, pathtest.ErrPreempted) {
		t.Fatalf("the test call ended with %v", err)
	}
	r.until("a port rings for the caller", func() bool { return r.state(1) == fxs.StateRinging || r.state(2) == fxs.StateRinging })
}

// The copper check: the relay goes to the line for a moment and back; a
// cut line reads nothing; busy ports, ports without copper and boards
// without a sensor are refused.
func TestCopperCheck(t *testing.T) {
	r := newSvcRig(t)
	r.until("relays on the board", func() bool { return !r.a.ports[1].hw.Relay.Bypass() })
	var moves []bool
	sub := r.board.Watch()
	defer sub.Close()
	rd, err := r.a.CheckCopper(context.Background(), 1)
	if err != nil || rd.Volts < 40 || !rd.Moved || !rd.Restored || rd.OnLine < CopperSettle {
		t.Fatalf("live line: %+v %v", rd, err)
	}
	if r.a.ports[1].hw.Relay.Bypass() {
		t.Fatal("the relay stayed on the line")
	}
	for len(moves) < 2 {
		select {
		case ch := <-sub.C:
			if ch.What == "relay" && ch.Port == 1 {
				moves = append(moves, ch.Value)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("relay moves %v", moves)
		}
	}
	if !slices.Equal(moves, []bool{true, false}) {
		t.Fatalf("relay moves %v, want to the line and back", moves)
	}
	r.board.SetCopperLine(1, false)
	if rd, err := r.a.CheckCopper(context.Background(), 1); err != nil || rd.Volts != 0 {
		t.Fatalf("cut line: %+v %v", rd, err)
	}
	r.board.SetCopperLine(1, true)
	if _, err := r.a.CheckCopper(context.Background(), 2); !errors.Is(err, pathtest.ErrNoCopper) {
		t.Fatalf("port without copper: %v", err)
	}
	r.hook(2, true)
	r.until("port 2 off-hook", func() bool { p, _ := r.a.Port(2); return p.Snapshot().OffHook })
	if _, err := r.a.CheckCopper(context.Background(), 1); !errors.Is(err, pathtest.ErrRouteBusy) {
		t.Fatalf("with a handset off-hook: %v", err)
	}
	if idle, why := r.a.TestIdle(); idle || !strings.Contains(why, "port 2") {
		t.Fatalf("TestIdle %v %q", idle, why)
	}
	r.hook(2, false)
}

// senseless is a relay without a line sensor (a gpio board's).
type senseless struct{ hal.Relay }

type senselessBoard struct{ *sim.Board }

func (b senselessBoard) Ports() []hal.Port {
	ps := slices.Clone(b.Board.Ports())
	for i := range ps {
		ps[i].Relay = senseless{ps[i].Relay}
	}
	return ps
}

// A board without a sensor on the copper line is never "ok": the check
// says it cannot be made.
func TestCopperCheckWithoutSensor(t *testing.T) {
	board, err := sim.New(sim.Options{Ports: []int{1}, Copper: map[int]bool{1: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	prof, err := profile.Load("uk", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Board: senselessBoard{board}, Profile: prof, Ports: []PortOptions{{ID: 1, Copper: true}},
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if a.CanSenseCopper(1) {
		t.Fatal("CanSenseCopper on a board without a sensor")
	}
	if _, err := a.CheckCopper(context.Background(), 1); !errors.Is(err, pathtest.ErrCannotSense) {
		t.Fatalf("%v", err)
	}
}

// A trunk's test call obeys the toll-fraud guard: a denied test number is
// refused before anything is dialled; an allowed one's minutes are booked.
func TestTestCallObeysTheGuard(t *testing.T) {
	r := newSvcRig(t)
	r.ctl("responder", testLine, "tone")
	g, err := guard.New(guard.Config{Routes: []guard.Route{{Name: "lte", Deny: []string{"077009001xx"}}}}, guard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.a.guard = g
	if _, err := r.a.PlaceTestCall(context.Background(), pathtest.KindTrunk, "lte", testLine); !errors.Is(err, pathtest.ErrBlocked) {
		t.Fatalf("a denied test number: %v", err)
	}
	if cmds, _ := r.msim.Control([]string{"commands", "50"}); strings.Contains(cmds, "ATD"+testLine) {
		t.Fatalf("a denied test number was dialled:\n%s", cmds)
	}
	g, _ = guard.New(guard.Config{}, guard.Options{})
	r.a.guard = g
	c := r.placeTest()
	c.Hangup()
	ended(t, c)
	if used, _, active := g.Usage("lte"); used <= 0 || active != 0 {
		t.Fatalf("the guard booked %v (%d active) for a test call", used, active)
	}
	if _, err := r.a.PlaceTestCall(context.Background(), pathtest.KindTrunk, "nope", testLine); !errors.Is(err, pathtest.ErrNoSuchRoute) {
		t.Fatalf("an unknown trunk: %v", err)
	}
}
