//go:build linux

package main

import (
	"context"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/alsa"
	"github.com/critline/critline/hal/gpio"
)

// openTestBoard opens the real board, with each port's audio device when
// audio is set.
func openTestBoard(ctx context.Context, p hal.BoardProfile, audio bool) (hal.Board, error) {
	var opts []gpio.Option
	if audio {
		opts = append(opts, gpio.WithAudio(func(dev string) (hal.PCM, error) { return alsa.Open(dev) }))
	}
	return gpio.Open(ctx, p, opts...)
}
