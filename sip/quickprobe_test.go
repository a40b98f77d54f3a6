package sip

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// testQuickProbes is a path's quick probes with a fixed secret, no socket.
func testQuickProbes() *quickProbes {
	q := &quickProbes{secret: "0123456789abcdef"}
	q.magic = []byte(magicPrefix + q.secret + ".")
	return q
}

// The quick probe's OPTIONS is a request sipgo's parser (and so any SIP
// stack) reads as the probe sipgo would send, and the answer a registrar
// builds from it (sipgo's own response builder, Via copied) is recognised
// with the probe's number, whatever the status.
func TestQuickProbeRequestAndAnswer(t *testing.T) {
	q := testQuickProbes()
	for _, tc := range []struct {
		name    string
		r       quickRequest
		ruri    string
		via     string
		from    string
		to      string
		statusN int
	}{
		{"ipv4", quickRequest{domain: "pbx.example.ac.uk", port: 5060, local: netip.MustParseAddr("192.0.2.10"), localPort: 5070, userAgent: "critline"},
			"sip:pbx.example.ac.uk:5060", "192.0.2.10", "sip:critline@192.0.2.10", "sip:pbx.example.ac.uk", 200},
		{"no port", quickRequest{domain: "10.0.0.1", local: netip.MustParseAddr("10.0.0.2"), localPort: 5060, userAgent: "critline/1.0"},
			"sip:10.0.0.1", "10.0.0.2", "sip:critline@10.0.0.2", "sip:10.0.0.1", 404},
		{"ipv6", quickRequest{domain: "2001:db8::1", port: 5062, local: netip.MustParseAddr("2001:db8::2"), localPort: 5060, userAgent: "critline"},
			"sip:[2001:db8::1]:5062", "2001:db8::2", "sip:critline@[2001:db8::2]", "sip:[2001:db8::1]", 483},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const seq = 0x1f2e3d
			data := q.appendRequest(nil, tc.r, seq)
			msg, err := sip.ParseMessage(data)
			if err != nil {
				t.Fatalf("sipgo cannot parse the probe: %v\n%s", err, data)
			}
			req, ok := msg.(*sip.Request)
			if !ok || req.Method != sip.OPTIONS {
				t.Fatalf("not an OPTIONS request: %s", data)
			}
			if got := req.Recipient.String(); got != tc.ruri {
				t.Errorf("Request-URI %q, want %q", got, tc.ruri)
			}
			via := req.Via()
			branch, _ := via.Params.Get("branch")
			if via.Transport != "UDP" || via.Host != tc.via || via.Port != tc.r.localPort || !strings.HasPrefix(branch, "z9hG4bK") {
				t.Errorf("Via %s", via.Value())
			}
			if got := req.From().Address.String(); got != tc.from {
				t.Errorf("From %q, want %q", got, tc.from)
			}
			if tag, _ := req.From().Params.Get("tag"); tag == "" {
				t.Error("From has no tag")
			}
			if got := req.To().Address.String(); got != tc.to {
				t.Errorf("To %q, want %q", got, tc.to)
			}
			if req.CallID() == nil || req.CSeq() == nil || req.CSeq().MethodName != sip.OPTIONS || req.MaxForwards() == nil {
				t.Errorf("Call-ID, CSeq or Max-Forwards missing or wrong:\n%s", data)
			}
			if ua := req.GetHeader("User-Agent"); ua == nil || ua.Value() != tc.r.userAgent {
				t.Errorf("User-Agent %v, want %q", ua, tc.r.userAgent)
			}
			if cl := req.ContentLength(); cl == nil || cl.Value() != "0" {
				t.Errorf("Content-Length %v", cl)
			}
			res := sip.NewResponseFromRequest(req, tc.statusN, "Whatever", nil)
			// A registrar adds received= to the Via it copies.
			res.Via().Params.Add("received", "198.51.100.7")
			got, ok := probeAnswer([]byte(res.String()), q.magic)
			if !ok || got != seq {
				t.Fatalf("the answer is not recognised (%d, %v):\n%s", got, ok, res.String())
			}
			if _, ok := probeAnswer(data, q.magic); ok {
				t.Error("the request itself taken for an answer")
			}
		})
	}
}

