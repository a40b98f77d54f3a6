package sip

// Quick probes (issue 19): a registrar probe over UDP sent and matched
// without sipgo. An idle appliance probes every registrar over every path
// more than once a second; through sipgo's request builder, client
// transaction and parser each probe made ~90 allocations (5.4 kB), nearly
// all of an idle daemon's garbage, and garbage is what keeps the collector,
// and so the pages of the executable it walks, awake. A quick probe writes
// its OPTIONS into a buffer the path keeps and sends it from the path's
// own SIP socket (so it leaves by the path's interface and tests what the
// lines use); the path's socket reader recognises the answer by the
// branch alone (a per-path secret and the probe's number) and hands it to
// the waiting probe without parsing it further. It retransmits at T1,
// 2xT1, ... like a non-INVITE client transaction, so one lost datagram is
// not a lost probe. Paths that learn their public address (NAT: the
// answer's Via is read) and TCP or TLS registrars keep sipgo's probe.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// quickSlots is how many quick probes may be out at once over one path;
// more (many registrars bursting at once) use sipgo's probe.
const quickSlots = 32

// quickProbes is one path's quick probes under way.
type quickProbes struct {
	conn   *net.UDPConn
	magic  []byte // "z9hG4bK-cl" + the path's secret: every quick probe's branch starts with it
	secret string // hex: Call-IDs and tags are made of it and the probe's number

	mu    sync.Mutex
	next  uint64
	buf   []byte // the request being sent (under mu)
	slots [quickSlots]quickSlot
}

// quickSlot is one probe under way.
type quickSlot struct {
	seq  uint64         // the probe's number; 0: free
	from netip.AddrPort // where its answer must come from
	ans  chan struct{}  // an answer came (buffered: the reader never waits)
	t    *time.Timer    // its retransmission and timeout timer, reused
}

// magicPrefix starts every quick probe's branch (after RFC 3261's magic
// cookie): "cl" for critline.
const magicPrefix = "z9hG4bK-cl"

// newQuickProbes readies quick probes over a path's UDP socket; nil when
// the socket is not a *net.UDPConn.
func newQuickProbes(pc net.PacketConn) *quickProbes {
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	var key [8]byte
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails (Go 1.24)
	secret := hex.EncodeToString(key[:])
	q := &quickProbes{conn: conn, secret: secret, magic: []byte(magicPrefix + secret + "."), buf: make([]byte, 0, 512)}
	for i := range q.slots {
		t := time.NewTimer(time.Hour)
		t.Stop()
		q.slots[i] = quickSlot{ans: make(chan struct{}, 1), t: t}
	}
	return q
}

// take reserves a slot for a probe to dest; nil when every slot is busy.
func (q *quickProbes) take(dest netip.AddrPort) *quickSlot {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.slots {
		s := &q.slots[i]
		if s.seq != 0 {
			continue
		}
		q.next++
		s.seq, s.from = q.next, unmapped(dest)
		select {
		case <-s.ans: // a signal its last probe left unread
		default:
		}
		return s
	}
	return nil
}

// release frees a slot: a later answer to its probe is no one's.
func (q *quickProbes) release(s *quickSlot) {
	s.t.Stop()
	q.mu.Lock()
	s.seq = 0
	q.mu.Unlock()
}

// answer is the path's socket reader asking whether a datagram from from
// is the answer to a quick probe under way (then it is consumed here and
// the probe hears of it). Anything else, a late answer included, goes on
// to sipgo as before.
func (q *quickProbes) answer(data []byte, from netip.AddrPort) bool {
	seq, ok := probeAnswer(data, q.magic)
	if !ok {
		return false
	}
	from = unmapped(from)
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.slots {
		s := &q.slots[i]
		if s.seq == seq && s.from == from {
			select {
			case s.ans <- struct{}{}:
			default: // a second answer (to a retransmission): the first counted
			}
			return true
		}
	}
	return false
}

