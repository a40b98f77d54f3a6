//go:build !linux

package modemsim

import (
	"context"
	"errors"
)

// errLinux is what every entry point says off Linux.
var errLinux = errors.New("modemsim: the modem simulator runs on Linux ptys only")

// Sim is a running simulated modem (Linux only; elsewhere New fails).
type Sim struct{}

// New fails: the simulator needs Linux ptys.
func New(o Options) (*Sim, error) { return nil, errLinux }

func (s *Sim) ATPath() string                                     { return "" }
func (s *Sim) PCMPath() string                                    { return "" }
func (s *Sim) TTYs() (at, pcm string)                             { return "", "" }
func (s *Sim) Close() error                                       { return nil }
func (s *Sim) Control(args []string) (string, error)              { return "", errLinux }
func (s *Sim) Play(samples []int16)                               {}
func (s *Sim) Listen(ctx context.Context, n int) ([]int16, error) { return nil, errLinux }
func (s *Sim) Heard() (recent []int16, total int)                 { return nil, 0 }
func (s *Sim) Commands() []string                                 { return nil }
func (s *Sim) Messages() []SMS                                    { return nil }
func (s *Sim) FarDigits() string                                  { return "" }

// Verbs returns nothing off Linux.
func Verbs() []string { return nil }
