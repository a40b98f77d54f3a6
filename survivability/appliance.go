package survivability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/guard"
	"github.com/critline/critline/survivability/prompts"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
)

// PortOptions is one FXS port beyond its hardware.
type PortOptions struct {
	ID        int
	Name      string
	Extension string
	DialPlan  string // empty: the profile's
	// DivertTo is where inbound calls go while the handset cannot be
	// reached (left off-hook, or on the PSTN line in bypass): a number or a
	// sip: URI. Empty: no divert, callers hear busy.
	DivertTo string
	// DivertAfter diverts a call still ringing after this long; 0: never.
	DivertAfter time.Duration
	// Copper says a live copper PSTN line is wired behind the port's
	// lifeline relay. Without one, bypass is never used as a route: the
	// handset stays on the board while the board has power, and calls
	// leave by whatever path is left.
	Copper bool
	// Voicemail is the port's voicemail access code: dialled, it reaches
	// the PBX's voicemail (the Message-Account the PBX names, else the
	// code itself), by registrars only. Empty: none.
	Voicemail string
	// Flash is what the port's hook flash does: FlashLocal (or "") applies
	// the flash-hook services in the appliance (hold, enquiry, swap,
	// three-way, transfer); one of sip.FlashRFC4733, FlashInfo,
	// FlashDTMFRelay passes it to the PBX instead, which provides them.
	Flash string
	// CallWaiting: a second call to the port in a call waits (call-waiting
	// tone, caller ID on call waiting) instead of getting busy; needs the
	// services in the appliance.
	CallWaiting bool
	// TransferOnHangup: hanging up during an enquiry call transfers the
	// held call to it; otherwise the held call rings the porter back.
	TransferOnHangup bool
	// Hotline is dialled the moment the handset is lifted; Warmline after
	// WarmlineAfter of dial tone without a digit (fxs/hotline.go).
	Hotline       string
	Warmline      string
	WarmlineAfter time.Duration
}

// RegistrarOptions names a configured registrar, in order of preference.
type RegistrarOptions struct {
	Name, Address, Transport string
	Via                      string // the configured network path: lan | wwan | any
}

// Options build an Appliance.
type Options struct {
	Board     hal.Board
	Profile   *profile.Profile
	Ports     []PortOptions
	Emergency []string
	// EmergencyRoute orders an emergency call's rungs: EmergencyPBXFirst
	// (the default: the PBX presents the site's own number and address
	// while it is healthy) or EmergencyTrunkFirst.
	EmergencyRoute string
	Registrars     []RegistrarOptions
	Trunks         []TrunkOptions
	// FailbackAfter is how long a registrar must stay healthy after a
	// failure before idle ports go back to it.
	FailbackAfter time.Duration
	// Guard screens numbers leaving by a trunk (toll fraud, rewriting,
	// duration caps); nil allows everything.
	Guard *guard.Guard
	// Forwarding holds call forwarding and remote activation; nil: none.
	Forwarding *forwarding.Manager
	// RemoteTrunk names a trunk dedicated to remote activation: all its
	// inbound calls reach the dialogue instead of the ports.
	RemoteTrunk string
	// ServiceExtension is the SIP line whose calls reach the
	// remote-activation dialogue ("" = none).
	ServiceExtension string
	// Prompts is what the dialogue speaks; nil: tones only.
	Prompts *prompts.Set
	// StateDir keeps the mode history and operator choices across restarts;
	// empty keeps nothing.
	StateDir string
	// PortStallAfter is how long one call step of a port may take before
	// the port is declared wedged (fxs.Config.StallAfter; 0: its default).
	PortStallAfter time.Duration
	// Groups are the hunt groups (groups.go); LocalCalls how calls to a
	// local extension are connected (LocalCallsPBXFirst, the default, or
	// LocalCallsLocal: local.go).
	Groups     []GroupOptions
	LocalCalls string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Clock      hal.Clock
	Version    string

	// OnPower, when set, hears every supply reading (the first at Run),
	// for the battery record (survivability/battery).
	OnPower func(hal.PowerState)
	// OnCall, when set, hears that the appliance is taking on a call that
	// may reach no port, before its media flows: a trunk call (a divert,
	// remote activation, a hunt group's caller), a remote-activation call
	// from SIP, a hunt group's outside SIP leg. The daemon's CPU governor
	// uses it to put every CPU back (a call that reaches a port starts
	// that port's audio, which tells the governor itself). It is called
	// with the appliance's locks held and must return at once.
	OnCall func()
}

