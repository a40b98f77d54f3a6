package pathtest

import (
	"time"

	"github.com/critline/critline/control"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the path tests' series (docs/design.md).
type metrics struct {
	lastSuccess *prometheus.GaugeVec
	since       *prometheus.GaugeVec
	interval    *prometheus.GaugeVec
	failures    *prometheus.GaugeVec
	tests       *prometheus.CounterVec
	setup       *prometheus.HistogramVec
	audio       *prometheus.GaugeVec
	postponed   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_test_last_success_timestamp_seconds",
			Help: "When the path last passed its test (Unix time); 0 if it never has.",
		}, []string{"path"}),
		since: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_test_since_timestamp_seconds",
			Help: "When the appliance began testing the path (Unix time): a path never proven is overdue from here.",
		}, []string{"path"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_test_interval_seconds",
			Help: "How often the path is tested; absent for a path the board cannot test.",
		}, []string{"path"}),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_test_consecutive_failures",
			Help: "Failed tests of the path since it last passed (2: the test and its retry failed).",
		}, []string{"path"}),
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_path_tests_total",
			Help: "Path tests by path and result (ok, failed, cannot-test, skipped).",
		}, []string{"path", "result"}),
		setup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "critline_path_test_setup_seconds",
			Help:    "Time from dialling a test call to the far end's answer.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 20},
		}, []string{"path"}),
		audio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_path_test_audio_dbm0",
			Help: "Level of the far end's audio in the path's last test call that heard any (dBm0).",
		}, []string{"path"}),
		postponed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "critline_path_tests_postponed_total",
			Help: "Due path tests that waited: reason in-use (a porter busy) or daily-cap.",
		}, []string{"path", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.lastSuccess, m.since, m.interval, m.failures, m.tests, m.setup, m.audio, m.postponed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// init creates a path's series from its saved state.
func (m *metrics) init(p Path, ps *pathState, interval time.Duration, testable bool) {
	id := p.ID()
	m.lastSuccess.WithLabelValues(id).Set(unix(ps.LastSuccess))
	m.since.WithLabelValues(id).Set(unix(ps.Since))
	m.failures.WithLabelValues(id).Set(float64(ps.Failures))
	if testable && (ps.Last == nil || ps.Last.Result != ResultCannotTest) {
		m.interval.WithLabelValues(id).Set(interval.Seconds())
	}
	for _, r := range Results {
		m.tests.WithLabelValues(id, r)
	}
	if p.call() {
		m.setup.WithLabelValues(id)
		if ps.Last != nil && ps.Last.AudioDBm0 != nil {
			m.audio.WithLabelValues(id).Set(*ps.Last.AudioDBm0)
		}
	}
	for _, r := range []string{"in-use", "daily-cap"} {
		m.postponed.WithLabelValues(id, r)
	}
}

// book counts a test.
func (m *metrics) book(p Path, r control.PathTest, ps pathState, setup time.Duration) {
	id := p.ID()
	m.tests.WithLabelValues(id, r.Result).Inc()
	m.lastSuccess.WithLabelValues(id).Set(unix(ps.LastSuccess))
	m.failures.WithLabelValues(id).Set(float64(ps.Failures))
	if r.Result == ResultCannotTest {
		m.interval.DeleteLabelValues(id) // never provable here: no "not proven" alert
	}
	if setup > 0 {
		m.setup.WithLabelValues(id).Observe(setup.Seconds())
	}
	if r.AudioDBm0 != nil {
		m.audio.WithLabelValues(id).Set(*r.AudioDBm0)
	}
}
