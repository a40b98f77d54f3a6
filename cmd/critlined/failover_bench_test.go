package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testpeer"
)

// BenchmarkFailover measures what the NOC and a porter see when the PBX
// dies (SIGKILL) and comes back, at the default probe settings: time to
// detect (mode survivable), the extra post-dial delay of the first call
// placed before detection (it fails over to the trunk within the call),
// time to fail back once the PBX returns (minus the configured fail-back
// period), and calls lost. Medians over b.N runs; run it with
// scripts/bench-failover.
func BenchmarkFailover(b *testing.B) {
	var detect, firstCall, baseCall, failback []float64
	lost := 0
	for b.Loop() {
		b.StopTimer()
		d, f, base, fb, ok := failoverRun(b)
		detect, firstCall, baseCall, failback = append(detect, d), append(firstCall, f), append(baseCall, base), append(failback, fb)
		if !ok {
			lost++
		}
		b.StartTimer()
	}
	extra := median(firstCall) - median(baseCall)
	b.ReportMetric(median(detect), "detect-s")
	b.ReportMetric(extra, "first-call-extra-s")
	b.ReportMetric(median(failback), "failback-s")
	b.ReportMetric(float64(lost), "calls-lost")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "failover over %d runs (medians): PBX killed -> survivable %.2f s; first call during the outage: %.2f s from last digit to ringback vs %.2f s on the trunk when already survivable (extra %.2f s); PBX back -> normal %.2f s after the %.0f s fail-back period; calls lost %d\n",
		len(detect), median(detect), median(firstCall), median(baseCall), extra, median(failback), failbackPeriod.Seconds(), lost)
}

const failbackPeriod = 3 * time.Second

func failoverRun(b *testing.B) (detect, first, base, failback float64, ok bool) {
	pbx := testpeer.StartKamailio(b, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(b, pbxConfig(b, pbx.Addr))
	c := control.NewClient(p.socket)
	ctx := context.Background()
	st := func() control.Status {
		s, err := c.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	waitFast := func(what string, cond func(control.Status) bool) time.Time {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if cond(st()) {
				return time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Fatalf("never: %s\n%s", what, p.log.String())
		return time.Time{}
	}
	post := func(path string, req any) {
		if _, err := c.Post(ctx, path, req); err != nil {
			b.Fatal(err)
		}
	}
	waitFast("normal", func(s control.Status) bool { return s.Mode == "normal" && registered(s) })
	post("/v1/sim/hook", control.HookRequest{Port: 1, State: "off"})
	waitFast("dial tone", func(s control.Status) bool { return portState(s, 1).State == "dialtone" })
	post("/v1/sim/dial", control.DialRequest{Port: 1, Digits: "0770090012"})
	waitFast("ten digits", func(s control.Status) bool { return portState(s, 1).Digits == "0770090012" })

	killed := time.Now()
	pbx.Kill()
	post("/v1/sim/dial", control.DialRequest{Port: 1, Digits: "3"})
	lastDigit := time.Now().Add(simDTMFOn) // the digit is recognised at its end
	var detected, rang time.Time
	deadline := time.Now().Add(30 * time.Second)
	for (detected.IsZero() || rang.IsZero()) && time.Now().Before(deadline) {
		s := st()
		if detected.IsZero() && s.Mode == "survivable" {
			detected = time.Now()
		}
		if pt := portState(s, 1); rang.IsZero() && pt.Route == "lte" && (pt.State == "ringback" || pt.State == "connected") {
			rang = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	ok = !rang.IsZero()
	if detected.IsZero() {
		b.Fatalf("never survivable\n%s", p.log.String())
	}
	detect = detected.Sub(killed).Seconds()
	if ok {
		first = rang.Sub(lastDigit).Seconds()
	}

	// The same call when the appliance already knows: the baseline.
	post("/v1/sim/hook", control.HookRequest{Port: 1, State: "on"})
	waitFast("idle", func(s control.Status) bool { return portState(s, 1).State == "idle" })
	post("/v1/sim/hook", control.HookRequest{Port: 1, State: "off"})
	waitFast("dial tone", func(s control.Status) bool { return portState(s, 1).State == "dialtone" })
	post("/v1/sim/dial", control.DialRequest{Port: 1, Digits: "0770090012"})
	waitFast("ten digits", func(s control.Status) bool { return portState(s, 1).Digits == "0770090012" })
	post("/v1/sim/dial", control.DialRequest{Port: 1, Digits: "3"})
	lastDigit = time.Now().Add(simDTMFOn)
	rangBase := waitFast("baseline ringback", func(s control.Status) bool {
		pt := portState(s, 1)
		return pt.Route == "lte" && (pt.State == "ringback" || pt.State == "connected")
	})
	base = rangBase.Sub(lastDigit).Seconds()
	post("/v1/sim/hook", control.HookRequest{Port: 1, State: "on"})
	waitFast("idle", func(s control.Status) bool { return portState(s, 1).State == "idle" })

	restarted := time.Now()
	pbx.Start()
	normal := waitFast("normal again", func(s control.Status) bool { return s.Mode == "normal" })
	failback = normal.Sub(restarted).Seconds() - failbackPeriod.Seconds()
	return detect, first, base, failback, ok
}
