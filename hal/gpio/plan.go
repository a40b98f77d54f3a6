package gpio

import (
	"fmt"
	"sort"

	"github.com/critline/critline/hal"
)

// role is what a line does on the board.
type role int

const (
	roleRelay      role = iota // output, requested first
	roleHook                   // input, both edges
	roleRing                   // output
	rolePolarity               // output
	roleMains                  // input, both edges
	roleBatteryLow             // input, both edges
	roleLED                    // output
)

func (r role) input() bool { return r == roleHook || r == roleMains || r == roleBatteryLow }

// request is one line to claim, in the order plan returns.
type request struct {
	fn   string // human name: "port 1 hook", "led status"
	tag  string // short consumer suffix: "p1-hook", "led-status"
	role role
	port int // port id, for port roles
	led  string
	pin  hal.Pin
}

// plan checks a profile and orders its lines: every relay first (so the
// handsets sit on the PSTN line before anything else on the board moves),
// then each port's hook, ring and polarity, then the board's inputs and LEDs.
// Problems are reported all at once, each naming the function and the fix.
func plan(p hal.BoardProfile) ([]request, error) {
	var reqs, relays []request
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seenPort := map[int]bool{}
	wired := func(pin hal.Pin) bool { return pin.Line >= 0 }
	for i, pp := range p.Ports {
		if seenPort[pp.ID] {
			bad("port %d appears twice: give each [[port]] its own id", pp.ID)
		}
		seenPort[pp.ID] = true
		name := func(what string) string { return fmt.Sprintf("port %d %s", pp.ID, what) }
		tag := func(what string) string { return fmt.Sprintf("p%d-%s", pp.ID, what) }
		if !wired(pp.Hook) {
			bad("port %d (the %d. [[port]]) has no hook line: set hook = { line = N }", pp.ID, i+1)
		} else {
			reqs = append(reqs, request{fn: name("hook"), tag: tag("hook"), role: roleHook, port: pp.ID, pin: pp.Hook})
		}
		if !wired(pp.Ring) {
			bad("port %d has no ring line: set ring = { line = N }", pp.ID)
		} else {
			reqs = append(reqs, request{fn: name("ring"), tag: tag("ring"), role: roleRing, port: pp.ID, pin: pp.Ring})
		}
		if wired(pp.Polarity) {
			reqs = append(reqs, request{fn: name("polarity"), tag: tag("pol"), role: rolePolarity, port: pp.ID, pin: pp.Polarity})
		}
		if wired(pp.Relay) {
			relays = append(relays, request{fn: name("relay"), tag: tag("relay"), role: roleRelay, port: pp.ID, pin: pp.Relay})
		}
	}
	if p.Mains != nil {
		reqs = append(reqs, request{fn: "mains", tag: "mains", role: roleMains, pin: *p.Mains})
	}
	if p.BatteryLow != nil {
		reqs = append(reqs, request{fn: "battery_low", tag: "battery-low", role: roleBatteryLow, pin: *p.BatteryLow})
	}
	leds := make([]string, 0, len(p.LEDs))
	for name := range p.LEDs {
		leds = append(leds, name)
	}
	sort.Strings(leds)
	for _, name := range leds {
		pin := p.LEDs[name]
		if !wired(pin) {
			continue
		}
		reqs = append(reqs, request{fn: "led " + name, tag: "led-" + name, role: roleLED, led: name, pin: pin})
	}
	all := append(relays, reqs...)
	used := map[string]string{}
	for _, r := range all {
		if r.pin.Chip == "" {
			bad("%s has no GPIO chip: set board.chip or the pin's chip", r.fn)
			continue
		}
		key := fmt.Sprintf("%s:%d", r.pin.Chip, r.pin.Line)
		if other, dup := used[key]; dup {
			bad("%s and %s both use %s line %d: give each function its own line", other, r.fn, r.pin.Chip, r.pin.Line)
		}
		used[key] = r.fn
		if r.pin.Debounce < 0 {
			bad("%s has a negative debounce (%s)", r.fn, r.pin.Debounce)
		}
	}
	if len(problems) > 0 {
		return nil, &ProfileError{Problems: problems}
	}
	return all, nil
}

// ProfileError lists everything wrong with a board profile.
type ProfileError struct{ Problems []string }

func (e *ProfileError) Error() string {
	s := "board profile:"
	for _, p := range e.Problems {
		s += "\n  " + p
	}
	return s
}
