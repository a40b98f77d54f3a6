package sip

import (
	"context"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"

	"github.com/critline/critline/internal/testpeer"
	"github.com/prometheus/client_golang/prometheus"
)

// freeUDPPort returns a UDP port free on ip (and its TCP twin).
func freeUDPPort(t testing.TB, ip string) int { return testpeer.FreeUDPPort(t, ip) }

// kamailio is the PBX the tests run on loopback (internal/testpeer).
type kamailio = testpeer.Kamailio

type kamOpts = testpeer.KamailioOptions

func startKamailio(t testing.TB, o kamOpts) *kamailio { return testpeer.StartKamailio(t, o) }

// startKamailioOnPort starts it on a given port (a restarted PBX).
func startKamailioOnPort(t testing.TB, o kamOpts, port int) *kamailio {
	o.Port = port
	return testpeer.StartKamailio(t, o)
}

type syncBuf = testenv.Buffer

// testUA builds and starts a UA against the given registrars.
type testUA struct {
	*UA
	reg      *prometheus.Registry
	incoming chan *IncomingCall
	events   <-chan Event // subscribed before Start: none is missed (the oldest go past 256)
}

func startUA(t testing.TB, regs []Registrar, lines []Line, tweak func(*Config)) *testUA {
	t.Helper()
	tu := &testUA{reg: prometheus.NewRegistry(), incoming: make(chan *IncomingCall, 16)}
	cfg := Config{
		Listen:     "127.0.0.1:0",
		RTPPortMin: 30000, RTPPortMax: 30999,
		Registrars: regs,
		Lines:      lines,
		OnIncoming: func(ic *IncomingCall) { tu.incoming <- ic },
		Registerer: tu.reg,
		Logger:     testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tu.events, _ = u.Subscribe(256)
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tu.UA = u
	t.Cleanup(func() { u.Close() })
	return tu
}

// waitFor is testenv.Eventually: cond must hold within d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, what, cond)
}

func allRegistered(u *UA, registrar string) bool {
	for _, l := range u.Lines() {
		if !l.Registered || l.Registrar != registrar {
			return false
		}
	}
	return true
}
