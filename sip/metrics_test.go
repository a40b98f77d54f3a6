package sip

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
	"github.com/prometheus/common/expfmt"
)

// TestMetricsLint: the UA's metrics, after registering and probing, pass
// promtool's lint and carry the names the NOC relies on.
func TestMetricsLint(t *testing.T) {
	promtool := testenv.LookTool(t, "promtool", "prometheus")
	k := startKamailio(t, kamOpts{Users: testUsers()})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.Addr}}, testLines, nil)
	waitFor(t, 10*time.Second, "registered and probed", func() bool { return allRegistered(u.UA, "pbx") && u.Registrars()[0].Up })
	// The gauges follow the verdict and the binding after their locks are
	// released (settle, publishBinding): wait for the values the text
	// below must carry.
	waitFor(t, 5*time.Second, "registrar_up and line_registered{port=1} at 1", func() bool {
		return value(u.m.registrarUp.WithLabelValues("pbx")) == 1 && value(u.m.lineRegistered.WithLabelValues("1", "pbx")) == 1
	})
	mfs, err := u.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	text := buf.String()
	for _, want := range []string{`critline_registrar_up{registrar="pbx"} 1`, `critline_line_registered{port="1",registrar="pbx"} 1`,
		`critline_registrar_rtt_seconds_bucket{registrar="pbx"`, `critline_sip_untrusted_dropped_total 0`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
