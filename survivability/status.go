package survivability

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
)

// pathReporter is the SIP user agent's network paths, for status.
type pathReporter interface {
	Paths() []sip.PathStatus
}

// Status is the appliance's status for the control API.
func (a *Appliance) Status() control.Status {
	snaps := map[int]control.Port{}
	for _, id := range a.order {
		p := a.ports[id]
		sn := p.fx.Snapshot()
		cp := control.Port{ID: id, Name: p.opt.Name, Extension: p.opt.Extension, Hook: "on",
			State: string(sn.State), Digits: sn.Digits, Relay: "board"}
		if sn.OffHook {
			cp.Hook = "off"
		}
		if sn.Condition != "" && sn.Condition != "ok" {
			cp.Condition = string(sn.Condition)
		}
		if p.hw.Relay.Bypass() {
			cp.Relay = "bypass"
		}
		cp.Divert, _ = a.divertTarget(p)
		cp.Engine = engineState(p.fx.Engine())
		cp.BehindRelay = "none"
		if p.copper {
			cp.BehindRelay = "copper"
		}
		cp.Forwarding = forwardingSummary(a.forwardingOf(id))
		if a.fwd != nil {
			cp.ForwardMirror = a.fwd.MirrorState(id)
		}
		cp.Held, cp.Waiting, cp.ThreeWay = sn.Held, sn.Waiting, sn.ThreeWay
		cp.Flash = p.opt.Flash
		if cp.Flash == "" {
			cp.Flash = FlashLocal
		}
		snaps[id] = cp
	}
	var lockouts []control.Lockout
	if a.fwd != nil {
		for _, l := range a.fwd.Lockouts() {
			lockouts = append(lockouts, control.Lockout{Kind: string(l.Kind), Key: l.Key, Remaining: l.Remaining.Seconds()})
		}
	}
	groups := a.groupsStatus() // groups.go
	trunks := make([]control.Trunk, 0, len(a.trunks))
	for _, tl := range a.trunks {
		st := tl.status()
		ct := control.Trunk{Name: tl.nm, Kind: tl.o.Kind, Up: st.CanCall(), ModemUp: st.Up, Service: st.Service.String(),
			EmergencyCalls: st.CanCallEmergency(), Registered: st.Registered,
			Operator: st.Operator, SignalDBm: st.SignalDBm, InCall: st.InCall || tl.busy(), Detail: st.Detail}
		if !st.Up {
			ct.Service = hal.ServiceNone.String()
		}
		switch {
		case ct.Detail != "" || !st.Up || st.CanCall():
		case st.CanCallEmergency():
			ct.Detail = "not registered: emergency calls only (limited service)"
		default:
			ct.Detail = "no network"
		}
		a.trunkServicesStatus(tl, &ct)
		if db, ok := tl.t.(hal.DataBearer); ok {
			if d := db.DataStatus(); d.Interface != "" {
				ct.Data = &control.TrunkData{State: string(d.State), Interface: d.Interface, Bearer: d.Bearer, USBMode: d.USBMode,
					Detail: d.Detail, Since: d.Since, Connects: d.Connects}
			}
		}
		trunks = append(trunks, ct)
	}
	var paths []control.NetPath
	if ps, ok := a.sip.(pathReporter); ok && a.sip != nil {
		for _, p := range ps.Paths() {
			np := control.NetPath{Name: p.Name, Interface: p.Interface, Up: p.Up, Detail: p.Detail, Since: p.Since,
				SIPBytesIn: p.SIPIn, SIPBytesOut: p.SIPOut, RTPBytesIn: p.RTPIn, RTPBytesOut: p.RTPOut}
			if p.Addr.IsValid() {
				np.Address = p.Addr.String()
			}
			paths = append(paths, np)
		}
	}
	xfers := a.xfers.status()

	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.o.Clock.Now()
	s := control.Status{
		Version: a.o.Version, Board: a.o.Board.Kind(), Profile: a.o.Profile.Name,
		Mode: string(a.mode), ModeSince: a.modeSince, ModeReason: a.modeReason,
		Uptime:   (a.o.Clock.Now() - a.started).Seconds(),
		Power:    control.Power{Mains: a.mains, BatteryLow: a.batteryLow, Source: "mains", Shedding: a.shedding},
		LAN:      control.LAN{Up: a.lanUp},
		Trunks:   trunks,
		Lockouts: lockouts,
		Remote:   a.remoteStatusLocked(),
		Paths:    paths,
		Groups:   groups,
	}
	if len(xfers) > 0 {
		s.Transfers = xfers
	}
	if !a.mains {
		s.Power.Source = "battery"
	}
	h := a.healthLocked(now)
	s.RouteAvailable = len(upNames(h.Registrars))+len(upNames(h.Trunks)) > 0
	s.EmergencyRouteAvailable = len(upNames(h.Registrars))+len(upNames(h.EmergencyTrunks)) > 0
	s.EmergencyRoute = a.o.EmergencyRoute
	if s.EmergencyRoute == "" {
		s.EmergencyRoute = EmergencyPBXFirst
	}
	if a.mode == "" { // before the first decision (start.go): the relays are in bypass
		s.Mode, s.ModeReason = string(Lifeline), startingReason
	}
	for _, ro := range a.o.Registrars {
		r := a.regs[ro.Name]
		cr := control.Registrar{Name: ro.Name, Address: ro.Address, Transport: ro.Transport,
			Up: r.up, RTTMillis: float64(r.rtt.Microseconds()) / 1000, Loss: r.loss,
			Via: ro.Via, Path: r.path, Holding: r.holding}
		if cr.Via == "" {
			cr.Via = "lan"
		}
		if cr.Path == "" {
			cr.Path = sip.PathLAN
		}
		for _, ph := range r.paths {
			cr.Paths = append(cr.Paths, control.RegistrarPath{Path: ph.Path, Up: ph.Up, Known: ph.Known, Holding: ph.Holding,
				RTTMillis: float64(ph.RTT.Microseconds()) / 1000, Loss: ph.Loss, PublicAddress: ph.Public})
		}
		switch {
		case a.sip == nil:
			cr.Detail = "SIP not running"
		case !r.known:
			cr.Detail = "probing"
		case r.holding:
			cr.Detail = "its path " + r.path + " lost its data session: held while it comes back"
		case r.up && r.lanGated() && !a.lanUp:
			cr.Detail = "LAN down"
		case r.up && !a.usableLocked(r, now):
			cr.Detail = "recovering: back in use after the fail-back period"
		}
		cr.Active = r.up && a.boundWithLocked(ro.Name) // a dead registrar is no one's
		s.Registrars = append(s.Registrars, cr)
	}
	if n := len(a.history); n > 0 {
		s.RecentModes = append([]control.ModeChange(nil), a.history[max(0, n-10):]...)
	}
	for _, id := range a.order {
		p := a.ports[id]
		cp := snaps[id]
		cp.Mode = string(p.mode)
		if p.mode == "" {
			cp.Mode = string(Lifeline) // before the first decision
		}
		cp.Route = p.route
		cp.Lifeline = p.forced
		a.dialectStatusLocked(p, &cp) // dialects.go
		if p.regOK {
			cp.Registered = p.reg
		}
		if a.sip != nil {
			cp.Registrations = a.registrationsLocked(p)
		}
		s.Ports = append(s.Ports, cp)
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

// Healthy says whether the appliance does its job, for confirming a trial
// firmware boot: every port's engine runs and its relay answers, and at
// least one way out (a registrar or a trunk) works. The error says what is
// missing.
func (a *Appliance) Healthy() error {
	var missing []string
	for _, id := range a.order {
		p := a.ports[id]
		sn := p.fx.Snapshot()
		if sn.State == fxs.StateStopped {
			missing = append(missing, fmt.Sprintf("port %d not running", id))
		}
		if sn.Counters.LineErrors > 0 {
			missing = append(missing, fmt.Sprintf("port %d: %d line output errors", id, sn.Counters.LineErrors))
		}
	}
	a.mu.Lock()
	h := a.healthLocked(a.o.Clock.Now())
	a.mu.Unlock()
	// A trunk whose modem answers counts: the firmware drives it; whether
	// the network registers the SIM is no measure of the firmware.
	modems := 0
	for _, tl := range a.trunks {
		if tl.status().Up {
			modems++
		}
	}
	if len(upNames(h.Registrars)) == 0 && modems == 0 {
		missing = append(missing, "no registrar or trunk reachable")
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}
