package monitoring_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
)

// rule is one alerting rule of alerts.yml, read as text (the repository has no
// YAML library; promtool checks the syntax, this checks the content).
type rule struct {
	alert       string
	expr        string
	forDur      string
	forLine     int // index in the file's lines, -1 without for:
	exprEndLine int // index of the expr's last line
	exprIndent  int // indentation of the expr: key
	severity    string
	annotations []string
}

var (
	reAlert = regexp.MustCompile(`^(\s*)- alert:\s*(\S+)\s*$`)
	reKey   = regexp.MustCompile(`^(\s*)([a-z_]+):\s*(.*)$`)
)

func readRules(t *testing.T, path string) ([]rule, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var rules []rule
	for i := 0; i < len(lines); i++ {
		m := reAlert.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		r := rule{alert: m[2], forLine: -1}
		ruleIndent := len(m[1])
		for j := i + 1; j < len(lines); j++ {
			line := lines[j]
			if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			indent := len(line) - len(strings.TrimLeft(line, " "))
			if indent <= ruleIndent {
				break
			}
			k := reKey.FindStringSubmatch(line)
			if k == nil {
				continue
			}
			key, val := k[2], strings.TrimSpace(k[3])
			switch key {
			case "expr":
				r.exprEndLine, r.exprIndent = j, len(k[1])
				if val == ">-" || val == ">" || val == "|" || val == "|-" {
					var parts []string
					for j+1 < len(lines) && (strings.TrimSpace(lines[j+1]) == "" ||
						len(lines[j+1])-len(strings.TrimLeft(lines[j+1], " ")) > len(k[1])) {
						j++
						parts = append(parts, strings.TrimSpace(lines[j]))
					}
					r.exprEndLine = j
					val = strings.TrimSpace(strings.Join(parts, "\n"))
				}
				r.expr = val
			case "for":
				r.forDur, r.forLine = val, j
			case "severity":
				r.severity = val
			case "summary", "description", "runbook_url":
				r.annotations = append(r.annotations, key)
			}
		}
		rules = append(rules, r)
	}
	return rules, lines
}

// wantAlerts are the alerts issues 8, 11 and 17 and the monitoring brief ask for.
var wantAlerts = []string{
	"CritlineSurvivableMode", "CritlineLifelineMode", "CritlineOnBattery", "CritlineBatteryLow",
	"CritlineTrunkDownWhilePBXDown", "CritlineNoRouteLeft", "CritlineLineParked", "CritlineRegistrarDown",
	"CritlineTrunkSignalWeak", "CritlineLineNotRegistered", "CritlineExporterDown", "CritlineEmergencyCall",
	"CritlinePINFailures", "CritlineFraudBlocked", "CritlineRelayBypassUnexpected", "CritlineLANDown",
	// Issue 11: a trunk that cannot call, no way out for 999, a failed emergency call.
	"CritlineTrunkCannotCall", "CritlineNoEmergencyRoute", "CritlineEmergencyCallFailed",
	// Issue 11 points 5 and 6: callers on a trunk turned away, a network service not to be had.
	"CritlineTrunkCallsTurnedAway", "CritlineTrunkServiceUnavailable",
	// Issue 17: a path failing its tests, a path not proven, a battery run cut short.
	"CritlinePathTestFailing", "CritlinePathNotProven", "CritlineBatteryRunEndedEarly",
	// Issue 14: a hunt group's callers lost because no member could ring.
	"CritlineGroupNoMember",
}

func promtool(t *testing.T) string {
	t.Helper()
	return testenv.LookTool(t, "promtool", "prometheus")
}

