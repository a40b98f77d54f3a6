//go:build linux

package survivability

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/modem"
)

// Local calls and hunt groups in process: the simulated board with three
// ports and a modem trunk on the pty modem simulator (the real serial
// path), so the race detector sees the flows. The daemon's own tests
// (cmd/critlined/groups_test.go) add the PBX, sipp and the binary.

// groupRig is svcRig with three ports and groups.
type groupRig struct {
	*svcRig
}

// threePorts are the rig's ports: 1 has copper behind its relay.
func threePorts() []PortOptions {
	const plan = "999|112|0[1-9]xxxxxxxxx|2xxxxx"
	return []PortOptions{
		{ID: 1, Name: "Lodge desk", Extension: "270001", Copper: true, DialPlan: plan},
		{ID: 2, Name: "Night porter", Extension: "270002", DialPlan: plan},
		{ID: 3, Name: "Back office", Extension: "270003", DialPlan: plan},
	}
}

func newGroupRig(t testing.TB, o Options) *groupRig {
	t.Helper()
	r := &groupRig{startSvcRig(t, []int{1, 2, 3}, func(base *Options, tr *modem.Trunk) {
		o.Board, o.Profile, o.Registerer, o.Logger, o.Emergency = base.Board, base.Profile, base.Registerer, base.Logger, base.Emergency
		if o.Ports == nil {
			o.Ports = threePorts()
		}
		group := ""
		if len(o.Trunks) == 1 {
			group = o.Trunks[0].Group
		}
		o.Trunks = []TrunkOptions{{Trunk: tr, Kind: "sim", Group: group}}
		if o.LocalCalls == "" {
			o.LocalCalls = LocalCallsLocal
		}
		*base = o
	})}
	tr := r.tr
	r.until("deflection found", func() bool {
		for _, s := range tr.Services() {
			if s.Service == hal.ServiceDeflection {
				return s.Usable()
			}
		}
		return false
	})
	r.until("ports idle", func() bool {
		return r.state(1) == fxs.StateIdle && r.state(2) == fxs.StateIdle && r.state(3) == fxs.StateIdle
	})
	return r
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func (r *groupRig) groupCalls(group, result string) float64 {
	return counterValue(r.a.gs.calls.WithLabelValues(group, result))
}

func (r *groupRig) answeredBy(group, member string) float64 {
	return counterValue(r.a.gs.answered.WithLabelValues(group, member))
}

// ringing lists the ports ringing now.
func (r *groupRig) ringing() []int {
	var out []int
	for _, id := range []int{1, 2, 3} {
		if r.state(id) == fxs.StateRinging {
			out = append(out, id)
		}
	}
	return out
}

func (r *groupRig) allIdle() bool {
	return r.state(1) == fxs.StateIdle && r.state(2) == fxs.StateIdle && r.state(3) == fxs.StateIdle
}

// tone makes seconds of a sine at hz.
func tone(hz float64, seconds float64) []int16 {
	g := dsp.NewToneGen(dsp.Tone{Name: "t", Segments: []dsp.ToneSegment{{Components: []dsp.Component{{Freq: hz, Level: -10}}}}})
	out := make([]int16, int(seconds*8000))
	g.FillSamples(out)
	return out
}

// hears records a port's earpiece for seconds and returns the level of hz
// and of other, dBm0, skipping the first 200 ms.
func (r *groupRig) hears(port int, seconds float64, hz, other float64) (float64, float64) {
	r.t.Helper()
	ch, err := r.board.Listen(port, int(seconds*8000))
	if err != nil {
		r.t.Fatal(err)
	}
	s := <-ch
	return medianLevel(s[1600:], hz), medianLevel(s[1600:], other)
}

// medianLevel is the median over 100 ms blocks of the level of hz, dBm0: a
// frame dropped or inserted by a bridge (clock drift) breaks the phase of
// a tone, which a single measurement over the whole recording would take
// for a weaker tone.
func medianLevel(s []int16, hz float64) float64 {
	var lv []float64
	for i := 0; i+800 <= len(s); i += 800 {
		lv = append(lv, dsp.ToneLevelDBm0(s[i:i+800], hz))
	}
	if len(lv) == 0 {
		return math.Inf(-1)
	}
	slices.Sort(lv)
	return lv[len(lv)/2]
}

// A porter dials another port's extension: it rings with the caller's
// extension and name as caller ID, the caller hears ringback, and answered,
// each hears the other (tones checked by frequency both ways). It works the
// same with the PBX gone (no SIP at all here). Either side hanging up ends
// it for both.
func TestLocalCallBetweenPorts(t *testing.T) {
	r := newGroupRig(t, Options{})
	for run := range 3 {
		r.hook(1, true)
		r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
		start := time.Now()
		r.dial(1, "270002")
		r.until("port 2 rings", func() bool { return r.state(2) == fxs.StateRinging })
		setup := time.Since(start)
		rec, _ := r.board.Listen(2, 3*8000) // caller ID comes before the first ring (UK)
		r.until("ringback", func() bool { return r.state(1) == fxs.StateRingback })
		var got dsp.CallerID
		dsp.NewCallerIDReceiver(dsp.V23, func(m []byte) { got, _ = dsp.ParseCallerID(m) }).Process(<-rec)
		if got.Number != "270001" || got.Name != "Lodge desk" {
			t.Fatalf("caller ID on port 2: %+v", got)
		}
		if at, _ := r.hears(1, 1, 400, 1000); at < -30 {
			t.Fatalf("no ringback on port 1: 400 Hz at %.1f dBm0", at)
		}
		r.hook(2, true)
		r.until("connected", func() bool { return r.state(1) == fxs.StateConnected && r.state(2) == fxs.StateConnected })
		t.Logf("run %d: dialling started to port 2 ringing %s (six DTMF digits keyed at 80+80 ms)", run, setup)
		if _, err := r.board.Play(1, tone(697, 3)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.board.Play(2, tone(1209, 3)); err != nil {
			t.Fatal(err)
		}
		if at, off := r.hears(2, 1.5, 697, 1209); at < -16 || off > at-20 {
			t.Fatalf("port 2 hears 697 Hz at %.1f dBm0 and 1209 Hz at %.1f", at, off)
		}
		if at, off := r.hears(1, 1.5, 1209, 697); at < -16 || off > at-20 {
			t.Fatalf("port 1 hears 1209 Hz at %.1f dBm0 and 697 Hz at %.1f", at, off)
		}
		by := 1 + run%2
		r.hook(by, false)
		r.until("the other hears the end", func() bool {
			o := 3 - by
			return r.state(o) != fxs.StateConnected
		})
		r.hook(3-by, false)
		r.until("idle", r.allIdle)
	}
	if n := counterValue(r.a.m.calls.WithLabelValues("1", "out", RungLocal, "answered")); n != 3 {
		t.Fatalf("critline_calls_total{port=1,route=local,result=answered} = %v", n)
	}
	var m dto.Metric
	if err := r.a.m.setup.WithLabelValues(RungLocal).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	t.Logf("local call setup (last digit to the called port ringing), mean of %d: %.1f ms", h.GetSampleCount(), 1000*h.GetSampleSum()/float64(h.GetSampleCount()))
	if h.GetSampleCount() != 3 || h.GetSampleSum() > 3 {
		t.Fatalf("critline_call_setup_seconds{route=local}: %d calls, %.3f s in all", h.GetSampleCount(), h.GetSampleSum())
	}
}

// A local call to a port that cannot ring, to a busy port or to the
// caller's own extension gets busy tone at once.
func TestLocalCallBusy(t *testing.T) {
	r := newGroupRig(t, Options{})
	r.hook(3, true)
	r.until("port 3 off-hook", func() bool { return r.state(3) == fxs.StateDialTone })
	for _, ext := range []string{"270003", "270001"} {
		r.hook(1, true)
		r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
		r.dial(1, ext)
		r.until("busy", func() bool { return r.state(1) == fxs.StateBusy })
		r.hook(1, false)
		r.until("idle", func() bool { return r.state(1) == fxs.StateIdle })
	}
}

// A sequential group rings its members one at a time in order, each for
// the ring time, round again, skipping a member that cannot ring at once;
// the one who answers gets the trunk caller, metrics say who.
func TestGroupSequentialOnTheTrunk(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "lodge", Extension: "270000", Strategy: StrategySequential, RingTime: 2 * time.Second,
			Timeout: 20 * time.Second, Members: []GroupMember{{Port: 1}, {Port: 2}, {Port: 3}}}},
		Trunks: []TrunkOptions{{Group: "lodge"}},
	})
	r.hook(2, true) // port 2 busy: skipped
	r.until("port 2 busy", func() bool { return r.state(2) == fxs.StateDialTone })
	r.ctl("ring", "07700900111")
	var seq []int
	var at []time.Time
	r.until("rang 1, 3, 1", func() bool {
		rg := r.ringing()
		if len(rg) > 1 {
			t.Fatalf("ports %v ring at once", rg)
		}
		if len(rg) == 1 && (len(seq) == 0 || seq[len(seq)-1] != rg[0]) {
			seq = append(seq, rg[0])
			at = append(at, time.Now())
		}
		return len(seq) >= 3
	})
	if seq[0] != 1 || seq[1] != 3 || seq[2] != 1 {
		t.Fatalf("ringing order %v, want 1 3 1 (2 is busy)", seq)
	}
	for i := 1; i < len(at); i++ {
		d := at[i].Sub(at[i-1])
		t.Logf("member %d rang %s (ring time 2s)", seq[i-1], d.Round(time.Millisecond))
		if d < 1500*time.Millisecond || d > 6*time.Second {
			t.Errorf("member %d rang %s, want about 2s", seq[i-1], d)
		}
	}
	r.hook(1, true)
	r.until("connected on port 1", func() bool {
		return r.state(1) == fxs.StateConnected && r.calls() == `1: inbound from "07700900111", connected`
	})
	if st := r.a.Status(); len(st.Groups) != 1 || st.Groups[0].Calls != 1 || len(st.Groups[0].Ringing) != 0 {
		t.Fatalf("status %+v", st.Groups)
	}
	r.ctl("tone", "697", "2")
	if lv, _ := r.hears(1, 1.5, 697, 1209); lv < -20 {
		t.Fatalf("the trunk caller's 697 Hz reaches port 1 at %.1f dBm0", lv)
	}
	r.hook(1, false)
	r.until("clear", func() bool { return r.calls() == "none" && r.state(1) == fxs.StateIdle })
	if r.groupCalls("lodge", groupAnswered) != 1 || r.answeredBy("lodge", "port:1") != 1 {
		t.Fatalf("metrics: answered %v, by port 1 %v", r.groupCalls("lodge", groupAnswered), r.answeredBy("lodge", "port:1"))
	}
	r.until("the group has no call", func() bool { return r.a.Status().Groups[0].Calls == 0 })
}

