//go:build linux

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/alsa"
	"github.com/critline/critline/hal/gpio"
)

// openGPIOBoard opens a real board through the GPIO character device, every
// relay requested in bypass before any other line, and each port's ALSA
// audio device.
func openGPIOBoard(ctx context.Context, cfg *config.Config, log *slog.Logger, clock hal.Clock) (*board, error) {
	b, err := gpio.Open(ctx, cfg.BoardProfile(),
		gpio.WithConsumer("critlined"),
		gpio.WithLogger(log.With("component", "gpio")),
		gpio.WithAudio(func(device string) (hal.PCM, error) { return alsa.Open(device) }),
	)
	if err != nil {
		return nil, fmt.Errorf("opening the board: %w", err)
	}
	return &board{board: b, clock: clock}, nil
}
