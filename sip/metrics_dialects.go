package sip

import "github.com/prometheus/client_golang/prometheus"

// dialectMetrics count what the PBX dialects, message waiting and
// encrypted lines bring (issue 18).
type dialectMetrics struct {
	sessionsExpired   prometheus.Counter
	mwiNotifies       *prometheus.CounterVec
	transportRefused  *prometheus.CounterVec
	keepaliveFailures *prometheus.CounterVec
	srtpFailures      *prometheus.CounterVec
	tlsRefused        prometheus.Counter
}

func newDialectMetrics() dialectMetrics {
	return dialectMetrics{
		sessionsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_sip_session_expired_total",
			Help: "Calls ended because their session timer ran out or its refresh failed (RFC 4028): the far end had gone.",
		}),
		mwiNotifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_mwi_notifies_total",
			Help: "message-summary NOTIFYs taken, by kind: subscribed (in a subscription of ours) or unsolicited.",
		}, []string{"registrar", "kind"}),
		transportRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_requests_transport_refused_total",
			Help: "Requests from a registrar's address refused because they came over a transport [sip] trusted_transports does not list (over UDP the source address can be forged).",
		}, []string{"transport"}),
		keepaliveFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_keepalive_failures_total",
			Help: "RFC 5626 keep-alives on a connection to a registrar that got no answer: the connection was closed and the lines registered again.",
		}, []string{"registrar"}),
		tlsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_sip_tls_refused_total",
			Help: "TLS connections from a registrar's address to the TLS listener refused: the handshake failed (no client certificate, one the configured CA did not sign, a bad protocol version).",
		}),
		srtpFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_srtp_packets_rejected_total",
			Help: "SRTP packets from peers that failed authentication or were replays, summed over calls.",
		}, []string{"port"}),
	}
}

func (d dialectMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{d.sessionsExpired, d.mwiNotifies, d.transportRefused, d.keepaliveFailures, d.srtpFailures, d.tlsRefused}
}

// initDialects creates a registrar's series before their first event.
func (m *metrics) initDialects(r Registrar) {
	m.mwiNotifies.WithLabelValues(r.Name, "subscribed")
	m.mwiNotifies.WithLabelValues(r.Name, "unsolicited")
	m.keepaliveFailures.WithLabelValues(r.Name)
	for _, tp := range []string{"udp", "tcp", "tls"} {
		m.transportRefused.WithLabelValues(tp)
	}
}
