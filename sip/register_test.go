package sip

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

var testLines = []Line{
	{Port: 1, Extension: "270001", Password: "s3cret-one"},
	{Port: 2, Extension: "270002", Password: "s3cret-two"},
}

func testUsers() map[string]string {
	return map[string]string{"270001": "s3cret-one", "270002": "s3cret-two"}
}

func TestRegisterEveryLine(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run(alg, func(t *testing.T) {
			k := startKamailio(t, kamOpts{Algorithm: alg, Users: testUsers()})
			u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
			waitFor(t, 10*time.Second, "every line registered", func() bool { return allRegistered(u.UA, "pbx") })
			for _, l := range testLines {
				u.waitLineRegistered(t, l.Port, "pbx", 1)
			}
			waitFor(t, 5*time.Second, "registrar up", func() bool { return value(u.m.registrarUp.WithLabelValues("pbx")) == 1 })
		})
	}
}

func TestWrongPasswordReportedNotLooped(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	lines := []Line{{Port: 1, Extension: "270001", Password: "wrong"}, testLines[1]}
	const authRetry = 2 * time.Second
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, lines, func(c *Config) {
		c.AuthRetry = authRetry
	})
	events := u.events // from before Start: the first refusal too
	refusal := func() LineStatus {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case e := <-events:
				if ls, ok := e.(LineStatus); ok && ls.Port == 1 && ls.Err != nil {
					return ls
				}
			case <-deadline:
				t.Fatalf("no error reported for the wrong password; lines %+v", u.Lines())
			}
		}
	}
	first := refusal()
	if !errors.Is(first.Err, ErrAuth) {
		t.Fatalf("error %v does not match ErrAuth", first.Err)
	}
	t.Logf("reported: %v", first.Err)
	// No loop: the next attempt (and its refusal, which proves it) comes
	// only after AuthRetry. The events carry the UA clock's time, so a busy
	// test machine cannot make the gap look shorter; half of AuthRetry
	// leaves room for the stamping itself.
	second := refusal()
	if gap := second.At - first.At; gap < authRetry/2 {
		t.Errorf("the refused line was retried %v after the refusal (AuthRetry %v): a loop", gap, authRetry)
	}
	waitFor(t, 5*time.Second, "the good line registered", func() bool { return u.Lines()[1].Registered })
	if u.Lines()[0].Registered {
		t.Error("line with a wrong password reports registered")
	}
}

func TestRegisterTCP(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr, Transport: "tcp"}}, testLines, nil)
	waitFor(t, 10*time.Second, "every line registered over TCP", func() bool { return allRegistered(u.UA, "pbx") })
	waitFor(t, 5*time.Second, "registrar up over TCP", func() bool { return u.Registrars()[0].Up })

	// A stranger's TCP connection is closed unanswered and counted.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	conn, err := d.Dial("tcp", u.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := value(u.m.untrustedDropped)
	fmt.Fprintf(conn, "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK-t\r\nFrom: <sip:x@127.0.0.2>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: t1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(make([]byte, 1000)); err == nil {
		t.Errorf("untrusted TCP peer got %d bytes back", n)
	}
	waitFor(t, 2*time.Second, "the TCP packet counted", func() bool { return value(u.m.untrustedDropped) > before })
}

// TestRefreshKeepsBinding: with a 2 s expiry, the binding must still be at
// the registrar after several expiries (refreshed in time, new Via each
// time): a call through kamailio still reaches the line.
func TestRefreshKeepsBinding(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) { c.RegisterExpiry = 2 * time.Second })
	waitFor(t, 10*time.Second, "registered", func() bool { return allRegistered(u.UA, "pbx") })
	// Let the binding outlive two expiries on refreshes alone: four more
	// REGISTER transactions of the line (each a challenge and its answer,
	// one CSeq each), one a second.
	cseq := func() uint32 {
		l := u.lines[1]
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cseq[0]
	}
	from := cseq()
	waitFor(t, 30*time.Second, "four refreshes", func() bool { return cseq() >= from+8 })
	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_busy.xml", "", "{{CODE}}", "486"), "-s", "270002", "-m", "1")
	select {
	case ic := <-u.incoming:
		ic.Reject(486, "Busy Here")
	case <-time.After(10 * time.Second):
		t.Fatalf("the binding expired: no call reached the line; sipp: %s", s.errors())
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
}

