package sip

import (
	"strconv"
	"testing"

	"github.com/critline/critline/internal/testenv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func itoa(i int) string { return strconv.Itoa(i) }

// value reads a gauge's or counter's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return -1
}

func missing(t testing.TB, why string) {
	t.Helper()
	testenv.Missing(t, why)
}
