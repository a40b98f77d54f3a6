package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testpeer"
)

// forwardConfig is a config file with PINs and remote activation on.
func forwardConfig(t *testing.T, base string) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.Replace(s, "extension = \"270001\"\n", "extension = \"270001\"\npin = \"246810\"\n", 1)
	s = strings.Replace(s, "extension = \"270002\"\n", "extension = \"270002\"\npin = \"975319\"\n", 1)
	s += "\n[survivability.forwarding]\nremote = true\nlockout = \"1m\"\nfailure_delay = \"1s\"\n"
	path := filepath.Join(t.TempDir(), "critline.toml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The field tool forwards a port: the porter hears special dial tone, the
// PBX's calls for the port are redirected, the NOC sees it; clearing ends it.
func TestForwardingFromTheFieldTool(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	p := startDaemon(t, forwardConfig(t, pbxConfig(t, pbx.Addr)))
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	out := p.mustCtl("forward", "1", "unconditional", "07700900555")
	if !strings.Contains(out, "special dial tone") {
		t.Fatalf("forward said %q", out)
	}
	if _, code := p.ctl("forward", "1", "unconditional", "09098790000"); code != 1 {
		t.Fatal("forwarding to a premium-rate number was accepted")
	}
	if _, code := p.ctl("forward", "1", "unconditional", "999"); code != 1 {
		t.Fatal("forwarding to an emergency number was accepted")
	}
	if pt := portState(p.status(), 1); pt.Forwarding != "all->07700900555" {
		t.Fatalf("status forwarding %q", pt.Forwarding)
	}
	if v := p.metric(`critline_forwarding_active{port="1"}`); v != "1" {
		t.Fatalf("forwarding_active %q", v)
	}
	if v := p.metric(`critline_forward_changes_total{via="ctl"}`); v != "1" {
		t.Fatalf("forward_changes_total %q", v)
	}
	if ok, out := sippCall(t, pbx, "testdata/uac-expect-302.xml", "270001"); !ok {
		t.Fatalf("caller was not forwarded:\n%s", out)
	}
	// Counted once the 302 is handed over, which the caller may see first.
	p.waitMetric(`critline_diverts_total{port="1",reason="forward-unconditional"}`, "1")
	p.mustCtl("forward", "1", "clear")
	eventually(t, "forwarding off", func() bool {
		return portState(p.status(), 1).Forwarding == "" && p.metric(`critline_forwarding_active{port="1"}`) == "0"
	})
}

// The toll-fraud guard refuses premium-rate numbers on the trunk by
// default; the porter hears number unobtainable and the NOC sees why.
func TestTollFraudGuardOnTrunk(t *testing.T) {
	p := startDaemon(t, simConfig(t))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "dial tone", func() bool { return portState(p.status(), 1).State == "dialtone" })
	p.mustCtl("sim", "dial", "1", "09098790000")
	eventually(t, "refused: number unobtainable", func() bool { return portState(p.status(), 1).State == "unobtainable" })
	if v := p.metric(`critline_fraud_blocked_total{reason="premium"}`); v != "1" {
		t.Fatalf("fraud_blocked_total{premium} %q", v)
	}
	if st := p.status(); st.Trunks[0].InCall {
		t.Fatal("the premium number was dialled on the trunk")
	}
}
