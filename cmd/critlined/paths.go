package main

import (
	"fmt"
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/netif"
	"github.com/critline/critline/sip"
)

// paths is the board's network paths to the registrars: the LAN ([board]
// link) and the modem's data connection ([[trunk]] data_interface),
// watched by netif and told to the SIP user agent.
type paths struct {
	w      *netif.Watcher
	lan    string
	data   string
	bearer hal.DataBearer // the data trunk's bearer, when critline dials it
	log    *slog.Logger
}

// openPaths watches the interfaces when there is something to watch: the
// LAN of a sim board (a real interface standing for the cable: the board's
// link then follows it), or a modem's data connection.
func openPaths(cfg *config.Config, b *board, log *slog.Logger) (*paths, error) {
	p := &paths{lan: cfg.Board.Link, log: log.With("component", "paths")}
	if dt := cfg.DataTrunk(); dt != nil {
		p.data = dt.DataInterface
		for _, t := range b.trunks {
			if t.Trunk.Name() != dt.Name || dt.DataBearer != config.BearerAT {
				continue
			}
			if db, ok := t.Trunk.(hal.DataBearer); ok {
				p.bearer = db
			}
		}
	}
	simLink := cfg.Board.Kind == "sim" && p.lan != ""
	if p.data == "" && !simLink {
		return p, nil
	}
	var names []string
	for _, n := range []string{p.lan, p.data} {
		if n != "" {
			names = append(names, n)
		}
	}
	w, err := netif.Watch(names, log)
	if err != nil {
		return nil, fmt.Errorf("watching the network interfaces %v: %w", names, err)
	}
	p.w = w
	b.close = append(b.close, w.Close)
	for _, n := range names {
		if s := w.State(n); !s.Usable() {
			p.log.Warn("network interface not usable yet", "interface", n, "why", s.Why())
		}
	}
	if simLink {
		// The sim board's LAN cable is this real interface.
		b.board = linkedBoard{Board: b.board, link: w.Link(p.lan, b.clock)}
		if b.sim != nil {
			b.sim.realLink = p.lan
		}
	}
	return p, nil
}

// linkedBoard is a board whose LAN link is a real interface's carrier.
type linkedBoard struct {
	hal.Board
	link hal.LinkSensor
}

func (b linkedBoard) Link() hal.LinkSensor { return b.link }

// sipPaths maps the LAN and the data connection onto the SIP user agent's
// paths (none beyond the default without a data connection).
func sipPaths(cfg *config.Config) []sip.Path {
	dt := cfg.DataTrunk()
	if dt == nil {
		return nil
	}
	return []sip.Path{
		{Name: sip.PathLAN, Interface: cfg.Board.Link},
		{Name: sip.PathWWAN, Interface: dt.DataInterface, ProbeInterval: cfg.SIP.DataProbeInterval.Duration,
			KeepAlive: cfg.SIP.DataKeepAlive.Duration, HoldDown: cfg.SIP.DataHoldDown.Duration, NAT: true},
	}
}

// registrarPaths is a registrar's via as path names, most preferred first.
func registrarPaths(via string) []string {
	switch via {
	case config.ViaWWAN:
		return []string{sip.PathWWAN}
	case config.ViaAny:
		return []string{sip.PathLAN, sip.PathWWAN}
	}
	return []string{sip.PathLAN}
}

// feed tells the user agent what the interfaces and the bearer say, now
// and at every change, until the watcher closes.
func (p *paths) feed(ua *sip.UA) {
	if p.w == nil || ua == nil || p.data == "" {
		return
	}
	link := func(name string, s netif.State) {
		ua.SetPathState(name, sip.SourceLink, sip.PathState{Up: s.Usable(), Addr: s.Addr(), Detail: s.Why()})
	}
	for name, iface := range map[string]string{sip.PathLAN: p.lan, sip.PathWWAN: p.data} {
		ch := p.w.Subscribe(iface)
		link(name, p.w.State(iface))
		go func() {
			for s := range ch {
				link(name, s)
			}
		}()
	}
	if p.bearer == nil {
		return
	}
	bearer := func(d hal.DataStatus) {
		detail := ""
		if d.State != hal.DataUp {
			detail = "data connection " + string(d.State) + ": " + d.Detail
		}
		ua.SetPathState(sip.PathWWAN, sip.SourceBearer, sip.PathState{Up: d.State == hal.DataUp, Detail: detail})
	}
	bearer(p.bearer.DataStatus())
	go func() {
		for d := range p.bearer.DataEvents() {
			bearer(d)
		}
	}()
}
