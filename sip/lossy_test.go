package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// A healthy PBX across a cable that loses 8 % of the datagrams each way:
// lost probes and lost INVITEs start bursts, the bursts are answered, the
// registrar is never taken down and every call gets the PBX's own answer
// (kamailio's 503 for 5030), never a timeout. (A burst is silent on such a
// link with a chance of about 1 in 10,000; the false-alarm rate at 5 % over
// an hour is scripts/bench-failover's.)
func TestLossyLinkIsNotDeath(t *testing.T) {
	n := testpeer.NewNetNS(t)
	k := startKamailio(t, kamOpts{IP: n.PeerIP, NetNS: n.Name, Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) { c.Listen = n.HostIP + ":0" })
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	trusted(t, u)
	evs, unsub := u.Subscribe(64)
	defer unsub()
	how := n.Loss(8)
	t.Cleanup(func() {
		in, out := n.Dropped()
		t.Logf("%s: %v probes answered, %v lost; bursts answered %v; datagrams dropped in %d out %d",
			how, value(u.m.registrarProbes.WithLabelValues("pbx", "answered")), value(u.m.registrarProbes.WithLabelValues("pbx", "lost")),
			value(u.m.registrarBursts.WithLabelValues("pbx", "alive")), in, out)
	})
	for i := range 20 {
		_, err := u.Dial(context.Background(), 1, "5030", DialOptions{})
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 503 {
			t.Fatalf("call %d over the lossy link: %v, want the PBX's 503", i, err)
		}
	}
	waitFor(t, 60*time.Second, "two bursts answered", func() bool {
		return value(u.m.registrarBursts.WithLabelValues("pbx", "alive")) >= 2
	})
	for {
		select {
		case ev := <-evs:
			if h, ok := ev.(RegistrarHealth); ok && !h.Up {
				t.Errorf("false alarm: %+v", h)
			}
			continue
		default:
		}
		break
	}
	if v := value(u.m.registrarBursts.WithLabelValues("pbx", "silent")); v != 0 {
		t.Errorf("bursts{silent} = %v on a live PBX", v)
	}
	if v := value(u.m.inviteTimeouts.WithLabelValues("pbx", "first-response")); v != 0 {
		t.Errorf("INVITE first-response timeouts = %v on a live PBX", v)
	}
}
