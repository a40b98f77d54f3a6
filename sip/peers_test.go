package sip

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

// freeUDPPort returns a UDP port free on ip (and its TCP twin).
func freeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// kamailio is a registrar/proxy the test runs on loopback.
type kamailio struct {
	t       testing.TB
	Port    int
	cmd     *exec.Cmd
	out     *syncBuf
	done    chan struct{}
	Addr    string
	TLSAddr string
	users   map[string]string
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type kamOpts struct {
	TLSDir    string            // with cert.pem and key.pem: also listen TLS on Port+1
	Algorithm string            // MD5 (default) or SHA-256
	Users     map[string]string // auth user -> password
	Routes    map[string]string // dialled user -> host:port to relay to
}

const kamCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{{PORT}}
listen=tcp:127.0.0.1:{{PORT}}
{{TLSLISTEN}}
mpath="{{MPATH}}"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
{{TLSMOD}}
modparam("auth", "algorithm", "{{ALG}}")
modparam("auth", "nonce_expire", 600)
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("rr", "append_fromtag", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (is_method("OPTIONS") && uri==myself && $rU==$null) { sl_send_reply("200", "Keepalive"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	t_check_trans();
	if (is_method("REGISTER")) {
		route(PW);
		if (!pv_www_authenticate("$fd", "$avp(pw)", "0")) { auth_challenge("$fd", "0"); exit; }
		consume_credentials();
		if (!save("location")) { sl_reply_error(); }
		exit;
	}
	if (is_method("INVITE") && $fU =~ "^27") {
		route(PW);
		if (!pv_proxy_authenticate("$fd", "$avp(pw)", "0")) { auth_challenge("$fd", "0"); exit; }
		consume_credentials();
	}
	if (is_method("INVITE")) { record_route(); }
	if ($rU == "5030") { sl_send_reply("503", "Service Unavailable"); exit; }
{{ROUTES}}
	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
	t_relay();
}

route[PW] {
	$avp(pw) = "no-such-user-" + $ci;
{{USERS}}
}
`

func startKamailio(t testing.TB, o kamOpts) *kamailio {
	t.Helper()
	return startKamailioOnPort(t, o, 0)
}

func startKamailioOnPort(t testing.TB, o kamOpts, port int) *kamailio {
	t.Helper()
	bin := testenv.LookTool(t, "kamailio", "kamailio")
	if o.Algorithm == "" {
		o.Algorithm = "MD5"
	}
	if port == 0 {
		port = freeUDPPort(t, "127.0.0.1")
	}
	k := &kamailio{t: t, Port: port, out: &syncBuf{}, done: make(chan struct{}), users: o.Users}
	k.Addr = fmt.Sprintf("127.0.0.1:%d", k.Port)
	var users, routes strings.Builder
	for u, p := range o.Users {
		fmt.Fprintf(&users, "\tif ($au == \"%s\") { $avp(pw) = \"%s\"; }\n", u, p)
	}
	for u, hp := range o.Routes {
		fmt.Fprintf(&routes, "\tif ($rU == \"%s\") { $du = \"sip:%s\"; t_relay(); exit; }\n", u, hp)
	}
	mpath := "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
	if m, _ := filepath.Glob("/usr/lib/*/kamailio/modules/tm.so"); len(m) > 0 {
		mpath = filepath.Dir(m[0]) + "/"
	}
	tlsListen, tlsMod := "", ""
	if o.TLSDir != "" {
		k.TLSAddr = fmt.Sprintf("127.0.0.1:%d", k.Port+1)
		tlsListen = "enable_tls=yes\nlisten=tls:" + k.TLSAddr
		tlsCfg := filepath.Join(o.TLSDir, "tls.cfg")
		os.WriteFile(tlsCfg, []byte(fmt.Sprintf("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\nprivate_key = %s\ncertificate = %s\n\n[client:default]\nverify_certificate = no\nrequire_certificate = no\n",
			filepath.Join(o.TLSDir, "key.pem"), filepath.Join(o.TLSDir, "cert.pem"))), 0o644)
		tlsMod = "loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"" + tlsCfg + "\")"
	}
	cfg := strings.NewReplacer("{{PORT}}", fmt.Sprint(k.Port), "{{TLSLISTEN}}", tlsListen, "{{TLSMOD}}", tlsMod, "{{MPATH}}", mpath, "{{ALG}}", o.Algorithm,
		"{{USERS}}", users.String(), "{{ROUTES}}", routes.String()).Replace(kamCfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	k.cmd = exec.Command(bin, "-DD", "-E", "-f", path, "-Y", dir, "-m", "32", "-M", "8", "-w", dir, "-P", filepath.Join(dir, "k.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	go func() { k.cmd.Wait(); close(k.done) }()
	t.Cleanup(k.Kill)
	// Ready when it answers OPTIONS.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if k.ping() {
			return k
		}
		select {
		case <-k.done:
			t.Fatalf("kamailio exited:\n%s", k.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("kamailio did not answer OPTIONS:\n%s", k.out.String())
	return nil
}

func (k *kamailio) ping() bool {
	c, err := net.Dial("udp", k.Addr)
	if err != nil {
		return false
	}
	defer c.Close()
	lp := c.LocalAddr().(*net.UDPAddr).Port
	msg := fmt.Sprintf("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%d\r\nFrom: <sip:ping@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n",
		k.Port, lp, time.Now().UnixNano(), time.Now().UnixNano())
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 2000)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

// Kill stops kamailio at once (SIGKILL to its process group).
func (k *kamailio) Kill() {
	select {
	case <-k.done:
		return
	default:
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	<-k.done
}

// testUA builds and starts a UA against the given registrars.
type testUA struct {
	*UA
	reg      *prometheus.Registry
	incoming chan *IncomingCall
}

func startUA(t testing.TB, regs []Registrar, lines []Line, tweak func(*Config)) *testUA {
	t.Helper()
	tu := &testUA{reg: prometheus.NewRegistry(), incoming: make(chan *IncomingCall, 16)}
	cfg := Config{
		Listen:     "127.0.0.1:0",
		RTPPortMin: 30000, RTPPortMax: 30999,
		Registrars: regs,
		Lines:      lines,
		OnIncoming: func(ic *IncomingCall) { tu.incoming <- ic },
		Registerer: tu.reg,
		Logger:     testLogger(t),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tu.UA = u
	t.Cleanup(func() { u.Close() })
	return tu
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

func allRegistered(u *UA, registrar string) bool {
	for _, l := range u.Lines() {
		if !l.Registered || l.Registrar != registrar {
			return false
		}
	}
	return true
}
