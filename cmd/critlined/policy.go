package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// policyConfigs maps [survivability.guard], [survivability.forwarding] and
// the ports' PINs onto the guard's and forwarding's settings, checked.
func policyConfigs(cfg *config.Config) (guard.Config, forwarding.Config, error) {
	var g guard.Config
	var f forwarding.Config
	var errs []error
	if err := cfg.Survivability.Guard.Decode("survivability.guard", &g); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Survivability.Forwarding.Decode("survivability.forwarding", &f); err != nil {
		errs = append(errs, err)
	}
	if len(g.Emergency) == 0 {
		g.Emergency = cfg.Survivability.Emergency
	}
	g.Profile = cfg.Board.Profile
	for _, p := range cfg.Ports {
		f.Ports = append(f.Ports, forwarding.Port{ID: p.ID, Extension: p.Extension, PIN: p.PIN, PINHash: p.PINHash, Mirror: p.ForwardMirror})
		f.OwnNumbers = append(f.OwnNumbers, p.Extension)
	}
	for _, t := range cfg.Trunks {
		if t.Number != "" {
			f.OwnNumbers = append(f.OwnNumbers, t.Number)
		}
	}
	if err := g.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := f.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return g, f, fmt.Errorf("%s: %w", cfg.Path, errors.Join(errs...))
	}
	return g, f, nil
}

// openPolicies builds the toll-fraud guard and the forwarding manager with
// their state files.
func openPolicies(cfg *config.Config, clock hal.Clock, reg prometheus.Registerer, log *slog.Logger, mirror forwarding.NetworkForwarder, serves []int) (*guard.Guard, *forwarding.Manager, error) {
	gc, fc, err := policyConfigs(cfg)
	if err != nil {
		return nil, nil, err
	}
	gs, err := store.Open(cfg.State.Dir, "guard", log)
	if err != nil {
		return nil, nil, err
	}
	g, err := guard.New(gc, guard.Options{Store: gs, Log: log.With("component", "guard"), Registerer: reg})
	if err != nil {
		return nil, nil, err
	}
	fs, err := store.Open(cfg.State.Dir, "forwarding", log)
	if err != nil {
		return nil, nil, err
	}
	fo := forwarding.Options{Guard: g, Store: fs, Clock: clock, Log: log, Registerer: reg}
	if mirror != nil {
		fo.Network, fo.NetworkPorts = mirror, serves
	}
	f, err := forwarding.New(fc, fo)
	if err != nil {
		return nil, nil, err
	}
	return g, f, nil
}
