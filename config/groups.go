package config

// The lodge's phones working together (issue 14): hunt groups, calls
// between the ports, hotline and warmline.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Group is a hunt group: a number of its own that rings its members (ports
// and outside numbers) by a strategy, and sends the call on to an overflow
// destination when nobody answers.
type Group struct {
	Name      string `toml:"name"`      // labels metrics and status
	Extension string `toml:"extension"` // the group's number: ports dial it, the PBX reaches it
	// AuthUser and Password register the extension as a SIP line of its
	// own with every registrar, so the PBX can point a hunt group or a
	// direct number at it. Without a password the group is reached from
	// the ports and the trunks only.
	AuthUser string `toml:"auth_user"`
	Password string `toml:"password"`
	// Strategy: ring-all (every member at once), sequential (in order),
	// round-robin (in order, each call starting one member further on),
	// longest-idle (the member idle longest first).
	Strategy string        `toml:"strategy"`
	RingTime Duration      `toml:"ring_time"` // how long each member rings before the next (hunting strategies)
	Timeout  Duration      `toml:"timeout"`   // how long the group tries before the overflow
	Overflow string        `toml:"overflow"`  // a number, or a port's or another group's extension
	Members  []GroupMember `toml:"members"`
}

// GroupMember is a port (Port) or an outside number (Number), such as a
// team member's mobile.
type GroupMember struct {
	Port     int      `toml:"port"`
	Number   string   `toml:"number"`
	RingTime Duration `toml:"ring_time"` // overrides the group's
}

// Group strategies.
const (
	StrategyRingAll     = "ring-all"
	StrategySequential  = "sequential"
	StrategyRoundRobin  = "round-robin"
	StrategyLongestIdle = "longest-idle"
)

// Local call modes ([survivability] local_calls).
const (
	LocalCallsPBXFirst = "pbx-first"
	LocalCallsLocal    = "local"
)

// Defaults and bounds of the groups' and hotlines' times.
const (
	DefaultGroupRingTime = 15 * time.Second
	DefaultGroupTimeout  = 60 * time.Second
	DefaultWarmlineAfter = 5 * time.Second
	minGroupRingTime     = 2 * time.Second
	maxGroupRingTime     = 10 * time.Minute
	maxGroupTimeout      = time.Hour
	minWarmlineAfter     = time.Second
	maxWarmlineAfter     = time.Minute
)

var (
	strategies  = []string{StrategyRingAll, StrategySequential, StrategyRoundRobin, StrategyLongestIdle}
	localModes  = []string{LocalCallsPBXFirst, LocalCallsLocal}
	reGroupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
)

func (c *Config) groupDefaults() {
	if c.Survivability.LocalCalls == "" {
		c.Survivability.LocalCalls = LocalCallsPBXFirst
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Strategy == "" {
			g.Strategy = StrategyRingAll
		}
		if g.RingTime.Duration == 0 {
			g.RingTime.Duration = DefaultGroupRingTime
		}
		if g.Timeout.Duration == 0 {
			g.Timeout.Duration = DefaultGroupTimeout
		}
	}
	for i := range c.Ports {
		if c.Ports[i].Warmline != "" && c.Ports[i].WarmlineAfter.Duration == 0 {
			c.Ports[i].WarmlineAfter.Duration = DefaultWarmlineAfter
		}
	}
}

