package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/critline/critline/control"
)

// BenchmarkPaths measures the data path on a whole site in network
// namespaces (testpeer.Site, the cloud behind the carrier's NAT) at the
// default data-path settings (OPTIONS every 30 s, keep-alives every 15 s):
// the time from the LAN cut to every line registered with the cloud over the
// data connection, the time from the LAN's return to every line back over
// it (the fail-back period included), and the data the SIM carries per
// minute: standing by (LAN up), holding the lines (LAN down, no call), and
// during a call. Medians over b.N runs; run it with scripts/bench-paths.
func BenchmarkPaths(b *testing.B) {
	const window = time.Minute
	var moved, uplink, back, standby, holding, calling []float64
	for b.Loop() {
		b.StopTimer()
		cs := newCampus(b, siteConfig{dataProbe: "30s", keepAlive: "15s", holdDown: "20s"})
		cs.waitNormalOverLAN(b)
		c := control.NewClient(cs.board.socket)
		st := func() control.Status {
			s, err := c.Status(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		waitFast := func(what string, cond func(control.Status) bool) {
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				if cond(st()) {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.Fatalf("never: %s", what)
		}
		bytes := func() float64 {
			p := netPath(st(), "wwan")
			return float64(p.SIPBytesIn + p.SIPBytesOut + p.RTPBytesIn + p.RTPBytesOut)
		}
		perMinute := func(f func()) float64 {
			before, t0 := bytes(), time.Now()
			f()
			return (bytes() - before) / time.Since(t0).Minutes()
		}
		standby = append(standby, perMinute(func() { time.Sleep(window) }))

		t0 := time.Now()
		cs.CutLAN()
		waitFast("lines over the data path", func(s control.Status) bool { return boundOver(s, "cloud", "wwan") })
		moved = append(moved, time.Since(t0).Seconds())
		holding = append(holding, perMinute(func() { time.Sleep(window) }))

		calling = append(calling, perMinute(func() {
			call(b, cs.board, 1, "270101", cs.phone, 1)
			time.Sleep(window)
			hangUp(b, cs.board, 1, cs.phone, 1)
		}))

		t0 = time.Now()
		cs.MendLAN()
		waitFast("lines back over the LAN", func(s control.Status) bool {
			return boundOver(s, "cloud", "lan") && boundOver(s, "campus", "lan")
		})
		back = append(back, time.Since(t0).Seconds())

		// The campus cut off the internet, the LAN's link up: only the
		// probes over the LAN can tell.
		t0 = time.Now()
		cs.CutUplink()
		waitFast("the cloud over the data path after the uplink cut", func(s control.Status) bool { return boundOver(s, "cloud", "wwan") })
		uplink = append(uplink, time.Since(t0).Seconds())
		cs.MendUplink()
		b.StartTimer()
	}
	b.ReportMetric(median(moved), "lan-cut-to-wwan-s")
	b.ReportMetric(median(uplink), "uplink-cut-to-wwan-s")
	b.ReportMetric(median(back), "lan-back-s")
	b.ReportMetric(median(standby), "standby-B/min")
	b.ReportMetric(median(holding), "holding-B/min")
	b.ReportMetric(median(calling), "call-B/min")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "paths over %d runs (medians): LAN cut -> every line registered with the cloud over the data path %.3f s (goal 3 s); campus cut off the internet, LAN link up -> the same %.2f s (probes every 500 ms); LAN back -> every line over the LAN %.2f s (fail-back period 3 s); data over the mobile connection: %.0f B/min standing by (LAN up), %.0f B/min holding the lines (LAN down, no call), %.0f B/min during a G.711 call (SIP and RTP both ways)\n",
		len(moved), median(moved), median(uplink), median(back), median(standby), median(holding), median(calling))
}
