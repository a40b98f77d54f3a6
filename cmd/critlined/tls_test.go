package main

// Encrypted lines against the daemon: the TLS listener (with and without
// the PBX's client certificate), the registration's connection lost and
// found again, keep-alives that notice a dead connection, and the setting
// that takes requests only over TLS (a spoofed UDP INVITE rings nothing).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/testpeer"
)

// certPair writes a self-signed certificate and key for 127.0.0.1 as
// dir/name.pem and dir/name.key (kamailio wants cert.pem and key.pem in
// its TLS directory: name "cert" gives cert.pem, and key.pem is written
// too).
func certPair(t *testing.T, dir, name, cn string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{cn},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	if name == "cert" {
		os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	}
	return cert, key
}

// tlsRig is kamailio with TLS and the daemon registered over it.
type tlsRig struct {
	pbx       *testpeer.Kamailio
	p         *proc
	pbxCert   string
	applCert  string
	applKey   string
	tlsListen string
}

type tlsOpts struct {
	clientCA  bool   // the daemon's listener wants the PBX's certificate
	pbxCert   bool   // the PBX shows its certificate as a client
	listen    bool   // a TLS listener on the daemon
	onlyTLS   bool   // trusted_transports = ["tls"]
	srtp      string // the registrar's srtp policy ("" = default)
	keepalive string // [sip] keepalive
	routes    map[string]string
	users     map[string]string
	edits     []string // more configuration edits
}

func startTLSRig(t *testing.T, o tlsOpts) *tlsRig {
	t.Helper()
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tls.so"); len(m) == 0 {
		t.Skip("kamailio's tls module is missing: apt-get install kamailio-tls-modules") // scripts/test-deps.txt installs it in CI
	}
	dir := t.TempDir()
	r := &tlsRig{}
	r.pbxCert, _ = certPair(t, dir, "cert", "pbx.test")
	r.applCert, r.applKey = certPair(t, dir, "appliance", "critline.test")
	users := pbxUsers()
	for u, pw := range o.users {
		users[u] = pw
	}
	r.pbx = testpeer.StartKamailio(t, testpeer.KamailioOptions{Users: users, TLSDir: dir, TLSClientCert: o.pbxCert, Routes: o.routes})
	cfg := pbxConfig(t, r.pbx.Addr)
	b, _ := os.ReadFile(cfg)
	s := string(b)
	var sipKeys strings.Builder
	fmt.Fprintf(&sipKeys, "tls_certificate = %q\ntls_key = %q\ntls_ca = %q\n", r.applCert, r.applKey, r.pbxCert)
	if o.listen {
		r.tlsListen = fmt.Sprintf("127.0.0.1:%d", testpeer.FreeUDPPort(t, "127.0.0.1"))
		fmt.Fprintf(&sipKeys, "tls_listen = %q\n", r.tlsListen)
	}
	if o.clientCA {
		fmt.Fprintf(&sipKeys, "tls_client_ca = %q\n", r.pbxCert)
	}
	if o.onlyTLS {
		sipKeys.WriteString("trusted_transports = [\"tls\"]\n")
	}
	if o.keepalive != "" {
		fmt.Fprintf(&sipKeys, "keepalive = %q\n", o.keepalive)
	}
	s = strings.Replace(s, "probe_interval = \"500ms\"\n", "probe_interval = \"500ms\"\n"+sipKeys.String(), 1)
	reg := fmt.Sprintf("address = %q\ntransport = \"tls\"\n", r.pbx.TLSAddr)
	if o.srtp != "" {
		reg += fmt.Sprintf("srtp = %q\n", o.srtp)
	}
	s = strings.Replace(s, fmt.Sprintf("address = %q\ntransport = \"udp\"\n", r.pbx.Addr), reg, 1)
	for i := 0; i+1 < len(o.edits); i += 2 {
		if !strings.Contains(s, o.edits[i]) {
			t.Fatalf("no %q to edit", o.edits[i])
		}
		s = strings.Replace(s, o.edits[i], o.edits[i+1], 1)
	}
	os.WriteFile(cfg, []byte(s), 0o644)
	r.p = startDaemon(t, cfg)
	eventually(t, "registered over TLS, normal", func() bool { st := r.p.status(); return st.Mode == "normal" && registered(st) })
	return r
}