// Appliance connects the ports to their routes and keeps the lifelines.
type Appliance struct {
	o       Options
	log     *slog.Logger
	m       *metrics
	started time.Duration // New, on the appliance's clock
	sip     sipLines      // nil until AttachSIP
	guard   *guard.Guard
	fwd     *forwarding.Manager

	ports  map[int]*port
	order  []int
	trunks []*trunkLine

	mu         sync.Mutex
	mains      bool
	batteryLow bool
	lanUp      bool
	forced     Mode
	regs       map[string]*regHealth
	mode       Mode
	modeReason string
	modeSince  time.Time
	failback   hal.Timer
	linePoll   hal.Timer // re-reads the line-in-use sensors while a relay waits on them
	running    bool
	history    []control.ModeChange
	store      *store.File
	svcReg     string          // most preferred registrar the service extension is registered with
	svcRegs    map[string]bool // the service extension's binding with each registrar
	saveMu     sync.Mutex      // one save of the state at a time, the newest last (history.go)
	shedding   bool            // battery low with ports that have no copper: shed what calls do not need
	sm         *svcMetrics
	runSince   time.Duration // when Run began (a.o.Clock)
	settled    bool          // the first health reports are in (start.go)
	lineLog    lineLog
	sipEvs     <-chan sip.Event // the UA's events, subscribed in AttachSIP (sipline.go)
	sipUnsub   func()
	dm         dialectMetrics // dialects.go
	fm         *flashMetrics  // services.go
	xfers      transfers      // transfer.go
	gs         *groupSet      // hunt groups and local calls (groups.go, local.go)

	// Path tests (testcall.go, copper.go): who hears of porters' activity,
	// and the copper check under way.
	actMu  sync.Mutex
	actSeq uint64
	act    map[uint64]func(string)
	check  copperCheck
}

// regHealth is one registrar's health with the fail-back memory.
type regHealth struct {
	opt      RegistrarOptions
	known    bool
	up       bool
	upSince  time.Duration // a.o.Clock
	everDown bool
	rtt      time.Duration
	loss     float64
	path     string // the network path it is reached by now ("" or sip.PathLAN: the LAN)
	holding  bool   // that path lost its interface or bearer: verdict held while it comes back
	paths    []sip.PathHealth
}

// onLAN: the registrar is reached over the LAN.
func (r *regHealth) onLAN() bool { return r.path == "" || r.path == sip.PathLAN }

// lanGated: the LAN link going down takes the registrar down at once. A
// registrar that may also be reached over the data path is not: the SIP
// user agent moves it (or gives it up) on the same event, and taking it
// down here first would flap the mode for the moment in between.
func (r *regHealth) lanGated() bool {
	return r.onLAN() && (r.opt.Via == "" || r.opt.Via == "lan")
}

// port is one FXS port with what the appliance knows of it.
type port struct {
	opt    PortOptions
	hw     hal.Port
	fx     *fxs.Port
	state  fxs.State
	hook   bool
	cond   fxs.Condition
	mode   Mode
	bypass bool // what the relay should be
	forced bool // an operator put it in bypass
	sos    bool // an emergency call found no route: handset sent to the PSTN line
	copper bool // a copper PSTN line is behind the relay
	reg    string
	regOK  bool
	regs   map[string]lineBinding // the line's binding with each registrar
	route  string                 // where the current call goes (registrar or trunk name)
	// dialect is the current call's caller and the message waiting (dialects.go).
	dialect portDialect
	wait    bool // a relay move is waiting for on-hook (logged once, not every tick)
	// checking: a path test has the relay in bypass for a moment to read
	// the copper line (copper.go); read without a.mu by canRing.
	checking atomic.Bool
}

