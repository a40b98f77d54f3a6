package survivability

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the appliance-level series of the metrics contract (docs/design.md).
type metrics struct {
	buildInfo    *prometheus.GaugeVec
	mode         *prometheus.GaugeVec
	modeChanges  prometheus.Counter
	mains        prometheus.Gauge
	batteryLow   prometheus.Gauge
	lanUp        prometheus.Gauge
	offhook      *prometheus.GaugeVec
	relayBypass  *prometheus.GaugeVec
	parked       *prometheus.GaugeVec
	routes       prometheus.Gauge
	calls        *prometheus.CounterVec
	emergency    *prometheus.CounterVec
	setup        *prometheus.HistogramVec
	divertActive *prometheus.GaugeVec
	diverts      *prometheus.CounterVec

	emergencyFailed *prometheus.CounterVec
	emergencyRoutes prometheus.Gauge
	copper          *prometheus.GaugeVec
	shedding        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_build_info", Help: "Always 1; labels carry the daemon's version and board kind.",
		}, []string{"version", "board"}),
		mode: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_mode", Help: "1 for the appliance's current mode, 0 for the others.",
		}, []string{"mode"}),
		modeChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "critline_mode_changes_total", Help: "Changes of the appliance's mode.",
		}),
		mains: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "critline_power_mains", Help: "1 when mains power is present, 0 on battery.",
		}),
		batteryLow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "critline_power_battery_low", Help: "1 when the UPS reports its battery low.",
		}),
		lanUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "critline_lan_up", Help: "1 when the LAN link is up.",
		}),
		offhook: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_port_offhook", Help: "1 while the port's handset is off-hook.",
		}, []string{"port"}),
		relayBypass: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "critline_relay_bypass", Help: "1 while the port's lifeline relay puts the handset on the PSTN line.",
		}, []string{"port"}),
	}
	m.parked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_port_parked", Help: "1 while the port's handset is left off-hook and the port has given up on it (parked).",
	}, []string{"port"})
	m.routes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "critline_route_available", Help: "Routes that can carry an ordinary call: registrars usable plus trunks that can call (modem up and registered). 0 means no ordinary call can leave the appliance.",
	})
	m.emergencyRoutes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "critline_emergency_route_available", Help: "Routes that can carry an emergency call: registrars usable plus trunks registered or in limited service. 0 means an emergency call can leave only by a copper line behind a relay, where there is one.",
	})
	m.emergencyFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_emergency_calls_failed_total", Help: "Emergency calls that could not be placed, by reason (no-route: no rung at all; every-route-failed: every rung was tried and failed).",
	}, []string{"reason"})
	m.copper = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_port_copper", Help: "1 when a copper PSTN line is wired behind the port's lifeline relay ([[port]] behind_relay = \"copper\"); 0: bypass is no route for this port.",
	}, []string{"port"})
	m.shedding = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "critline_power_shedding", Help: "1 while the battery is low and the appliance keeps serving calls on the board (ports without a copper line), shedding what calls do not need.",
	})
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_calls_total", Help: "Call attempts by port, direction (in, out), route (registrar or trunk name) and result.",
	}, []string{"port", "direction", "route", "result"})
	m.emergency = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_emergency_calls_total", Help: "Emergency calls placed, by the route that carried them.",
	}, []string{"route"})
	m.setup = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "critline_call_setup_seconds",
		Help:    "Time from the last digit to the far end ringing or answering, by route; includes failed rungs tried first.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15},
	}, []string{"route"})
	m.divertActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "critline_divert_active", Help: "1 while the port's handset cannot be reached and its inbound calls are diverted.",
	}, []string{"port"})
	m.diverts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "critline_diverts_total", Help: "Inbound calls diverted, by port and reason (left-off-hook, bypass, no-answer).",
	}, []string{"port", "reason"})
	for _, c := range []prometheus.Collector{m.emergencyFailed, m.emergencyRoutes, m.copper, m.shedding, m.divertActive, m.diverts, m.buildInfo, m.mode, m.modeChanges, m.mains, m.batteryLow, m.lanUp, m.offhook, m.relayBypass, m.parked, m.routes, m.calls, m.emergency, m.setup} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) setMode(cur Mode) {
	for _, md := range Modes() {
		v := 0.0
		if md == cur {
			v = 1
		}
		m.mode.WithLabelValues(string(md)).Set(v)
	}
}

func portLabel(id int) string { return strconv.Itoa(id) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
