package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// MaxFileSize is the largest configuration file read. A real one is a few
// kilobytes; the cap keeps --config /dev/zero (or a log file given by
// mistake) from exhausting memory.
const MaxFileSize = 1 << 20

// readConfigFile reads at most MaxFileSize bytes of path; anything longer
// is refused with a message that names the problem.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory: pass the TOML file, e.g. --config %s", path, DefaultPath)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB: it is not a critline configuration (see examples/sim.toml)", path, MaxFileSize>>10)
	}
	return data, nil
}

// parseTOML parses data into a generic tree and a key -> line index. A syntax
// error is recorded in errs and ok is false.
func parseTOML(name string, data []byte, errs *Errors) (map[string]any, locator, bool) {
	raw := map[string]any{}
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if pe.Usage != "" {
				msg += " (" + strings.TrimSpace(strings.SplitN(pe.Usage, "\n", 2)[0]) + ")"
			}
			errs.add(pe.Position.Line, pe.LastKey, "TOML syntax: %s", msg)
		} else {
			errs.add(0, "", "TOML syntax: %v", err)
		}
		return nil, nil, false
	}
	return raw, locate(data), true
}

// locator maps a dotted key path (with array-of-table indexes, "port[1].hook")
// to the line where it is written.
type locator map[string]int

var (
	reTable      = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.\-" ]+?)\s*\]\s*(#.*)?$`)
	reArrayTable = regexp.MustCompile(`^\s*\[\[\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]\s*(#.*)?$`)
	reKey        = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-"]+)\s*=`)
	reInlineKey  = regexp.MustCompile(`([A-Za-z0-9_\-]+)\s*=`)
)

// locate scans the file for table headers and keys. It is a best effort for
// messages only: values are never read from it.
func locate(data []byte) locator {
	loc := locator{}
	counts := map[string]int{}
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if m := reArrayTable.FindStringSubmatch(line); m != nil {
			name := cleanKey(m[1])
			idx := counts[name]
			counts[name]++
			cur = fmt.Sprintf("%s[%d]", name, idx)
			// Nested under the latest element of a parent array, e.g. sip.registrar.
			loc.set(cur, n)
			loc.set(name, n)
			continue
		}
		if m := reTable.FindStringSubmatch(line); m != nil {
			cur = cleanKey(m[1])
			loc.set(cur, n)
			continue
		}
		if m := reKey.FindStringSubmatch(line); m != nil {
			key := join(cur, cleanKey(m[1]))
			loc.set(key, n)
			if open := strings.IndexByte(line, '{'); open >= 0 {
				for _, im := range reInlineKey.FindAllStringSubmatch(line[open:], -1) {
					loc.set(join(key, im[1]), n)
				}
			}
		}
	}
	return loc
}

func (l locator) set(key string, line int) {
	if _, ok := l[key]; !ok {
		l[key] = line
	}
}

// line finds the line of key, or of its nearest written parent.
func (l locator) line(key string) int {
	for key != "" {
		if n, ok := l[key]; ok {
			return n
		}
		cut := strings.LastIndexAny(key, ".[")
		if cut < 0 {
			return 0
		}
		key = key[:cut]
	}
	return 0
}

func cleanKey(s string) string {
	s = strings.ReplaceAll(s, `"`, "")
	parts := strings.Split(s, ".")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ".")
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// decoder fills typed structs from the generic tree, recording every
// unknown key and wrong type instead of stopping at the first.
type decoder struct {
	errs *Errors
	loc  locator
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func (d *decoder) fail(key, format string, args ...any) {
	d.errs.add(d.loc.line(key), key, format, args...)
}

func (d *decoder) decodeStruct(m map[string]any, dst any, path []string) {
	d.structValue(m, reflect.ValueOf(dst).Elem(), strings.Join(path, "."))
}

func (d *decoder) structValue(m map[string]any, v reflect.Value, path string) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := join(path, k)
		i, ok := fields[k]
		if !ok {
			d.fail(key, "unknown key: %s", suggest(k, names))
			continue
		}
		d.value(m[k], v.Field(i), key)
	}
}

func suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(k, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	sort.Strings(names)
	return "valid keys here are " + strings.Join(names, ", ")
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func tomlType(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("a %T", x)
}

func (d *decoder) value(x any, v reflect.Value, key string) {
	if v.Kind() == reflect.Pointer {
		nv := reflect.New(v.Type().Elem())
		d.value(x, nv.Elem(), key)
		v.Set(nv)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshaler) {
		s, ok := x.(string)
		if !ok {
			d.fail(key, "expected a string, found %s", tomlType(x))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.fail(key, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := x.(string)
		if !ok {
			d.fail(key, "expected a string, found %s: put it in quotes", tomlType(x))
			return
		}
		v.SetString(s)
	case reflect.Int:
		n, ok := x.(int64)
		if !ok {
			if s, isStr := x.(string); isStr {
				if _, err := strconv.Atoi(s); err == nil {
					d.fail(key, "expected an integer, found the string %q: remove the quotes", s)
					return
				}
			}
			d.fail(key, "expected an integer, found %s", tomlType(x))
			return
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			d.fail(key, "%d is out of range", n)
			return
		}
		v.SetInt(n)
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			d.fail(key, "expected true or false, found %s", tomlType(x))
			return
		}
		v.SetBool(b)
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			d.fail(key, "expected a table, found %s", tomlType(x))
			return
		}
		d.structValue(m, v, key)
	case reflect.Map:
		m, ok := x.(map[string]any)
		if !ok {
			d.fail(key, "expected a table, found %s", tomlType(x))
			return
		}
		if v.Type() == reflect.TypeFor[Raw]() {
			v.Set(reflect.ValueOf(Raw(m)))
			return
		}
		out := reflect.MakeMapWithSize(v.Type(), len(m))
		for k, e := range m {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.value(e, ev, join(key, k))
			out.SetMapIndex(reflect.ValueOf(k), ev)
		}
		v.Set(out)
	case reflect.Slice:
		var items []any
		switch a := x.(type) {
		case []any:
			items = a
		case []map[string]any:
			for _, e := range a {
				items = append(items, e)
			}
		default:
			if v.Type().Elem().Kind() == reflect.Struct {
				d.fail(key, "expected an array of tables ([[%s]]), found %s", key, tomlType(x))
			} else {
				d.fail(key, "expected an array, found %s: write it as [ ... ]", tomlType(x))
			}
			return
		}
		out := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, e := range items {
			d.value(e, out.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(out)
	default:
		d.fail(key, "cannot decode into %s", v.Type())
	}
}
