package sip

// Keep-alives on the connections to the registrars (RFC 5626 4.4.1): a
// double CRLF ("ping") every Config.KeepAlive on each TCP or TLS
// connection, answered by a single CRLF ("pong"). A connection whose pong
// does not come within 10 s is dead even if the kernel does not know it
// yet (a NAT or a firewall dropped it, the PBX froze): it is closed, the
// next probe opens a new one, and the lines register again over it.
//
// UDP paths through a carrier NAT have their own CRLF keep-alive per path
// (paths.go keepAliveLoop); this one pings the connection of the path in
// use, on that path's stack.

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// pongTimeout is RFC 5626's wait for a pong.
const pongTimeout = 10 * time.Second

// keepAlive is the pong bookkeeping of the registrars' connections.
type keepAlive struct {
	mu      sync.Mutex
	waiting map[netip.AddrPort]chan struct{} // by the connection's remote address
}

// pong notes a pong on the connection from ap (the read filter).
func (k *keepAlive) pong(ap netip.AddrPort) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ch, ok := k.waiting[ap]; ok {
		delete(k.waiting, ap)
		close(ch)
	}
}

func (k *keepAlive) expect(ap netip.AddrPort) chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.waiting == nil {
		k.waiting = map[netip.AddrPort]chan struct{}{}
	}
	ch := make(chan struct{})
	k.waiting[ap] = ch
	return ch
}

func (k *keepAlive) forget(ap netip.AddrPort) {
	k.mu.Lock()
	delete(k.waiting, ap)
	k.mu.Unlock()
}

// isPong reports a lone CRLF read from a stream (RFC 5626 3.5.1).
func isPong(data []byte) bool { return bytes.Equal(data, []byte("\r\n")) }

// startKeepAlives runs a keep-alive loop per connection-oriented
// registrar.
func (u *UA) startKeepAlives() {
	if u.cfg.KeepAlive <= 0 {
		return
	}
	for _, r := range u.regs {
		if r.tp == "UDP" {
			continue
		}
		u.wg.Add(1)
		go u.connKeepAliveLoop(r)
	}
}

func (u *UA) connKeepAliveLoop(r *registrar) {
	defer u.wg.Done()
	t := time.NewTicker(u.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		u.sendKeepAlive(r)
	}
}

// sendKeepAlive pings the registrar's live connection and waits for the
// pong; a connection without one is closed.
func (u *UA) sendKeepAlive(r *registrar) {
	dest, _, ok := r.destination()
	if !ok || r.tp == "UDP" {
		return // UDP: no connection to keep (NAT keep-alives: paths.go)
	}
	p := r.current().p
	if p.ua == nil {
		return
	}
	c, err := p.ua.TransportLayer().GetConnection(lower(r.tp), dest)
	if err != nil || c == nil {
		return // none open: the next request opens one
	}
	tc, ok := c.(*sip.TCPConnection)
	if !ok {
		return
	}
	ap, err := netip.ParseAddrPort(tc.RemoteAddr().String())
	if err != nil {
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	pong := u.ka.expect(ap)
	var w io.Writer = tc.Conn
	if err := tc.Conn.SetWriteDeadline(time.Now().Add(pongTimeout)); err == nil {
		_, err = w.Write([]byte("\r\n\r\n"))
		tc.Conn.SetWriteDeadline(time.Time{})
		if err != nil {
			u.ka.forget(ap)
			u.keepAliveFailed(r, tc, "ping not sent: "+err.Error())
			return
		}
	}
	timer := time.NewTimer(pongTimeout)
	defer timer.Stop()
	select {
	case <-pong:
		u.log.Debug("keep-alive pong", "registrar", r.cfg.Name)
	case <-timer.C:
		u.ka.forget(ap)
		u.keepAliveFailed(r, tc, "no pong within 10 s")
	case <-u.ctx.Done():
		u.ka.forget(ap)
	}
}

// keepAliveFailed closes a dead connection; the lines bound over it
// register again over the next one (register.go re-binds when the
// connection changes).
func (u *UA) keepAliveFailed(r *registrar, c net.Conn, why string) {
	u.m.keepaliveFailures.WithLabelValues(r.cfg.Name).Inc()
	u.log.Warn("connection to the registrar is dead: closing it; the lines register again over a new one", "registrar", r.cfg.Name, "why", why)
	c.Close()
	for _, l := range u.lines {
		l.poke(r.idx, false)
	}
}
