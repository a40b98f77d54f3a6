package sip

// Who is calling, and who was called first. PBXs say it in different
// headers: P-Asserted-Identity (RFC 3325; Asterisk send_pai, Teams Direct
// Routing, 3CX), Remote-Party-ID (draft-ietf-sip-privacy; Cisco Unified
// CM, FreeSWITCH's default caller-id-type) or only From; privacy with
// Privacy: id (RFC 3323/3325), RPID's privacy parameter, or an anonymous
// From (RFC 3323 4.1.1.3). The number first dialled by a caller whose
// call was forwarded to the line comes in Diversion (RFC 5806; Unified
// CM, Asterisk send_diversion) or History-Info (RFC 7044; Teams,
// Asterisk send_history_info).
//
// Only the registrars may send us requests (the transport filter), and
// the PBX is the one that asserts identities here: these headers are
// believed as they come.

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Identity is the caller as the PBX presents it.
type Identity struct {
	// Number is the calling number: digits, '*', '#' and a leading '+';
	// empty when withheld or not available.
	Number string
	// Name is the display name; empty when withheld or not given.
	Name string
	// NumberWithheld and NameWithheld say the caller asked for privacy
	// (the handset shows "withheld"); a number that is absent without them
	// is unavailable.
	NumberWithheld, NameWithheld bool
	// Source names the header the identity came from:
	// "p-asserted-identity", "remote-party-id" or "from".
	Source string
}

// Withheld reports whether the caller withheld the number.
func (id Identity) Withheld() bool { return id.NumberWithheld }

// callerIdentity reads the caller from an INVITE.
func callerIdentity(req *sip.Request) Identity {
	var id Identity
	from := req.From()
	privacy := privacyValues(req)
	fromAnon := from == nil || isAnonymousURI(from.Address)
	fromName := ""
	if from != nil && !isAnonymousName(from.DisplayName) {
		fromName = from.DisplayName
	}

	switch pai := assertedIdentity(req); {
	case pai != nil:
		id.Source = "p-asserted-identity"
		id.Number = cleanNumber(pai.uri.User)
		id.Name = pai.display
		if id.Name == "" || isAnonymousName(id.Name) {
			id.Name = fromName
		}
	default:
		if rpid := remotePartyID(req); rpid != nil {
			id.Source = "remote-party-id"
			id.Number = cleanNumber(rpid.uri.User)
			id.Name = rpid.display
			if isAnonymousName(id.Name) {
				id.Name = ""
			}
			switch strings.ToLower(rpid.params["privacy"]) {
			case "full":
				id.NumberWithheld, id.NameWithheld = true, true
			case "uri":
				id.NumberWithheld = true
			case "name":
				id.NameWithheld = true
			}
			break
		}
		id.Source = "from"
		if !fromAnon {
			id.Number = cleanNumber(from.Address.User)
		}
		id.Name = fromName
		if fromAnon {
			id.NumberWithheld = true
			if fromName == "" {
				id.NameWithheld = true
			}
		}
	}
	if privacy["id"] || privacy["user"] || privacy["header"] {
		id.NumberWithheld, id.NameWithheld = true, true
	}
	if id.NumberWithheld {
		id.Number = ""
	}
	if id.NameWithheld {
		id.Name = ""
	}
	return id
}

// privacyValues returns the Privacy header's values (RFC 3323), lower-case.
func privacyValues(req *sip.Request) map[string]bool {
	out := map[string]bool{}
	for _, v := range headerValues(req, "Privacy") {
		for _, p := range strings.Split(v, ";") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" && p != "none" {
				out[p] = true
			}
		}
	}
	return out
}

// assertedIdentity picks the P-Asserted-Identity value with a number (a
// PAI may carry a sip: and a tel: value, RFC 3325 9.1), preferring one
// with a display name.
func assertedIdentity(req *sip.Request) *nameAddr {
	var best *nameAddr
	for _, v := range headerValues(req, "P-Asserted-Identity") {
		na, ok := parseNameAddr(v)
		if !ok || isAnonymousURI(na.uri) {
			continue
		}
		if cleanNumber(na.uri.User) == "" {
			continue
		}
		if best == nil || (best.display == "" && na.display != "") {
			n := na
			best = &n
		}
	}
	return best
}

