package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

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
		b.trunks = append(b.trunks, survivability.TrunkOptions{Trunk: tr, Kind: t.Kind, Number: t.Number})
	}
	return nil
}

var _ hal.Trunk = (*modem.Trunk)(nil)