// GroupByName returns the group named name.
func (c *Config) GroupByName(name string) (Group, bool) {
	for _, g := range c.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

func (c *Config) validateGroups(bad func(key, format string, args ...any)) {
	if !oneOf(c.Survivability.LocalCalls, localModes) {
		bad("survivability.local_calls", "%q: use \"pbx-first\" (through the PBX while it is healthy, so it keeps its records; inside the appliance otherwise) or \"local\" (always inside the appliance)", c.Survivability.LocalCalls)
	}
	emergency := func(n string) bool { return slices.Contains(c.Survivability.Emergency, n) }
	// Every extension the appliance answers for: ports' and groups'.
	owner := map[string]string{}
	portIDs := map[int]bool{}
	for i, p := range c.Ports {
		if p.Extension != "" {
			owner[p.Extension] = fmt.Sprintf("port[%d]", i)
		}
		portIDs[p.ID] = true
	}
	names := map[string]string{}
	groupExt := map[string]int{} // extension -> group index
	for i, g := range c.Groups {
		k := fmt.Sprintf("group[%d]", i)
		switch {
		case g.Name == "":
			bad(k+".name", "missing: name each group (it labels metrics and status), e.g. name = \"lodge\"")
		case !reGroupName.MatchString(g.Name):
			bad(k+".name", "%q: use up to 32 letters, digits, '-', '_' or '.', starting with a letter or digit", g.Name)
		case names[g.Name] != "":
			bad(k+".name", "group name %q is already used by %s", g.Name, names[g.Name])
		default:
			names[g.Name] = k
		}
		switch {
		case g.Extension == "":
			bad(k+".extension", "missing: give the group's own number, e.g. extension = \"270000\"")
		case !reDigits.MatchString(g.Extension):
			bad(k+".extension", "%q is not an extension: use digits only", g.Extension)
		case emergency(g.Extension):
			bad(k+".extension", "%s is an emergency number: give the group another number", g.Extension)
		case owner[g.Extension] != "":
			bad(k+".extension", "extension %s is already used by %s: give the group a number of its own", g.Extension, owner[g.Extension])
		default:
			owner[g.Extension] = k
			groupExt[g.Extension] = i
		}
		if g.AuthUser != "" && g.Password == "" {
			bad(k+".auth_user", "set without a password: give password too (the group's line registers with both), or remove auth_user")
		}
		if g.Password != "" && len(c.SIP.Registrars) == 0 {
			bad(k+".password", "the group's own SIP line needs a registrar: add a [[sip.registrar]], or remove password (the group is then reached from the ports and trunks only)")
		}
		if !oneOf(g.Strategy, strategies) {
			bad(k+".strategy", "%q is not a strategy: use one of %s", g.Strategy, choices(strategies))
		}
		if d := g.RingTime.Duration; d < minGroupRingTime || d > maxGroupRingTime {
			bad(k+".ring_time", "%s: use %s to %s (how long each member rings before the next)", g.RingTime, minGroupRingTime, maxGroupRingTime)
		}
		if d := g.Timeout.Duration; d < minGroupRingTime || d > maxGroupTimeout {
			bad(k+".timeout", "%s: use %s to %s (how long the group tries before the overflow)", g.Timeout, minGroupRingTime, maxGroupTimeout)
		}
		if len(g.Members) == 0 {
			bad(k+".members", "empty: list the members, e.g. members = [{ port = 1 }, { port = 2 }, { number = \"07700900111\" }]")
		}
		seen := map[string]bool{}
		for j, m := range g.Members {
			mk := fmt.Sprintf("%s.members[%d]", k, j)
			id := ""
			switch {
			case m.Port != 0 && m.Number != "":
				bad(mk, "gives both port and number: a member is one port ({ port = 1 }) or one outside number ({ number = \"07700900111\" })")
				continue
			case m.Port != 0:
				if !portIDs[m.Port] {
					bad(mk+".port", "%d is not a configured port: use the id of a [[port]]", m.Port)
				}
				id = fmt.Sprintf("port %d", m.Port)
			case m.Number != "":
				switch {
				case !reDialable.MatchString(m.Number):
					bad(mk+".number", "%q is not a phone number: use digits (and a leading +)", m.Number)
				case emergency(m.Number):
					bad(mk+".number", "%s is an emergency number: a group member is a person's phone", m.Number)
				case strings.HasPrefix(owner[m.Number], "port["):
					bad(mk+".number", "%s is the extension of %s: make it a port member, { port = N }", m.Number, owner[m.Number])
				}
				id = m.Number
			default:
				bad(mk, "empty: give a port ({ port = 1 }) or an outside number ({ number = \"07700900111\" })")
				continue
			}
			if seen[id] {
				bad(mk, "%s is a member twice: list each member once", id)
			}
			seen[id] = true
			if d := m.RingTime.Duration; d != 0 && (d < minGroupRingTime || d > maxGroupRingTime) {
				bad(mk+".ring_time", "%s: use %s to %s, or leave it out for the group's", m.RingTime, minGroupRingTime, maxGroupRingTime)
			}
		}
		if o := g.Overflow; o != "" {
			switch {
			case !reDialable.MatchString(o):
				bad(k+".overflow", "%q is not a number: give a phone number, or a port's or another group's extension", o)
			case o == g.Extension:
				bad(k+".overflow", "%s is the group's own extension: give another destination", o)
			case emergency(o):
				bad(k+".overflow", "%s is an emergency number: unanswered calls must not be sent there", o)
			}
		}
	}
	// Overflows that lead back to where they started would hunt for ever.
	for i, g := range c.Groups {
		at, hops := i, 0
		for {
			next, ok := groupExt[c.Groups[at].Overflow]
			if !ok {
				break
			}
			at, hops = next, hops+1
			if at == i || hops > len(c.Groups) {
				bad(fmt.Sprintf("group[%d].overflow", i), "group %q overflows back to itself through other groups: end the chain with a number or a port", g.Name)
				break
			}
		}
	}
	for i, t := range c.Trunks {
		if t.Group == "" {
			continue
		}
		k := fmt.Sprintf("trunk[%d].group", i)
		if names[t.Group] == "" {
			bad(k, "%q is not a configured group: name one of the [[group]] sections, or remove it to ring every port", t.Group)
		}
		if t.Name != "" && t.Name == c.Survivability.RemoteTrunk {
			bad(k, "trunk %s is the remote-activation trunk, whose calls reach the dialogue, not a group: remove one of the two", t.Name)
		}
	}
	for i, p := range c.Ports {
		k := fmt.Sprintf("port[%d]", i)
		if p.Hotline != "" && p.Warmline != "" {
			bad(k+".warmline", "set with hotline: a port dials one number at once (hotline) or after a pause (warmline), not both")
		}
		for _, f := range []struct{ key, v string }{{"hotline", p.Hotline}, {"warmline", p.Warmline}} {
			if f.v != "" && !reDialable.MatchString(f.v) {
				bad(k+"."+f.key, "%q is not a number: use digits (and a leading +)", f.v)
			}
		}
		if p.Warmline == "" && p.WarmlineAfter.Duration != 0 {
			bad(k+".warmline_after", "set without warmline: give the number too, or remove it")
		}
		if d := p.WarmlineAfter.Duration; p.Warmline != "" && (d < minWarmlineAfter || d > maxWarmlineAfter) {
			bad(k+".warmline_after", "%s: use %s to %s (how long dial tone plays without a digit before the warmline is dialled)", p.WarmlineAfter, minWarmlineAfter, maxWarmlineAfter)
		}
	}
}
