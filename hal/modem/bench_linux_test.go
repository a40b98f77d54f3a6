//go:build linux

package modem

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkATRoundTrip is the cost of one command and its OK over a pty,
// through the engine, the simulator and back.
func BenchmarkATRoundTrip(b *testing.B) {
	r := newRig(b, SIMCom, withConfig(func(c *Config) { c.ProbeInterval = time.Hour; c.CallPoll = time.Hour }))
	c := ctx(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.tr.Command(c, "AT"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRingToIncoming is the time from RING/+CLIP written on the wire
// to the TrunkIncoming event reaching the consumer.
func BenchmarkRingToIncoming(b *testing.B) {
	r := newRig(b, SIMCom, withConfig(func(c *Config) { c.ProbeInterval = time.Hour }))
	c := ctx(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		num := fmt.Sprintf("0770090%04d", i%10000)
		m := r.mark()
		start := time.Now()
		r.ctl("raw", `\r\nRING\r\n\r\n+CLIP: "`+num+`",129,"",0,"",0\r\n`)
		r.waitFor(m, "incoming", func(e hal.TrunkEvent) bool { return e.Kind == hal.TrunkIncoming && e.CallerID == num })
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if err := r.tr.Hangup(c, r.cur()); err != nil {
			b.Fatal(err)
		}
		r.waitKind(m, hal.TrunkEnded)
		b.StartTimer()
	}
	b.ReportMetric(ms(median(lat)), "ms-median")
}

// BenchmarkUnplugReplug is the time from the device vanishing to trunk
// down, and from its return to trunk up and a command answered, with the
// production defaults (AbsentPoll 500ms, ReopenMin 500ms) or the test
// timings (fast=true).
func BenchmarkUnplugReplug(b *testing.B) {
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			r := newRig(b, SIMCom, withConfig(func(c *Config) {
				if !fast {
					d := Config{}
					d.setDefaults()
					c.AbsentPoll, c.ReopenMin, c.ProbeInterval, c.CommandTimeout = d.AbsentPoll, d.ReopenMin, d.ProbeInterval, d.CommandTimeout
				}
			}))
			c := ctx(b)
			var down, up []time.Duration
			for b.Loop() {
				m := r.mark()
				start := time.Now()
				r.ctl("vanish")
				_, m = r.waitStatus(m, "down", func(s hal.TrunkStatus) bool { return !s.Up })
				down = append(down, time.Since(start))
				start = time.Now()
				r.ctl("return")
				r.waitStatus(m, "up", func(s hal.TrunkStatus) bool { return s.Up })
				if _, err := r.tr.Command(c, "AT"); err != nil {
					b.Fatal(err)
				}
				up = append(up, time.Since(start))
			}
			b.ReportMetric(ms(median(down)), "ms-to-down")
			b.ReportMetric(ms(median(up)), "ms-to-usable")
		})
	}
}

// BenchmarkWedge is the time from a modem going silent to trunk down, and
// from it answering again to trunk up and usable. With the production
// defaults (fast=false) detection is bounded by ProbeInterval + WedgeAfter x
// CommandTimeout; run it with -benchtime 1x.
func BenchmarkWedge(b *testing.B) {
	for _, fast := range []bool{true, false} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			r := newRig(b, SIMCom, withConfig(func(c *Config) {
				if !fast {
					d := Config{}
					d.setDefaults()
					c.AbsentPoll, c.ReopenMin, c.ReopenMax, c.ProbeInterval, c.CommandTimeout = d.AbsentPoll, d.ReopenMin, d.ReopenMax, d.ProbeInterval, d.CommandTimeout
				}
			}))
			c := ctx(b)
			var down, up []time.Duration
			for b.Loop() {
				m := r.mark()
				start := time.Now()
				r.ctl("wedge")
				_, m = r.waitStatus(m, "down", func(s hal.TrunkStatus) bool { return !s.Up })
				down = append(down, time.Since(start))
				start = time.Now()
				r.ctl("unwedge")
				r.waitStatus(m, "up", func(s hal.TrunkStatus) bool { return s.Up })
				if _, err := r.tr.Command(c, "AT"); err != nil {
					b.Fatal(err)
				}
				up = append(up, time.Since(start))
			}
			b.ReportMetric(ms(median(down)), "ms-to-down")
			b.ReportMetric(ms(median(up)), "ms-to-usable")
		})
	}
}