// New builds the appliance and its ports; nothing runs until Run.
func New(o Options) (*Appliance, error) {
	if o.Board == nil {
		return nil, errors.New("survivability: no board")
	}
	if o.Profile == nil {
		return nil, errors.New("survivability: no country profile")
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
	a := &Appliance{o: o, log: o.Logger, m: m, started: o.Clock.Now(), guard: o.Guard, fwd: o.Forwarding, ports: map[int]*port{}, regs: map[string]*regHealth{}, mains: true, lanUp: true}
	for _, r := range o.Registrars {
		a.regs[r.Name] = &regHealth{opt: r}
	}
	opts := map[int]PortOptions{}
	for _, p := range o.Ports {
		opts[p.ID] = p
	}
	exts := a.localExtensions(o) // every port can dial them (local.go)
	for _, hw := range o.Board.Ports() {
		po, ok := opts[hw.ID]
		if !ok {
			po = PortOptions{ID: hw.ID, Name: fmt.Sprintf("port %d", hw.ID)}
		}
		p := &port{opt: po, hw: hw, state: fxs.StateStopped, cond: fxs.ConditionOK, bypass: true, copper: po.Copper, regs: map[string]lineBinding{}}
		p.fx, err = fxs.New(fxs.Config{
			ID: hw.ID, Line: hw.Line, Audio: hw.Audio, Clock: o.Clock, Profile: o.Profile,
			DialPlan: withExtensions(withVoicemail(po, o.Profile), exts), Emergency: o.Emergency, Router: &router{a: a, port: hw.ID},
			Logger: o.Logger.With("port", hw.ID), StallAfter: o.PortStallAfter,
			Services: po.Flash == "" || po.Flash == FlashLocal, TransferOnHangup: po.TransferOnHangup,
			Hotline: po.Hotline, Warmline: po.Warmline, WarmlineAfter: po.WarmlineAfter,
		})
		if err != nil {
			return nil, fmt.Errorf("port %d: %w", hw.ID, err)
		}
		a.ports[hw.ID] = p
		a.order = append(a.order, hw.ID)
		m.relayBypass.WithLabelValues(portLabel(hw.ID)).Set(b2f(hw.Relay.Bypass()))
		m.offhook.WithLabelValues(portLabel(hw.ID)).Set(0)
		m.parked.WithLabelValues(portLabel(hw.ID)).Set(0)
		m.divertActive.WithLabelValues(portLabel(hw.ID)).Set(0)
		m.copper.WithLabelValues(portLabel(hw.ID)).Set(b2f(po.Copper))
	}
	switch o.EmergencyRoute {
	case "", EmergencyPBXFirst, EmergencyTrunkFirst:
	default:
		return nil, fmt.Errorf("survivability: emergency route %q: use %s or %s", o.EmergencyRoute, EmergencyPBXFirst, EmergencyTrunkFirst)
	}
	for _, r := range []string{EmergencyNoRoute, EmergencyEveryRouteFailed} {
		m.emergencyFailed.WithLabelValues(r)
	}
	for _, t := range o.Trunks {
		if t.Trunk == nil {
			return nil, errors.New("survivability: trunk option without a trunk")
		}
		a.trunks = append(a.trunks, &trunkLine{a: a, o: t, t: t.Trunk, nm: t.Trunk.Name(), emergWait: trunkEmergencyWait})
	}
	if a.fm, err = newFlashMetrics(o.Registerer, a.order); err != nil {
		return nil, fmt.Errorf("survivability: registering metrics: %w", err)
	}
	if err := a.initServices(); err != nil {
		return nil, fmt.Errorf("survivability: registering metrics: %w", err)
	}
	if err := a.initGroups(o); err != nil {
		return nil, fmt.Errorf("survivability: %w", err)
	}
	// Every route's series exist from the start, so rates and alerts work
	// before the first call.
	routes := []string{}
	for _, r := range o.Registrars {
		routes = append(routes, r.Name)
	}
	for _, tl := range a.trunks {
		routes = append(routes, tl.nm)
	}
	for _, r := range routes {
		m.emergency.WithLabelValues(r)
		m.setup.WithLabelValues(r)
	}
	m.buildInfo.WithLabelValues(o.Version, o.Board.Kind()).Set(1)
	if err := a.initDialects(o.Registerer); err != nil {
		return nil, fmt.Errorf("survivability: registering metrics: %w", err)
	}
	if err := a.registerEngine(o.Registerer); err != nil {
		return nil, fmt.Errorf("survivability: registering metrics: %w", err)
	}
	if o.StateDir != "" {
		if a.store, err = store.Open(o.StateDir, "appliance", o.Logger); err != nil {
			return nil, err
		}
		a.loadState()
	}
	return a, nil
}

// Port returns a port's engine (for the sim controls and tests).
func (a *Appliance) Port(id int) (*fxs.Port, bool) {
	p, ok := a.ports[id]
	if !ok {
		return nil, false
	}
	return p.fx, true
}

// divertTarget says where an inbound call for p goes instead of ringing,
// and why, while the handset cannot be reached.
func (a *Appliance) divertTarget(p *port) (string, string) {
	if p.opt.DivertTo == "" {
		return "", ""
	}
	if ok, why := a.canRing(p); !ok {
		return p.opt.DivertTo, why
	}
	return "", ""
}

func (a *Appliance) divertAfter(p *port) time.Duration {
	if p.opt.DivertTo == "" {
		return 0
	}
	return p.opt.DivertAfter
}

// updateDivertActive publishes whether a port's calls are being diverted.
func (a *Appliance) updateDivertActive(p *port) {
	target, _ := a.divertTarget(p)
	a.m.divertActive.WithLabelValues(portLabel(p.opt.ID)).Set(b2f(target != ""))
}

// SubscribePort streams a port's events (for `critlinectl sim watch`).
func (a *Appliance) SubscribePort(id int) (<-chan fxs.Event, func(), bool) {
	p, ok := a.ports[id]
	if !ok {
		return nil, nil, false
	}
	ch, unsub := p.fx.Subscribe(256)
	return ch, unsub, true
}

// setRoute records where a port's call goes, for status.
func (a *Appliance) setRoute(id int, route string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.ports[id]; p != nil {
		p.route = route
	}
}

// Run runs the ports, trunks and sensors until ctx ends, then puts every
// relay into bypass. It returns after the relays are safe.
func (a *Appliance) Run(ctx context.Context) error {
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
	a.mu.Lock()
	a.running, a.runSince = true, a.o.Clock.Now()
	a.mu.Unlock()
	a.m.setMode(Lifeline) // the relays are in bypass until the first evaluation

	portCtx, stopPorts := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, id := range a.order {
		p := a.ports[id]
		evs, unsub := p.fx.Subscribe(256)
		wg.Go(func() {
			if err := p.fx.Run(portCtx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("port stopped", "port", id, "err", err)
			}
			unsub()
		})
		wg.Go(func() { a.portEvents(p, evs) })
	}
	for _, tl := range a.trunks {
		wg.Go(func() { tl.run(portCtx) })
	}
	if a.sip != nil {
		wg.Go(func() { a.sipEvents(portCtx) })
	}
	// Everything that can change the mode comes as an event, or as a timer
	// armed only while it is due (a fail-back period running out, a PSTN
	// call in bypass ending: see scheduleLinePollLocked): an idle appliance
	// has no tick of its own.
	a.reevaluate("start")

	for {
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.running = false
			if a.failback != nil {
				a.failback.Stop()
			}
			if a.linePoll != nil {
				a.linePoll.Stop()
				a.linePoll = nil
			}
			a.mu.Unlock()
			a.bypassAll("daemon stopping")
			stopPorts()
			wg.Wait()
			return nil
		case ps := <-a.o.Board.Power().Events():
			a.applyPower(ps)
			a.reevaluate("power")
		case ls := <-a.o.Board.Link().Events():
			a.applyLink(ls)
			a.reevaluate("link")
		}
	}
}

