package sip

// Redirects (3xx) to our INVITEs: the targets they give. Following them
// is the router's decision (survivability): every target goes through the
// toll-fraud guard there, with a bound on hops.

import (
	"sort"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxRedirectTargets bounds the targets taken from one 3xx.
const maxRedirectTargets = 8

// redirectTargets returns a 3xx's Contact URIs, highest q first (RFC 3261
// 8.1.3.4); other responses give none. Targets are sip:, sips: or tel:
// URIs as written (their header parameters dropped).
func redirectTargets(res *sip.Response) []string {
	if res.StatusCode < 300 || res.StatusCode > 399 {
		return nil
	}
	type target struct {
		uri string
		q   float64
		i   int
	}
	var ts []target
	for i, v := range headerValues(res, "Contact", "m") {
		if len(ts) == maxRedirectTargets {
			break
		}
		na, ok := parseNameAddr(v)
		if !ok {
			continue
		}
		q := 1.0
		if s, ok := na.params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
		uri := na.uri.String()
		if na.uri.Scheme == "tel" {
			uri = "tel:" + na.uri.User
		}
		ts = append(ts, target{uri: uri, q: q, i: i})
	}
	sort.SliceStable(ts, func(a, b int) bool { return ts[a].q > ts[b].q })
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.uri)
	}
	return out
}

// TargetNumber is the telephone number a redirect target names (a tel:
// URI, or the user part of a sip: URI when it is a number); "" when it
// names none.
func TargetNumber(target string) string {
	t := target
	if n, ok := strings.CutPrefix(t, "tel:"); ok {
		n, _, _ = strings.Cut(n, ";")
		return cleanNumber(n)
	}
	var u sip.Uri
	if err := sip.ParseUri(t, &u); err != nil {
		return cleanNumber(t)
	}
	return cleanNumber(u.User)
}
