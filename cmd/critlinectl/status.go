package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/critline/critline/control"
)

func runStatus(e *env, args []string) int {
	asJSON := false
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		default:
			return usageErr(e, "usage: status [--json]")
		}
	}
	st, err := e.client().Status(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return fail(e, err)
		}
		return exitOK
	}
	printStatus(e.stdout, st, time.Now())
	return exitOK
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printStatus renders the status for a person on site.
func printStatus(w io.Writer, st control.Status, now time.Time) {
	since := ""
	if !st.ModeSince.IsZero() {
		since = fmt.Sprintf(" for %s", now.Sub(st.ModeSince).Round(time.Second))
	}
	fmt.Fprintf(w, "critline %s on the %s board (%s tones), up %s\n", st.Version, st.Board, st.Profile, (time.Duration(st.Uptime) * time.Second).Round(time.Second))
	fmt.Fprintf(w, "mode     %s%s: %s\n", strings.ToUpper(st.Mode), since, st.ModeReason)
	power := "mains"
	if !st.Power.Mains {
		power = "ON BATTERY"
	}
	if st.Power.BatteryLow {
		power += ", BATTERY LOW"
	}
	if st.Power.Shedding {
		power += " (shedding load, serving calls on the board)"
	}
	fmt.Fprintf(w, "power    %s\n", power)
	lan := "up"
	if !st.LAN.Up {
		lan = "DOWN"
	}
	fmt.Fprintf(w, "lan      %s\n", lan)
	fmt.Fprintf(w, "routes   ordinary calls %s, emergency calls %s (%s)\n\n", yesNo(st.RouteAvailable), yesNo(st.EmergencyRouteAvailable), dash(st.EmergencyRoute))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGISTRAR\tADDRESS\tUP\tACTIVE\tRTT\tLOSS\tDETAIL")
	if len(st.Registrars) == 0 {
		fmt.Fprintln(tw, "(none configured)")
	}
	for _, r := range st.Registrars {
		rtt := "-"
		if r.Up {
			rtt = fmt.Sprintf("%.0fms", r.RTTMillis)
		}
		act := ""
		if r.Active {
			act = "*"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%.0f%%\t%s\n", r.Name, r.Address, r.Transport, yesNo(r.Up), act, rtt, 100*r.Loss, r.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRUNK\tKIND\tUP\tNETWORK\tSIGNAL\tCALL\tDETAIL")
	if len(st.Trunks) == 0 {
		fmt.Fprintln(tw, "(none configured)")
	}
	for _, t := range st.Trunks {
		sig := "-"
		if t.SignalDBm != 0 {
			sig = fmt.Sprintf("%.0fdBm", t.SignalDBm)
		}
		netw := "none"
		switch {
		case !t.ModemUp:
			netw = "-"
		case t.Service == "full":
			netw = dash(t.Operator)
		case t.Service == "limited":
			netw = "limited: 999 only"
		}
		call := ""
		if t.InCall {
			call = "in call"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Kind, yesNo(t.Up), netw, sig, call, t.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tNAME\tEXT\tREGISTERED\tHOOK\tSTATE\tDIGITS\tROUTE\tFORWARD\tRELAY\tMODE")
	for _, p := range st.Ports {
		state := p.State
		if p.Condition != "" {
			state += " (" + p.Condition + ")"
		}
		switch {
		case p.ThreeWay:
			state += " (three-way with " + p.Held + ")"
		case p.Held != "":
			state += " (" + p.Held + " held)"
		}
		if p.Waiting != "" {
			state += " (" + p.Waiting + " waiting)"
		}
		relay := p.Relay
		if relay == "bypass" {
			relay = "BYPASS"
		}
		if p.BehindRelay == "none" {
			relay += " (no copper)"
		}
		var regs []string
		for _, r := range p.Registrations {
			if r.Registered {
				regs = append(regs, r.Registrar)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Extension, dash(strings.Join(regs, ",")), p.Hook, state, dash(p.Digits), dash(p.Route), dash(p.Forwarding), relay, p.Mode)
	}
	tw.Flush()
	if len(st.Transfers) > 0 {
		fmt.Fprintln(w)
		for _, x := range st.Transfers {
			fmt.Fprintf(w, "TRANSFERRED by port %d: %s <-> %s (%s, %s) since %s\n", x.Port, dash(x.Held), dash(x.Target), x.Method, x.State, x.Since.Format("15:04:05"))
		}
	}
	printGroups(w, st.Groups)
	if len(st.Lockouts) > 0 {
		fmt.Fprintln(w)
		for _, l := range st.Lockouts {
			fmt.Fprintf(w, "LOCKED OUT of remote activation: %s %s for %s more (critlinectl forward unlock %s %s)\n",
				l.Kind, l.Key, (time.Duration(l.Remaining) * time.Second).Round(time.Second), l.Kind, l.Key)
		}
	}
}

// printGroups renders the hunt groups: who is in each, who rings now.
func printGroups(w io.Writer, groups []control.Group) {
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP	EXT	STRATEGY	LINE	CALLS	RINGING	MEMBERS")
	for _, g := range groups {
		var ms []string
		for _, m := range g.Members {
			s := m.Member
			if m.State != "ready" && m.State != "ringing" {
				s += " (" + m.State + ")"
			}
			ms = append(ms, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", g.Name, g.Extension, g.Strategy, dash(g.Line), g.Calls, dash(strings.Join(g.Ringing, ",")), strings.Join(ms, ", "))
	}
	tw.Flush()
}
