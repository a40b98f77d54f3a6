//go:build !linux

package main

import (
	"errors"
	"log/slog"
)

func startModemSim(dir, name, variant string, log *slog.Logger) (string, string, simTrunk, func() error, error) {
	return "", "", nil, nil, errors.New("the modem simulator needs Linux ptys")
}
