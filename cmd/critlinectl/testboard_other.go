//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/critline/critline/hal"
)

func openTestBoard(context.Context, hal.BoardProfile, bool) (hal.Board, error) {
	return nil, errors.New("testing a GPIO board needs Linux (the GPIO character device and ALSA); run this on the appliance")
}
