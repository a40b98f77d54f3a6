package sip

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	registrarUp      *prometheus.GaugeVec
	registrarRTT     *prometheus.HistogramVec
	registrarProbes  *prometheus.CounterVec
	registrarBursts  *prometheus.CounterVec
	lineRegistered   *prometheus.GaugeVec
	untrustedDropped prometheus.Counter
	requestsRejected *prometheus.CounterVec
	inviteToRing     prometheus.Histogram
	callLoss         *prometheus.HistogramVec
	callJitter       *prometheus.HistogramVec
	rtpLost          *prometheus.CounterVec
	inviteTimeouts   *prometheus.CounterVec
	lateAnswers      *prometheus.CounterVec
	ackTimeouts      prometheus.Counter
	leftoversEnded   prometheus.Counter
	dialectMetrics   // metrics_dialects.go
	pathUp           *prometheus.GaugeVec
	pathActive       *prometheus.GaugeVec
	pathRTT          *prometheus.HistogramVec
	pathProbes       *prometheus.CounterVec
	pathLinkUp       *prometheus.GaugeVec
	pathBytes        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		registrarUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_registrar_up", Help: "1 when the registrar answers OPTIONS probes (with hysteresis), else 0.",
		}, []string{"registrar"}),
		registrarRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "critline_registrar_rtt_seconds", Help: "Round-trip time of answered OPTIONS probes.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"registrar"}),
		registrarProbes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_registrar_probes_total", Help: "OPTIONS probes sent, by result (answered, lost).",
		}, []string{"registrar", "result"}),
		registrarBursts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_registrar_probe_bursts_total",
			Help: "Probe bursts sent to a registrar that left a probe or an INVITE unanswered for a few of its round-trip times, by verdict: alive (it answered) or silent (it was taken down).",
		}, []string{"registrar", "verdict"}),
		lineRegistered: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_line_registered", Help: "1 when the port's line is registered with the registrar.",
		}, []string{"port", "registrar"}),
		untrustedDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_sip_untrusted_dropped_total", Help: "SIP packets dropped because they came from an address that is not a configured registrar.",
		}),
		requestsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_requests_rejected_total", Help: "Requests from registrars refused, by status code.",
		}, []string{"code"}),
		inviteToRing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "critline_sip_invite_to_router_seconds", Help: "Time from an INVITE's arrival to the router being asked to ring.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		callLoss: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "critline_call_rtp_loss_ratio", Help: "Per call: fraction of the peer's RTP packets lost.",
			Buckets: []float64{0, .001, .005, .01, .02, .05, .1, .2},
		}, []string{"port"}),
		callJitter: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "critline_call_rtp_jitter_seconds", Help: "Per call: RFC 3550 interarrival jitter at the call's end.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .04, .08, .16},
		}, []string{"port"}),
		rtpLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_rtp_packets_lost_total", Help: "RTP packets from peers lost, summed over calls.",
		}, []string{"port"}),
		inviteTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_invite_timeouts_total",
			Help: "Outbound INVITEs given up on, by stage: first-response (no answer at all) or progress (100 Trying and then nothing); the call moved to the next route.",
		}, []string{"registrar", "stage"}),
		lateAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_sip_late_answers_total",
			Help: "2xx answers to INVITEs already given up on (or forked second answers), ACKed and ended with BYE so the far end is not left in a call.",
		}, []string{"registrar"}),
		ackTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_sip_ack_timeouts_total", Help: "Answered inbound calls whose 2xx was never ACKed, ended with BYE.",
		}),
		leftoversEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_sip_leftover_dialogs_ended_total", Help: "Calls a previous run left up (it was killed in a call) ended with BYE at start.",
		}),
		pathUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_registrar_path_up", Help: "1 when the registrar answers OPTIONS probes over the network path (with hysteresis; a verdict held while the path's data session comes back counts), else 0.",
		}, []string{"registrar", "path"}),
		pathActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_registrar_path_active", Help: "1 for the network path the registrar is reached by now (its lines register and its calls go over it).",
		}, []string{"registrar", "path"}),
		pathRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "critline_registrar_path_rtt_seconds", Help: "Round-trip time of answered OPTIONS probes, per network path.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"registrar", "path"}),
		pathProbes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_registrar_path_probes_total", Help: "OPTIONS probes sent over each network path, by result (answered, lost).",
		}, []string{"registrar", "path", "result"}),
		pathLinkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_up", Help: "1 while the network path's interface is up with an address (and, for a modem's data connection, its bearer is connected), else 0; a path critline does not watch (no data connection configured) reads 1.",
		}, []string{"path"}),
		pathBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_path_bytes_total", Help: "Bytes on the wire (IP and UDP headers included) carried over each network path, by direction (in, out) and kind (sip: UDP signalling and keep-alives; rtp: call media).",
		}, []string{"path", "direction", "kind"}),
		dialectMetrics: newDialectMetrics(),
	}
	for _, c := range append(m.dialectMetrics.collectors(), m.registrarUp, m.registrarRTT, m.registrarProbes, m.registrarBursts, m.lineRegistered,
		m.untrustedDropped, m.requestsRejected, m.inviteToRing, m.callLoss, m.callJitter, m.rtpLost,
		m.inviteTimeouts, m.lateAnswers, m.ackTimeouts, m.leftoversEnded,
		m.pathUp, m.pathActive, m.pathRTT, m.pathProbes, m.pathLinkUp, m.pathBytes) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