// Ring all: every member that can ring rings at once; the first to answer
// takes the call, the others stop.
func TestGroupRingAllFirstAnswerWins(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "lodge", Extension: "270000", Timeout: 30 * time.Second,
			Members: []GroupMember{{Port: 1}, {Port: 2}, {Port: 3}}}},
		Trunks: []TrunkOptions{{Group: "lodge"}},
	})
	r.ctl("ring", "07700900111")
	r.until("all ring", func() bool { return len(r.ringing()) == 3 })
	st := r.a.Status()
	if g := st.Groups[0]; g.Calls != 1 || len(g.Ringing) != 3 {
		t.Fatalf("status while ringing: %+v", g)
	}
	r.hook(3, true)
	r.until("3 has it, the others stop", func() bool {
		return r.state(3) == fxs.StateConnected && r.state(1) == fxs.StateIdle && r.state(2) == fxs.StateIdle
	})
	r.ctl("hangup")
	r.until("port 3 hears the end", func() bool { return r.state(3) != fxs.StateConnected })
	r.hook(3, false)
	r.until("idle", r.allIdle)
	if r.answeredBy("lodge", "port:3") != 1 {
		t.Fatal("not booked to port 3")
	}
}

// A local caller reaches a group by its extension; a member answers and
// the two ports talk through the bridge. Round robin starts each call one
// member further on.
func TestGroupFromAPortRoundRobin(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "team", Extension: "270009", Strategy: StrategyRoundRobin, RingTime: 5 * time.Second,
			Timeout: 30 * time.Second, Members: []GroupMember{{Port: 2}, {Port: 3}}}},
	})
	for _, first := range []int{2, 3, 2} {
		r.hook(1, true)
		r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
		r.dial(1, "270009")
		r.until("a member rings", func() bool { return len(r.ringing()) == 1 })
		if got := r.ringing()[0]; got != first {
			t.Fatalf("round robin rang port %d first, want %d", got, first)
		}
		r.until("ringback", func() bool { return r.state(1) == fxs.StateRingback })
		r.hook(first, true)
		r.until("connected", func() bool { return r.state(1) == fxs.StateConnected && r.state(first) == fxs.StateConnected })
		if _, err := r.board.Play(first, tone(1336, 2)); err != nil {
			t.Fatal(err)
		}
		if lv, _ := r.hears(1, 1, 1336, 697); lv < -16 {
			t.Fatalf("port 1 hears the member's 1336 Hz at %.1f dBm0", lv)
		}
		r.hook(1, false)
		r.until("member hears the end", func() bool { return r.state(first) != fxs.StateConnected })
		r.hook(first, false)
		r.until("idle", r.allIdle)
	}
}

