package main

import (
	"crypto/tls"
	"fmt"

	"github.com/critline/critline/config"
	"github.com/critline/critline/sip"
)

// sipTLS maps [sip]'s TLS keys: the client side towards registrars with
// transport "tls" (their CAs, our certificate if we have one) and the
// listener's (our certificate, the client-certificate check).
func sipTLS(cfg *config.Config, sc *sip.Config) error {
	s := cfg.SIP
	var certs []tls.Certificate
	if s.TLSCertificate != "" {
		c, err := tls.LoadX509KeyPair(s.TLSCertificate, s.TLSKey)
		if err != nil {
			return fmt.Errorf("sip.tls_certificate: %w", err)
		}
		certs = []tls.Certificate{c}
	}
	client := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if s.TLSCA != "" {
		pool, err := config.LoadCertPool(s.TLSCA)
		if err != nil {
			return fmt.Errorf("sip.tls_ca: %w", err)
		}
		client.RootCAs = pool
	}
	sc.TLS = client
	if s.TLSListen == "" {
		return nil
	}
	server := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if s.TLSClientCA != "" {
		pool, err := config.LoadCertPool(s.TLSClientCA)
		if err != nil {
			return fmt.Errorf("sip.tls_client_ca: %w", err)
		}
		server.ClientAuth, server.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	sc.TLSListen, sc.TLSServer = s.TLSListen, server
	return nil
}