// Only a response whose branch is exactly a quick probe's, with a number,
// is taken for an answer; everything else goes on to sipgo.
func TestProbeAnswerRejects(t *testing.T) {
	q := testQuickProbes()
	ours := string(q.magic) + "00000000000000a1"
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"ours", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours + "\r\n\r\n", true},
		{"ours, last", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours, true},
		{"a request", "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours + "\r\n\r\n", false},
		{"another branch", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK.abc\r\n\r\n", false},
		{"another secret", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + magicPrefix + "fedcba9876543210.00000000000000a1\r\n\r\n", false},
		{"a longer branch", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours + "x\r\n\r\n", false},
		{"too short", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours[:len(ours)-1], false},
		{"capital hex", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + string(q.magic) + "00000000000000A1\r\n\r\n", false},
		{"number 0", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + string(q.magic) + "0000000000000000\r\n\r\n", false},
		{"no status", "SIP/2.0 2x0 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours + "\r\n\r\n", false},
		{"SIP/3.0", "SIP/3.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=" + ours + "\r\n\r\n", false},
		{"empty", "", false},
		{"keep-alive", "\r\n\r\n", false},
	} {
		if _, ok := probeAnswer([]byte(tc.data), q.magic); ok != tc.ok {
			t.Errorf("%s: recognised %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

// FuzzProbeAnswer: any datagram at all; what is recognised carries the
// magic followed by the number it gave.
func FuzzProbeAnswer(f *testing.F) {
	q := testQuickProbes()
	req := q.appendRequest(nil, quickRequest{domain: "pbx", port: 5060, local: netip.MustParseAddr("10.0.0.2"), localPort: 5060, userAgent: "critline"}, 7)
	f.Add(req)
	f.Add(bytes.Replace(req, []byte("OPTIONS sip:pbx:5060 SIP/2.0"), []byte("SIP/2.0 200 OK"), 1))
	f.Add([]byte("SIP/2.0 100 Trying\r\nv: SIP/2.0/UDP h;branch=" + string(q.magic) + "ffffffffffffffff;rport=1\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		seq, ok := probeAnswer(data, q.magic)
		if !ok {
			return
		}
		if seq == 0 || !bytes.HasPrefix(data, []byte("SIP/2.0 ")) || !bytes.Contains(data, append(append([]byte{}, q.magic...), appendSeq(nil, seq)...)) {
			t.Fatalf("recognised %d in %q", seq, data)
		}
	})
}

// fakeRegistrar answers OPTIONS over UDP as a test decides: the quick
// probe's socket path, its retransmission and its matching against a real
// socket, without kamailio's choices in the way.
type fakeRegistrar struct {
	conn *net.UDPConn
	mu   sync.Mutex
	// answer decides what to do with a request (copy: how many times this
	// branch was seen): answer from conn, from another socket, or not.
	answer func(branch string, copy int) string
	seen   map[string]int
}

const (
	answerHere  = "here"
	answerElse  = "elsewhere"
	answerNever = "never"
)

func startFakeRegistrar(t *testing.T) *fakeRegistrar {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRegistrar{conn: c, seen: map[string]int{}, answer: func(string, int) string { return answerHere }}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); other.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:n])
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				continue
			}
			branch, _ := req.Via().Params.Get("branch")
			f.mu.Lock()
			f.seen[branch]++
			what := f.answer(branch, f.seen[branch])
			f.mu.Unlock()
			res := []byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String())
			switch what {
			case answerHere:
				c.WriteToUDPAddrPort(res, from)
			case answerElse:
				other.WriteToUDPAddrPort(res, from)
			}
		}
	}()
	return f
}

func (f *fakeRegistrar) copies(branch string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[branch]
}

func (f *fakeRegistrar) set(answer func(branch string, copy int) string) {
	f.mu.Lock()
	f.answer = answer
	f.mu.Unlock()
}

// lastBranch is the branch of the probe the test is about: the one
// counted last by set's answer function.
type lastBranch struct {
	mu sync.Mutex
	b  string
}

func (l *lastBranch) get() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b }

// A quick probe over a real socket: answered; answered only when its
// retransmission is; lost when the answer comes from another address
// (and sipgo gets that answer, as any other stray) or never comes, having
// been sent again at T1; and with every slot busy the probe is sipgo's
// and still answered.
func TestQuickProbeOverASocket(t *testing.T) {
	f := startFakeRegistrar(t)
	addr := f.conn.LocalAddr().String()
	u := startUA(t, []Registrar{{Name: "pbx", Address: addr}}, nil, func(c *Config) { c.ProbeInterval = time.Hour })
	rp := u.regs[0].current()
	q := rp.p.qp
	if q == nil {
		t.Fatal("the UDP path has no quick probes")
	}
	var last lastBranch
	mode := func(first, later string) {
		f.set(func(branch string, copy int) string {
			last.mu.Lock()
			last.b = branch
			last.mu.Unlock()
			if copy == 1 {
				return first
			}
			return later
		})
	}

	mode(answerHere, answerHere)
	for i := range 20 {
		if ok, _ := u.sendProbe(rp); !ok {
			t.Fatalf("probe %d not answered", i)
		}
		if b := last.get(); !strings.HasPrefix(b, string(q.magic)) {
			t.Fatalf("probe %d was not a quick one: branch %q", i, b)
		}
	}

	mode(answerNever, answerHere)
	ok, rtt := u.sendProbe(rp)
	if !ok {
		t.Fatal("a probe whose retransmission was answered counted lost")
	}
	if n := f.copies(last.get()); n != 2 {
		t.Fatalf("the registrar saw %d copies, want 2 (the first unanswered)", n)
	}
	if rtt < sip.T1 {
		t.Errorf("round trip %s of an answered retransmission: it is measured from the first copy, so at least T1", rtt)
	}

	mode(answerElse, answerElse)
	if ok, _ := u.sendProbe(rp); ok {
		t.Fatal("an answer from another address counted")
	}

	mode(answerNever, answerNever)
	if ok, _ := u.sendProbe(rp); ok {
		t.Fatal("an unanswered probe counted")
	}
	if n := f.copies(last.get()); n < 2 {
		t.Fatalf("an unanswered probe was sent %d times, want it sent again at T1", n)
	}

	// Every slot busy: sipgo's probe, answered the same.
	dest := netip.MustParseAddrPort(addr)
	var held []*quickSlot
	for s := q.take(dest); s != nil; s = q.take(dest) {
		held = append(held, s)
	}
	mode(answerHere, answerHere)
	if ok, _ := u.sendProbe(rp); !ok {
		t.Fatal("with every quick slot busy the probe was not answered")
	}
	if b := last.get(); strings.HasPrefix(b, magicPrefix) {
		t.Fatalf("with every slot busy the probe was still a quick one: %q", b)
	}
	for _, s := range held {
		q.release(s)
	}
	if ok, _ := u.sendProbe(rp); !ok {
		t.Fatal("slots released, the probe was not answered")
	}
}