// portEvents follows a port's state for status, metrics and the relay.
func (a *Appliance) portEvents(p *port, evs <-chan fxs.Event) {
	for ev := range evs {
		a.portActivity(p.opt.ID, ev)
		switch ev.Kind {
		case fxs.EventHook:
			a.mu.Lock()
			p.hook = ev.OffHook
			a.mu.Unlock()
			a.m.offhook.WithLabelValues(portLabel(p.opt.ID)).Set(b2f(ev.OffHook))
		case fxs.EventState:
			a.mu.Lock()
			p.state = ev.State
			a.mu.Unlock()
			a.noteState(p, ev) // groups.go
			if ev.State == fxs.StateIdle {
				a.setRoute(p.opt.ID, "")
				a.clearCall(p)
				a.reevaluate(fmt.Sprintf("port %d idle", p.opt.ID))
			}
		case fxs.EventService:
			a.serviceEvent(p, ev)
		case fxs.EventCondition:
			a.mu.Lock()
			p.cond = ev.Condition
			a.mu.Unlock()
			a.m.parked.WithLabelValues(portLabel(p.opt.ID)).Set(b2f(ev.Condition == fxs.ConditionLeftOffHook))
			a.updateDivertActive(p)
			a.log.Warn("line condition", "port", p.opt.ID, "condition", ev.Condition)
		}
	}
}