func runTool(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAlertRulesCheck(t *testing.T) {
	pt := promtool(t)
	out, err := runTool(".", pt, "check", "rules", "--lint=all", "--lint-fatal", "alerts.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
}

func TestAlertRulesUnitTests(t *testing.T) {
	pt := promtool(t)
	out, err := runTool(".", pt, "test", "rules", "alerts_test.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules alerts_test.yml: %v\n%s", err, out)
	}
}

// TestAlertRulesContent checks what promtool cannot: every wanted alert is
// there with a severity, a summary and a description, uses only contract
// metrics and labels, is tested both firing and not firing, and is explained
// in README.md.
func TestAlertRulesContent(t *testing.T) {
	rules, _ := readRules(t, "alerts.yml")
	var names []string
	allowed := contract()
	allowed["up"] = metricSpec{gauge, nil}
	for _, r := range rules {
		names = append(names, r.alert)
		if !slices.Contains([]string{"critical", "warning", "info"}, r.severity) {
			t.Errorf("%s: severity %q: use critical, warning or info", r.alert, r.severity)
		}
		if !slices.Contains(r.annotations, "summary") || !slices.Contains(r.annotations, "description") {
			t.Errorf("%s: needs both a summary and a description annotation", r.alert)
		}
		if r.expr == "" {
			t.Errorf("%s: no expr found", r.alert)
			continue
		}
		refs, err := extractRefs(r.expr)
		if err != nil {
			t.Errorf("%s: %v", r.alert, err)
			continue
		}
		if _, errs := checkRefs(allowed, refs); len(errs) > 0 {
			t.Errorf("%s: %v", r.alert, errs)
		}
	}
	for _, w := range wantAlerts {
		if !slices.Contains(names, w) {
			t.Errorf("alert %s is missing from alerts.yml", w)
		}
	}

	firing, quiet := testedAlerts(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if firing[n] == 0 || quiet[n] == 0 {
			t.Errorf("%s: alerts_test.yml must test it firing (%d cases) and not firing (%d cases)", n, firing[n], quiet[n])
		}
		if !bytes.Contains(readme, []byte(n)) {
			t.Errorf("%s: README.md does not explain it", n)
		}
	}
}

// testedAlerts counts, per alert, the alert_rule_test cases of alerts_test.yml
// that expect it firing and those that expect nothing.
func testedAlerts(t *testing.T) (firing, quiet map[string]int) {
	t.Helper()
	b, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	firing, quiet = map[string]int{}, map[string]int{}
	reName := regexp.MustCompile(`^\s*alertname:\s*(\S+)\s*$`)
	reExp := regexp.MustCompile(`^\s*exp_alerts:\s*(\S*)\s*$`)
	name := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		if m := reName.FindStringSubmatch(line); m != nil {
			name = m[1]
		} else if m := reExp.FindStringSubmatch(line); m != nil && name != "" {
			if m[1] == "[]" {
				quiet[name]++
			} else {
				firing[name]++
			}
			name = ""
		}
	}
	return firing, quiet
}

