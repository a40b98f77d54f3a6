package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
)

// openGPIOBoard opens a real board. The GPIO and ALSA backends are wired
// here once they exist (issue 6); until then a gpio config is refused
// clearly rather than half-started.
func openGPIOBoard(ctx context.Context, cfg *config.Config, log *slog.Logger, clock hal.Clock) (*board, error) {
	return nil, errors.New("board kind gpio: this build has no GPIO backend yet: use kind = \"sim\"")
}
