package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes cert.pem/key.pem for 127.0.0.1 into a new directory and
// returns it with a client config trusting the certificate.
func selfSigned(t testing.TB) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pbx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"pbx.test"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return dir, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// TestRegisterTLS: registration and OPTIONS probing over TLS with a
// certificate the UA verifies.
func TestRegisterTLS(t *testing.T) {
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tls.so"); len(m) == 0 {
		missing(t, "kamailio's tls module: install it with 'apt-get install kamailio-tls-modules'")
	}
	dir, conf := selfSigned(t)
	k := startKamailio(t, kamOpts{Users: testUsers(), TLSDir: dir})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.TLSAddr, Transport: "tls"}}, testLines, func(c *Config) { c.TLS = conf })
	waitFor(t, 10*time.Second, "every line registered over TLS", func() bool { return allRegistered(u.UA, "pbx") })
	waitFor(t, 5*time.Second, "registrar up over TLS", func() bool { return u.Registrars()[0].Up })
}

// TestOutboundCallTLS: a call placed over the TLS registration; kamailio
// relays it to sipp, which answers and echoes.
func TestOutboundCallTLS(t *testing.T) {
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tls.so"); len(m) == 0 {
		missing(t, "kamailio's tls module: install it with 'apt-get install kamailio-tls-modules'")
	}
	dir, conf := selfSigned(t)
	s := startSippUAS(t)
	k := startKamailio(t, kamOpts{Users: testUsers(), TLSDir: dir, Routes: map[string]string{"9000": fmt.Sprintf("127.0.0.3:%d", s.Port)}})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.TLSAddr, Transport: "tls"}}, testLines, func(c *Config) { c.TLS = conf })
	waitFor(t, 10*time.Second, "registered over TLS", func() bool { return allRegistered(u.UA, "pbx") })
	c, err := u.Dial(context.Background(), 1, "9000", DialOptions{})
	if err != nil {
		t.Fatalf("dial over TLS: %v; sipp: %s", err, s.errors())
	}
	select {
	case <-c.Answered():
	case <-time.After(10 * time.Second):
		t.Fatalf("not answered: %v", c.Err())
	}
	stop := make(chan struct{})
	time.AfterFunc(time.Second, func() { close(stop) })
	got := pump(c, 1004, stop)
	if err := c.Hangup(); err != nil {
		t.Errorf("hangup over TLS: %v", err)
	}
	if hz := toneHz(got); math.Abs(hz-1004) > 10 {
		t.Errorf("echo %.1f Hz, sent 1004 Hz", hz)
	}
	if err := s.wait(t, 10*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
}

// TestInboundCallTLS: kamailio reaches a line registered over TLS through
// the registration's own connection (the Contact names its local port).
func TestInboundCallTLS(t *testing.T) {
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tls.so"); len(m) == 0 {
		missing(t, "kamailio's tls module: install it with 'apt-get install kamailio-tls-modules'")
	}
	dir, conf := selfSigned(t)
	k := startKamailio(t, kamOpts{Users: testUsers(), TLSDir: dir})
	u := startUA(t, []Registrar{{Name: "pbx", Address: k.TLSAddr, Transport: "tls"}}, testLines, func(c *Config) { c.TLS = conf })
	waitFor(t, 10*time.Second, "registered over TLS", func() bool { return allRegistered(u.UA, "pbx") })
	s := startSipp(t, k.Addr, "-sf", scenario(t, "uac_call.xml", "CALLER", "{{TONE}}", writeAlawWav(t, 697, 1.2)), "-s", "270001", "-m", "1")
	var ic *IncomingCall
	select {
	case ic = <-u.incoming:
	case <-time.After(10 * time.Second):
		t.Fatalf("no inbound call over TLS; sipp: %s", s.errors())
	}
	ic.Ring()
	c, err := ic.Answer() // at once: the test PBX relays the 180 and the 200 in order
	if err != nil {
		t.Fatal(err)
	}
	got := pump(c, 400, nil)
	if err := s.wait(t, 15*time.Second); err != nil {
		t.Errorf("sipp: %v\n%s", err, s.errors())
	}
	if hz := toneHz(got); math.Abs(hz-697) > 10 {
		t.Errorf("line heard %.1f Hz, caller played 697 Hz", hz)
	}
}
