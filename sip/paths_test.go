package sip

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/critline/critline/internal/testpeer"
)

// twoPaths is a UA with two paths to one PBX on loopback ("lan" and
// "wwan", no interfaces: both reach it), the registrar allowed over both.
func twoPaths(t *testing.T, holdDown time.Duration) (*testUA, *testpeer.BadPBX) {
	t.Helper()
	pbx := testpeer.StartBadPBX(t, "127.0.0.1", "")
	tu := startUA(t, []Registrar{{Name: "cloud", Address: pbx.Addr, Paths: []string{PathLAN, PathWWAN}}},
		[]Line{{Port: 1, Extension: "270001"}}, func(c *Config) {
			c.Paths = []Path{{Name: PathLAN}, {Name: PathWWAN, ProbeInterval: 200 * time.Millisecond, HoldDown: holdDown, KeepAlive: 100 * time.Millisecond}}
			c.ProbeInterval = 100 * time.Millisecond
			c.FailbackAfter = 300 * time.Millisecond
		})
	waitFor(t, 10*time.Second, "registered over the LAN, both paths up", func() bool {
		h := tu.Registrars()[0]
		return h.Up && h.Path == PathLAN && len(h.Paths) == 2 && h.Paths[1].Up && tu.lines[0].boundVia[0] == tu.regs[0].paths[0]
	})
	return tu, pbx
}

func (tu *testUA) boundOver(path string) bool {
	l := tu.lines[0]
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bound[0] && l.boundVia[0] != nil && l.boundVia[0].p.cfg.Name == path
}

// The path in use fails: the registrar moves to the other one at once (its
// verdict never goes down), the line registers over it from its own
// socket, the old contact removed in the same REGISTER. The first path
// back, the registrar returns only after the fail-back period and never
// under a call.
func TestPathFailOverAndIdleFailBack(t *testing.T) {
	tu, pbx := twoPaths(t, 0)
	lanPort := tu.paths[0].port
	wwanPort := tu.paths[1].port
	if lanPort == wwanPort {
		t.Fatal("both paths on one port")
	}
	ch, unsub := tu.Subscribe(64)
	defer unsub()

	tu.SetPathState(PathLAN, SourceLink, PathState{Up: false, Detail: "no carrier"})
	waitFor(t, 5*time.Second, "registered over the data path", func() bool { return tu.boundOver(PathWWAN) })
	if h := tu.Registrars()[0]; !h.Up || h.Path != PathWWAN {
		t.Fatalf("after the move: %+v", h)
	}
	if ct := pbx.Registered("270001"); ct == nil || ct.Port != wwanPort {
		t.Fatalf("the PBX reaches the line at %v, want the data path's port %d", ct, wwanPort)
	}
	regs := pbx.Requests("REGISTER")
	last := regs[len(regs)-1]
	cts := last.All("contact")
	if len(cts) != 2 || !strings.Contains(cts[1], "expires=0") || !strings.Contains(cts[1], ":"+strconv.Itoa(lanPort)) {
		t.Fatalf("the REGISTER over the new path must remove the old contact: %q", cts)
	}
	for done := false; !done; {
		select {
		case ev := <-ch:
			if h, ok := ev.(RegistrarHealth); ok && !h.Up && h.Known {
				t.Fatalf("the registrar went down on the way to the other path: %+v", h)
			}
		default:
			done = true
		}
	}
	if v := value(tu.m.pathActive.WithLabelValues("cloud", PathWWAN)); v != 1 {
		t.Fatalf("critline_registrar_path_active{path=wwan} %v", v)
	}

	// A call over the data path holds the registrar there when the LAN returns.
	c := tu.fakeCallOver(t, tu.regs[0].paths[1])
	tu.SetPathState(PathLAN, SourceLink, PathState{Up: true, Addr: netip.MustParseAddr("127.0.0.1")})
	waitFor(t, 5*time.Second, "the LAN path up again", func() bool { return tu.Registrars()[0].Paths[0].Up })
	time.Sleep(600 * time.Millisecond) // twice the fail-back period
	if !tu.boundOver(PathWWAN) {
		t.Fatal("the registrar moved back under a call")
	}
	c.setState(StateEnded)
	waitFor(t, 5*time.Second, "back over the LAN once idle", func() bool { return tu.boundOver(PathLAN) })
	if ct := pbx.Registered("270001"); ct == nil || ct.Port != lanPort {
		t.Fatalf("the PBX reaches the line at %v, want the LAN's port %d", ct, lanPort)
	}
}

// fakeCallOver makes the UA see a call in progress over rp.
func (tu *testUA) fakeCallOver(t *testing.T, rp *regPath) *Call {
	t.Helper()
	c := tu.newCall(tu.lines[0], rp.r, Outbound, "fake-call")
	c.via = rp
	c.setState(StateAnswered)
	tu.callMu.Lock()
	tu.calls[c.CallID] = append(tu.calls[c.CallID], c)
	tu.callMu.Unlock()
	t.Cleanup(func() {
		tu.callMu.Lock()
		delete(tu.calls, c.CallID)
		tu.callMu.Unlock()
	})
	return c
}

