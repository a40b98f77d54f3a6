package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim"
)

// How `critlinectl sim dial` keys DTMF: a brisk but standard-conforming
// human pace, at a typical telephone's sending level.
const (
	simDTMFOn    = 90 * time.Millisecond
	simDTMFOff   = 90 * time.Millisecond
	simDTMFLevel = -8.0 // dBm0 per tone
	simFlash     = 100 * time.Millisecond
	// simFlashTaken is how long after a recall is sent the port has taken
	// it (the break, then the make that ends it decoded): sim flash
	// returns then, so a code keyed next is heard after the R.
	simFlashTaken = simFlash + 200*time.Millisecond
)

// simTrunk is a simulated modem's control entry point.
type simTrunk interface {
	Control(args []string) (string, error)
}

// portEvents streams a port engine's events.
type portEvents interface {
	SubscribePort(id int) (<-chan fxs.Event, func(), bool)
	Port(id int) (*fxs.Port, bool)
}

// hookTaken bounds how long sim hook waits for the port to take the
// handset's move (the profile's clear time decides an on-hook: 400 ms in
// the UK, 1.1 s in the US).
const hookTaken = 2 * time.Second

// simControl implements control.Sim on the simulated board.
type simControl struct {
	b        *sim.Board
	ports    portEvents // set once the appliance exists
	realLink string     // [board] link: the LAN cable is this real interface

	mu     sync.Mutex
	trunks map[string]simTrunk
}

func newSimControl(b *sim.Board) *simControl {
	return &simControl{b: b, trunks: map[string]simTrunk{}}
}

func (s *simControl) addTrunk(name string, t simTrunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trunks[name] = t
}

func (s *simControl) port(p int) error {
	if !s.b.HasPort(p) {
		ids := []string{}
		for _, hp := range s.b.Ports() {
			ids = append(ids, fmt.Sprint(hp.ID))
		}
		return fmt.Errorf("no port %d on this board (ports: %s): %w", p, strings.Join(ids, ", "), control.ErrNotFound)
	}
	return nil
}

func (s *simControl) Hook(p int, off bool) error {
	if err := s.port(p); err != nil {
		return err
	}
	evs, unsub := s.hookWatch(p, off)
	defer unsub()
	if err := s.b.Hook(p, off); err != nil {
		return err
	}
	if evs == nil {
		return nil
	}
	// Return once the port has taken it, as dial and flash do, so the next
	// command of a script (a call ringing the port just put down) finds it
	// idle. A handset on the copper line (bypass) is not the port's to see.
	t := time.NewTimer(hookTaken)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-evs:
			if !ok || ev.Kind == fxs.EventHook && ev.OffHook == off {
				return nil
			}
		case <-t.C:
			return nil
		}
	}
}

// hookWatch subscribes to port p's events when a move of its handset to
// off is one the port will see; nil otherwise. unsub ends it.
func (s *simControl) hookWatch(p int, off bool) (evs <-chan fxs.Event, unsub func()) {
	none := func() {}
	if s.ports == nil {
		return nil, none
	}
	fx, ok := s.ports.Port(p)
	if !ok || fx.Snapshot().OffHook == off {
		return nil, none
	}
	for _, hp := range s.b.Ports() {
		if hp.ID == p && hp.Relay != nil && hp.Relay.Bypass() {
			return nil, none
		}
	}
	evs, unsub, ok = s.ports.SubscribePort(p)
	if !ok {
		return nil, none
	}
	return evs, unsub
}

func (s *simControl) Power(mains, low bool) error { s.b.SetPower(mains, low); return nil }

// Copper cuts or restores the copper line behind a port's relay.
func (s *simControl) Copper(p int, live bool) error {
	if err := s.port(p); err != nil {
		return err
	}
	return s.b.SetCopperLine(p, live)
}

func (s *simControl) Link(up bool) error {
	if s.realLink != "" {
		return fmt.Errorf("the LAN link is the real interface %s ([board] link): cut or mend it with ip link set (its peer) down|up", s.realLink)
	}
	s.b.SetLink(up)
	return nil
}