// Longest idle: the member whose last call ended longest ago rings first.
func TestGroupLongestIdle(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "team", Extension: "270009", Strategy: StrategyLongestIdle, RingTime: 5 * time.Second,
			Timeout: 30 * time.Second, Members: []GroupMember{{Port: 2}, {Port: 3}}}},
	})
	// Port 2 has just had a call (with port 3 first, so 3's is older).
	call := func(from, to string, a, b int) {
		r.hook(a, true)
		r.until("dial tone", func() bool { return r.state(a) == fxs.StateDialTone })
		r.dial(a, to)
		r.until("rings", func() bool { return r.state(b) == fxs.StateRinging })
		r.hook(b, true)
		r.until("connected", func() bool { return r.state(b) == fxs.StateConnected })
		r.hook(a, false)
		r.hook(b, false)
		r.until("idle", r.allIdle)
	}
	call("1", "270003", 1, 3)
	time.Sleep(20 * time.Millisecond)
	call("1", "270002", 1, 2)
	r.hook(1, true)
	r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
	r.dial(1, "270009")
	r.until("a member rings", func() bool { return len(r.ringing()) == 1 })
	if got := r.ringing()[0]; got != 3 {
		t.Fatalf("longest idle rang port %d first, want 3 (idle longer)", got)
	}
	r.hook(1, false)
	r.until("idle", r.allIdle)
	r.until("abandoned counted", func() bool { return r.groupCalls("team", groupAbandoned) == 1 })
}

