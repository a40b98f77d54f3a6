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
	printProof(e.stdout, st, time.Now())
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
	fmt.Fprintln(tw, "REGISTRAR\tADDRESS\tPATH\tUP\tACTIVE\tRTT\tLOSS\tDETAIL")
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
		path := dash(r.Path)
		if r.Via == "any" {
			path += " (any)"
		}
		if r.Holding {
			path += " HELD"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\n", r.Name, r.Address, r.Transport, path, yesNo(r.Up), act, rtt, 100*r.Loss, r.Detail)
	}
	tw.Flush()
	if len(st.Paths) > 1 { // the LAN and a modem's data connection
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tINTERFACE\tUP\tADDRESS\tSIP IN/OUT\tRTP IN/OUT\tDETAIL")
		for _, p := range st.Paths {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s/%s\t%s\n", p.Name, dash(p.Interface), yesNo(p.Up), dash(p.Address),
				sizeOf(p.SIPBytesIn), sizeOf(p.SIPBytesOut), sizeOf(p.RTPBytesIn), sizeOf(p.RTPBytesOut), p.Detail)
		}
		tw.Flush()
	}
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
		detail := t.Detail
		if d := t.Data; d != nil {
			data := fmt.Sprintf("data %s on %s", d.State, d.Interface)
			if d.USBMode != "" {
				data += " (" + d.USBMode + ")"
			}
			if d.State != "up" && d.Detail != "" {
				data += ": " + d.Detail
			}
			detail = strings.TrimPrefix(detail+"; "+data, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Kind, yesNo(t.Up), netw, sig, call, detail)
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
	for _, p := range st.Ports {
		if strings.HasPrefix(p.ForwardMirror, "refused") {
			fmt.Fprintf(w, "port %d: forwarding NOT mirrored into the mobile network: %s\n", p.ID, strings.TrimPrefix(p.ForwardMirror, "refused: "))
		}
	}
	if r := st.Remote; r != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Remote activation: prompts %s", r.Prompts)
		if r.ServiceExtension != "" {
			fmt.Fprintf(w, "; service extension %s %s", r.ServiceExtension, map[bool]string{true: "registered on " + r.ServiceRegistered, false: "NOT REGISTERED"}[r.ServiceRegistered != ""])
		}
		if r.StaffNumbers > 0 {
			fmt.Fprintf(w, "; %d staff numbers on the trunks", r.StaffNumbers)
		}
		if r.ServiceTrunk != "" {
			fmt.Fprintf(w, "; every call on trunk %s", r.ServiceTrunk)
		}
		fmt.Fprintln(w)
	}
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

// sizeOf writes a byte count for a person: 812B, 14.2kB, 3.1MB.
func sizeOf(n uint64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%dB", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1fkB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fGB", float64(n)/1e9)
}

// printProof renders the path tests and the battery record (issue 17).
func printProof(w io.Writer, st control.Status, now time.Time) {
	ago := func(t time.Time) string {
		return (now.Sub(t).Round(time.Minute)).String() + " ago"
	}
	if len(st.PathTests) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tCALLED\tLAST TEST\tRESULT\tPROVEN\tNEXT\tDETAIL")
		for _, p := range st.PathTests {
			last, result, proven, next, detail := "never", "-", "never", "-", ""
			if p.Last != nil {
				last, result, detail = ago(p.Last.At), strings.ToUpper(p.Last.Result), p.Last.Detail
			}
			if p.LastSuccess != nil {
				proven = ago(*p.LastSuccess)
			}
			if p.NextTest != nil {
				next = p.NextTest.Local().Format("Jan 2 15:04")
			}
			if p.Postponed != "" {
				next, detail = "waiting", p.Postponed
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Path, p.Target, last, result, proven, next, detail)
		}
		tw.Flush()
	}
	b := st.Battery
	if b == nil {
		return
	}
	switch {
	case b.OnBatterySince != nil:
		fmt.Fprintf(w, "\nbattery  ON BATTERY for %s", now.Sub(*b.OnBatterySince).Round(time.Second))
	case len(b.Runs) > 0:
		r := b.Runs[len(b.Runs)-1]
		fmt.Fprintf(w, "\nbattery  last run %s: %s, ended by %s", r.Start.Local().Format("Jan 2 15:04"), (time.Duration(r.Seconds) * time.Second).String(), r.EndedBy)
		if r.BatteryLowAfterSeconds != nil {
			fmt.Fprintf(w, ", battery low after %s", (time.Duration(*r.BatteryLowAfterSeconds) * time.Second).String())
		}
		if r.Early {
			fmt.Fprint(w, ": ENDED EARLY, replace the battery")
		}
	default:
		fmt.Fprint(w, "\nbattery  no run on battery recorded yet")
	}
	if b.ExpectedRuntimeSeconds > 0 {
		fmt.Fprintf(w, " (expected runtime %s)", time.Duration(b.ExpectedRuntimeSeconds)*time.Second)
	}
	fmt.Fprintln(w)
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
