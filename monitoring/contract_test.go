// Package monitoring_test checks critline's monitoring deliverables, which are
// data files rather than Go code: the Prometheus alerting rules (alerts.yml and
// their promtool unit tests), the Grafana dashboard, and that the live daemon's
// /metrics passes `promtool check metrics` and matches the metrics contract in docs/design.md.
package monitoring_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

type metricKind string

const (
	gauge     metricKind = "gauge"
	counter   metricKind = "counter"
	histogram metricKind = "histogram"
)

type metricSpec struct {
	kind   metricKind
	labels []string
}

// contract returns the metric names of the contract (docs/design.md) with
// their type and label names. Alerts and the dashboard may use only these (and
// Prometheus's own `up` in alerts); the live daemon must export them with these
// types and labels.
func contract() map[string]metricSpec {
	return map[string]metricSpec{
		"critline_build_info":            {gauge, []string{"version", "board"}},
		"critline_mode":                  {gauge, []string{"mode"}},
		"critline_mode_changes_total":    {counter, nil},
		"critline_power_mains":           {gauge, nil},
		"critline_power_battery_low":     {gauge, nil},
		"critline_lan_up":                {gauge, nil},
		"critline_registrar_up":          {gauge, []string{"registrar"}},
		"critline_registrar_rtt_seconds": {histogram, []string{"registrar"}},
		"critline_line_registered":       {gauge, []string{"port", "registrar"}},
		"critline_trunk_up":              {gauge, []string{"trunk"}},
		"critline_trunk_signal_dbm":      {gauge, []string{"trunk"}},
		"critline_port_offhook":          {gauge, []string{"port"}},
		"critline_port_parked":           {gauge, []string{"port"}},
		"critline_relay_bypass":          {gauge, []string{"port"}},
		"critline_calls_total":           {counter, []string{"port", "direction", "route", "result"}},
		"critline_call_setup_seconds":    {histogram, []string{"route"}},
		"critline_emergency_calls_total": {counter, []string{"route"}},
		"critline_forwarding_active":     {gauge, []string{"port"}},
		"critline_divert_active":         {gauge, []string{"port"}},
		"critline_forward_changes_total": {counter, []string{"via"}},
		"critline_pin_failures_total":    {counter, nil},
		"critline_remote_attempts_total": {counter, []string{"result"}},
		"critline_fraud_blocked_total":   {counter, []string{"reason"}},
		"critline_route_available":       {gauge, nil},
		// Issue 12: a call step of a port that stalled and was abandoned;
		// outbound INVITEs given up on (stage first-response or progress).
		"critline_port_wedged_total":         {counter, []string{"port"}},
		"critline_sip_invite_timeouts_total": {counter, []string{"registrar", "stage"}},
		// Issue 11: what a trunk can do, what is behind each relay, failed
		// emergency calls, load shedding.
		"critline_trunk_modem_up":               {gauge, []string{"trunk"}},
		"critline_trunk_emergency_up":           {gauge, []string{"trunk"}},
		"critline_emergency_route_available":    {gauge, nil},
		"critline_emergency_calls_failed_total": {counter, []string{"reason"}},
		"critline_port_copper":                  {gauge, []string{"port"}},
		"critline_power_shedding":               {gauge, nil},
		// Issue 11 points 5 and 6: the mobile network's services on trunk
		// calls, calls it sent on, calls that reached nobody.
		"critline_trunk_service_supported":      {gauge, []string{"trunk", "service"}},
		"critline_trunk_service_refusals_total": {counter, []string{"trunk", "service"}},
		"critline_trunk_diverts_total":          {counter, []string{"trunk", "method", "result"}},
		"critline_missed_calls_total":           {counter, []string{"trunk", "reason"}},
		// Issue 15: network paths to the registrars (the LAN, the modem's
		// data connection), each registrar's health over each, the data
		// each carried, the modem's data connection.
		"critline_path_up":                    {gauge, []string{"path"}},
		"critline_path_bytes_total":           {counter, []string{"path", "direction", "kind"}},
		"critline_registrar_path_up":          {gauge, []string{"registrar", "path"}},
		"critline_registrar_path_active":      {gauge, []string{"registrar", "path"}},
		"critline_registrar_path_rtt_seconds": {histogram, []string{"registrar", "path"}},
		"critline_trunk_data_up":              {gauge, []string{"trunk"}},
		// Issue 17: the path tests (test calls on each trunk and registrar,
		// the copper line behind each relay) and the battery record.
		"critline_path_test_last_success_timestamp_seconds": {gauge, []string{"path"}},
		"critline_path_test_since_timestamp_seconds":        {gauge, []string{"path"}},
		"critline_path_test_interval_seconds":               {gauge, []string{"path"}},
		"critline_path_test_consecutive_failures":           {gauge, []string{"path"}},
		"critline_path_tests_total":                         {counter, []string{"path", "result"}},
		"critline_path_test_setup_seconds":                  {histogram, []string{"path"}},
		"critline_battery_runs_total":                       {counter, []string{"ended_by"}},
		"critline_battery_last_run_seconds":                 {gauge, nil},
		"critline_battery_last_run_early":                   {gauge, nil},
		"critline_battery_expected_runtime_seconds":         {gauge, nil},
		// Issue 14: hunt groups' calls by result and by who answered.
		"critline_group_calls_total":    {counter, []string{"group", "result"}},
		"critline_group_answered_total": {counter, []string{"group", "member"}},
		// Issue 14 point 3: the flash-hook services and transfers.
		"critline_flash_services_total": {counter, []string{"port", "service"}},
		"critline_transfers_total":      {counter, []string{"port", "method", "result"}},
		// Issue 18: message waiting, a PBX refused at the TLS listener,
		// requests over a transport that is not trusted.
		"critline_message_waiting":                      {gauge, []string{"port"}},
		"critline_sip_tls_refused_total":                {counter, nil},
		"critline_sip_requests_transport_refused_total": {counter, []string{"transport"}},
	}
}

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = []string{"instance", "job"}

