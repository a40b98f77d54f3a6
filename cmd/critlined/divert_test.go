package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// sippCall runs one sipp call of scenario to user through the PBX and
// reports whether the scenario succeeded.
func sippCall(t *testing.T, pbx *testpeer.Kamailio, scenario, user string) (bool, string) {
	t.Helper()
	bin := testenv.LookTool(t, "sipp", "sip-tester")
	dir := t.TempDir()
	scenario, err := filepath.Abs(scenario)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, pbx.Addr, "-sf", scenario, "-s", user, "-m", "1", "-i", "127.0.0.1",
		"-p", "0", "-timeout", "20s", "-timeout_error", "-trace_err")
	cmd.Dir = dir
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	logs, _ := filepath.Glob(filepath.Join(dir, "*errors.log"))
	var errs []byte
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		errs = append(errs, b...)
	}
	return err == nil, string(out) + string(errs)
}

// A handset left off the hook is unreachable: inbound calls are diverted
// with a 302 to the configured destination, shown and counted, and the
// divert ends when the handset is back.
func TestParkedHandsetDiverts(t *testing.T) {
	pbx := testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: pbxUsers()})
	cfg := pbxConfig(t, pbx.Addr)
	prof := filepath.Join(filepath.Dir(cfg), "fast-park.toml")
	os.WriteFile(prof, []byte("[dialling]\ndialtone_timeout = \"1s\"\nunobtainable_timeout = \"1s\"\n"), 0o644)
	b, _ := os.ReadFile(cfg)
	s := strings.Replace(string(b), "profile = \"uk\"\n", "profile = \"uk\"\nprofile_file = \""+prof+"\"\n", 1)
	s = strings.Replace(s, "[survivability]\n", "[survivability]\ndivert_to = \"07700900555\"\n", 1)
	os.WriteFile(cfg, []byte(s), 0o644)

	p := startDaemon(t, cfg)
	eventually(t, "registered, normal", func() bool { st := p.status(); return st.Mode == "normal" && registered(st) })
	p.mustCtl("sim", "hook", "1", "off")
	eventually(t, "port 1 parked", func() bool {
		pt := portState(p.status(), 1)
		return pt.State == "parked" && pt.Condition == "left-off-hook" && pt.Divert == "07700900555"
	})
	p.waitMetric(`critline_divert_active{port="1"}`, "1") // set just after the condition
	ok, out := sippCall(t, pbx, "testdata/uac-expect-302.xml", "270001")
	if !ok {
		t.Fatalf("caller was not redirected:\n%s", out)
	}
	// Counted once the 302 is handed over, which the caller may see first.
	p.waitMetric(`critline_diverts_total{port="1",reason="left-off-hook"}`, "1")
	p.mustCtl("sim", "hook", "1", "on")
	eventually(t, "divert ends with the handset back", func() bool {
		return portState(p.status(), 1).Divert == "" && p.metric(`critline_divert_active{port="1"}`) == "0"
	})
}