// callStarting tells Options.OnCall that a call which may reach no port
// is starting.
func (a *Appliance) callStarting() {
	if a.o.OnCall != nil {
		a.o.OnCall()
	}
}

func (a *Appliance) applyPower(ps hal.PowerState) {
	a.m.mains.Set(b2f(ps.Mains))
	a.m.batteryLow.Set(b2f(ps.BatteryLow))
	a.mu.Lock()
	a.mains, a.batteryLow = ps.Mains, ps.BatteryLow
	a.mu.Unlock()
	a.log.Info("power", "mains", ps.Mains, "battery_low", ps.BatteryLow)
	if a.o.OnPower != nil {
		a.o.OnPower(ps)
	}
}

func (a *Appliance) applyLink(ls hal.LinkState) {
	a.m.lanUp.Set(b2f(ls.Up))
	a.mu.Lock()
	a.lanUp = ls.Up
	a.mu.Unlock()
	a.log.Info("lan link", "up", ls.Up)
}

// facts is what decide.go needs to know of a registrar.
func (r *regHealth) facts() regFacts {
	return regFacts{up: r.up, known: r.known, everDown: r.everDown, upSince: r.upSince, lanGated: r.lanGated(), holding: r.holding}
}

// regClassLocked says where a registrar stands for new calls (decide.go).
func (a *Appliance) regClassLocked(r *regHealth, now time.Duration) regClass {
	return classifyRegistrar(r.facts(), a.lanUp, now, a.o.FailbackAfter)
}

// usableLocked says whether a registrar counts as a route for the mode
// (decide.go's registrarUsable).
func (a *Appliance) usableLocked(r *regHealth, now time.Duration) bool {
	return registrarUsable(r.facts(), a.lanUp, now, a.o.FailbackAfter)
}

