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
			mc.Device, mc.PCM = at, pcm
		}
		tr, err := modem.Open(mc)
		if err != nil {
			return fmt.Errorf("trunk %s: %w", t.Name, err)
		}
		// Close the trunk before its simulator.
		b.close = append([]func() error{tr.Close}, b.close...)
		b.trunks = append(b.trunks, survivability.TrunkOptions{Trunk: tr, Kind: t.Kind, Number: t.Number, Group: t.Group})
	}
	return nil
}

var _ hal.Trunk = (*modem.Trunk)(nil)

// networkForwarder mirrors a port's forwarding into the mobile network
// (AT+CCFC), so it holds while the appliance is down.
type networkForwarder struct {
	t       *modem.Trunk
	noReply time.Duration
}

func forwardReason(kind string) (modem.ForwardReason, error) {
	switch kind {
	case "unconditional":
		return modem.ForwardUnconditional, nil
	case "busy":
		return modem.ForwardBusy, nil
	case "no-answer":
		return modem.ForwardNoReply, nil
	}
	return 0, fmt.Errorf("no network forwarding reason for %q", kind)
}

func (n networkForwarder) SetForwarding(ctx context.Context, kind, number string) error {
	r, err := forwardReason(kind)
	if err != nil {
		return err
	}
	return n.t.SetForwarding(ctx, r, number, n.noReply)
}

func (n networkForwarder) ClearForwarding(ctx context.Context, kind string) error {
	r, err := forwardReason(kind)
	if err != nil {
		return err
	}
	return n.t.ClearForwarding(ctx, r)
}

// mirrorTrunk is the first modem trunk, which carries the appliance's
// mobile number; nil when there is none.
func mirrorTrunk(b *board) *modem.Trunk {
	for _, t := range b.trunks {
		if mt, ok := t.Trunk.(*modem.Trunk); ok {
			return mt
		}
	}
	return nil
}