// remotePartyID picks the calling party's Remote-Party-ID.
func remotePartyID(req *sip.Request) *nameAddr {
	for _, v := range headerValues(req, "Remote-Party-ID") {
		na, ok := parseNameAddr(v)
		if !ok {
			continue
		}
		if p := strings.ToLower(na.params["party"]); p != "" && p != "calling" {
			continue
		}
		return &na
	}
	return nil
}

func isAnonymousURI(u sip.Uri) bool {
	user, host := strings.ToLower(u.User), strings.ToLower(u.Host)
	return user == "anonymous" || user == "restricted" || user == "" && host == "anonymous.invalid" || host == "anonymous.invalid"
}

func isAnonymousName(n string) bool {
	switch strings.ToLower(strings.TrimSpace(n)) {
	case "anonymous", "restricted", "withheld", "private", "unknown", "unavailable":
		return true
	}
	return false
}

// cleanNumber keeps a URI user part that is a telephone number: visual
// separators removed (RFC 3966), parameters dropped; "" when it is not a
// number (a name like "alice").
func cleanNumber(user string) string {
	user, _, _ = strings.Cut(user, ";")
	var b []byte
	for i := 0; i < len(user) && len(b) < 32; i++ {
		c := user[i]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			b = append(b, c)
		case c == '+' && len(b) == 0:
			b = append(b, c)
		case c == '-' || c == '.' || c == '(' || c == ')' || c == ' ':
		default:
			return ""
		}
	}
	if len(b) == 0 || (len(b) == 1 && b[0] == '+') {
		return ""
	}
	return string(b)
}

// Diverted is how a forwarded call reached the line.
type Diverted struct {
	// OriginalCalled is the number the caller dialled first.
	OriginalCalled string
	// Reason is the first diversion's reason as given (Diversion's reason
	// parameter, or History-Info's cause code), e.g. "no-answer", "302".
	Reason string
	// Source is "diversion" or "history-info".
	Source string
}

// divertedFrom reads the first diversion of a forwarded call: the last
// Diversion header (each hop adds one on top, RFC 5806), else the
// History-Info entry with index 1 (the first target, RFC 7044) when a
// later entry retargeted the call. Entries marked private are skipped. A
// call that was not forwarded, or whose original target is the line
// itself, gives false.
func divertedFrom(req *sip.Request, own string) (Diverted, bool) {
	if ds := headerValues(req, "Diversion"); len(ds) > 0 {
		for i := len(ds) - 1; i >= 0; i-- {
			na, ok := parseNameAddr(ds[i])
			if !ok || strings.EqualFold(na.params["privacy"], "full") {
				continue
			}
			n := cleanNumber(na.uri.User)
			if n == "" || n == own {
				continue
			}
			return Diverted{OriginalCalled: n, Reason: na.params["reason"], Source: "diversion"}, true
		}
	}
	his := headerValues(req, "History-Info")
	if len(his) < 2 {
		return Diverted{}, false // one entry: the call went where it was sent
	}
	var first *nameAddr
	for _, v := range his {
		na, ok := parseNameAddr(v)
		if !ok {
			continue
		}
		if p := strings.ToLower(na.params["privacy"]); p == "history" || p == "session" {
			continue
		}
		if idx := na.params["index"]; idx == "1" || (first == nil && idx == "") {
			n := na
			first = &n
		}
	}
	if first == nil {
		return Diverted{}, false
	}
	n := cleanNumber(first.uri.User)
	if n == "" || n == own {
		return Diverted{}, false
	}
	reason := ""
	for _, v := range his {
		if na, ok := parseNameAddr(v); ok {
			if c, ok := na.uri.UriParams.Get("cause"); ok && reason == "" {
				reason = c
			}
		}
	}
	return Diverted{OriginalCalled: n, Reason: reason, Source: "history-info"}, true
}
