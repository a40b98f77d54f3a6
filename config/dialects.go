package config

// The keys of the PBX dialects, message waiting and encrypted lines
// (issue 18): session timers, the TLS listener and its certificates,
// trusted transports, keep-alives; per registrar the SRTP policy and the
// message-waiting subscription; per port the voicemail access code and
// mailbox.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/critline/critline/fxs/digitmap"
)

// Defaults of the dialect keys.
const (
	DefaultSessionExpires = 30 * time.Minute // RFC 4028's recommended interval
	DefaultMinSE          = 90 * time.Second // RFC 4028's floor
	DefaultKeepAlive      = 30 * time.Second
)

var (
	srtpPolicies      = []string{"accept", "require", "off"}
	trustedTransports = []string{"udp", "tcp", "tls"}
)

func (c *Config) dialectDefaults() {
	if c.SIP.SessionExpires == nil {
		c.SIP.SessionExpires = &Duration{DefaultSessionExpires}
	}
	if c.SIP.MinSE.Duration == 0 {
		c.SIP.MinSE.Duration = DefaultMinSE
	}
	if c.SIP.KeepAlive == nil {
		c.SIP.KeepAlive = &Duration{DefaultKeepAlive}
	}
	for i := range c.SIP.Registrars {
		if c.SIP.Registrars[i].SRTP == "" {
			c.SIP.Registrars[i].SRTP = "accept"
		}
	}
	for i, r := range c.SIP.Registrars {
		if r.SRTP == "require" && r.Transport != "tls" {
			c.Notices = append(c.Notices, Problem{Key: fmt.Sprintf("sip.registrar[%d].srtp", i),
				Msg: fmt.Sprintf("require over %s: the SRTP keys (SDES, RFC 4568) travel in the SDP in the clear; use transport = \"tls\" so they are secret", r.Transport)})
		}
	}
	if c.SIP.MinSE.Duration > 0 && c.SIP.MinSE.Duration < DefaultMinSE {
		c.Notices = append(c.Notices, Problem{Key: "sip.min_se",
			Msg: fmt.Sprintf("%s is below RFC 4028's 90 s floor: PBXs may refuse it; keep it for tests", c.SIP.MinSE)})
	}
}

func (c *Config) validateDialects(bad func(key, format string, args ...any)) {
	s := c.SIP
	if d := s.MinSE.Duration; d < time.Second || d > time.Hour {
		bad("sip.min_se", "%s is out of range: use 90s (RFC 4028) to 1h", s.MinSE)
	}
	if d := s.SessionExpires.Duration; d != 0 && (d < s.MinSE.Duration || d > 24*time.Hour) {
		bad("sip.session_expires", "%s: use 0s (ask for no session timer) or %s (min_se) to 24h; default %s", s.SessionExpires, s.MinSE, DefaultSessionExpires)
	}
	if d := s.KeepAlive.Duration; d != 0 && (d < 5*time.Second || d > 10*time.Minute) {
		bad("sip.keepalive", "%s: use 0s (none) or 5s to 10m; RFC 5626 suggests 95-120 s on a LAN, under 30 s through NAT", s.KeepAlive)
	}
	for i, tp := range s.TrustedTransports {
		if !oneOf(tp, trustedTransports) {
			bad(fmt.Sprintf("sip.trusted_transports[%d]", i), "%q is not a transport: use udp, tcp or tls", tp)
		}
	}
	if len(s.TrustedTransports) > 0 {
		for i, r := range s.Registrars {
			if !oneOf(r.Transport, s.TrustedTransports) {
				bad(fmt.Sprintf("sip.registrar[%d].transport", i), "%s is not in trusted_transports %v: the PBX's calls to the lines would all be refused; use transport = \"tls\" (or add %s, whose source addresses can be forged)", r.Transport, s.TrustedTransports, r.Transport)
			}
		}
	}
	for i, r := range s.Registrars {
		if !oneOf(r.SRTP, srtpPolicies) {
			bad(fmt.Sprintf("sip.registrar[%d].srtp", i), "%q: use accept (SRTP when the PBX offers it), require or off", r.SRTP)
		}
	}
	if s.TLSListen != "" {
		if err := checkHostPort(s.TLSListen, true); err != nil {
			bad("sip.tls_listen", "%v", err)
		}
		if s.TLSCertificate == "" || s.TLSKey == "" {
			bad("sip.tls_listen", "a TLS listener needs the appliance's certificate: set tls_certificate and tls_key")
		}
	}
	if (s.TLSCertificate == "") != (s.TLSKey == "") {
		bad("sip.tls_key", "give both tls_certificate and tls_key, or neither")
	} else if s.TLSCertificate != "" {
		if _, err := tls.LoadX509KeyPair(s.TLSCertificate, s.TLSKey); err != nil {
			bad("sip.tls_certificate", "%s and %s do not load as a certificate and its key: %v", s.TLSCertificate, s.TLSKey, err)
		}
	}
	for _, f := range []struct{ key, path string }{{"sip.tls_ca", s.TLSCA}, {"sip.tls_client_ca", s.TLSClientCA}} {
		if f.path == "" {
			continue
		}
		if _, err := LoadCertPool(f.path); err != nil {
			bad(f.key, "%v", err)
		}
	}
	if s.TLSClientCA != "" && s.TLSListen == "" {
		bad("sip.tls_client_ca", "client certificates are checked by the TLS listener: set tls_listen too, or remove tls_client_ca")
	}
	for i, p := range c.Ports {
		k := fmt.Sprintf("port[%d]", i)
		if v := p.Voicemail; v != "" {
			if !reDialable.MatchString(v) {
				bad(k+".voicemail", "%q is not an access code: use digits, * and # (e.g. \"*97\" or \"1571\")", v)
			} else if _, err := digitmap.Parse(v); err != nil {
				bad(k+".voicemail", "%v", err)
			}
			for _, e := range c.Survivability.Emergency {
				if v == e {
					bad(k+".voicemail", "%q is an emergency number: choose another access code", v)
				}
			}
		}
		if mb := p.Mailbox; mb != "" && !strings.HasPrefix(mb, "sip:") && strings.ContainsAny(mb, "@:;<> \t") {
			bad(k+".mailbox", "%q: give a user (like \"270001\") or a full sip: URI", mb)
		}
	}
}

// LoadCertPool reads a PEM bundle of CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s cannot be read: %v", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
