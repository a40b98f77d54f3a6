package main

import (
	"fmt"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/configcheck"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// policyConfigs maps [survivability.guard], [survivability.forwarding] and
// the ports' PINs onto the guard's and forwarding's settings, checked (by
// configcheck, as --check-config and critlinectl config check do).
func policyConfigs(cfg *config.Config) (guard.Config, forwarding.Config, error) {
	g, f, err := configcheck.Policies(cfg)
	if err != nil {
		return g, f, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return g, f, nil
}

// openPolicies builds the toll-fraud guard and the forwarding manager with
// their state files. serves are the ports whose calls the mirror's SIM
// receives (see forwarding.Options.NetworkPorts).
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