// Members that cannot ring (on the copper line, left off the hook, in a
// call) are skipped at once; with nobody left the call overflows at once to
// another group, whose member answers; with no overflow it is lost, and
// counted.
func TestGroupSkipsAndOverflows(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{
			{Name: "lodge", Extension: "270000", Strategy: StrategySequential, RingTime: 10 * time.Second, Timeout: 60 * time.Second,
				Overflow: "270008", Members: []GroupMember{{Port: 1}, {Port: 2}}},
			{Name: "office", Extension: "270008", Timeout: 5 * time.Second, Members: []GroupMember{{Port: 3}}},
		},
		Trunks: []TrunkOptions{{Group: "lodge"}},
	})
	if err := r.a.SetLifeline(1, true); err != nil {
		t.Fatal(err)
	}
	r.hook(2, true)
	r.until("port 1 on copper, port 2 busy", func() bool {
		return r.a.Status().Ports[0].Relay == "bypass" && r.state(2) == fxs.StateDialTone
	})
	start := time.Now()
	r.ctl("ring", "07700900111")
	r.until("port 3 rings (overflow)", func() bool { return r.state(3) == fxs.StateRinging })
	t.Logf("nobody in lodge could ring: the overflow group rang after %s", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("overflow after %s: members that cannot ring were waited for", d)
	}
	if r.groupCalls("lodge", groupOverflow) != 1 {
		t.Fatal("overflow not counted")
	}
	r.hook(3, true)
	r.until("connected", func() bool { return r.calls() == `1: inbound from "07700900111", connected` })
	r.hook(3, false)
	r.until("clear", func() bool { return r.calls() == "none" })
	if r.answeredBy("office", "port:3") != 1 {
		t.Fatal("office answer not booked")
	}
	// The office group's only member busy, and lodge's unreachable: no overflow there.
	r.hook(3, true)
	r.until("port 3 busy", func() bool { return r.state(3) == fxs.StateDialTone })
	r.ctl("ring", "07700900222")
	r.until("refused and counted", func() bool {
		return r.calls() == "none" && r.groupCalls("office", groupNoMember) == 1
	})
	if m := r.a.Status().Trunks[0].MissedCalls; m != 1 {
		t.Fatalf("missed calls %d, want 1", m)
	}
}

