package modem

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one trunk's children of the shared vectors. Several trunks
// register on the same registry: the second registration of a vector reuses
// the first.
type metrics struct {
	up          prometheus.Gauge
	modemUp     prometheus.Gauge
	emergencyUp prometheus.Gauge
	registered  prometheus.Gauge
	signal      prometheus.Gauge
	atOK        prometheus.Counter
	atError     prometheus.Counter
	atTimeout   prometheus.Counter
	atSeconds   prometheus.Observer
	reopens     *prometheus.CounterVec // by reason, curried with trunk
	stray       prometheus.Counter
	underruns   prometheus.Counter
	dropped     prometheus.Counter
	calls       *prometheus.CounterVec // by direction and result
	voiceStalls prometheus.Counter

	svcSupported *prometheus.GaugeVec   // by service, curried with trunk
	svcRefusals  *prometheus.CounterVec // by service, curried with trunk

	dataUp       prometheus.Gauge
	dataConnects *prometheus.CounterVec // by result, curried with trunk
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}

func newMetrics(reg prometheus.Registerer, trunk string) (*metrics, error) {
	gauge := func(name, help string) (*prometheus.GaugeVec, error) {
		return register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"trunk"}))
	}
	counter := func(name, help string, labels ...string) (*prometheus.CounterVec, error) {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"trunk"}, labels...)))
	}
	var errs []error
	must := func(err error) { errs = append(errs, err) }

	up, err := gauge("critline_trunk_up", "1 while the trunk can place an ordinary call: its modem answers and is registered on a network.")
	must(err)
	modemUp, err := gauge("critline_trunk_modem_up", "1 while the trunk's modem answers and is initialised (whatever the network).")
	must(err)
	emergUp, err := gauge("critline_trunk_emergency_up", "1 while the trunk can place an emergency call: registered, or in limited service (a network in reach that takes emergency calls only).")
	must(err)
	regd, err := gauge("critline_trunk_registered", "1 when the trunk is registered on the network (home or roaming).")
	must(err)
	sig, err := gauge("critline_trunk_signal_dbm", "Received signal strength from +CSQ, dBm; 0 when unknown.")
	must(err)
	at, err := counter("critline_trunk_at_commands_total", "AT commands by result (ok, error, timeout).", "result")
	must(err)
	hist, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "critline_trunk_at_seconds",
		Help:    "AT command round-trip time (answered commands only).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"trunk"}))
	must(err)
	reopen, err := counter("critline_trunk_reopens_total", "Times the modem port was closed and reopened, by reason (unplugged, wedged, init).", "reason")
	must(err)
	stray, err := counter("critline_trunk_stray_lines_total", "Lines from the modem that matched no command and no known report.")
	must(err)
	under, err := counter("critline_trunk_voice_underruns_total", "Voice frames played as silence because the modem sent none in time.")
	must(err)
	drop, err := counter("critline_trunk_voice_dropped_total", "Voice frames dropped because a buffer was full (either direction).")
	must(err)
	stalls, err := counter("critline_trunk_voice_stalls_total", "Connected calls on which the module sent no audio in time (voice was re-enabled).")
	must(err)
	calls, err := counter("critline_trunk_calls_total", "Calls on the trunk by direction (in, out) and result (answered, busy, no-answer, failed, missed, rejected, abandoned, deflected, transferred).", "direction", "result")
	must(err)
	svc, err := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_trunk_service_supported",
		Help: "1 while the trunk's network service (deflection, hold, transfer, call-waiting) is usable: the module has it and the network has not refused it since the last registration change.",
	}, []string{"trunk", "service"}))
	must(err)
	refusals, err := counter("critline_trunk_service_refusals_total", "Times the network refused a service (deflection, hold, transfer, call-waiting).", "service")
	must(err)
	dataUp, err := gauge("critline_trunk_data_up", "1 while the module reports its data connection (the board's second IP path) up; 0 when it is down or not dialled by critline.")
	must(err)
	dataConn, err := counter("critline_trunk_data_connects_total", "Data calls the trunk dialled, by result (ok: the module took the command; failed).", "result")
	must(err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &metrics{
		dataUp: dataUp.WithLabelValues(trunk), dataConnects: dataConn.MustCurryWith(prometheus.Labels{"trunk": trunk}),
		up: up.WithLabelValues(trunk), modemUp: modemUp.WithLabelValues(trunk), emergencyUp: emergUp.WithLabelValues(trunk), registered: regd.WithLabelValues(trunk), signal: sig.WithLabelValues(trunk),
		atOK: at.WithLabelValues(trunk, "ok"), atError: at.WithLabelValues(trunk, "error"), atTimeout: at.WithLabelValues(trunk, "timeout"),
		atSeconds: hist.WithLabelValues(trunk),
		reopens:   reopen.MustCurryWith(prometheus.Labels{"trunk": trunk}),
		stray:     stray.WithLabelValues(trunk), underruns: under.WithLabelValues(trunk), dropped: drop.WithLabelValues(trunk),
		calls:        calls.MustCurryWith(prometheus.Labels{"trunk": trunk}),
		voiceStalls:  stalls.WithLabelValues(trunk),
		svcSupported: svc.MustCurryWith(prometheus.Labels{"trunk": trunk}),
		svcRefusals:  refusals.MustCurryWith(prometheus.Labels{"trunk": trunk}),
	}, nil
}
