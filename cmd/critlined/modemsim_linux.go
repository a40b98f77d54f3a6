//go:build linux

package main

import (
	"log/slog"

	"github.com/critline/critline/hal/sim/modemsim"
)

// startModemSim starts a simulated modem whose ports appear under dir.
func startModemSim(dir, name, variant string, log *slog.Logger) (at, pcm string, ctl simTrunk, closeFn func() error, err error) {
	s, err := modemsim.New(modemsim.Options{Dir: dir, Name: name, Variant: modemsim.Variant(variant), Logger: log.With("component", "modemsim", "trunk", name)})
	if err != nil {
		return "", "", nil, nil, err
	}
	return s.ATPath(), s.PCMPath(), s, s.Close, nil
}
