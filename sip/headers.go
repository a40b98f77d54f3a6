package sip

// Reading the headers sipgo leaves as text: option tags (Supported,
// Require), the session timer's, identities (P-Asserted-Identity,
// Remote-Party-ID, Diversion, History-Info). Header values from the
// network are bounded and never trusted to be well formed.

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Limits on what is read from one message.
const (
	maxHeaderValues = 16  // values of one header name taken from a message
	maxValueLen     = 512 // longer values are ignored
)

// headerValues returns the values of every header called one of names
// (full and compact forms), split at top-level commas (outside quotes and
// angle brackets), trimmed, at most maxHeaderValues.
func headerValues(m sip.Message, names ...string) []string {
	var out []string
	for _, n := range names {
		for _, h := range m.GetHeaders(n) {
			for _, v := range splitTop(h.Value()) {
				if len(out) == maxHeaderValues {
					return out
				}
				if v != "" && len(v) <= maxValueLen {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// splitTop splits a header value at commas that are not inside a quoted
// string or <...>.
func splitTop(v string) []string {
	var out []string
	quoted, angle, start := false, 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			angle++
		case c == '>' && !quoted && angle > 0:
			angle--
		case c == ',' && !quoted && angle == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// optionTags returns the lower-cased option tags of Supported (k) or
// Require headers.
func optionTags(m sip.Message, names ...string) map[string]bool {
	out := map[string]bool{}
	for _, v := range headerValues(m, names...) {
		out[strings.ToLower(strings.TrimSpace(v))] = true
	}
	return out
}

func supported(m sip.Message) map[string]bool { return optionTags(m, "Supported", "k") }
func required(m sip.Message) map[string]bool  { return optionTags(m, "Require") }

// allows reports whether the message's Allow header lists method. A
// message without Allow says nothing (ok is false).
func allows(m sip.Message, method string) (allowed, ok bool) {
	vs := headerValues(m, "Allow")
	for _, v := range vs {
		if strings.EqualFold(strings.TrimSpace(v), method) {
			return true, true
		}
	}
	return false, len(vs) > 0
}

// headerParams splits "value;a=b;c" into the value and its parameters
// (names lower-cased, quotes removed).
func headerParams(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(p, "=")
		params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"`)
	}
	return strings.TrimSpace(parts[0]), params
}

// deltaSeconds reads a delta-seconds header value (Session-Expires,
// Min-SE, Expires, Retry-After) and its parameters; ok is false when absent
// or malformed.
func deltaSeconds(m sip.Message, names ...string) (n int, params map[string]string, ok bool) {
	vs := headerValues(m, names...)
	if len(vs) == 0 {
		return 0, nil, false
	}
	v, params := headerParams(vs[0])
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<30 {
		return 0, nil, false
	}
	return n, params, true
}

// nameAddr is a parsed name-addr or addr-spec header value.
type nameAddr struct {
	display string
	uri     sip.Uri
	params  map[string]string // header parameters, names lower-cased
}

// parseNameAddr reads `"Name" <sip:user@host>;param=x` (or a bare URI,
// tel: included, which sipgo's parser takes as a sip URI with the number
// as user).
func parseNameAddr(v string) (nameAddr, bool) {
	var na nameAddr
	var hp sip.HeaderParams = sip.NewParams()
	display, err := sip.ParseAddressValue(v, &na.uri, &hp)
	if err != nil {
		// tel: URIs are not sip:, and sipgo's parser wants sip:
		if n, ok := telNameAddr(v); ok {
			return n, true
		}
		return na, false
	}
	na.display = strings.TrimSpace(display)
	if na.uri.Scheme == "tel" && na.uri.User == "" {
		// sipgo keeps a tel: URI's number out of User: take it from there.
		if n, ok := telNameAddr(v); ok {
			return n, true
		}
	}
	na.params = map[string]string{}
	for k, val := range hp.Items() {
		na.params[strings.ToLower(k)] = strings.Trim(val, `"`)
	}
	return na, true
}

// telNameAddr reads a value whose URI is tel: (RFC 3966).
func telNameAddr(v string) (nameAddr, bool) {
	var na nameAddr
	na.params = map[string]string{}
	rest := v
	if i := strings.IndexByte(rest, '<'); i >= 0 {
		na.display = strings.Trim(strings.TrimSpace(rest[:i]), `"`)
		j := strings.IndexByte(rest, '>')
		if j < i {
			return na, false
		}
		_, na.params = headerParams("x" + strings.TrimSpace(rest[j+1:]))
		rest = rest[i+1 : j]
	}
	num, ok := strings.CutPrefix(strings.TrimSpace(rest), "tel:")
	if !ok {
		return na, false
	}
	num, _, _ = strings.Cut(num, ";")
	na.uri = sip.Uri{Scheme: "tel", User: num}
	return na, num != ""
}

// unsupportedRequire returns the option tags a request requires that we do
// not support (for 420 Bad Extension), "" when none.
func unsupportedRequire(req *sip.Request) string {
	var bad []string
	for tag := range required(req) {
		switch tag {
		case "100rel", "timer":
		default:
			bad = append(bad, tag)
		}
	}
	return strings.Join(bad, ", ")
}
