package sip

import (
	"testing"
	"time"
)

// BenchmarkProbe is one registrar probe answered by kamailio: an idle
// appliance sends one per registrar path every probe interval, so what a
// probe allocates is most of the garbage an idle appliance makes (issue
// 19). allocs/op and B/op count the whole process: the answer's parse on
// the transport's goroutine included.
func BenchmarkProbe(b *testing.B) {
	k := startKamailio(b, kamOpts{Users: testUsers()})
	u := startUA(b, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) { c.ProbeInterval = time.Hour })
	waitFor(b, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	rp := u.regs[0].current()
	if ok, _ := u.sendProbe(rp); !ok {
		b.Fatal("the first probe was not answered")
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := u.sendProbe(rp); !ok {
			b.Fatal("a probe was not answered")
		}
	}
}

// BenchmarkProbeRound is one whole probe round as the probe loop runs it:
// the probe, its late watch, its metrics and its verdict.
func BenchmarkProbeRound(b *testing.B) {
	k := startKamailio(b, kamOpts{Users: testUsers()})
	u := startUA(b, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) { c.ProbeInterval = time.Hour })
	waitFor(b, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	rp := u.regs[0].current()
	b.ReportAllocs()
	for b.Loop() {
		u.wg.Add(1)
		u.probe(rp)
	}
}
