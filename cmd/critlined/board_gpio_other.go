//go:build !linux

package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
)

func openGPIOBoard(ctx context.Context, cfg *config.Config, log *slog.Logger, clock hal.Clock) (*board, error) {
	return nil, errors.New("board kind gpio needs Linux (the GPIO character device)")
}
