package config

import (
	"strings"
	"testing"
	"time"
)

const twoPorts = `[[port]]
id = 1
extension = "270001"
behind_relay = "none"

[[port]]
id = 2
extension = "270002"
behind_relay = "none"
`

func TestGroupKeys(t *testing.T) {
	c, err := Parse("g.toml", []byte(twoPorts+`
[[sip.registrar]]
name = "pbx"
address = "10.0.0.1:5060"

[[trunk]]
name = "lte"
kind = "sim"
group = "lodge"

[[group]]
name = "lodge"
extension = "270000"
password = "s3cret"
strategy = "round-robin"
overflow = "270009"
members = [{ port = 1 }, { number = "07700900111", ring_time = "20s" }]

[[group]]
name = "night"
extension = "270009"
members = [{ port = 2 }]
`))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := c.GroupByName("lodge")
	if !ok || g.Strategy != StrategyRoundRobin || g.RingTime.Duration != DefaultGroupRingTime || g.Timeout.Duration != DefaultGroupTimeout ||
		len(g.Members) != 2 || g.Members[1].Number != "07700900111" || g.Members[1].RingTime.Duration != 20*time.Second {
		t.Errorf("group %+v", g)
	}
	if n, _ := c.GroupByName("night"); n.Strategy != StrategyRingAll {
		t.Errorf("default strategy %q", n.Strategy)
	}
	if c.Trunks[0].Group != "lodge" || c.Survivability.LocalCalls != LocalCallsPBXFirst {
		t.Errorf("trunk group %q, local_calls %q", c.Trunks[0].Group, c.Survivability.LocalCalls)
	}
}

func TestGroupErrors(t *testing.T) {
	_, err := Parse("bad.toml", []byte(twoPorts+`
[[trunk]]
name = "lte"
kind = "sim"
group = "nobody"

[survivability]
local_calls = "carrier-pigeon"

[[group]]
name = "a b"
extension = "270001"
auth_user = "x"
password = "p"
strategy = "random"
ring_time = "1s"
timeout = "2h"
members = [{ port = 9 }, { port = 1, number = "0123" }, { number = "999" }, { number = "270002" }, {}, { port = 2 }, { port = 2 }]

[[group]]
name = "g1"
extension = "270010"
overflow = "270011"
members = [{ port = 1 }]

[[group]]
name = "g2"
extension = "270011"
overflow = "270010"
members = [{ port = 1 }]

[[group]]
name = "g1"
extension = "112"
overflow = "999"
members = []
`))
	if err == nil {
		t.Fatal("bad groups accepted")
	}
	for _, w := range []string{
		`trunk[0].group: "nobody" is not a configured group`,
		`survivability.local_calls: "carrier-pigeon": use "pbx-first"`,
		`group[0].name: "a b": use up to 32 letters`,
		`group[0].extension: extension 270001 is already used by port[0]`,
		`group[0].password: the group's own SIP line needs a registrar`,
		`group[0].strategy: "random" is not a strategy`,
		`group[0].ring_time: 1s: use 2s to 10m0s`,
		`group[0].timeout: 2h0m0s: use 2s to 1h0m0s`,
		`group[0].members[0].port: 9 is not a configured port`,
		`group[0].members[1]: gives both port and number`,
		`group[0].members[2].number: 999 is an emergency number`,
		`group[0].members[3].number: 270002 is the extension of port[1]: make it a port member`,
		`group[0].members[4]: empty: give a port`,
		`group[0].members[6]: port 2 is a member twice`,
		`group[2].overflow: group "g2" overflows back to itself through other groups`,
		`group[3].name: group name "g1" is already used by group[1]`,
		`group[3].extension: 112 is an emergency number`,
		`group[3].overflow: 999 is an emergency number`,
		`group[3].members: empty: list the members`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestHotlineKeys(t *testing.T) {
	c, err := Parse("h.toml", []byte(`[[port]]
id = 1
extension = "270001"
behind_relay = "none"
warmline = "270000"

[[port]]
id = 2
extension = "270002"
behind_relay = "none"
hotline = "999"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ports[0].WarmlineAfter.Duration != DefaultWarmlineAfter || c.Ports[1].Hotline != "999" {
		t.Errorf("ports %+v", c.Ports)
	}
	_, err = Parse("bad.toml", []byte(`[[port]]
id = 1
extension = "270001"
behind_relay = "none"
hotline = "270002"
warmline = "27x"
warmline_after = "2m"

[[port]]
id = 2
extension = "270002"
behind_relay = "none"
warmline_after = "3s"
`))
	if err == nil {
		t.Fatal("bad hotlines accepted")
	}
	for _, w := range []string{
		`bad.toml:6: port[0].warmline: set with hotline`,
		`bad.toml:6: port[0].warmline: "27x" is not a number`,
		`bad.toml:7: port[0].warmline_after: 2m0s: use 1s to 1m0s`,
		`bad.toml:13: port[1].warmline_after: set without warmline`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}
