package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/modem"
	"github.com/critline/critline/survivability"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/prometheus/client_golang/prometheus"
)

// openTrunks opens every configured trunk. A modem that is absent or silent
// is not an error: its trunk starts down and comes up when the modem answers.
// A sim trunk first starts the modem simulator on a pty, then drives it
// through the same serial code as a real modem.
func openTrunks(cfg *config.Config, b *board, reg prometheus.Registerer, log *slog.Logger) error {
	for _, t := range cfg.Trunks {
		mc := modem.Config{
			Name:       t.Name,
			Device:     t.Device,
			PCM:        t.PCM,
			Variant:    modem.Variant(t.Variant),
			Baud:       t.Baud,
			Logger:     log.With("component", "modem"),
			Registerer: reg,
			Clock:      b.clock,

			DataInterface: t.DataInterface,
			DataBearer:    t.DataBearer,
			APN:           t.APN,
		}
		if t.Kind == "sim" {
			if b.sim == nil {
				return fmt.Errorf("trunk %s: kind sim needs the sim board (board.kind = \"sim\")", t.Name)
			}
			dir := filepath.Join(filepath.Dir(cfg.Control.Socket), "modemsim")
			at, pcm, ctl, closeSim, err := startModemSim(dir, t.Name, t.Variant, log)
			if err != nil {
				return fmt.Errorf("trunk %s: starting the modem simulator: %w", t.Name, err)
			}
			b.close = append(b.close, closeSim)
			b.sim.addTrunk(t.Name, ctl)
			simTestLine(ctl, t, log)
			mc.Device, mc.PCM = at, pcm
		}
		tr, err := modem.Open(mc)
		if err != nil {
			return fmt.Errorf("trunk %s: %w", t.Name, err)
		}
		// Close the trunk before its simulator.
		b.close = append([]func() error{tr.Close}, b.close...)
		b.trunks = append(b.trunks, survivability.TrunkOptions{Trunk: tr, Kind: t.Kind, Number: t.Number, Ports: t.Ports, Group: t.Group})
	}
	return nil
}

var _ hal.Trunk = (*modem.Trunk)(nil)

// networkForwarder mirrors a port's forwarding into the mobile network
// (AT+CCFC), so it holds while the appliance is down.
type networkForwarder struct{ t *modem.Trunk }

func forwardReason(reason string) (modem.ForwardReason, error) {
	switch reason {
	case forwarding.NetUnconditional:
		return modem.ForwardUnconditional, nil
	case forwarding.NetBusy:
		return modem.ForwardBusy, nil
	case forwarding.NetNoReply:
		return modem.ForwardNoReply, nil
	case forwarding.NetNotReachable:
		return modem.ForwardNotReachable, nil
	}
	return 0, fmt.Errorf("no network forwarding reason %q", reason)
}

func (n networkForwarder) SetForwarding(ctx context.Context, reason, number string, ring time.Duration) error {
	r, err := forwardReason(reason)
	if err != nil {
		return err
	}
	if r != modem.ForwardNoReply {
		ring = 0
	} else if ring > 0 {
		ring = min(max(ring, 5*time.Second), 30*time.Second) // what networks accept
	}
	return n.t.SetForwarding(ctx, r, number, ring)
}

func (n networkForwarder) ClearForwarding(ctx context.Context, reason string) error {
	r, err := forwardReason(reason)
	if err != nil {
		return err
	}
	return n.t.ClearForwarding(ctx, r)
}

// mirrorTrunk is the first modem trunk, which carries the appliance's
// mobile number, and the ports whose inbound calls its SIM receives (its
// [[trunk]] ports, else every port); nil when there is none.
func mirrorTrunk(cfg *config.Config, b *board) (*modem.Trunk, []int) {
	for _, t := range b.trunks {
		if mt, ok := t.Trunk.(*modem.Trunk); ok {
			serves := t.Ports
			if len(serves) == 0 {
				for _, p := range cfg.Ports {
					serves = append(serves, p.ID)
				}
			}
			return mt, serves
		}
	}
	return nil, nil
}