// The PBX reaches the line on a TLS connection of its own, to the
// listener, showing its client certificate; the call rings and carries
// the PBX's tone.
func TestTLSListenerTakesThePBXsConnection(t *testing.T) {
	r := startTLSRig(t, tlsOpts{listen: true, clientCA: true, pbxCert: true})
	s := startDialect(t, "late-offer-cucm.xml", dialectOpts{to: r.pbx.Addr, service: "270001", repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	wantTone(t, "a call delivered over the TLS listener", answerAndHear(t, r.p, 1, 1), 1004)
	s.wait()
	hangUpPort(t, r.p, 1)
	if v := r.p.metric("critline_sip_tls_refused_total"); v != "0" {
		t.Errorf("TLS connections refused: %s", v)
	}
	if !strings.Contains(r.p.log.String(), "client_certificates=true") {
		t.Error("the listener did not say it checks client certificates")
	}
}

// Without the client certificate the listener wants, the PBX's connection
// is refused (and counted): its call never rings the line.
func TestTLSListenerRefusesAPBXWithoutCertificate(t *testing.T) {
	r := startTLSRig(t, tlsOpts{listen: true, clientCA: true, pbxCert: false})
	s := startDialect(t, "caller-id-pai-display-asterisk.xml", dialectOpts{to: r.pbx.Addr, service: "270001"})
	eventually(t, "the PBX's TLS connection refused", func() bool { return r.p.metric("critline_sip_tls_refused_total") != "0" })
	if st := portState(r.p.status(), 1).State; st == "ringing" {
		t.Fatal("a call over a refused connection rang the line")
	}
	_ = s // sipp's own flow fails (no 180): the PBX could not reach the line
}

// The registration's TLS connection goes (the PBX restarts and forgets
// its registrations): the lines register again over a new connection, and
// the PBX reaches them. The time from the PBX back to the lines
// registered is logged.
func TestTLSRegistrationReconnects(t *testing.T) {
	r := startTLSRig(t, tlsOpts{})
	r.pbx.Kill()
	eventually(t, "registration lost with the PBX", func() bool { return !registered(r.p.status()) })
	back := time.Now()
	r.pbx.Start()
	eventually(t, "registered again over a new TLS connection", func() bool { return registered(r.p.status()) })
	t.Logf("PBX back to both lines registered over a new TLS connection: %v", time.Since(back).Round(time.Millisecond))
	s := startDialect(t, "late-offer-cucm.xml", dialectOpts{to: r.pbx.Addr, service: "270001", repl: []string{"{{TONE}}", toneWAV(t, 1004, 1)}})
	wantTone(t, "a call after the reconnection", answerAndHear(t, r.p, 1, 1), 1004)
	s.wait()
	hangUpPort(t, r.p, 1)
}

// A PBX that freezes keeps its TCP connection open but answers nothing:
// the keep-alive's missing pong closes the connection, and when the PBX
// thaws the lines register over a new one.
func TestKeepAliveClosesADeadConnection(t *testing.T) {
	r := startTLSRig(t, tlsOpts{keepalive: "5s"})
	pid := r.pbx.Pid()
	syscall.Kill(-pid, syscall.SIGSTOP)
	eventually30(t, "the keep-alive gave up on the frozen PBX's connection", func() bool {
		return r.p.metric(`critline_sip_keepalive_failures_total{registrar="pbx1"}`) != "0"
	})
	syscall.Kill(-pid, syscall.SIGCONT)
	eventually(t, "registered again", func() bool { st := r.p.status(); return st.Mode == "normal" && registered(st) })
}

// eventually30 is eventually with room for a 10 s pong wait after a 5 s
// keep-alive period.
func eventually30(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("still not true after 40s: %s", what)
}

// With requests trusted only over TLS, a spoofed UDP INVITE from the
// PBX's own address (anyone on the LAN can forge it) rings nothing and is
// counted; the PBX's real call, over TLS, rings as ever.
func TestOnlyTLSRequestsAreTrusted(t *testing.T) {
	r := startTLSRig(t, tlsOpts{onlyTLS: true})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", r.p.sipAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	me := c.LocalAddr().String()
	for i, method := range []string{"INVITE", "NOTIFY", "UPDATE", "REFER"} {
		msg := fmt.Sprintf("%s sip:270001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-spoof%d\r\nMax-Forwards: 70\r\n"+
			"From: \"Bursar\" <sip:01223337733@127.0.0.1>;tag=s%d\r\nTo: <sip:270001@127.0.0.1>\r\nCall-ID: spoof-tls-%d\r\nCSeq: 1 %s\r\n"+
			"Contact: <sip:x@%s>\r\nEvent: message-summary\r\nContent-Type: application/simple-message-summary\r\nContent-Length: 23\r\n\r\nMessages-Waiting: yes\r\n",
			method, to, me, i, i, i, method, me)
		c.WriteToUDP([]byte(msg), to)
	}
	eventually(t, "the spoofed requests counted", func() bool {
		return r.p.metric(`critline_sip_requests_transport_refused_total{transport="udp"}`) == "4"
	})
	st := portState(r.p.status(), 1)
	if st.State == "ringing" || st.MessageWaiting {
		t.Fatalf("a spoofed UDP request reached the line: %+v", st)
	}
	s := startDialect(t, "caller-id-pai-display-asterisk.xml", dialectOpts{to: r.pbx.Addr, service: "270001"})
	eventually(t, "the real call over TLS rings", func() bool {
		pt := portState(r.p.status(), 1)
		return pt.State == "ringing" && pt.Caller == "01223339000"
	})
	s.wait()
}

var reSIPAddr = regexp.MustCompile(`msg="sip listening".* udp=(\S+)`)

// sipAddr is the daemon's SIP UDP address, from its log.
func (p *proc) sipAddr(t *testing.T) string {
	t.Helper()
	m := reSIPAddr.FindStringSubmatch(p.log.String())
	if m == nil {
		t.Fatal("the daemon did not log its SIP address")
	}
	return m[1]
}
