package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
)

// openBoard opens the configured board with every relay in bypass.
func openBoard(ctx context.Context, cfg *config.Config, log *slog.Logger) (*board, error) {
	clock := hal.SystemClock{}
	switch cfg.Board.Kind {
	case "sim":
		ids := make([]int, 0, len(cfg.Ports))
		drive := map[int]hal.RingDrive{}
		for _, p := range cfg.BoardProfile().Ports {
			ids = append(ids, p.ID)
			drive[p.ID] = p.RingDrive
		}
		copper := map[int]bool{}
		for _, p := range cfg.Ports {
			copper[p.ID] = p.BehindRelay == "copper"
		}
		sb, err := sim.New(sim.Options{Ports: ids, RingDrive: drive, Debounce: cfg.Board.Debounce.Duration, Clock: clock, Copper: copper})
		if err != nil {
			return nil, err
		}
		return &board{board: sb, clock: clock, sim: newSimControl(sb)}, nil
	case "gpio":
		return openGPIOBoard(ctx, cfg, log, clock)
	}
	return nil, fmt.Errorf("board kind %q is not supported", cfg.Board.Kind)
}
