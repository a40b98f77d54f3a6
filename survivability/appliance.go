package survivability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/hal"
	"github.com/prometheus/client_golang/prometheus"
)

// PortInfo is what the appliance knows of a port beyond its hardware.
type PortInfo struct {
	ID        int
	Name      string
	Extension string
}

// Options build an Appliance.
type Options struct {
	Board      hal.Board
	Ports      []PortInfo
	Registrars []control.Registrar // configured registrars (health filled in later)
	Trunks     []control.Trunk     // configured trunks
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Clock      hal.Clock
	Version    string
	Profile    string
}

// Appliance owns the ports, their relays and the appliance's mode.
type Appliance struct {
	o       Options
	log     *slog.Logger
	m       *metrics
	started time.Time

	mu         sync.Mutex
	health     Health
	mode       Mode
	modeReason string
	modeSince  time.Time
	ports      map[int]*portState
	order      []int
	registrars []control.Registrar
	trunks     []control.Trunk
}

type portState struct {
	hw      hal.Port
	info    PortInfo
	offHook bool
	lastSeq uint32
}

// New checks the options and registers the metrics.
func New(o Options) (*Appliance, error) {
	if o.Board == nil {
		return nil, errors.New("survivability: no board")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = hal.SystemClock{}
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("survivability: registering metrics: %w", err)
	}
	a := &Appliance{
		o: o, log: o.Logger, m: m, started: time.Now(),
		ports:      map[int]*portState{},
		registrars: append([]control.Registrar(nil), o.Registrars...),
		trunks:     append([]control.Trunk(nil), o.Trunks...),
		health:     Health{Registrars: map[string]bool{}, Trunks: map[string]bool{}},
	}
	info := map[int]PortInfo{}
	for _, p := range o.Ports {
		info[p.ID] = p
	}
	for _, hw := range o.Board.Ports() {
		pi, ok := info[hw.ID]
		if !ok {
			pi = PortInfo{ID: hw.ID, Name: fmt.Sprintf("port %d", hw.ID)}
		}
		a.ports[hw.ID] = &portState{hw: hw, info: pi}
		a.order = append(a.order, hw.ID)
		a.m.relayBypass.WithLabelValues(portLabel(hw.ID)).Set(b2f(hw.Relay.Bypass()))
		a.m.offhook.WithLabelValues(portLabel(hw.ID)).Set(0)
	}
	m.buildInfo.WithLabelValues(o.Version, o.Board.Kind()).Set(1)
	return a, nil
}

// Run reads the board's sensors and lines until ctx ends, then puts every
// relay into bypass. It returns after the relays are safe.
func (a *Appliance) Run(ctx context.Context) error {
	// Read the present state before anything moves, then decide once.
	if ps, err := a.o.Board.Power().Power(); err == nil {
		a.applyPower(ps)
	} else {
		a.log.Error("reading power state", "err", err)
	}
	if ls, err := a.o.Board.Link().Link(); err == nil {
		a.applyLink(ls)
	} else {
		a.log.Error("reading link state", "err", err)
	}
	for _, id := range a.order {
		p := a.ports[id]
		off, err := p.hw.Line.OffHook()
		if err != nil {
			a.log.Error("reading hook state", "port", id, "err", err)
		}
		a.setHook(p, off)
	}
	a.reevaluate("start")

	var wg sync.WaitGroup
	for _, id := range a.order {
		p := a.ports[id]
		wg.Go(func() { a.watchLine(ctx, p) })
	}
	for {
		select {
		case <-ctx.Done():
			a.bypassAll("daemon stopping")
			wg.Wait()
			return nil
		case ps := <-a.o.Board.Power().Events():
			a.onPower(ps)
		case ls := <-a.o.Board.Link().Events():
			a.onLink(ls)
		}
	}
}

func (a *Appliance) watchLine(ctx context.Context, p *portState) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-p.hw.Line.Events():
			a.mu.Lock()
			lost := p.lastSeq != 0 && ev.Seq != p.lastSeq+1
			p.lastSeq = ev.Seq
			a.mu.Unlock()
			off := ev.OffHook
			if lost {
				// Events were lost: trust the line's present state, not the edge.
				a.log.Warn("hook events lost", "port", p.info.ID, "seq", ev.Seq)
				if now, err := p.hw.Line.OffHook(); err == nil {
					off = now
				}
			}
			a.setHook(p, off)
		}
	}
}

func (a *Appliance) setHook(p *portState, off bool) {
	a.mu.Lock()
	changed := p.offHook != off
	p.offHook = off
	a.mu.Unlock()
	a.m.offhook.WithLabelValues(portLabel(p.info.ID)).Set(b2f(off))
	if !changed {
		return
	}
	a.log.Info("hook", "port", p.info.ID, "offhook", off)
	if !off {
		// A relay move deferred while the handset was up can happen now.
		a.mu.Lock()
		mode, reason := a.mode, a.modeReason
		a.mu.Unlock()
		if mode != "" {
			a.driveRelays(mode == Lifeline, reason)
		}
	}
}