func (s *simControl) Dial(p int, digits string, pulse bool) (time.Duration, error) {
	if err := s.port(p); err != nil {
		return 0, err
	}
	if pulse {
		return s.b.Pulse(p, digits, sim.DefaultPulse())
	}
	audio, err := dsp.AppendDTMF(nil, digits, simDTMFOn, simDTMFOff, simDTMFLevel)
	if err != nil {
		return 0, err
	}
	return s.b.Play(p, audio)
}

func (s *simControl) Flash(p int) (time.Duration, error) {
	if err := s.port(p); err != nil {
		return 0, err
	}
	return simFlashTaken, s.b.Flash(p, simFlash)
}

func (s *simControl) Play(p int, samples []int16) (time.Duration, error) {
	if err := s.port(p); err != nil {
		return 0, err
	}
	return s.b.Play(p, samples)
}

func (s *simControl) Listen(ctx context.Context, p int, n int) ([]int16, error) {
	if err := s.port(p); err != nil {
		return nil, err
	}
	rec, err := s.b.Listen(p, n)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-rec:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// watchLine is one JSON line of `sim watch` for a board change.
type watchLine struct {
	sim.Change
	Seconds float64 `json:"t"` // board time in seconds, for reading cadences
}

// portLine is one JSON line of `sim watch` for a port engine's event.
type portLine struct {
	Seconds float64 `json:"t"`
	What    string  `json:"what"` // state, digit, recall, callerid, condition, hook-error, line-error
	fxs.Event
}

func (s *simControl) Watch(ctx context.Context, p int, emit func(any) error) error {
	if p != 0 {
		if err := s.port(p); err != nil {
			return err
		}
	}
	sub := s.b.Watch()
	defer sub.Close()
	merged := make(chan fxs.Event, 256)
	if s.ports != nil {
		for _, hp := range s.b.Ports() {
			if p != 0 && hp.ID != p {
				continue
			}
			evs, unsub, ok := s.ports.SubscribePort(hp.ID)
			if !ok {
				continue
			}
			defer unsub()
			go func() {
				for ev := range evs {
					select {
					case merged <- ev:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
	}
	board := func(c sim.Change) error {
		if p != 0 && c.Port != 0 && c.Port != p {
			return nil
		}
		return emit(watchLine{Change: c, Seconds: c.At.Seconds()})
	}
	for {
		select {
		case <-ctx.Done():
			// The stream ends at shutdown right after the relays moved to
			// bypass: hand over the board changes already queued.
			for {
				select {
				case c, ok := <-sub.C:
					if !ok {
						return nil
					}
					if err := board(c); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		case ev := <-merged:
			switch ev.Kind {
			case fxs.EventHook, fxs.EventRing, fxs.EventPolarity:
				continue // the board's own lines say these, with board timestamps
			}
			if err := emit(portLine{Seconds: ev.At.Seconds(), What: ev.Kind.String(), Event: ev}); err != nil {
				return err
			}
		case c, ok := <-sub.C:
			if !ok {
				return nil
			}
			if err := board(c); err != nil {
				return err
			}
		}
	}
}

func (s *simControl) Trunk(name string, args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" && len(s.trunks) == 1 {
		for _, t := range s.trunks {
			return t.Control(args)
		}
	}
	t, ok := s.trunks[name]
	if !ok {
		names := make([]string, 0, len(s.trunks))
		for n := range s.trunks {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return "", fmt.Errorf("no simulated trunk on this appliance: add a [[trunk]] with kind = \"sim\": %w", control.ErrNotFound)
		}
		return "", fmt.Errorf("no simulated trunk %q (have: %s): %w", name, strings.Join(names, ", "), control.ErrNotFound)
	}
	return t.Control(args)
}

var _ control.Sim = (*simControl)(nil)
var _ control.CopperSim = (*simControl)(nil)
var _ hal.Board = (*sim.Board)(nil)
