package main

import (
	"log/slog"

	"github.com/critline/critline/config"
	"github.com/critline/critline/firmware"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability"
	"github.com/prometheus/client_golang/prometheus"
)

// loadProfile reads the country profile and its optional override file.
func loadProfile(cfg *config.Config) (*profile.Profile, error) {
	return profile.LoadFile(cfg.Board.Profile, cfg.Board.ProfileFile)
}

func applianceOptions(cfg *config.Config, b *board, prof *profile.Profile, reg prometheus.Registerer, log *slog.Logger) survivability.Options {
	o := survivability.Options{
		Board:          b.board,
		Profile:        prof,
		Emergency:      cfg.Survivability.Emergency,
		EmergencyRoute: cfg.Survivability.EmergencyRoute,
		FailbackAfter:  cfg.Survivability.FailbackAfter.Duration,
		Registerer:     reg,
		Logger:         log,
		Clock:          b.clock,
		Version:        version,
		Trunks:         b.trunks,
		PortStallAfter: cfg.Survivability.PortStall.Duration,
		LocalCalls:     cfg.Survivability.LocalCalls,
		Groups:         groupOptions(cfg),
	}
	for _, p := range cfg.Ports {
		o.Ports = append(o.Ports, survivability.PortOptions{ID: p.ID, Name: p.Name, Extension: p.Extension, DialPlan: p.DialPlan,
			DivertTo: p.DivertTo, DivertAfter: p.DivertAfter.Duration, Copper: p.BehindRelay == "copper", Voicemail: p.Voicemail,
			Flash: p.Flash, CallWaiting: p.CallWaitingOn(), TransferOnHangup: p.TransferOnHangupOn(),
			Hotline: p.Hotline, Warmline: p.Warmline, WarmlineAfter: p.WarmlineAfter.Duration})
	}
	for _, r := range cfg.SIP.Registrars {
		o.Registrars = append(o.Registrars, survivability.RegistrarOptions{Name: r.Name, Address: r.Address, Transport: r.Transport, Via: r.Via})
	}
	return o
}

// probeBurst maps [sip] probe_burst onto sip.Config.ProbeBurst, where 0
// means the default and a negative count turns bursts off.
func probeBurst(n *int) int {
	if n == nil {
		return 0
	}
	if *n == 0 {
		return -1
	}
	return *n
}

// sipConfig maps [sip], [[sip.registrar]] and the ports' credentials.
func sipConfig(cfg *config.Config, app *survivability.Appliance, clock hal.Clock, reg prometheus.Registerer, log *slog.Logger) sip.Config {
	lo, hi, _ := config.ParsePortRange(cfg.SIP.RTPPorts) // validated
	sc := sip.Config{
		Listen:          cfg.SIP.Listen,
		Advertise:       cfg.SIP.Advertise,
		RTPPortMin:      lo,
		RTPPortMax:      hi,
		ProbeInterval:   cfg.SIP.ProbeInterval.Duration,
		Register:        cfg.SIP.Register,
		RegisterExpiry:  cfg.SIP.RegisterExpiry.Duration,
		FailbackAfter:   cfg.Survivability.FailbackAfter.Duration,
		UserAgent:       "critline/" + version,
		ProgressTimeout: cfg.SIP.ProgressTimeout.Duration,
		SessionExpires:  cfg.SIP.SessionExpires.Duration,
		MinSE:           cfg.SIP.MinSE.Duration,
		KeepAlive:       cfg.SIP.KeepAlive.Duration,
		FirstResponse:   cfg.SIP.FirstResponse.Duration,
		RTTFloor:        cfg.SIP.RTTFloor.Duration,
		ProbeBurst:      probeBurst(cfg.SIP.ProbeBurst),
		OnIncoming:      app.OnIncoming,
		Registerer:      reg,
		Logger:          log.With("component", "sip"),
		Clock:           clock,
	}
	sc.Paths = sipPaths(cfg)
	for _, r := range cfg.SIP.Registrars {
		sr := sip.Registrar{Name: r.Name, Address: r.Address, Transport: r.Transport, Domain: r.Domain,
			SRTP: r.SRTP, MWISubscribe: r.MWISubscribe}
		if sc.Paths != nil {
			sr.Paths = registrarPaths(r.Via)
		}
		sc.Registrars = append(sc.Registrars, sr)
	}
	for _, p := range cfg.Ports {
		l := sip.Line{Port: p.ID, Extension: p.Extension, AuthUser: p.AuthUser, Password: p.Password, Mailbox: p.Mailbox}
		if p.Flash != survivability.FlashLocal {
			l.Flash = p.Flash // passed to the PBX this way
		}
		sc.Lines = append(sc.Lines, l)
	}
	for i, g := range cfg.Groups {
		if g.Password != "" { // the group's own line, beyond the ports' ids (survivability.GroupLine)
			sc.Lines = append(sc.Lines, sip.Line{Port: survivability.GroupLine(i), Extension: g.Extension, AuthUser: g.AuthUser, Password: g.Password})
		}
	}
	if l, ok := serviceLine(cfg); ok {
		sc.Lines = append(sc.Lines, l) // remote activation (remote.go)
	}
	sc.TrustedTransports = cfg.SIP.TrustedTransports
	return sc
}

// groupOptions maps [[group]].
func groupOptions(cfg *config.Config) []survivability.GroupOptions {
	var out []survivability.GroupOptions
	for _, g := range cfg.Groups {
		o := survivability.GroupOptions{Name: g.Name, Extension: g.Extension, Line: g.Password != "", Strategy: g.Strategy,
			RingTime: g.RingTime.Duration, Timeout: g.Timeout.Duration, Overflow: g.Overflow}
		for _, m := range g.Members {
			o.Members = append(o.Members, survivability.GroupMember{Port: m.Port, Number: m.Number, RingTime: m.RingTime.Duration})
		}
		out = append(out, o)
	}
	return out
}

// firmwareConfig maps [firmware] onto the firmware package's settings.
func firmwareConfig(cfg *config.Config, log *slog.Logger) firmware.Config {
	f := cfg.Firmware
	return firmware.Config{
		Board: f.Board, SlotA: f.SlotA, SlotB: f.SlotB, StateFile: f.StateFile, TrustedKeys: f.TrustedKeys,
		TrialTries: f.TrialTries, HealthTimeout: f.HealthTimeout.Duration, HealthRetry: f.HealthRetry.Duration,
		RebootCommand: f.RebootCommand, Cmdline: f.Cmdline, Method: f.Method, Autoboot: f.Autoboot,
		PartitionA: f.PartitionA, PartitionB: f.PartitionB, DeviceTree: f.DeviceTree, TrybootCommand: f.TrybootCommand,
		Logger: log.With("component", "firmware"),
	}
}