// An outside member with no registrar (no SIP here) is reached through the
// mobile network: after the ports' ring time the call is deflected to the
// member's number (AT+CTFR), and leaves the appliance.
func TestGroupOutsideMemberByDeflection(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "lodge", Extension: "270000", RingTime: 2 * time.Second, Timeout: 30 * time.Second,
			Members: []GroupMember{{Port: 1}, {Port: 2}, {Number: "07700900444"}}}},
		Trunks: []TrunkOptions{{Group: "lodge"}},
	})
	r.ctl("ring", "07700900111")
	r.until("ports ring", func() bool { return len(r.ringing()) == 2 })
	r.until("deflected", func() bool {
		for _, d := range r.msim.Redirects() {
			if d.Kind == "deflection" && d.To == "07700900444" {
				return true
			}
		}
		return false
	})
	r.until("ports stop, call gone", func() bool { return r.allIdle() && r.calls() == "none" })
	// The hunt books its result as it ends, just after the trunk call.
	r.until("diverted counted", func() bool { return r.groupCalls("lodge", groupDiverted) == 1 })
	if m := r.a.Status().Trunks[0].MissedCalls; m != 0 {
		t.Fatalf("a diverted call counted missed (%d)", m)
	}
	if !strings.Contains(r.ctl("redirects"), "07700900444") {
		t.Fatal("redirect not listed")
	}
}

// A hotline port reaches its group the moment the handset is lifted.
func TestHotlineToAGroup(t *testing.T) {
	ports := threePorts()
	ports[2].Hotline = "270000"
	r := newGroupRig(t, Options{Ports: ports,
		Groups: []GroupOptions{{Name: "lodge", Extension: "270000", Members: []GroupMember{{Port: 1}, {Port: 2}}}}})
	r.hook(3, true)
	r.until("the group rings", func() bool { return len(r.ringing()) == 2 && r.state(3) == fxs.StateRingback })
	r.hook(2, true)
	r.until("connected", func() bool { return r.state(3) == fxs.StateConnected && r.state(2) == fxs.StateConnected })
	r.hook(3, false)
	r.hook(2, false)
	r.until("idle", r.allIdle)
}

// A port calls a group whose members are another port and a team member's
// mobile. With no PBX the mobile is called from the caller's own port along
// its ladder (the trunk); it answers first, the other port stops ringing,
// and the caller talks to the mobile over the trunk.
func TestGroupOutsideMemberFromAPort(t *testing.T) {
	r := newGroupRig(t, Options{
		Groups: []GroupOptions{{Name: "team", Extension: "270009", Timeout: 30 * time.Second,
			Members: []GroupMember{{Port: 2}, {Number: "07700900444"}}}},
	})
	r.hook(1, true)
	r.until("dial tone", func() bool { return r.state(1) == fxs.StateDialTone })
	r.dial(1, "270009")
	r.until("the mobile answered on the trunk; port 2 stopped", func() bool {
		return r.state(1) == fxs.StateConnected && r.calls() == `1: outbound to "07700900444", connected` && r.state(2) == fxs.StateIdle
	})
	r.ctl("tone", "1209", "3")
	if lv, _ := r.hears(1, 1.5, 1209, 697); lv < -20 {
		t.Fatalf("the mobile's 1209 Hz reaches port 1 at %.1f dBm0", lv)
	}
	if r.answeredBy("team", "number:07700900444") != 1 {
		t.Fatal("not booked to the mobile")
	}
	r.hook(1, false)
	r.until("clear", func() bool { return r.calls() == "none" && r.allIdle() })
	r.until("the group has no call", func() bool { return r.a.Status().Groups[0].Calls == 0 })
}
