package main

import (
	"os"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testpeer"
)

// The LAN cable is cut between the appliance and the PBX (a real link down
// on a veth pair into a test network namespace where the PBX runs): the
// appliance goes survivable, calls leave by the trunk; the cable mended,
// it fails back.
func TestLANCut(t *testing.T) {
	lan := testpeer.NewNetNS(t)
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{IP: lan.PeerIP, Users: pbxUsers(), NetNS: lan.Name})
	cfg := pbxConfig(t, pbx.Addr)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), `listen = "127.0.0.1:`, `listen = "`+lan.HostIP+`:`, 1)), 0o644)
	p := startDaemon(t, cfg)
	eventually(t, "registered across the LAN, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })

	lan.Cut()
	eventually(t, "survivable with the cable cut", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "07700900123")
	eventually(t, "call out on the trunk", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "connected" && pt.Route == "lte"
	})
	p.mustCtl("sim", "hook", "1", "on")

	lan.Mend()
	eventually(t, "normal again after the fail-back period", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
}
