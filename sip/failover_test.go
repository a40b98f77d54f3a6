package sip

import (
	"fmt"
	"net"
	"sort"
	"testing"
	"time"
)

// TestRegistrarFailover kills the preferred registrar and measures, at the
// default probe settings, how long until critline_registrar_up drops to 0
// and until every line is registered with the next one. The figures are
// logged (medians over the runs) and held to generous ceilings only.
func TestRegistrarFailover(t *testing.T) {
	runs := 3
	if testing.Short() {
		runs = 1
	}
	var toDown, toRereg []time.Duration
	for run := 0; run < runs; run++ {
		a := startKamailio(t, kamOpts{Users: testUsers()})
		b := startKamailio(t, kamOpts{Algorithm: "SHA-256", Users: testUsers()})
		u := startUA(t, []Registrar{{Name: "onsite", Address: a.Addr}, {Name: "cloud", Address: b.Addr}}, testLines, nil)
		waitFor(t, 10*time.Second, "lines on onsite", func() bool { return allRegistered(u.UA, "onsite") })
		waitFor(t, 5*time.Second, "both registrars up", func() bool {
			h := u.Registrars()
			return h[0].Up && h[1].Up
		})
		killed := time.Now()
		a.Kill()
		var down, rereg time.Duration
		for (down == 0 || rereg == 0) && time.Since(killed) < 20*time.Second {
			if down == 0 && value(u.m.registrarUp.WithLabelValues("onsite")) == 0 {
				down = time.Since(killed)
			}
			if rereg == 0 && allRegistered(u.UA, "cloud") {
				rereg = time.Since(killed)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if down == 0 || rereg == 0 {
			t.Fatalf("run %d: after 20 s: registrar_up=0 after %v, lines on cloud after %v; lines %+v", run, down, rereg, u.Lines())
		}
		for _, l := range testLines {
			u.waitLineRegistered(t, l.Port, "onsite", 0) // after failover
		}
		t.Logf("run %d: registrar killed -> critline_registrar_up=0 in %v, every line registered on the next in %v", run, down.Round(time.Millisecond), rereg.Round(time.Millisecond))
		toDown = append(toDown, down)
		toRereg = append(toRereg, rereg)
		u.Close()
		b.Kill()
	}
	t.Logf("FIGURE failover (probe %v, timeout %v, down after %d): median to registrar_up=0 %v, median to lines re-registered %v (runs %d)",
		DefaultProbeInterval, DefaultProbeTimeout, DefaultDownAfter, median(toDown), median(toRereg), runs)
	// Generous ceilings, about five times what the probe settings give
	// (down after ~1.3 s, re-registered soon after): a large regression fails.
	if d := median(toDown); d > 7*time.Second {
		t.Errorf("median time to registrar_up=0 %v, ceiling 7s", d)
	}
	if d := median(toRereg); d > 10*time.Second {
		t.Errorf("median time to lines re-registered %v, ceiling 10s", d)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Millisecond)
}

// TestFailback: with a short FailbackAfter, lines return to the preferred
// registrar once it has been up that long.
func TestFailback(t *testing.T) {
	b := startKamailio(t, kamOpts{Users: testUsers()})
	// The preferred registrar's port is reserved but nothing listens yet.
	aPort := freeUDPPort(t, "127.0.0.1")
	u := startUA(t, []Registrar{{Name: "onsite", Address: fmt.Sprintf("127.0.0.1:%d", aPort)}, {Name: "cloud", Address: b.Addr}}, testLines,
		func(c *Config) { c.FailbackAfter = time.Second })
	waitFor(t, 10*time.Second, "lines on cloud while onsite is dead", func() bool { return allRegistered(u.UA, "cloud") })
	a := startKamailioOnPort(t, kamOpts{Users: testUsers()}, aPort)
	_ = a
	waitFor(t, 15*time.Second, "lines back on onsite", func() bool { return allRegistered(u.UA, "onsite") })
}

// TestUntrustedDropped: SIP from an address that is not a registrar gets no
// answer and is counted.
func TestUntrustedDropped(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	if err != nil {
		t.Fatalf("second loopback address: %v", err)
	}
	defer c.Close()
	before := value(u.m.untrustedDropped)
	dst := net.UDPAddrFromAddrPort(u.Addr())
	for i := range 5 {
		msg := fmt.Sprintf("INVITE sip:270001@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:%d;branch=z9hG4bK-x%d\r\nFrom: <sip:evil@127.0.0.2>;tag=%d\r\nTo: <sip:270001@127.0.0.1>\r\nCall-ID: evil-%d\r\nCSeq: 1 INVITE\r\nContact: <sip:evil@127.0.0.2>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			dst, c.LocalAddr().(*net.UDPAddr).Port, i, i, i)
		c.WriteToUDP([]byte(msg), dst)
	}
	waitFor(t, 5*time.Second, "5 packets counted", func() bool { return value(u.m.untrustedDropped)-before >= 5 })
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _, err := c.ReadFromUDP(make([]byte, 2000)); err == nil {
		t.Errorf("untrusted peer got a %d-byte answer", n)
	}
	select {
	case ic := <-u.incoming:
		t.Errorf("untrusted INVITE reached the router: %+v", ic)
	default:
	}
	if !allRegistered(u.UA, "pbx") {
		t.Error("lines lost their registration")
	}
	t.Logf("critline_sip_untrusted_dropped_total = %v", value(u.m.untrustedDropped))
}
