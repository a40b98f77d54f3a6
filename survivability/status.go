package survivability

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/fxs"
)

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
		cp.Forwarding = forwardingSummary(a.forwardingOf(id))
		if a.fwd != nil {
			cp.ForwardMirror = a.fwd.MirrorState(id)
		}
		snaps[id] = cp
	}
	var lockouts []control.Lockout
	if a.fwd != nil {
		for _, l := range a.fwd.Lockouts() {
			lockouts = append(lockouts, control.Lockout{Kind: string(l.Kind), Key: l.Key, Remaining: l.Remaining.Seconds()})
		}
	}
	trunks := make([]control.Trunk, 0, len(a.trunks))
	for _, tl := range a.trunks {
		st := tl.status()
		trunks = append(trunks, control.Trunk{Name: tl.nm, Kind: tl.o.Kind, Up: st.Up, Registered: st.Registered,
			Operator: st.Operator, SignalDBm: st.SignalDBm, InCall: st.InCall || tl.busy(), Detail: st.Detail})
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	s := control.Status{
		Version: a.o.Version, Board: a.o.Board.Kind(), Profile: a.o.Profile.Name,
		Mode: string(a.mode), ModeSince: a.modeSince, ModeReason: a.modeReason,
		Uptime:   time.Since(a.started).Seconds(),
		Power:    control.Power{Mains: a.mains, BatteryLow: a.batteryLow, Source: "mains"},
		LAN:      control.LAN{Up: a.lanUp},
		Trunks:   trunks,
		Lockouts: lockouts,
		Remote:   a.remoteStatusLocked(),
	}
	if !a.mains {
		s.Power.Source = "battery"
	}
	for _, ro := range a.o.Registrars {
		r := a.regs[ro.Name]
		cr := control.Registrar{Name: ro.Name, Address: ro.Address, Transport: ro.Transport,
			Up: r.up, RTTMillis: float64(r.rtt.Microseconds()) / 1000, Loss: r.loss}
		switch {
		case a.sip == nil:
			cr.Detail = "SIP not running"
		case !r.known:
			cr.Detail = "probing"
		case r.up && !a.usableLocked(r, now):
			cr.Detail = "recovering: back in use after the fail-back period"
		}
		for _, id := range a.order {
			if p := a.ports[id]; p.regOK && p.reg == ro.Name {
				cr.Active = true
			}
		}
		s.Registrars = append(s.Registrars, cr)
	}
	if n := len(a.history); n > 0 {
		s.RecentModes = append([]control.ModeChange(nil), a.history[max(0, n-10):]...)
	}
	for _, id := range a.order {
		p := a.ports[id]
		cp := snaps[id]
		cp.Mode = string(p.mode)
		cp.Route = p.route
		cp.Lifeline = p.forced
		if p.regOK {
			cp.Registered = p.reg
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
	h := a.healthLocked(time.Now())
	a.mu.Unlock()
	if len(upNames(h.Registrars)) == 0 && len(upNames(h.Trunks)) == 0 {
		missing = append(missing, "no registrar or trunk reachable")
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}
