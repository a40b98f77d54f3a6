package testpeer

import (
	"bytes"
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
)

// KamailioOptions configure the PBX. It runs one UDP worker, so it relays
// messages in the order they came (with two, a 200 could overtake its 180
// and a BYE its ACK, which made sipp scenarios flaky). Besides the
// registered users and the routes given, a call to user 5030 is always
// answered 503 (for tests of a PBX in trouble).
type KamailioOptions struct {
	IP        string            // listen address; default 127.0.0.1
	Port      int               // default: a free UDP port
	Algorithm string            // MD5 (default) or SHA-256
	Users     map[string]string // auth user -> password
	Routes    map[string]string // dialled user -> host:port to relay to (a trunk-side gateway, sipp, ...)
	NetNS     string            // run inside this network namespace (ip netns exec)
	// TLSDir, holding cert.pem and key.pem, makes it also listen for TLS on
	// Port+1 (needs Debian's kamailio-tls-modules).
	TLSDir string
	// MinExpires is the shortest registration it accepts (423 Interval Too
	// Brief with Min-Expires below it); 0 accepts any.
	MinExpires int
	// SubscribeTo, when set (host:port), is where SUBSCRIBEs go (a
	// voicemail server played by sipp); they are record-routed so the
	// subscription's NOTIFYs come back through the PBX.
	SubscribeTo string
	// TLSClientCert makes the PBX show its certificate (TLSDir's) as a
	// client certificate when it opens TLS connections itself.
	TLSClientCert bool
}

// Kamailio is a running (or stopped) PBX.
type Kamailio struct {
	t       testing.TB
	o       KamailioOptions
	bin     string
	dir     string
	Addr    string // ip:port (UDP and TCP)
	Port    int
	TLSAddr string // ip:port+1 when TLS is on

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

const kamCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
listen=udp:{{IP}}:{{PORT}}
listen=tcp:{{IP}}:{{PORT}}
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
modparam("registrar", "min_expires", {{MINEXP}})
modparam("registrar", "min_expires_mode", 1)
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
		save("location"); # it answers by itself, errors included (423 Interval Too Brief...)
		exit;
	}
	if (is_method("INVITE|SUBSCRIBE") && $fU =~ "^27") {
		route(PW);
		if (!pv_proxy_authenticate("$fd", "$avp(pw)", "0")) { auth_challenge("$fd", "0"); exit; }
		consume_credentials();
	}
	if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
{{SUBSCRIBE}}
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

// FreeUDPPort finds a UDP port free on ip whose TCP twin is free too.
func FreeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port))); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// StartKamailio starts the PBX and waits until it answers OPTIONS. It is
// killed when the test ends.
func StartKamailio(t testing.TB, o KamailioOptions) *Kamailio {
	t.Helper()
	bin := testenv.LookTool(t, "kamailio", "kamailio")
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Algorithm == "" {
		o.Algorithm = "MD5"
	}
	if o.Port == 0 && o.NetNS != "" {
		o.Port = FreeUDPPort(t, "127.0.0.1") // any port is free in a fresh namespace
	} else if o.Port == 0 {
		o.Port = FreeUDPPort(t, o.IP)
	}
	k := &Kamailio{t: t, o: o, bin: bin, dir: t.TempDir(), Addr: net.JoinHostPort(o.IP, fmt.Sprint(o.Port)), Port: o.Port}
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
	subscribe := ""
	if o.SubscribeTo != "" {
		subscribe = "\tif (is_method(\"SUBSCRIBE\")) { $du = \"sip:" + o.SubscribeTo + "\"; t_relay(); exit; }"
	}
	tlsListen, tlsMod := "", ""
	if o.TLSDir != "" {
		k.TLSAddr = net.JoinHostPort(o.IP, fmt.Sprint(o.Port+1))
		tlsListen = "enable_tls=yes\nlisten=tls:" + k.TLSAddr
		tlsCfg := filepath.Join(o.TLSDir, "tls.cfg")
		tc := fmt.Sprintf("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\nprivate_key = %s\ncertificate = %s\n\n[client:default]\nverify_certificate = no\nrequire_certificate = no\n",
			filepath.Join(o.TLSDir, "key.pem"), filepath.Join(o.TLSDir, "cert.pem"))
		if o.TLSClientCert {
			tc += fmt.Sprintf("private_key = %s\ncertificate = %s\n", filepath.Join(o.TLSDir, "key.pem"), filepath.Join(o.TLSDir, "cert.pem"))
		}
		if err := os.WriteFile(tlsCfg, []byte(tc), 0o644); err != nil {
			t.Fatal(err)
		}
		tlsMod = "loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", \"" + tlsCfg + "\")"
	}
	cfg := strings.NewReplacer("{{IP}}", o.IP, "{{PORT}}", fmt.Sprint(o.Port), "{{TLSLISTEN}}", tlsListen, "{{TLSMOD}}", tlsMod, "{{MPATH}}", mpath, "{{ALG}}", o.Algorithm,
		"{{USERS}}", users.String(), "{{ROUTES}}", routes.String(), "{{MINEXP}}", fmt.Sprint(o.MinExpires), "{{SUBSCRIBE}}", subscribe).Replace(kamCfg)
	if err := os.WriteFile(filepath.Join(k.dir, "kamailio.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Kill)
	k.Start()
	return k
}

// Start (re)starts the PBX on its address and waits until it answers.
func (k *Kamailio) Start() {
	t := k.t
	t.Helper()
	args := []string{k.bin, "-DD", "-E", "-f", filepath.Join(k.dir, "kamailio.cfg"), "-Y", k.dir, "-m", "32", "-M", "8", "-w", k.dir, "-P", filepath.Join(k.dir, "k.pid")}
	if k.o.NetNS != "" {
		args = append([]string{"ip", "netns", "exec", k.o.NetNS}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	k.mu.Lock()
	k.cmd, k.out, k.done = cmd, out, done
	k.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if k.Ping() {
			return
		}
		select {
		case <-done:
			t.Fatalf("kamailio exited:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("kamailio did not answer OPTIONS:\n%s", out.String())
}

// Ping sends one OPTIONS and reports a 200. A PBX in a network namespace
// is pinged from inside it (a test's site need not be routed from here).
func (k *Kamailio) Ping() bool {
	var c net.Conn
	var err error
	if k.o.NetNS != "" {
		c, err = Dial(k.o.NetNS, "udp", k.Addr)
	} else {
		c, err = net.Dial("udp", k.Addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	lp := c.LocalAddr().(*net.UDPAddr)
	now := time.Now().UnixNano()
	msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nFrom: <sip:ping@%s>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: ping-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n",
		k.Addr, lp, now, lp.IP, k.Addr, now)
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2000)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

// Kill stops the PBX at once (SIGKILL to its process group), as a crash or
// a power cut would.
func (k *Kamailio) Kill() {
	k.mu.Lock()
	cmd, done := k.cmd, k.done
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Log is what the PBX printed since its last start.
func (k *Kamailio) Log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.out == nil {
		return ""
	}
	return k.out.String()
}

// Pid is the PBX's process (group) id, for signals a test sends (SIGSTOP
// freezes it: connections stay open, nothing answers).
func (k *Kamailio) Pid() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd == nil || k.cmd.Process == nil {
		return 0
	}
	return k.cmd.Process.Pid
}