// A data path whose interface (or bearer) goes away holds its registrars'
// verdict for the hold-down: back within it, nothing went down and the
// lines register again (the path's epoch); not back, they go down.
func TestPathHoldDown(t *testing.T) {
	tu, pbx := twoPaths(t, 400*time.Millisecond)
	tu.SetPathState(PathLAN, SourceLink, PathState{Up: false})
	waitFor(t, 5*time.Second, "over the data path", func() bool { return tu.boundOver(PathWWAN) })
	ch, unsub := tu.Subscribe(64)
	defer unsub()
	regs := len(pbx.Requests("REGISTER"))

	tu.SetPathState(PathWWAN, SourceBearer, PathState{Up: false, Detail: "data session lost"})
	if h := tu.Registrars()[0]; !h.Up || !h.Holding || h.Path != PathWWAN {
		t.Fatalf("held: %+v", h)
	}
	tu.SetPathState(PathWWAN, SourceBearer, PathState{Up: true})
	waitFor(t, 5*time.Second, "released and registered again", func() bool {
		h := tu.Registrars()[0]
		return !h.Holding && h.Up && len(pbx.Requests("REGISTER")) > regs
	})
	for done := false; !done; {
		select {
		case ev := <-ch:
			if h, ok := ev.(RegistrarHealth); ok && !h.Up {
				t.Fatalf("the verdict changed during the hold-down: %+v", h)
			}
		default:
			done = true
		}
	}

	// Not back within the hold-down: down (nothing else is left).
	tu.SetPathState(PathWWAN, SourceLink, PathState{Up: false, Detail: "no carrier"})
	waitFor(t, 5*time.Second, "down after the hold-down", func() bool {
		h := tu.Registrars()[0]
		return !h.Up && !h.Holding
	})
	if st := tu.Paths()[1]; st.Up || st.Detail != "no carrier" {
		t.Fatalf("path status %+v", st)
	}
}

// The path's bytes are counted (IP and UDP headers included), SIP on its
// socket, keep-alives among them.
func TestPathBytesAndKeepAlives(t *testing.T) {
	tu, _ := twoPaths(t, 0)
	tu.SetPathState(PathLAN, SourceLink, PathState{Up: false})
	waitFor(t, 5*time.Second, "over the data path", func() bool { return tu.boundOver(PathWWAN) })
	before := tu.Paths()[1].SIPOut
	time.Sleep(500 * time.Millisecond) // keep-alives every 100 ms
	st := tu.Paths()[1]
	if st.SIPOut <= before || st.SIPIn == 0 {
		t.Fatalf("wwan bytes %+v (before %d)", st, before)
	}
	// A send adds to the status counter, then to the metric: one in
	// flight when status was read may not be in the metric yet.
	waitFor(t, 5*time.Second, "critline_path_bytes_total at least the "+strconv.FormatUint(st.SIPOut, 10)+" bytes status showed before", func() bool {
		return value(tu.m.pathBytes.WithLabelValues(PathWWAN, "out", "sip")) >= float64(st.SIPOut)
	})
}

// The public address the registrar saw (Via received and rport) is
// adopted on a NAT path and goes in Contact; a change is logged and makes
// the bindings stale.
func TestLearnPublicAddress(t *testing.T) {
	u, err := New(Config{Listen: "127.0.0.1:0", RTPPortMin: 40000, RTPPortMax: 40010,
		Registrars: []Registrar{{Name: "cloud", Address: "192.0.2.1:5060", Paths: []string{PathWWAN}}},
		Paths:      []Path{{Name: PathLAN}, {Name: PathWWAN, NAT: true}},
		Lines:      []Line{{Port: 1, Extension: "270001"}},
		OnIncoming: func(*IncomingCall) {}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	rp := u.regs[0].paths[0]
	rp.p.port = 5062
	rp.local = netip.MustParseAddr("100.64.0.2")
	if c := u.contact(u.lines[0], rp).Address; c.Host != "100.64.0.2" || c.Port != 5062 {
		t.Fatalf("contact before learning: %v", c)
	}
	res := func(via string) *sip.Response {
		r := sip.NewResponse(200, "OK")
		v := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "100.64.0.2", Port: 5062, Params: sip.NewParams()}
		for _, kv := range strings.Split(via, ";") {
			k, val, _ := strings.Cut(kv, "=")
			v.Params.Add(k, val)
		}
		r.AppendHeader(v)
		return r
	}
	u.learnPublic(rp, res("received=203.0.113.1;rport=40112"))
	if c := u.contact(u.lines[0], rp).Address; c.Host != "203.0.113.1" || c.Port != 40112 {
		t.Fatalf("contact after learning: %v", c)
	}
	u.lines[0].boundContact[0] = u.contact(u.lines[0], rp).Address.String()
	u.lines[0].boundVia[0] = rp
	if u.bindingStale(u.lines[0], 0) {
		t.Fatal("a fresh binding is stale")
	}
	u.learnPublic(rp, res("received=203.0.113.2;rport=40112"))
	if !u.bindingStale(u.lines[0], 0) {
		t.Fatal("a new public address left the binding as it was")
	}
	// Nonsense in Via changes nothing.
	u.learnPublic(rp, res("received=not-an-ip;rport=99999"))
	if h := rp.health(); h.Public != "203.0.113.2:40112" {
		t.Fatalf("public %q", h.Public)
	}
}

func TestPathConfigErrors(t *testing.T) {
	_, err := New(Config{Listen: "127.0.0.1:0", RTPPortMin: 40000, RTPPortMax: 40010,
		Registrars: []Registrar{{Name: "cloud", Address: "192.0.2.1:5060", Paths: []string{"wwan", "lte", "wwan"}}},
		Paths:      []Path{{Name: PathLAN}, {Name: PathWWAN, Interface: "an-interface-name-far-too-long"}, {Name: PathLAN}},
		OnIncoming: func(*IncomingCall) {}, Registerer: prometheus.NewRegistry()})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`path "lan": name used twice`, `path "lte" is not configured`, `path "wwan" given twice`, "at most 15 characters"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