// TestAlertForBoundariesAreTested mutates alerts.yml, one rule at a time: each
// `for:` one evaluation step (15 s) shorter and longer, and a `for: 15s` added
// to rules that must fire at once. alerts_test.yml must fail on every mutant,
// so the unit tests really pin each alert's timing.
func TestAlertForBoundariesAreTested(t *testing.T) {
	pt := promtool(t)
	rules, lines := readRules(t, "alerts.yml")
	tests, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	type mutant struct {
		alert, what string
		lines       []string
	}
	var mutants []mutant
	for _, r := range rules {
		if r.forLine < 0 {
			ml := slices.Clone(lines)
			ml = slices.Insert(ml, r.exprEndLine+1, strings.Repeat(" ", r.exprIndent)+"for: 15s")
			mutants = append(mutants, mutant{r.alert, r.alert + " with for: 15s", ml})
			continue
		}
		d, err := time.ParseDuration(r.forDur)
		if err != nil {
			t.Fatalf("%s: for: %q: %v", r.alert, r.forDur, err)
		}
		for _, nd := range []time.Duration{d - 15*time.Second, d + 15*time.Second} {
			ml := slices.Clone(lines)
			ml[r.forLine] = strings.Replace(ml[r.forLine], "for: "+r.forDur, "for: "+promDuration(nd), 1)
			mutants = append(mutants, mutant{r.alert, fmt.Sprintf("%s with for: %s", r.alert, promDuration(nd)), ml})
		}
	}
	head, groups := testGroups(t, string(tests))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, m := range mutants {
		// Only the test groups about this alert: much faster than the whole file.
		var mine []string
		for _, g := range groups {
			if strings.Contains(g, "alertname: "+m.alert+"\n") {
				mine = append(mine, g)
			}
		}
		if len(mine) == 0 {
			t.Errorf("no test group in alerts_test.yml tests %s", m.alert)
			continue
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), []byte(strings.Join(m.lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "alerts_test.yml"), []byte(head+strings.Join(mine, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := runTool(dir, pt, "test", "rules", "alerts_test.yml")
			switch {
			case err == nil:
				t.Errorf("alerts_test.yml still passes with %s: add a case at the boundary\n%s", m.what, out)
			case !strings.Contains(out, "alertname: "+m.alert+","):
				// A failure for another reason (e.g. the mutant does not load) proves nothing.
				t.Errorf("mutant %d (%s) failed, but not on an expectation about %s: fix this test\n%s", i, m.what, m.alert, out)
			}
		})
	}
	wg.Wait()
	t.Logf("%d mutants of alerts.yml, all caught by alerts_test.yml", len(mutants))
}

// promDuration formats d the way Prometheus writes durations (1m15s, 45s, 2m).
func promDuration(d time.Duration) string {
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	s = strings.Replace(s, "h0m", "h", 1)
	return s
}

// testGroups splits a promtool unit-test file into its head (up to and
// including "tests:") and its test groups, each with the comment lines above it.
func testGroups(t *testing.T, file string) (string, []string) {
	t.Helper()
	head, rest, ok := strings.Cut(file, "\ntests:\n")
	if !ok {
		t.Fatal("alerts_test.yml: no top-level tests: key")
	}
	head += "\ntests:\n"
	var groups []string
	var cur, comments strings.Builder
	for line := range strings.SplitSeq(rest, "\n") {
		switch {
		case strings.HasPrefix(line, "  #"):
			comments.WriteString(line + "\n")
		case strings.HasPrefix(line, "  - "):
			if cur.Len() > 0 {
				groups = append(groups, cur.String())
			}
			cur.Reset()
			cur.WriteString(comments.String())
			comments.Reset()
			cur.WriteString(line + "\n")
		default:
			cur.WriteString(comments.String())
			comments.Reset()
			cur.WriteString(line + "\n")
		}
	}
	if cur.Len() > 0 {
		groups = append(groups, cur.String())
	}
	return head, groups
}

func TestPrometheusExampleConfig(t *testing.T) {
	pt := promtool(t)
	out, err := runTool(".", pt, "check", "config", "prometheus.example.yml")
	rules, rerr := os.ReadFile("alerts.yml")
	if rerr != nil {
		t.Fatal(rerr)
	}
	want := fmt.Sprintf("SUCCESS: %d rules found", strings.Count(string(rules), "- alert:"))
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("promtool check config prometheus.example.yml: %v\n%s", err, out)
	}
}

// TestAlertmanagerExampleConfig checks the example routing: valid, and each
// alert of alerts.yml goes to the receiver for its severity.
func TestAlertmanagerExampleConfig(t *testing.T) {
	am := testenv.LookTool(t, "amtool", "prometheus-alertmanager")
	if out, err := runTool(".", am, "check-config", "alertmanager.example.yml"); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	receiver := map[string]string{"critical": "noc-pager", "warning": "noc-tickets", "info": "audit-log"}
	rules, _ := readRules(t, "alerts.yml")
	for _, r := range rules {
		out, err := runTool(".", am, "config", "routes", "test", "--config.file=alertmanager.example.yml",
			"--verify.receivers="+receiver[r.severity], "alertname="+r.alert, "severity="+r.severity, "instance=site-a:9469")
		if err != nil {
			t.Errorf("%s (severity %s) should go to %s: %v\n%s", r.alert, r.severity, receiver[r.severity], err, out)
		}
	}
}
