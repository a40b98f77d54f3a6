package monitoring_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promRefs is what an expression refers to: metric names (with the label
// names used in their selectors) and the label names of by/without/on/
// ignoring/group_left/group_right clauses.
type promRefs struct {
	metrics  map[string][]string
	grouping []string
}

// extractRefs finds the metric and label names a PromQL expression uses. It is
// a tokenizer, not a full parser: promtool checks the syntax; this only needs
// the names, so that a typo in a metric or label name is caught.
func extractRefs(expr string) (promRefs, error) {
	r := promRefs{metrics: map[string][]string{}}
	lastMetric := "" // the previous token was this metric name: a following {...} belongs to it
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
			continue
		case c == '"' || c == '\'' || c == '`':
			_, j, err := readString(expr, i)
			if err != nil {
				return r, err
			}
			i = j
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return r, fmt.Errorf("offset %d: '[' without ']'", i)
			}
			i += j + 1
		case c == '{':
			ms, j, err := readMatchers(expr, i)
			if err != nil {
				return r, err
			}
			i = j
			name := lastMetric
			var labels []string
			for _, m := range ms {
				if m.name == "__name__" {
					if m.op != "=" {
						return r, fmt.Errorf("offset %d: __name__%s: use a literal metric name, so it can be checked", i, m.op)
					}
					name = m.value
					continue
				}
				labels = append(labels, m.name)
			}
			if name == "" {
				return r, fmt.Errorf("offset %d: selector without a metric name", i)
			}
			r.metrics[name] = append(r.metrics[name], labels...)
		case isDigit(c) || (c == '.' && i+1 < len(expr) && isDigit(expr[i+1])):
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			i = j
			next := skipSpace(expr, i)
			lw := strings.ToLower(word)
			switch {
			case slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, lw):
				if next < len(expr) && expr[next] == '(' {
					end := strings.IndexByte(expr[next:], ')')
					if end < 0 {
						return r, fmt.Errorf("offset %d: %s( without ')'", i, word)
					}
					for _, l := range strings.Split(expr[next+1:next+end], ",") {
						if l = strings.TrimSpace(l); l != "" {
							r.grouping = append(r.grouping, l)
						}
					}
					i = next + end + 1
				}
			case slices.Contains([]string{"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}, lw):
			case next < len(expr) && expr[next] == '(':
				// a function, or an aggregation with its grouping after the parentheses
			case isAggregation(lw) && next < len(expr) && isIdentStart(expr[next]):
				// sum by (...) (...), sum without (...) (...)
			default:
				if _, ok := r.metrics[word]; !ok {
					r.metrics[word] = nil
				}
				lastMetric = word
				continue
			}
		}
		lastMetric = ""
		if i < len(expr) && !isIdentStart(expr[i]) && !isDigit(expr[i]) && !strings.ContainsRune("\"'`[{# \t\r\n", rune(expr[i])) {
			i++ // punctuation and operators
		}
	}
	return r, nil
}

type matcher struct{ name, op, value string }

// readMatchers reads {name op "value", ...} starting at expr[i] == '{'.
func readMatchers(expr string, i int) ([]matcher, int, error) {
	var ms []matcher
	i++
	for {
		i = skipSpace(expr, i)
		if i >= len(expr) {
			return nil, i, fmt.Errorf("'{' without '}'")
		}
		if expr[i] == '}' {
			return ms, i + 1, nil
		}
		if expr[i] == ',' {
			i++
			continue
		}
		j := i
		for j < len(expr) && isIdent(expr[j]) {
			j++
		}
		if j == i {
			return nil, i, fmt.Errorf("offset %d: expected a label name in {...}, found %q", i, expr[i:])
		}
		m := matcher{name: expr[i:j]}
		i = skipSpace(expr, j)
		for _, op := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(expr[i:], op) {
				m.op = op
				break
			}
		}
		if m.op == "" {
			return nil, i, fmt.Errorf("offset %d: expected =, !=, =~ or !~ after label %s", i, m.name)
		}
		i = skipSpace(expr, i+len(m.op))
		v, j2, err := readString(expr, i)
		if err != nil {
			return nil, i, err
		}
		m.value = v
		i = j2
		ms = append(ms, m)
	}
}

// readString reads a quoted PromQL string at expr[i]; it returns its value
// (escapes are kept as written, which is enough for names) and the index after it.
func readString(expr string, i int) (string, int, error) {
	if i >= len(expr) || !strings.ContainsRune("\"'`", rune(expr[i])) {
		return "", i, fmt.Errorf("offset %d: expected a quoted string", i)
	}
	q := expr[i]
	var b strings.Builder
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == '\\' && q != '`' && j+1 < len(expr):
			b.WriteByte(expr[j+1])
			j++
		case expr[j] == q:
			return b.String(), j + 1, nil
		default:
			b.WriteByte(expr[j])
		}
	}
	return "", i, fmt.Errorf("offset %d: unterminated string", i)
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\r\n", s[i]) >= 0 {
		i++
	}
	return i
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) }

func isAggregation(w string) bool {
	return slices.Contains([]string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile"}, w)
}

func TestExtractRefs(t *testing.T) {
	for _, c := range []struct {
		expr     string
		metrics  map[string][]string
		grouping []string
	}{
		{`up{job="critline"} == 0`, map[string][]string{"up": {"job"}}, nil},
		{`critline_mode{mode="survivable"} == 1`, map[string][]string{"critline_mode": {"mode"}}, nil},
		{`sum by (route, le) (rate(critline_call_setup_seconds_bucket{instance=~"$x"}[5m]))`,
			map[string][]string{"critline_call_setup_seconds_bucket": {"instance"}}, []string{"route", "le"}},
		{`histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le))`, map[string][]string{"a_bucket": nil}, []string{"le"}},
		{"a and on (instance)\n max by (instance) (b) == 0", map[string][]string{"a": nil, "b": nil}, []string{"instance", "instance"}},
		{`x > 0 unless x offset 5m`, map[string][]string{"x": nil}, nil},
		{`{__name__="y", port="1"} OR z @ 1609746000 # comment mentions w`, map[string][]string{"y": {"port"}, "z": nil}, nil},
		{`1e3 * sum without(port) (a{b!~"c}\"{"}) + 0x1F - .5`, map[string][]string{"a": {"b"}}, []string{"port"}},
		{`max_over_time(a[1h:5m]) > bool 2 or vector(0)`, map[string][]string{"a": nil}, nil},
		{`a * on (i) group_left (x, y) b`, map[string][]string{"a": nil, "b": nil}, []string{"i", "x", "y"}},
	} {
		r, err := extractRefs(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if fmt.Sprint(r.metrics) != fmt.Sprint(c.metrics) || !slices.Equal(r.grouping, c.grouping) {
			t.Errorf("%q: got metrics %v grouping %v, want %v %v", c.expr, r.metrics, r.grouping, c.metrics, c.grouping)
		}
	}
	for _, bad := range []string{`a{b="c"`, `a{="c"}`, `a{b c}`, `a[5m`, `a{b="c}`, `{port="1"}`, `{__name__=~"a.*"}`, `sum by (a`} {
		if _, err := extractRefs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzExtractRefs(f *testing.F) {
	for _, s := range []string{`up == 0`, `sum by (a) (rate(x{y=~"z"}[5m]))`, `{__name__="a"}`, `a{b="\"}"}`, "a # b\nc", `1e-3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := extractRefs(s)
		if err == nil && r.metrics == nil {
			t.Fatal("nil metrics without an error")
		}
	})
}
