package config

import (
	"strings"
	"testing"
	"time"
)

const minimal = "[[port]]\nid = 1\nextension = \"270001\"\n"

// The dialect keys have defaults and refuse what cannot work, each with
// its line and the fix.
func TestDialectKeys(t *testing.T) {
	c, err := Parse("x.toml", []byte(minimal+"[[sip.registrar]]\nname = \"pbx\"\naddress = \"10.0.0.1:5060\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.SessionExpires.Duration != DefaultSessionExpires || c.SIP.MinSE.Duration != DefaultMinSE || c.SIP.KeepAlive.Duration != DefaultKeepAlive || c.SIP.Registrars[0].SRTP != "accept" {
		t.Errorf("defaults: %v %v %v %q", c.SIP.SessionExpires, c.SIP.MinSE, c.SIP.KeepAlive, c.SIP.Registrars[0].SRTP)
	}
	c, err = Parse("x.toml", []byte(minimal+"[sip]\nsession_expires = \"0s\"\nkeepalive = \"0s\"\n"))
	if err != nil || c.SIP.SessionExpires.Duration != 0 || c.SIP.KeepAlive.Duration != 0 {
		t.Errorf("0s should turn them off: %v %v", c, err)
	}
	bad := minimal + `voicemail = "99x"
mailbox = "a b"
[sip]
session_expires = "30s"
min_se = "2h"
keepalive = "1s"
trusted_transports = ["tls", "sctp"]
tls_listen = "nowhere"
tls_certificate = "/nonexistent/cert.pem"
tls_client_ca = "/nonexistent/ca.pem"
[[sip.registrar]]
name = "pbx"
address = "10.0.0.1:5060"
transport = "udp"
srtp = "sometimes"
`
	_, err = Parse("x.toml", []byte(bad))
	for _, want := range []string{
		"x.toml:4: port[0].voicemail:", "x.toml:5: port[0].mailbox:",
		"x.toml:8: sip.min_se: 2h0m0s is out of range", "x.toml:7: sip.session_expires: 30s",
		"x.toml:9: sip.keepalive: 1s", `x.toml:10: sip.trusted_transports[1]: "sctp"`,
		"x.toml:11: sip.tls_listen:", "sip.tls_key: give both tls_certificate and tls_key",
		"x.toml:13: sip.tls_client_ca: /nonexistent/ca.pem cannot be read",
		`x.toml:17: sip.registrar[0].transport: udp is not in trusted_transports`,
		`x.toml:18: sip.registrar[0].srtp: "sometimes"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	// An emergency number is no voicemail code.
	_, err = Parse("x.toml", []byte(minimal+"voicemail = \"999\"\n"))
	if err == nil || !strings.Contains(err.Error(), "is an emergency number") {
		t.Errorf("voicemail 999: %v", err)
	}
	// min_se below RFC 4028's floor is a notice, not an error (tests).
	c, err = Parse("x.toml", []byte(minimal+"[sip]\nmin_se = \"2s\"\nsession_expires = \"0s\"\n"))
	if err != nil || c.SIP.MinSE.Duration != 2*time.Second || len(c.Notices) == 0 {
		t.Errorf("min_se 2s: %v, notices %v", err, c.Notices)
	}
}
