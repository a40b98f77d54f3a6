package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// dashboard is the part of Grafana's dashboard model the tests look at.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string         `json:"name"`
			Expr       string         `json:"expr"`
			Datasource map[string]any `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    map[string]int `json:"gridPos"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Legend     string         `json:"legendFormat"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource map[string]any  `json:"datasource"`
	Multi      bool            `json:"multi"`
}

// promExpr is one PromQL expression of the dashboard and where it is.
type promExpr struct{ where, expr string }

func loadDashboard(t *testing.T) (dashboard, []promExpr) {
	t.Helper()
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json is not valid JSON: %v", err)
	}
	var exprs []promExpr
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				exprs = append(exprs, promExpr{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, promExpr{fmt.Sprintf("annotation %q", a.Name), a.Expr})
		}
	}
	return d, exprs
}

// variableQuery returns a query variable's PromQL (Grafana stores it either
// as a string or as {"query": ...}).
func variableQuery(v variable) (string, error) {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s, nil
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor {\"query\": ...}: %v", v.Name, err)
	}
	return q.Query, nil
}

var reLegend = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

var reLabelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$`)

// grafanaBuiltins are the variables Grafana itself defines.
var grafanaBuiltins = []string{"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}

var reVar = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// expandForPromtool replaces Grafana's variables with values so promtool can
// parse the expression: durations for the time variables, a word for others
// (they only appear inside label-matcher strings).
func expandForPromtool(expr string) string {
	return reVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := reVar.FindStringSubmatch(v)
		name := m[1] + m[2]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return "x"
	})
}

func TestDashboard(t *testing.T) {
	d, exprs := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: export from Grafana 9 or later (36+)", d.SchemaVersion)
	}

	// Variables: a Prometheus datasource picker and an instance picker fed from it.
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("need a variable datasource of type datasource with query \"prometheus\", have %+v", v)
	}
	inst, ok := vars["instance"]
	if !ok || inst.Type != "query" || inst.Datasource["uid"] != "${datasource}" {
		t.Errorf("need a query variable instance on ${datasource}, have %+v", inst)
	}
	if ok {
		q, err := variableQuery(inst)
		if err != nil {
			t.Error(err)
		}
		m := reLabelValues.FindStringSubmatch(q)
		if m == nil || m[1] == "" || m[2] != "instance" {
			t.Errorf("instance variable query %q: want label_values(<critline metric>, instance)", q)
		} else {
			exprs = append(exprs, promExpr{"variable instance", m[1]})
		}
	}

	// Panels: unique ids, placed, on the datasource variable, with queries.
	knownLabels := map[string]bool{"le": true}
	for _, l := range targetLabels {
		knownLabels[l] = true
	}
	for _, s := range contract() {
		for _, l := range s.labels {
			knownLabels[l] = true
		}
	}
	ids := map[int]string{}
	var titles, types []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.Title == "" || p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
				t.Errorf("panel %d %q: needs a title and a gridPos with w and h", p.ID, p.Title)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			titles = append(titles, p.Title)
			types = append(types, p.Type)
			if p.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q: datasource %v, want uid ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no queries", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s: empty expr", p.Title, tg.RefID)
				}
				for _, m := range reLegend.FindAllStringSubmatch(tg.Legend, -1) {
					if !knownLabels[m[1]] {
						t.Errorf("panel %q target %s: legend uses label %q, which no contract metric has", p.Title, tg.RefID, m[1])
					}
				}
				if tg.Datasource != nil && tg.Datasource["uid"] != "${datasource}" {
					t.Errorf("panel %q target %s: datasource %v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
				}
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{"Mode", "Power", "LAN", "Registrars up", "Registrar OPTIONS round-trip (all registrars)",
		"Registrar OPTIONS round-trip percentiles", "Lines registered", "Trunks up", "Trunk signal",
		"Calls by route and result", "Call setup time by route", "Emergency calls", "Handsets off-hook and parked",
		"Relays in bypass", "Forwarding and divert", "Wrong PINs (remote forwarding)", "Toll-fraud blocks"} {
		if !slices.Contains(titles, want) {
			t.Errorf("no panel titled %q", want)
		}
	}
	for _, want := range []string{"state-timeline", "heatmap", "timeseries", "stat"} {
		if !slices.Contains(types, want) {
			t.Errorf("no panel of type %s", want)
		}
	}

	// Queries: only contract metrics and labels, only defined variables, and
	// every contract metric shown somewhere.
	allowed := contract()
	shown := map[string]bool{}
	for _, e := range exprs {
		for _, m := range reVar.FindAllStringSubmatch(e.expr, -1) {
			name := m[1] + m[2]
			if _, ok := vars[name]; !ok && !slices.Contains(grafanaBuiltins, name) {
				t.Errorf("%s: uses undefined variable $%s", e.where, name)
			}
		}
		refs, err := extractRefs(e.expr)
		if err != nil {
			t.Errorf("%s: %v in %q", e.where, err, e.expr)
			continue
		}
		used, errs := checkRefs(allowed, refs)
		for _, err := range errs {
			t.Errorf("%s: %v", e.where, err)
		}
		for _, u := range used {
			shown[u] = true
		}
	}
	var missing []string
	for name := range allowed {
		if !shown[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("contract metrics the dashboard does not show: %v", missing)
	}
}

// TestDashboardPromQLParses has promtool parse every dashboard expression, as
// recording rules in a generated rules file (promtool 2.42 has no standalone
// PromQL check).
func TestDashboardPromQLParses(t *testing.T) {
	pt := promtool(t)
	_, exprs := loadDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, err := json.Marshal(expandForPromtool(e.expr)) // a JSON string is a YAML double-quoted scalar
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "      # %s\n      - record: dashboard:expr_%d\n        expr: %s\n", strings.ReplaceAll(e.where, "\n", " "), i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(".", pt, "check", "rules", path)
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(exprs))) {
		t.Fatalf("promtool rejects dashboard expressions: %v\n%s\n(generated rules:)\n%s", err, out, b.String())
	}
	t.Logf("promtool parsed all %d dashboard expressions", len(exprs))
}