// probeAnswer reports whether data is a SIP response whose branch is a
// quick probe's (it starts with magic) and returns the probe's number.
func probeAnswer(data, magic []byte) (uint64, bool) {
	// "SIP/2.0 200 ": a response, with a three-digit status.
	const status = len("SIP/2.0 200 ")
	if len(data) < status || !bytes.HasPrefix(data, []byte("SIP/2.0 ")) {
		return 0, false
	}
	for _, c := range data[8:11] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if data[11] != ' ' {
		return 0, false
	}
	i := bytes.Index(data[status:], magic)
	if i < 0 {
		return 0, false
	}
	rest := data[status+i+len(magic):]
	const digits = 16
	if len(rest) < digits {
		return 0, false
	}
	var seq uint64
	for _, c := range rest[:digits] {
		switch {
		case c >= '0' && c <= '9':
			seq = seq<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			seq = seq<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	if len(rest) > digits {
		switch rest[digits] {
		case ';', '\r', '\n', ',', ' ', '\t':
		default:
			return 0, false // a longer branch: not ours
		}
	}
	return seq, seq != 0
}

// quickRequest is what a quick probe's OPTIONS says.
type quickRequest struct {
	domain    string
	port      int        // the registrar's port in the Request-URI (0: none)
	local     netip.Addr // Via host and From host
	localPort int        // Via port: the path's SIP port
	userAgent string
}

// appendRequest writes probe seq's OPTIONS: the same request sipgo's probe
// sends (Via with the quick branch, a From tag and Call-ID unique to the
// probe, CSeq 1), so registrars answer both alike.
func (q *quickProbes) appendRequest(b []byte, r quickRequest, seq uint64) []byte {
	b = append(b, "OPTIONS sip:"...)
	b = appendHost(b, r.domain)
	if r.port > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(r.port), 10)
	}
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = netip.AddrPortFrom(r.local, uint16(r.localPort)).AppendTo(b)
	b = append(b, ";branch="...)
	b = append(b, q.magic...)
	b = appendSeq(b, seq)
	b = append(b, "\r\nFrom: <sip:critline@"...)
	if r.local.Is6() && !r.local.Is4In6() {
		b = append(b, '[')
		b = r.local.AppendTo(b)
		b = append(b, ']')
	} else {
		b = r.local.Unmap().AppendTo(b)
	}
	b = append(b, ">;tag="...)
	b = appendSeq(b, seq)
	b = append(b, "\r\nTo: <sip:"...)
	b = appendHost(b, r.domain)
	b = append(b, ">\r\nCall-ID: "...)
	b = append(b, q.secret...)
	b = append(b, '-')
	b = appendSeq(b, seq)
	b = append(b, "@critline\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: "...)
	b = append(b, r.userAgent...)
	b = append(b, "\r\nContent-Length: 0\r\n\r\n"...)
	return b
}

// appendSeq writes a probe's number as 16 hex digits.
func appendSeq(b []byte, seq uint64) []byte {
	const hexDigits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hexDigits[seq>>uint(i)&0xf])
	}
	return b
}

// appendHost writes a URI host, an IPv6 literal in brackets.
func appendHost(b []byte, host string) []byte {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		b = append(b, '[')
		b = a.AppendTo(b)
		return append(b, ']')
	}
	return append(b, host...)
}

// send writes probe seq's OPTIONS to dest from the path's socket.
func (q *quickProbes) send(p *pathStack, r quickRequest, seq uint64, dest netip.AddrPort) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.buf = q.appendRequest(q.buf[:0], r, seq)
	n, err := q.conn.WriteToUDPAddrPort(q.buf, dest)
	if n > 0 {
		p.countSIP(false, n)
	}
	return err
}

// quickProbe probes rp's registrar at dest with a quick probe: answered,
// the round-trip time from the first send, and whether a quick probe was
// possible at all (false: every slot is busy; use sipgo's).
func (u *UA) quickProbe(rp *regPath, q *quickProbes, dest netip.AddrPort) (ok bool, rtt time.Duration, done bool) {
	s := q.take(dest)
	if s == nil {
		return false, 0, false
	}
	defer q.release(s)
	r := rp.r
	req := quickRequest{domain: r.domain, port: r.port, local: rp.advertise(), localPort: rp.p.port, userAgent: u.cfg.UserAgent}
	start, t0 := u.clock.Now(), time.Now()
	wait := sip.T1
	for {
		if err := q.send(rp.p, req, s.seq, dest); err != nil {
			u.log.Debug("probe failed", "registrar", r.cfg.Name, "path", rp.p.cfg.Name, "err", err)
		}
		left := u.cfg.ProbeTimeout - time.Since(t0)
		if left <= 0 {
			return false, 0, true
		}
		s.t.Reset(min(wait, left))
		select {
		case <-s.ans:
			return true, u.clock.Now() - start, true
		case <-u.ctx.Done():
			return false, 0, true
		case <-s.t.C:
		}
		if time.Since(t0) >= u.cfg.ProbeTimeout {
			// The answer may have come with the timer: it counts.
			select {
			case <-s.ans:
				return true, u.clock.Now() - start, true
			default:
				return false, 0, true
			}
		}
		wait = min(2*wait, sip.T2)
	}
}

// unmapped is a v4-mapped IPv6 address port as plain IPv4.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
