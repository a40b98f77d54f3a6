package sip

// The TLS listener and the transports requests are trusted on.
//
// Over UDP the only check on a request is its source address, which
// anyone on the LAN can forge: a forged INVITE rings a port with any
// caller ID, a forged NOTIFY lights the message lamp. Config.
// TrustedTransports narrows where requests are taken: with only "tls" (or
// "tcp" and "tls"), a request must come over a connection from a
// registrar's address (TLS: one whose handshake passed, with
// Config.TLSServer's client-certificate check when it has one). Responses
// to our own requests are taken on any transport.
//
// With Config.TLSListen the appliance holds a certificate and takes TLS
// connections from the registrars (others are closed before the
// handshake): the Contact of a TLS line names the listener, so the PBX can
// reach the line on a connection of its own when the registration's
// connection is gone.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// tlsHandshakeTimeout bounds a connecting peer's TLS handshake.
const tlsHandshakeTimeout = 5 * time.Second

// trusts reports whether requests are taken over transport tp (lower case).
func (u *UA) trusts(tp string) bool {
	if len(u.cfg.TrustedTransports) == 0 {
		return true
	}
	return slices.Contains(u.cfg.TrustedTransports, strings.ToLower(tp))
}

// isRequest reports whether a datagram starts a request (not a response).
func isRequest(data []byte) bool {
	return len(data) > 0 && !strings.HasPrefix(string(data[:min(len(data), 8)]), "SIP/2.0 ")
}

// tlsListener accepts TLS connections from the registrars: others are
// closed before the handshake, handshakes happen off the accept loop with
// a deadline, and only connections whose handshake passed (and, with
// client certificates required, whose certificate verified) reach sipgo.
type tlsListener struct {
	u      *UA
	ln     net.Listener
	conf   *tls.Config
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	closed error
}

func (u *UA) listenTLS() (*tlsListener, error) {
	if u.cfg.TLSListen == "" {
		return nil, nil
	}
	if u.cfg.TLSServer == nil || len(u.cfg.TLSServer.Certificates) == 0 && u.cfg.TLSServer.GetCertificate == nil {
		return nil, errors.New("sip: tls listen needs a certificate and key ([sip] tls_certificate, tls_key)")
	}
	ln, err := net.Listen("tcp", u.cfg.TLSListen)
	if err != nil {
		return nil, fmt.Errorf("sip: listen tls %s: %w", u.cfg.TLSListen, err)
	}
	t := &tlsListener{u: u, ln: ln, conf: u.cfg.TLSServer, conns: make(chan net.Conn), done: make(chan struct{})}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

func (t *tlsListener) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			t.close(err)
			return
		}
		ip := netip.Addr{}
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = a.AddrPort().Addr().Unmap()
		}
		if _, ok := (*t.u.allowed.Load())[ip]; !ok || !ip.IsValid() {
			t.u.m.untrustedDropped.Inc()
			c.Close()
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			tc := tls.Server(c, t.conf)
			ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
			err := tc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				t.u.m.tlsRefused.Inc()
				t.u.log.Warn("TLS connection from a registrar's address refused", "peer", c.RemoteAddr().String(), "err", err)
				c.Close()
				return
			}
			select {
			case t.conns <- tc:
			case <-t.done:
				tc.Close()
			}
		}()
	}
}

func (t *tlsListener) close(err error) {
	t.once.Do(func() {
		t.closed = err
		close(t.done)
	})
}

// Accept implements net.Listener for sipgo's TLS transport.
func (t *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-t.conns:
		return c, nil
	case <-t.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (t *tlsListener) Close() error {
	err := t.ln.Close()
	t.close(net.ErrClosed)
	return err
}

// Addr implements net.Listener.
func (t *tlsListener) Addr() net.Addr { return t.ln.Addr() }

// tlsPort is the TLS listener's port, 0 without one.
func (u *UA) tlsPort() int {
	if u.tlsLn == nil {
		return 0
	}
	if a, ok := u.tlsLn.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// TLSAddr is the TLS listener's address (useful with port 0).
func (u *UA) TLSAddr() netip.AddrPort {
	if u.tlsLn == nil {
		return netip.AddrPort{}
	}
	return u.tlsLn.Addr().(*net.TCPAddr).AddrPort()
}

// serveTLS runs sipgo's TLS transport on the listener.
func (u *UA) serveTLS() {
	if u.tlsLn == nil {
		return
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		err := u.srv.ServeTLS(u.tlsLn)
		if !u.closed.Load() {
			u.log.Error("sip tls listener stopped", "err", err)
		}
	}()
	u.log.Info("sip listening", "tls", u.tlsLn.Addr().String(), "client_certificates", u.cfg.TLSServer.ClientAuth == tls.RequireAndVerifyClientCert)
}

// closeTLS stops the listener and its handshakes.
func (u *UA) closeTLS() {
	if u.tlsLn != nil {
		u.tlsLn.Close()
		u.tlsLn.wg.Wait()
	}
}

// filterTransport applies TrustedTransports and notes keep-alive pongs,
// for data from a registrar's address (the read filter).
func (u *UA) filterTransport(p sip.TransportReadProps, data []byte) ([]byte, error) {
	tp := strings.ToLower(p.Transport)
	if tp != "udp" {
		if isPong(data) {
			if a, ok := p.RemoteAddr.(*net.TCPAddr); ok {
				ap := a.AddrPort()
				u.ka.pong(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
			}
		}
		if !u.trusts(tp) {
			// A stream the registrars are not configured to use.
			u.m.transportRefused.WithLabelValues(tp).Inc()
			return nil, fmt.Errorf("requests over %s are not trusted ([sip] trusted_transports)", tp)
		}
		return data, nil
	}
	if !u.trusts("udp") && isRequest(data) {
		u.m.transportRefused.WithLabelValues("udp").Inc()
		return nil, nil // dropped: over UDP the address may be forged
	}
	return data, nil
}
