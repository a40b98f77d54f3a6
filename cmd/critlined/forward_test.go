package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testpeer"
)

// forwardConfig is a config file with forwarding and remote activation on
// the sim trunk (used as the service number).
func forwardConfig(t *testing.T, base string) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.Replace(s, "extension = \"270001\"\n", "extension = \"270001\"\npin = \"246810\"\n", 1)
	s = strings.Replace(s, "extension = \"270002\"\n", "extension = \"270002\"\npin = \"975319\"\n", 1)
	s = strings.Replace(s, "[survivability]\n", "[survivability]\nremote_trunk = \"lte\"\n", 1)
	// The failure delay (digits ignored after a wrong PIN; unit-tested in
	// survivability/forwarding) is as short as it goes, so the test can key
	// the next PIN at once.
	s += "\n[survivability.forwarding]\nremote = true\nlockout = \"1m\"\nfailure_delay = \"1ms\"\n"
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
	if v := p.metric(`critline_diverts_total{port="1",reason="forward-unconditional"}`); v != "1" {
		t.Fatalf("diverts_total %q", v)
	}
	p.mustCtl("forward", "1", "clear")
	eventually(t, "forwarding off", func() bool {
		return portState(p.status(), 1).Forwarding == "" && p.metric(`critline_forwarding_active{port="1"}`) == "0"
	})
}

// A caller rings the service number and sets forwarding by DTMF: three
// wrong PINs lock out the caller and the port, which are then refused at
// once; once an engineer lifts the lockouts (critlinectl forward unlock)
// the right PIN works. That a lockout also ends by itself when its time is
// up is TestWrongPINThreeTimesThenLockout in survivability/forwarding, on a
// manual clock: waiting out the shortest lockout the configuration allows
// (1m) here cost 80 s and proved nothing more about the daemon.
func TestRemoteActivationLockout(t *testing.T) {
	p := startDaemon(t, forwardConfig(t, simConfig(t)))
	eventually(t, "survivable on the trunk", func() bool { return p.status().Mode == "survivable" })
	inCall := func() bool { return p.status().Trunks[0].InCall }
	// The dialogue is listening once the caller hears its prompt: the far
	// end (the simulated network) has received voice since the ring. (The
	// trunk is "in call" from the first RING; digits keyed between the
	// answer and the prompt are not heard by the dialogue, as a caller who
	// keys before the tone would find.)
	heard := func() float64 {
		var secs float64
		fmt.Sscanf(p.mustCtl("sim", "trunk", "heard"), "far end received %f s", &secs)
		return secs
	}
	var before float64
	ring := func() {
		t.Helper()
		before = heard()
		p.mustCtl("sim", "trunk", "ring", "07700900777")
	}
	answered := func() bool { return heard() > before }
	call := func(digits ...string) {
		t.Helper()
		ring()
		eventually(t, "the service number answers with its prompt", answered)
		for _, d := range digits {
			if out, code := p.ctl("sim", "trunk", "dtmf", d); code != 0 {
				t.Fatalf("the dialogue hung up before %q: %s", d, out)
			}
		}
		eventually(t, "the dialogue hangs up", func() bool { return !inCall() })
	}
	// Each wrong PIN is keyed once the one before has been refused (the
	// dialogue ignores digits for the failure delay after a refusal).
	ring()
	eventually(t, "the service number answers with its prompt", answered)
	p.mustCtl("sim", "trunk", "dtmf", "1#")
	for i, pin := range []string{"135790#", "135791#", "135792#"} {
		if out, code := p.ctl("sim", "trunk", "dtmf", pin); code != 0 {
			t.Fatalf("the dialogue hung up before wrong PIN %d: %s", i+1, out)
		}
		want := strconv.Itoa(i + 1)
		eventually(t, "wrong PIN "+want+" refused", func() bool { return p.metric("critline_pin_failures_total") == want })
	}
	eventually(t, "the dialogue hangs up", func() bool { return !inCall() })
	eventually(t, "caller and port locked out", func() bool { return len(p.status().Lockouts) == 2 })
	if table := p.mustCtl("status"); !strings.Contains(table, "LOCKED OUT") {
		t.Fatalf("status does not show the lockout:\n%s", table)
	}
	// During the lockout the caller is refused at once.
	call("1#")
	if pt := portState(p.status(), 1); pt.Forwarding != "" {
		t.Fatalf("forwarding set during a lockout: %q", pt.Forwarding)
	}
	if v := p.metric("critline_pin_failures_total"); v != "3" {
		t.Fatalf("a locked-out caller's entry counted: pin failures %q", v)
	}
	// The engineer lifts both lockouts; then the right PIN works.
	p.mustCtl("forward", "unlock", "caller", "07700900777")
	p.mustCtl("forward", "unlock", "port", "1")
	if n := len(p.status().Lockouts); n != 0 {
		t.Fatalf("%d lockouts left after unlocking", n)
	}
	call("1#", "246810#", "1", "07700900555#")
	eventually(t, "forwarding set remotely", func() bool { return portState(p.status(), 1).Forwarding == "all->07700900555" })
	if v := p.metric(`critline_forward_changes_total{via="remote"}`); v != "1" {
		t.Fatalf("forward_changes_total{via=remote} %q", v)
	}
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
