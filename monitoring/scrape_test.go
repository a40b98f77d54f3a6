package monitoring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/critline/critline/internal/testenv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type syncBuffer = testenv.Buffer

// simConfig copies examples/sim.toml with the SIP listener on a free port, so
// this test can run beside other packages' tests that start a daemon too, and
// with the dialling timers shortened so that a handset left off-hook is parked
// within seconds.
func simConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../examples/sim.toml")
	if err != nil {
		t.Fatal(err)
	}
	override := filepath.Join(dir, "profile-override.toml")
	if err := os.WriteFile(override, []byte("[dialling]\ndialtone_timeout = \"1s\"\ntone_timeout = \"1s\"\nunobtainable_timeout = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out []string
	section, done := "", false
	reListen := regexp.MustCompile(`^\s*listen\s*=`)
	for _, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "[") {
			if section == "sip" && !done {
				out = append(out, `listen = "127.0.0.1:0"`)
				done = true
			}
			section = strings.TrimPrefix(trim, "[")
			if i := strings.IndexAny(section, "]#"); i >= 0 {
				section = strings.TrimSpace(section[:i])
			}
			if section == "board" {
				out = append(out, line, "profile_file = "+strconv.Quote(override))
				continue
			}
		}
		if section == "sip" && reListen.MatchString(line) {
			line, done = `listen = "127.0.0.1:0"  # the test's: any free port`, true
		}
		out = append(out, line)
	}
	if section == "sip" && !done {
		out = append(out, `listen = "127.0.0.1:0"`)
	}
	path := filepath.Join(dir, "sim.toml")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var reReady = regexp.MustCompile(`critlined ready.*metrics=(127\.0\.0\.1:\d+)`)

// daemonProc is critlined running on the sim board for a test.
type daemonProc struct {
	t       *testing.T
	dir     string
	socket  string
	addr    string
	log     *syncBuffer
	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

// startDaemon builds critlined and critlinectl and starts critlined on the sim
// board; it returns once the daemon has logged that it is ready.
func startDaemon(t *testing.T) *daemonProc {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/",
		"github.com/critline/critline/cmd/critlined", "github.com/critline/critline/cmd/critlinectl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/critlined ./cmd/critlinectl: %v\n%s", err, out)
	}
	d := &daemonProc{t: t, dir: dir, socket: filepath.Join(dir, "control.sock"), log: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(filepath.Join(dir, "critlined"), "--config", simConfig(t, dir), "--control-socket", d.socket,
		"--state-dir", filepath.Join(dir, "state"), "--metrics-listen", "127.0.0.1:0")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if !d.stopped {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("critlined log:\n%s", d.log.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		if m := reReady.FindStringSubmatch(d.log.String()); m != nil {
			d.addr = m[1]
			return d
		}
		select {
		case err := <-d.done:
			d.stopped = true
			t.Fatalf("critlined exited before it was ready: %v", err)
		case <-deadline:
			t.Fatal("critlined did not log `critlined ready ... metrics=127.0.0.1:PORT` within 30 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// scrape GETs /metrics in the text format (what `promtool check metrics` reads).
func (d *daemonProc) scrape() []byte {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+"/metrics", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		d.t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	return body
}

// families scrapes and parses /metrics.
func (d *daemonProc) families() map[string]*dto.MetricFamily {
	d.t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(d.scrape()))
	if err != nil {
		d.t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// ctl runs critlinectl against the daemon; it must succeed.
func (d *daemonProc) ctl(args ...string) {
	d.t.Helper()
	cmd := exec.Command(filepath.Join(d.dir, "critlinectl"), append([]string{"--socket", d.socket}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("critlinectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (d *daemonProc) stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.stopped = true
		if err != nil {
			d.t.Errorf("critlined did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		d.t.Error("critlined did not stop within 15 s of SIGTERM")
	}
}

// TestLiveScrape lints a live scrape of critlined with `promtool check
// metrics` (any problem fails), checks that the contract metrics it exports
// have the contract's type and labels, and that every metric the alerts and
// the dashboard use is in the contract; it logs (go test -v) the contract
// metrics the daemon does not export yet. With CRITLINE_REQUIRE_FULL_CONTRACT=1
// a missing one fails the test.
func TestLiveScrape(t *testing.T) {
	pt := promtool(t)
	d := startDaemon(t)
	body := d.scrape()
	d.stop()

	lint := exec.Command(pt, "check", "metrics")
	lint.Stdin = bytes.NewReader(body)
	out, err := lint.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on the live scrape: %v\n%s", err, out)
	}

	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	allowed := contract()
	var extra []string
	for name, f := range families {
		spec, ok := allowed[name]
		if !ok {
			if strings.HasPrefix(name, "critline_") {
				extra = append(extra, name)
			}
			continue
		}
		if got := kindOf(f.GetType()); got != spec.kind {
			t.Errorf("%s is a %s, the contract says %s", name, got, spec.kind)
		}
		want := slices.Sorted(slices.Values(spec.labels))
		for _, m := range f.GetMetric() {
			var got []string
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName())
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s has labels %v, the contract says %v", name, got, want)
				break
			}
		}
	}
	sort.Strings(extra)
	t.Logf("critline metrics exported beyond the contract (fine): %v", extra)

	used := map[string][]string{} // contract metric -> where it is used
	rules, _ := readRules(t, "alerts.yml")
	withUp := contract()
	withUp["up"] = metricSpec{gauge, nil}
	for _, r := range rules {
		refs, err := extractRefs(r.expr)
		if err != nil {
			t.Errorf("alert %s: %v", r.alert, err)
			continue
		}
		names, errs := checkRefs(withUp, refs)
		if len(errs) > 0 {
			t.Errorf("alert %s: %v", r.alert, errors.Join(errs...))
		}
		for _, n := range names {
			used[n] = append(used[n], "alert "+r.alert)
		}
	}
	_, exprs := loadDashboard(t)
	for _, e := range exprs {
		refs, err := extractRefs(e.expr)
		if err != nil {
			t.Errorf("dashboard %s: %v", e.where, err)
			continue
		}
		names, errs := checkRefs(allowed, refs)
		if len(errs) > 0 {
			t.Errorf("dashboard %s: %v", e.where, errors.Join(errs...))
		}
		for _, n := range names {
			used[n] = append(used[n], "dashboard")
		}
	}

	var missing []string
	for name := range allowed {
		if _, ok := families[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	var report strings.Builder
	for _, name := range missing {
		fmt.Fprintf(&report, "\n  %s (used by %d alert/dashboard queries)", name, len(used[name]))
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("contract metrics the live daemon does not export yet (%d of %d):%s", len(missing), len(allowed), report.String())
		if os.Getenv("CRITLINE_REQUIRE_FULL_CONTRACT") == "1" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	} else {
		t.Logf("the live daemon exports all %d contract metrics", len(allowed))
	}
}

func kindOf(t dto.MetricType) metricKind {
	switch t {
	case dto.MetricType_GAUGE:
		return gauge
	case dto.MetricType_COUNTER:
		return counter
	case dto.MetricType_HISTOGRAM:
		return histogram
	}
	return metricKind(strings.ToLower(t.String()))
}
