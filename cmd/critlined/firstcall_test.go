package main

// The first call in an outage (issue 19, point 1): the real daemon, a real
// kamailio that freezes (SIGSTOP) just as a porter dials and carries on
// (SIGCONT) after the call has moved to the trunk, and a far end behind
// the PBX that rings and may answer. The far end must be rung once (one
// ATD on the trunk; the stale INVITE that reaches it through the PBX is
// CANCELled, or its answer ACKed and ended with BYE) and no call is left
// up. Correctness only: the timing is scripts/bench-failover's.

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// atdCount is the number of ATD commands the simulated modem has received.
func atdCount(p *proc) int {
	p.t.Helper()
	n := 0
	for _, l := range strings.Split(p.mustCtl("sim", "trunk", "commands", "100000"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "ATD") {
			n++
		}
	}
	return n
}

func farEndRequests(fe *testpeer.BadPBX, method, callID string) int {
	n := 0
	for _, m := range fe.Requests(method) {
		if m.CallID() == callID {
			n++
		}
	}
	return n
}

func TestFirstCallWhileThePBXFreezes(t *testing.T) {
	farEnd := testpeer.StartBadPBX(t, "127.0.0.1", "")
	var rung atomic.Int32
	var answer atomic.Bool
	farEnd.OnInvite(func(*testpeer.Msg) testpeer.Plan {
		rung.Add(1)
		if answer.Load() {
			return testpeer.Plan{Trying: true, Ring: true, Final: 200}
		}
		return testpeer.Plan{Trying: true, Ring: true}
	})
	// Extensions outside 27xxxx: kamailio relays their INVITEs without a
	// challenge, so the stale INVITE reaches the far end.
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{
		Users:  map[string]string{"370001": "secret-1", "370002": "secret-2"},
		Routes: map[string]string{"07700900123": farEnd.Addr, "999": farEnd.Addr},
	})
	cfgPath := pbxConfig(t, pbx.Addr)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// A 300 ms floor: the probes' own burst cannot settle the frozen PBX
	// before the porter's INVITE has left (~100 ms after the freeze), so
	// every attempt has an INVITE for the PBX to handle late.
	cfg := strings.NewReplacer("270001", "370001", "270002", "370002", `probe_interval = "500ms"`, "probe_interval = \"500ms\"\nrtt_floor = \"300ms\"").Replace(string(b))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath)
	p.mustCtl("sim", "trunk", "ondial", "ring")
	trusted := func() {
		t.Helper()
		eventually(t, "lines registered, the PBX in use", func() bool {
			st := p.status()
			return st.Mode == "normal" && registered(st) && st.Registrars[0].Up && st.Registrars[0].Detail == ""
		})
		time.Sleep(2 * time.Second) // round-trip history for the quick deadlines
	}
	late := func() int {
		v := p.metric(`critline_sip_late_answers_total{registrar="pbx1"}`)
		var n int
		fmt.Sscan(v, &n)
		return n
	}
	for i, tc := range []struct {
		number string
		answer bool
	}{
		{"07700900123", false}, {"07700900123", true}, {"999", true},
		{"07700900123", false}, {"07700900123", true}, {"999", true},
	} {
		what := fmt.Sprintf("attempt %d (%s, far end %s)", i+1, tc.number, map[bool]string{false: "rings", true: "answers"}[tc.answer])
		trusted()
		answer.Store(tc.answer)
		rungBefore, atds, lateBefore, invites := rung.Load(), atdCount(p), late(), len(farEnd.Requests("INVITE"))
		p.mustCtl("sim", "hook", "1", "off")
		eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
		head, last := tc.number[:len(tc.number)-1], tc.number[len(tc.number)-1:]
		if head != "" {
			p.mustCtl("sim", "dial", "1", head)
		}
		pbx.Freeze()
		p.mustCtl("sim", "dial", "1", last)
		eventually(t, what+": rings on the trunk", func() bool { return ringsOnTrunk(p.status(), 1) })
		pbx.Thaw()
		// The PBX handles the stale INVITE: the far end rings; its ringing
		// is CANCELled, or its answer ACKed and ended with BYE.
		eventually(t, what+": the stale INVITE reaches the far end", func() bool { return len(farEnd.Requests("INVITE")) > invites })
		id := farEnd.Requests("INVITE")[invites].CallID()
		if tc.answer {
			eventually(t, what+": the late answer ACKed and ended", func() bool {
				return farEnd.Acked(id) && farEndRequests(farEnd, "BYE", id) > 0
			})
			eventually(t, what+": counted as a late answer", func() bool { return late() == lateBefore+1 })
		} else {
			eventually(t, what+": the late ringing CANCELled", func() bool { return farEndRequests(farEnd, "CANCEL", id) > 0 })
		}
		time.Sleep(500 * time.Millisecond) // room for anything that should not happen
		if got := rung.Load() - rungBefore; got != 1 {
			t.Errorf("%s: the far end was rung %d times through the PBX, want once", what, got)
		}
		if got := atdCount(p) - atds; got != 1 {
			t.Errorf("%s: %d ATD, want 1", what, got)
		}
		for _, m := range farEnd.Requests("INVITE")[invites:] {
			if m.CallID() != id {
				t.Errorf("%s: a second call reached the far end (%s)", what, m.CallID())
			}
		}
		if n := farEndRequests(farEnd, "BYE", id); n > 1 {
			t.Errorf("%s: %d BYEs", what, n)
		}
		if pt := portState(p.status(), 1); !ringsOnTrunk(p.status(), 1) {
			t.Errorf("%s: the porter's call left the trunk: %+v", what, pt)
		}
		p.mustCtl("sim", "hook", "1", "on")
		eventually(t, "idle", func() bool { return portState(p.status(), 1).State == "idle" })
	}
}
