package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/critline/critline/config"
	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/configcheck"
	"github.com/critline/critline/survivability"
	"github.com/critline/critline/survivability/battery"
	"github.com/critline/critline/survivability/pathtest"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// pathTestPaths lists what the path tests prove: each trunk with a
// test_number, each registrar with a test_extension, each port with copper
// behind its relay.
func pathTestPaths(cfg *config.Config) []pathtest.Path {
	var out []pathtest.Path
	for _, t := range cfg.Trunks {
		if t.TestNumber != "" {
			out = append(out, pathtest.Path{Kind: pathtest.KindTrunk, Name: t.Name, Number: t.TestNumber, Expect: t.TestExpect, ToneHz: float64(t.TestToneHz)})
		}
	}
	for _, r := range cfg.SIP.Registrars {
		if r.TestExtension != "" {
			out = append(out, pathtest.Path{Kind: pathtest.KindRegistrar, Name: r.Name, Number: r.TestExtension, Expect: r.TestExpect, ToneHz: float64(r.TestToneHz)})
		}
	}
	for _, p := range cfg.Ports {
		if p.BehindRelay == "copper" {
			out = append(out, pathtest.Path{Kind: pathtest.KindCopper, Port: p.ID})
		}
	}
	return out
}

// openPathTests builds the path tests' schedule and results.
func openPathTests(cfg *config.Config, app *survivability.Appliance, reg prometheus.Registerer, log *slog.Logger) (*pathtest.Tester, error) {
	pc, err := configcheck.PathTests(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	st, err := store.Open(cfg.State.Dir, "pathtests", log)
	if err != nil {
		return nil, err
	}
	return pathtest.New(pathtest.Options{Config: pc, Paths: pathTestPaths(cfg), Appliance: app, Store: st, Registerer: reg, Logger: log})
}

// openBattery builds the battery record.
func openBattery(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (*battery.Recorder, error) {
	st, err := store.Open(cfg.State.Dir, "battery", log)
	if err != nil {
		return nil, err
	}
	return battery.New(battery.Options{Expected: cfg.Board.BatteryRuntime.Duration, Store: st, Registerer: reg, Logger: log})
}

// applianceAPI is what the control socket serves: the appliance, plus the
// path tests and the battery record in its status.
type applianceAPI struct {
	*survivability.Appliance
	tests   *pathtest.Tester
	battery *battery.Recorder
}

// Status adds the path tests and the battery record to the appliance's.
func (x applianceAPI) Status() control.Status {
	s := x.Appliance.Status()
	s.PathTests = x.tests.Status()
	s.Battery = x.battery.Status()
	return s
}

// TestPaths runs the path tests now: the commissioning report.
func (x applianceAPI) TestPaths(ctx context.Context, req control.PathTestRequest) (control.PathReport, error) {
	host, _ := os.Hostname()
	v := x.Appliance.Version()
	rep := control.PathReport{Host: host, Version: v.Version, Board: v.Board, At: time.Now()}
	if len(x.tests.Paths()) == 0 {
		rep.Paths = []control.PathTest{}
		return rep, nil
	}
	rows, err := x.tests.RunNow(ctx, req.Paths)
	if err != nil {
		return rep, fmt.Errorf("%w: %w", control.ErrNotFound, err)
	}
	rep.Paths = rows
	return rep, nil
}

var _ control.PathTester = applianceAPI{}

// simTestLine gives a simulated trunk's network a test line at the
// trunk's test_number: a 1004 Hz tone (or the configured tone) for the
// audio and tone checks, a loop-back for echo and DTMF. `critlinectl sim
// trunk responder NUMBER off` takes it away.
func simTestLine(ctl simTrunk, t config.Trunk, log *slog.Logger) {
	if t.TestNumber == "" {
		return
	}
	args := []string{"responder", t.TestNumber, "tone"}
	switch t.TestExpect {
	case pathtest.ExpectEcho, pathtest.ExpectDTMF:
		args = []string{"responder", t.TestNumber, "echo"}
	default:
		if t.TestToneHz != 0 {
			args = append(args, strconv.Itoa(t.TestToneHz))
		}
	}
	if out, err := ctl.Control(args); err != nil {
		log.Warn("simulated trunk: no test line at the test number", "trunk", t.Name, "err", err)
	} else {
		log.Debug("simulated trunk: test line", "trunk", t.Name, "line", out)
	}
}