// healthLocked gathers the signals for decide.
func (a *Appliance) healthLocked(now time.Duration) Health {
	h := Health{Mains: a.mains, BatteryLow: a.batteryLow, LANUp: a.lanUp, Forced: a.forced,
		Registrars: map[string]bool{}, RegistrarPaths: map[string]string{}, Trunks: map[string]bool{}, EmergencyTrunks: map[string]bool{},
		Copper: len(a.order) > 0}
	for name, r := range a.regs {
		h.Registrars[name] = a.usableLocked(r, now)
		h.RegistrarPaths[name] = r.path
		if r.onLAN() && !r.lanGated() && !a.lanUp {
			h.RegistrarPaths[name] = "any" // moving off the LAN this instant: not gated by it
		}
	}
	for _, tl := range a.trunks {
		st := tl.status()
		h.Trunks[tl.nm] = st.CanCall()
		h.EmergencyTrunks[tl.nm] = st.CanCallEmergency()
	}
	for _, id := range a.order {
		h.Copper = h.Copper && a.ports[id].copper
	}
	return h
}

// reevaluate recomputes the appliance's and each port's mode and drives
// the relays. Worse modes apply at once; better ones only to idle ports.
func (a *Appliance) reevaluate(cause string) {
	now, wall := a.o.Clock.Now(), time.Now()
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		return
	}
	h := a.healthLocked(now)
	mode, reason := decide(h)
	changed := mode != a.mode
	prev := a.mode
	if changed {
		a.mode, a.modeSince = mode, wall
	}
	record, from, reason := a.settleLocked(now, prev, changed, reason) // start.go
	if record {
		a.recordModeLocked(wall, from, mode, reason)
	}
	a.modeReason = reason
	a.scheduleFailbackLocked(now)
	type move struct {
		p      *port
		bypass bool
	}
	var moves []move
	poll := false
	trunkOK := len(upNames(h.Trunks)) > 0
	for _, id := range a.order {
		p := a.ports[id]
		if p.sos && p.hw.Relay.Bypass() && !lineInUse(p.hw.Relay) {
			p.sos = false // the emergency call on the PSTN line is over
		}
		pf := portFacts{mode: p.mode, idle: !p.hook && (p.state == fxs.StateIdle || p.state == fxs.StateStopped),
			lineOK: p.regOK, copper: p.copper, forced: p.forced, sos: p.sos, sipOn: a.sip != nil, trunkOK: trunkOK}
		if pm := portMode(mode, pf, h.BatteryLow); pm != p.mode {
			if p.mode != "" && a.settled { // not while provisional (start.go)
				a.log.Info("port mode", "port", id, "mode", pm, "was", p.mode)
			}
			p.mode = pm
		}
		p.bypass = wantBypass(pf, p.mode, h.BatteryLow)
		if p.hw.Relay.Bypass() != p.bypass && !p.checking.Load() { // a copper check moves it back itself
			moves = append(moves, move{p, p.bypass})
		}
		if _, senses := p.hw.Relay.(hal.LineInUse); senses && p.hw.Relay.Bypass() && (p.sos || !p.bypass) {
			poll = true // only the line-in-use sensor can say when the PSTN call ends
		}
	}
	a.scheduleLinePollLocked(poll)
	shed := h.BatteryLow && !h.Copper
	shedChanged := shed != a.shedding
	a.shedding = shed
	a.mu.Unlock()
	if shedChanged {
		a.m.shedding.Set(b2f(shed))
		if shed {
			a.log.Warn("battery low: keeping the handsets without a copper line on the board and serving calls; shedding what calls do not need (inbound trunk calls ring one port)")
		} else {
			a.log.Info("power: load shedding over")
		}
	}
	if changed {
		a.m.setMode(mode)
	}
	if record {
		if from != "" {
			a.m.modeChanges.Inc()
		}
		a.log.Log(context.Background(), modeLevel(from, mode), "mode", "mode", mode, "was", from, "reason", reason, "cause", cause)
	}
	for _, mv := range moves {
		a.moveRelay(mv.p, mv.bypass, reason)
	}
	a.m.routes.Set(float64(len(upNames(h.Registrars)) + len(upNames(h.Trunks))))
	a.m.emergencyRoutes.Set(float64(len(upNames(h.Registrars)) + len(upNames(h.EmergencyTrunks))))
	a.syncForwarding()
}

