//go:build linux

package survivability

import (
	"slices"
	"testing"
	"time"

	"github.com/critline/critline/fxs"
)

// Figures for issue 11 points 5 and 6, on the simulated board and the pty
// modem simulator (the serial path is the real one; a real module and
// network add their own delays): how long a caller rings before the
// appliance asks the network to deflect the call, and how long a waiting
// caller waits before another port rings. Each reports its median.

// BenchmarkDeflectionLatency: RING (the simulator's incoming call) ->
// AT+CTFR received by the simulator, for a trunk call no port can take.
func BenchmarkDeflectionLatency(b *testing.B) {
	r := newSvcRig(b, PortOptions{ID: 1, Copper: true, DivertTo: "07700900555"}, PortOptions{ID: 2, DivertTo: "07700900555"})
	r.hook(2, true)
	r.until("port 2 parked", func() bool { return r.state(2) == fxs.StateParked })
	r.a.o.Board.Ports()[0].Relay.SetBypass(true)
	r.until("port 1 cannot ring", func() bool { ok, _ := r.a.canRing(r.a.ports[1]); return !ok })
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		n := len(r.msim.Redirects())
		r.ctl("ring", "07700900111")
		r.until("deflected", func() bool { return len(r.msim.Redirects()) > n })
		lat = append(lat, r.msim.Redirects()[n].After)
		r.until("free", func() bool { return r.calls() == "none" })
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-ring-to-CTFR")
}

// BenchmarkWaitingCallerRings: a second caller arrives (+CCWA) while port
// 1 talks on the trunk -> port 2 rings.
func BenchmarkWaitingCallerRings(b *testing.B) {
	r := newSvcRig(b)
	r.answerFirst("07700900111")
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r.ctl("ring", "07700900222")
		for r.state(2) != fxs.StateRinging {
			if time.Since(start) > 20*time.Second {
				b.Fatal("port 2 never rang")
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
		r.ctl("hangup", "waiting")
		r.until("port 2 idle", func() bool {
			return r.state(2) == fxs.StateIdle && r.calls() == `1: inbound from "07700900111", connected`
		})
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-waiting-to-ring")
}
