package sip

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func inviteWith(t testing.TB, from string, headers ...string) *sip.Request {
	t.Helper()
	raw := "INVITE sip:270001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\n" +
		"From: " + from + ";tag=a\r\nTo: <sip:270001@127.0.0.1>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n" +
		strings.Join(headers, "\r\n")
	if len(headers) > 0 {
		raw += "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return m.(*sip.Request)
}

// The identities PBXs send (identity.go's sources), and what the handset
// is to show.
func TestCallerIdentity(t *testing.T) {
	for _, c := range []struct {
		name    string
		from    string
		headers []string
		want    Identity
	}{
		{"from only", `"Night Manager" <sip:3005@pbx>`, nil, Identity{Number: "3005", Name: "Night Manager", Source: "from"}},
		{"from anonymous", `"Anonymous" <sip:anonymous@anonymous.invalid>`, nil, Identity{NumberWithheld: true, NameWithheld: true, Source: "from"}},
		{"PAI and display", `<sip:01223339001@pbx>`, []string{`P-Asserted-Identity: "Senior Tutor" <sip:01223339000@pbx>`}, Identity{Number: "01223339000", Name: "Senior Tutor", Source: "p-asserted-identity"}},
		{"PAI sip and tel", `<sip:x@pbx>`, []string{`P-Asserted-Identity: <sip:alice@pbx>, "Bursar" <tel:+44-1223-337733>`}, Identity{Number: "+441223337733", Name: "Bursar", Source: "p-asserted-identity"}},
		{"Teams privacy", `"Anonymous" <sip:anonymous@anonymous.invalid>`, []string{`P-Asserted-Identity: <sip:+441223337733@sbc;user=phone>`, "Privacy: id"}, Identity{NumberWithheld: true, NameWithheld: true, Source: "p-asserted-identity"}},
		{"RPID", `"sip line" <sip:69005@cucm>`, []string{`Remote-Party-ID: "sip line" <sip:69005@cucm>;party=calling;id-type=subscriber;privacy=off;screen=yes`}, Identity{Number: "69005", Name: "sip line", Source: "remote-party-id"}},
		{"RPID full", `"Anonymous" <sip:Anonymous@cucm>`, []string{`Remote-Party-ID: "sip line" <sip:69005@cucm>;party=calling;privacy=full;screen=yes`}, Identity{NumberWithheld: true, NameWithheld: true, Source: "remote-party-id"}},
		{"RPID uri", `"sip line" <sip:Anonymous@cucm>`, []string{`Remote-Party-ID: "sip line" <sip:69005@cucm>;party=calling;privacy=uri`}, Identity{Name: "sip line", NumberWithheld: true, Source: "remote-party-id"}},
		{"RPID name", `"Anonymous" <sip:69005@cucm>`, []string{`Remote-Party-ID: "sip line" <sip:69005@cucm>;party=calling;privacy=name`}, Identity{Number: "69005", NameWithheld: true, Source: "remote-party-id"}},
		{"RPID called ignored", `"Lodge" <sip:2000@cucm>`, []string{`Remote-Party-ID: "Bob" <sip:9728135001@cucm>;party=called`}, Identity{Number: "2000", Name: "Lodge", Source: "from"}},
		{"name-only user", `<sip:alice@pbx>`, nil, Identity{Source: "from"}},
	} {
		if got := callerIdentity(inviteWith(t, c.from, c.headers...)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestDivertedFrom(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers []string
		want    Diverted
		ok      bool
	}{
		{"none", nil, Diverted{}, false},
		{"diversion twice", []string{`Diversion: "2020" <sip:2020@cucm>;reason=user-busy`, `Diversion: "1020" <sip:1020@cucm>;reason=no-answer`}, Diverted{"1020", "no-answer", "diversion"}, true},
		{"history-info", []string{`History-Info: <sip:+441223330100@sbc;user=phone>;index=1`, `History-Info: <sip:270001@sbc;cause=302>;index=1.1`}, Diverted{"+441223330100", "302", "history-info"}, true},
		{"history-info one entry", []string{`History-Info: <sip:270001@sbc>;index=1`}, Diverted{}, false},
		{"history private", []string{`History-Info: <sip:1020@x>;index=1;privacy=history`, `History-Info: <sip:270001@x;cause=480>;index=1.1`}, Diverted{}, false},
		{"to the line itself", []string{`Diversion: <sip:270001@cucm>;reason=unconditional`}, Diverted{}, false},
	} {
		got, ok := divertedFrom(inviteWith(t, `<sip:07700900123@pbx>`, c.headers...), "270001")
		if ok != c.ok || got != c.want {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func FuzzCallerIdentity(f *testing.F) {
	f.Add(`"Bursar" <sip:01223337733@pbx>`, `"Senior Tutor" <sip:01223339000@pbx>, <tel:+44 1223>`, `"x" <sip:1@p>;party=calling;privacy=full`, "id", `<sip:1020@x>;reason=no-answer`, `<sip:1@x>;index=1, <sip:2@x;cause=302>;index=1.1`)
	f.Fuzz(func(t *testing.T, from, pai, rpid, privacy, diversion, history string) {
		for _, s := range []string{from, pai, rpid, privacy, diversion, history} {
			if strings.ContainsAny(s, "\r\n") {
				return
			}
		}
		raw := "INVITE sip:270001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-1\r\nFrom: " + from + "\r\nTo: <sip:270001@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n" +
			"P-Asserted-Identity: " + pai + "\r\nRemote-Party-ID: " + rpid + "\r\nPrivacy: " + privacy + "\r\nDiversion: " + diversion + "\r\nHistory-Info: " + history + "\r\nContent-Length: 0\r\n\r\n"
		m, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok || req.From() == nil {
			return
		}
		id := callerIdentity(req)
		if id.NumberWithheld && id.Number != "" {
			t.Fatalf("withheld number shown: %+v", id)
		}
		for _, ch := range id.Number {
			if !strings.ContainsRune("0123456789*#+", ch) {
				t.Fatalf("number %q is not a number", id.Number)
			}
		}
		divertedFrom(req, "270001")
	})
}