// syncForwarding makes each port's dial tone say whether its calls are
// forwarded (the special dial tone).
func (a *Appliance) syncForwarding() {
	if a.fwd == nil {
		return
	}
	for _, id := range a.order {
		if st, err := a.fwd.Get(id); err == nil {
			a.ports[id].fx.SetForwarding(st.Active())
		}
	}
}

// Forwarding returns the forwarding manager (nil when not configured).
func (a *Appliance) Forwarding() *forwarding.Manager { return a.fwd }

// scheduleFailbackLocked re-evaluates when a recovering registrar becomes
// trusted again.
func (a *Appliance) scheduleFailbackLocked(now time.Duration) {
	facts := make([]regFacts, 0, len(a.regs))
	for _, r := range a.regs {
		facts = append(facts, r.facts())
	}
	next := failbackDue(facts, a.lanUp, now, a.o.FailbackAfter)
	if a.failback != nil {
		a.failback.Stop()
		a.failback = nil
	}
	if next > 0 {
		a.failback = a.o.Clock.AfterFunc(next+10*time.Millisecond, func() { a.reevaluate("fail-back period over") })
	}
}

// scheduleLinePollLocked re-evaluates every second while a relay in bypass
// waits for a PSTN call to end (an emergency call on the line, or a move out
// of bypass held back by a handset off-hook on the PSTN side): the
// line-in-use sensor has no events. Otherwise nothing is scheduled.
func (a *Appliance) scheduleLinePollLocked(want bool) {
	if !want {
		if a.linePoll != nil {
			a.linePoll.Stop()
			a.linePoll = nil
		}
		return
	}
	if a.linePoll != nil {
		return
	}
	a.linePoll = a.o.Clock.AfterFunc(time.Second, func() {
		a.mu.Lock()
		a.linePoll = nil
		a.mu.Unlock()
		a.reevaluate("line-in-use poll")
	})
}

// lineInUse reports a handset off-hook on the PSTN side of a relay that can
// tell; a relay that cannot is taken as not in use.
func lineInUse(r hal.Relay) bool {
	s, ok := r.(hal.LineInUse)
	if !ok {
		return false
	}
	inUse, err := s.LineInUse()
	return err == nil && inUse
}

func worse(a, b Mode) bool { return rank(a) > rank(b) }

func rank(m Mode) int {
	switch m {
	case Normal:
		return 0
	case Survivable:
		return 1
	case Lifeline:
		return 2
	}
	return -1
}

// moveRelay moves a port's relay when no call can be cut: the handset must
// be on-hook on the board's side and, in bypass, on the PSTN side too.
func (a *Appliance) moveRelay(p *port, bypass bool, reason string) {
	a.mu.Lock()
	hook := p.hook
	first := hook && !p.wait
	p.wait = hook
	a.mu.Unlock()
	if hook {
		if first {
			a.log.Info("relay move waits for on-hook", "port", p.opt.ID, "bypass", bypass)
		}
		return
	}
	if !bypass {
		if s, ok := p.hw.Relay.(hal.LineInUse); ok {
			if inUse, err := s.LineInUse(); err == nil && inUse {
				a.log.Debug("relay stays in bypass: a call is up on the PSTN line", "port", p.opt.ID)
				return
			}
		}
	}
	a.setRelayNow(p, bypass, reason)
}

// bypassAll puts every relay into bypass at once: the safe state.
func (a *Appliance) bypassAll(reason string) {
	for _, id := range a.order {
		a.setRelayNow(a.ports[id], true, reason)
	}
}