// seriesName maps a series name used in PromQL to the contract metric it
// belongs to: histograms are queried as name_bucket, name_sum and name_count.
func seriesName(allowed map[string]metricSpec, name string) (base string, spec metricSpec, err error) {
	if s, ok := allowed[name]; ok {
		if s.kind == histogram {
			return "", s, fmt.Errorf("%s is a histogram: query %s_bucket, _sum or _count", name, name)
		}
		return name, s, nil
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		b, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if s, ok := allowed[b]; ok && s.kind == histogram {
			if suf == "_bucket" {
				s.labels = append(slices.Clone(s.labels), "le")
			}
			return b, s, nil
		}
	}
	return "", metricSpec{}, fmt.Errorf("metric %s is not in the contract (typo, or add it to the contract in docs/design.md and contract_test.go)", name)
}

// checkRefs checks that an expression's metrics and labels are all known.
// It returns the contract names it uses.
func checkRefs(allowed map[string]metricSpec, r promRefs) ([]string, []error) {
	var used []string
	var errs []error
	all := map[string]bool{"le": true, "__name__": true}
	for _, l := range targetLabels {
		all[l] = true
	}
	for _, s := range allowed {
		for _, l := range s.labels {
			all[l] = true
		}
	}
	for name, labels := range r.metrics {
		base, spec, err := seriesName(allowed, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		used = append(used, base)
		for _, l := range labels {
			if l != "__name__" && !slices.Contains(spec.labels, l) && !slices.Contains(targetLabels, l) {
				errs = append(errs, fmt.Errorf("%s has no label %q (it has %s plus %s)", name, l,
					strings.Join(spec.labels, ", "), strings.Join(targetLabels, ", ")))
			}
		}
	}
	for _, l := range r.grouping {
		if !all[l] {
			errs = append(errs, fmt.Errorf("grouping by label %q, which no contract metric has", l))
		}
	}
	sort.Strings(used)
	return slices.Compact(used), errs
}