func (a *Appliance) onPower(ps hal.PowerState) {
	a.applyPower(ps)
	a.reevaluate("power")
}

func (a *Appliance) applyPower(ps hal.PowerState) {
	a.m.mains.Set(b2f(ps.Mains))
	a.m.batteryLow.Set(b2f(ps.BatteryLow))
	a.mu.Lock()
	a.health.Mains, a.health.BatteryLow = ps.Mains, ps.BatteryLow
	a.mu.Unlock()
	a.log.Info("power", "mains", ps.Mains, "battery_low", ps.BatteryLow)
}

func (a *Appliance) onLink(ls hal.LinkState) {
	a.applyLink(ls)
	a.reevaluate("link")
}

func (a *Appliance) applyLink(ls hal.LinkState) {
	a.m.lanUp.Set(b2f(ls.Up))
	a.mu.Lock()
	a.health.LANUp = ls.Up
	a.mu.Unlock()
	a.log.Info("lan link", "up", ls.Up)
}

// reevaluate recomputes the mode and drives the relays from it.
func (a *Appliance) reevaluate(cause string) {
	a.mu.Lock()
	mode, reason := decide(a.health)
	changed := mode != a.mode
	if changed {
		if a.mode != "" {
			a.m.modeChanges.Inc()
		}
		a.mode, a.modeReason, a.modeSince = mode, reason, time.Now()
	}
	a.modeReason = reason
	a.mu.Unlock()
	if changed {
		a.m.setMode(mode)
		a.log.Warn("mode", "mode", mode, "reason", reason, "cause", cause)
	}
	a.driveRelays(mode == Lifeline, reason)
}

// driveRelays energises or releases every port's relay. A port whose
// handset is off-hook keeps its relay where it is: a call on either path is
// never cut; it moves when the handset is replaced.
func (a *Appliance) driveRelays(bypass bool, reason string) {
	for _, id := range a.order {
		p := a.ports[id]
		if p.hw.Relay.Bypass() == bypass {
			continue
		}
		a.mu.Lock()
		busy := p.offHook
		a.mu.Unlock()
		if busy {
			a.log.Info("relay change deferred until on-hook", "port", id, "bypass", bypass)
			continue
		}
		a.setRelay(p, bypass, reason)
	}
}

func (a *Appliance) setRelay(p *portState, bypass bool, reason string) {
	was := p.hw.Relay.Bypass()
	if err := p.hw.Relay.SetBypass(bypass); err != nil {
		a.log.Error("relay", "port", p.info.ID, "bypass", bypass, "err", err)
		return
	}
	a.m.relayBypass.WithLabelValues(portLabel(p.info.ID)).Set(b2f(bypass))
	if was != bypass {
		a.log.Info("relay", "port", p.info.ID, "bypass", bypass, "reason", reason)
	}
}

// bypassAll puts every relay into bypass at once: the safe state.
func (a *Appliance) bypassAll(reason string) {
	for _, id := range a.order {
		a.setRelay(a.ports[id], true, reason)
	}
}

// Status is the appliance's status for the control API.
func (a *Appliance) Status() control.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := control.Status{
		Version:    a.o.Version,
		Board:      a.o.Board.Kind(),
		Profile:    a.o.Profile,
		Mode:       string(a.mode),
		ModeSince:  a.modeSince,
		ModeReason: a.modeReason,
		Uptime:     time.Since(a.started).Seconds(),
		Power:      control.Power{Mains: a.health.Mains, BatteryLow: a.health.BatteryLow, Source: "mains"},
		LAN:        control.LAN{Up: a.health.LANUp},
		Registrars: append([]control.Registrar{}, a.registrars...),
		Trunks:     append([]control.Trunk{}, a.trunks...),
	}
	if !a.health.Mains {
		s.Power.Source = "battery"
	}
	for _, id := range a.order {
		p := a.ports[id]
		ps := control.Port{
			ID: id, Name: p.info.Name, Extension: p.info.Extension,
			Hook: "on", State: "idle", Relay: "board", Mode: string(a.mode),
		}
		if p.offHook {
			ps.Hook, ps.State = "off", "offhook"
		}
		if p.hw.Relay.Bypass() {
			ps.Relay = "bypass"
		}
		s.Ports = append(s.Ports, ps)
	}
	return s
}

// Version is the daemon's build for the control API.
func (a *Appliance) Version() control.Version {
	goVer := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVer = bi.GoVersion
	}
	return control.Version{Version: a.o.Version, Board: a.o.Board.Kind(), Go: goVer}
}
