package survivability

import (
	"strings"
	"testing"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
)

// A registrar reached over the modem's data connection is a route while
// the LAN is down: the lines stay on the PBX (normal mode), and the reason
// says which path carries them.
func TestDecideOverTheDataPath(t *testing.T) {
	up := map[string]bool{"campus": false, "cloud": true}
	trunkUp := map[string]bool{"lte": true}
	for _, c := range []struct {
		h      Health
		mode   Mode
		reason string
	}{
		{Health{Mains: true, LANUp: false, Registrars: up, RegistrarPaths: map[string]string{"cloud": sip.PathWWAN}, Trunks: trunkUp},
			Normal, "LAN down; registrar cloud over wwan reachable"},
		{Health{Mains: true, LANUp: true, Registrars: map[string]bool{"campus": true, "cloud": true},
			RegistrarPaths: map[string]string{"campus": sip.PathLAN, "cloud": sip.PathWWAN}, Trunks: trunkUp},
			Normal, "registrar campus, cloud over wwan reachable"},
		// Over the LAN with the LAN down it is no route, whatever its probes said.
		{Health{Mains: true, LANUp: false, Registrars: up, RegistrarPaths: map[string]string{"cloud": sip.PathLAN}, Trunks: trunkUp},
			Survivable, "LAN down; trunk lte up"},
		{Health{Mains: true, LANUp: false, Registrars: map[string]bool{"cloud": false}, RegistrarPaths: map[string]string{"cloud": sip.PathWWAN}},
			Lifeline, "no route left"},
	} {
		mode, reason := decide(c.h)
		if mode != c.mode || !strings.Contains(reason, c.reason) {
			t.Errorf("%+v: got %s %q, want %s containing %q", c.h, mode, reason, c.mode, c.reason)
		}
	}
}

// The order of preference with the LAN down: the cloud over the data
// connection, then voice over the modem (then copper, by the relay, when
// no rung is left). A registrar whose data session is being re-established
// (its verdict held) comes after the trunk: no mode flap for it, but no
// call waits on it either. Emergency calls keep their configured order.
func TestLadderOverTheDataPath(t *testing.T) {
	board, prof := simBoard(t, 1)
	full := hal.TrunkStatus{Up: true, Registered: true, Service: hal.ServiceFull}
	for _, c := range []struct {
		name      string
		via       string
		path      string
		holding   bool
		route     string
		emergency bool
		want      string
	}{
		{"LAN down, cloud over wwan", "any", sip.PathWWAN, false, "", false, "registrar:cloud trunk:lte"},
		{"LAN down, cloud only over the LAN", "lan", sip.PathLAN, false, "", false, "trunk:lte"},
		{"data session coming back", "any", sip.PathWWAN, true, "", false, "trunk:lte registrar:cloud"},
		{"999 pbx-first over wwan", "wwan", sip.PathWWAN, false, "", true, "registrar:cloud trunk:lte"},
		{"999 trunk-first over wwan", "any", sip.PathWWAN, false, EmergencyTrunkFirst, true, "trunk:lte registrar:cloud"},
		{"999 while the data session comes back", "any", sip.PathWWAN, true, "", true, "trunk:lte registrar:cloud"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := New(Options{Board: board, Profile: prof, EmergencyRoute: c.route,
				Registrars: []RegistrarOptions{{Name: "cloud", Via: c.via}}, Trunks: []TrunkOptions{{Trunk: newFakeTrunk()}}})
			if err != nil {
				t.Fatal(err)
			}
			a.AttachSIP(noSIP{})
			a.lanUp = false
			r := a.regs["cloud"]
			r.known, r.up, r.path, r.holding = true, true, c.path, c.holding
			a.trunks[0].setStatus(full)
			rungs, _ := a.ladder(1, "x", c.emergency)
			if got := strings.Join(rungNames(rungs), " "); got != c.want {
				t.Fatalf("ladder %q, want %q", got, c.want)
			}
			a.mu.Lock()
			mode, reason := decide(a.healthLocked(a.started))
			a.mu.Unlock()
			if c.path == sip.PathWWAN && mode != Normal {
				t.Fatalf("mode %s (%s): the cloud over wwan keeps the lines on the PBX", mode, reason)
			}
		})
	}
}