// With [sip] register = "all" (the default) every line is registered with
// every registrar at once: a call from the second (cloud) PBX reaches the
// line while the first lives; each binding is reported on its own and a
// dead PBX loses only its own.
func TestRegisterWithEveryRegistrar(t *testing.T) {
	campus := startKamailio(t, kamOpts{Users: testUsers()})
	cloud := startKamailio(t, kamOpts{Algorithm: "SHA-256", Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "campus", Address: campus.Addr}, {Name: "cloud", Address: cloud.Addr}}, testLines, nil)
	events := u.events // from before Start: the first bindings' events too
	bound := func(want ...bool) func() bool {
		return func() bool {
			for _, b := range u.Bindings() {
				if len(b) != len(want) {
					return false
				}
				for i := range want {
					if b[i] != want[i] {
						return false
					}
				}
			}
			return true
		}
	}
	waitFor(t, 10*time.Second, "every line bound with both registrars", bound(true, true))
	// Each binding's gauge and event follow it after the line's lock is
	// released (publishBinding): wait for them.
	for _, l := range testLines {
		for _, r := range []string{"campus", "cloud"} {
			u.waitLineRegistered(t, l.Port, r, 1)
		}
	}
	if !allRegistered(u.UA, "campus") {
		t.Fatalf("lines report %+v, want the preferred registrar campus", u.Lines())
	}
	perBinding := map[string]bool{}
	waitFor(t, 5*time.Second, "a binding event for each line and registrar (4)", func() bool {
		for len(events) > 0 {
			if ls, ok := (<-events).(LineStatus); ok && ls.Registered {
				perBinding[fmt.Sprintf("%d/%s", ls.Port, ls.Registrar)] = true
			}
		}
		return len(perBinding) == 4
	})

	// A call from the cloud PBX while the campus PBX lives.
	s := startSipp(t, cloud.Addr, "-sf", scenario(t, "uac_busy.xml", "", "{{CODE}}", "486"), "-s", "270002", "-m", "1")
	select {
	case ic := <-u.incoming:
		if ic.Registrar != "cloud" || ic.Port != 2 {
			t.Errorf("call from the cloud PBX came as port %d from %q", ic.Port, ic.Registrar)
		}
		ic.Reject(486, "Busy Here")
	case <-time.After(10 * time.Second):
		t.Fatalf("the cloud PBX's call never reached the line; sipp: %s", s.errors())
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}

	// The campus PBX dies: its bindings are lost, the cloud's hold.
	campus.Kill()
	waitFor(t, 10*time.Second, "campus bindings lost, cloud kept", bound(false, true))
	if !allRegistered(u.UA, "cloud") {
		t.Fatalf("lines report %+v after the campus PBX died", u.Lines())
	}
	u.waitLineRegistered(t, 1, "campus", 0) // with campus dead
	// It comes back: bound again.
	startKamailioOnPort(t, kamOpts{Users: testUsers()}, campus.Port)
	waitFor(t, 20*time.Second, "bound with campus again", bound(true, true))
}

// With [sip] register = "first" each line is registered with the best
// registrar only: the second PBX cannot reach it while the first lives.
func TestRegisterFirstOnly(t *testing.T) {
	campus := startKamailio(t, kamOpts{Users: testUsers()})
	cloud := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "campus", Address: campus.Addr}, {Name: "cloud", Address: cloud.Addr}}, testLines,
		func(c *Config) { c.Register = RegisterFirst })
	waitFor(t, 10*time.Second, "lines on campus", func() bool { return allRegistered(u.UA, "campus") })
	for _, b := range u.Bindings() {
		if !b[0] || b[1] {
			t.Fatalf("bindings %v, want campus only", u.Bindings())
		}
	}
	if v := value(u.m.lineRegistered.WithLabelValues("1", "cloud")); v != 0 {
		t.Errorf("critline_line_registered{port=1,registrar=cloud} = %v in first-only mode", v)
	}
}

// A registrar that refuses a short expiry (423 Interval Too Brief) gets
// its Min-Expires, and the line registers.
func TestRegisterHonoursMinExpires(t *testing.T) {
	k := startKamailio(t, kamOpts{Users: testUsers(), MinExpires: 90})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, func(c *Config) { c.RegisterExpiry = 30 * time.Second })
	waitFor(t, 30*time.Second, "registered despite the 423", func() bool { return allRegistered(u.UA, "pbx") })
	for _, l := range u.lines {
		l.mu.Lock()
		got := l.minExp[0]
		l.mu.Unlock()
		if got != 90*time.Second {
			t.Errorf("port %d: learnt Min-Expires %v, want 90s", l.cfg.Port, got)
		}
	}
}

func TestConfigRegisterMode(t *testing.T) {
	c := Config{Register: "some", Listen: "127.0.0.1:0", RTPPortMin: 30000, RTPPortMax: 30010,
		Registrars: []Registrar{{Name: "pbx", Address: "127.0.0.1:5060"}}, OnIncoming: func(*IncomingCall) {}}
	c.defaults()
	if err := c.validate(); err == nil || !strings.Contains(err.Error(), `register "some"`) {
		t.Fatalf("bad register mode accepted: %v", err)
	}
	c = Config{}
	c.defaults()
	if c.Register != RegisterAll || c.RegisterExpiry != 120*time.Second {
		t.Fatalf("defaults: register %q expiry %v, want all and 120s", c.Register, c.RegisterExpiry)
	}
}
