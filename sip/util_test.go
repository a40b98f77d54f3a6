package sip

import (
	"fmt"
	"strconv"
	"testing"
	"time"

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

// waitLineRegistered waits for critline_line_registered{port,registrar}
// to read want. The gauge follows a binding after the line's lock is
// released (publishBinding), so it is waited for, not read once.
func (tu *testUA) waitLineRegistered(t testing.TB, port int, registrar string, want float64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("critline_line_registered{port=%d,registrar=%s} = %v", port, registrar, want), func() bool {
		return value(tu.m.lineRegistered.WithLabelValues(itoa(port), registrar)) == want
	})
}

func missing(t testing.TB, why string) {
	t.Helper()
	testenv.Missing(t, why)
}
