package config

import (
	"strings"
	"testing"
)

const pathsBase = `[board]
kind = "sim"
link = "eth0"

[[port]]
id = 1
extension = "270001"
behind_relay = "none"

[sip]
listen = "0.0.0.0:5060"

[[sip.registrar]]
name = "campus"
address = "10.1.2.3:5060"

[[sip.registrar]]
name = "cloud"
address = "198.51.100.7:5060"
via = "any"

[[trunk]]
name = "lte"
kind = "sim"
variant = "quectel"
data_interface = "wwan0"
apn = "internet"
`

// Issue 15's keys: each registrar's path, the modem's data interface and
// bearer, the data path's probing, keep-alives and hold-down.
func TestPathKeys(t *testing.T) {
	c, err := Parse("paths.toml", []byte(pathsBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.Registrars[0].Via != ViaLAN || c.SIP.Registrars[1].Via != ViaAny {
		t.Errorf("via %q %q", c.SIP.Registrars[0].Via, c.SIP.Registrars[1].Via)
	}
	dt := c.DataTrunk()
	if dt == nil || dt.DataInterface != "wwan0" || dt.DataBearer != BearerAT || dt.APN != "internet" {
		t.Errorf("data trunk %+v", dt)
	}
	if c.SIP.DataProbeInterval.Duration != DefaultDataProbeInterval || c.SIP.DataKeepAlive.Duration != DefaultDataKeepAlive ||
		c.SIP.DataHoldDown.Duration != DefaultDataHoldDown {
		t.Errorf("defaults %v %v %v", c.SIP.DataProbeInterval, c.SIP.DataKeepAlive, c.SIP.DataHoldDown)
	}
	off := strings.Replace(pathsBase, `listen = "0.0.0.0:5060"`, "listen = \"0.0.0.0:5060\"\ndata_keepalive = \"0s\"\ndata_hold_down = \"0s\"", 1)
	c, err = Parse("paths.toml", []byte(off))
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.DataKeepAlive.Duration != 0 || c.SIP.DataHoldDown.Duration != 0 {
		t.Errorf("0s must turn them off: %v %v", c.SIP.DataKeepAlive, c.SIP.DataHoldDown)
	}
	// No registrar uses the data connection: a notice, not an error.
	c, err = Parse("paths.toml", []byte(strings.Replace(pathsBase, `via = "any"`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Join(c.NoticeLines(), "\n"); !strings.Contains(n, "trunk[0].data_interface: no [[sip.registrar]] has via") {
		t.Errorf("notices:\n%s", n)
	}
}

func TestPathKeyErrors(t *testing.T) {
	for _, c := range []struct {
		edit [2]string
		want string
	}{
		{[2]string{`via = "any"`, `via = "lte"`}, `sip.registrar[1].via: "lte" is not a path: use "lan", "wwan"`},
		{[2]string{`data_interface = "wwan0"`, ``}, `sip.registrar[1].via: "any" needs the modem's data connection: set data_interface`},
		{[2]string{`link = "eth0"`, ``}, `board.link: missing: with a modem data connection (trunk[0])`},
		{[2]string{`link = "eth0"`, `link = "wwan0"`}, `trunk[0].data_interface: "wwan0" is also board.link`},
		{[2]string{`data_interface = "wwan0"`, `data_interface = "wwan0/x"`}, `trunk[0].data_interface: "wwan0/x" is not a network interface name`},
		{[2]string{`apn = "internet"`, `apn = "a,b"`}, `trunk[0].apn: "a,b" has a character an AT command cannot carry`},
		{[2]string{`apn = "internet"`, `data_bearer = "ppp"`}, `trunk[0].data_bearer: "ppp": use "at"`},
		{[2]string{`apn = "internet"`, "apn = \"internet\"\ndata_bearer = \"external\""}, `trunk[0].apn: only used when critline dials`},
		{[2]string{`via = "any"`, "via = \"wwan\"\ntransport = \"tls\""}, `sip.registrar[1].transport: "tls" over the mobile data connection is not supported yet`},
		{[2]string{`listen = "0.0.0.0:5060"`, "listen = \"0.0.0.0:5060\"\ndata_probe_interval = \"100ms\""}, `sip.data_probe_interval: 100ms is out of range`},
		{[2]string{`listen = "0.0.0.0:5060"`, "listen = \"0.0.0.0:5060\"\ndata_keepalive = \"20m\""}, `sip.data_keepalive: 20m0s is out of range`},
		{[2]string{`listen = "0.0.0.0:5060"`, "listen = \"0.0.0.0:5060\"\ndata_hold_down = \"-1s\""}, `sip.data_hold_down: -1s is out of range`},
		{[2]string{`link = "eth0"`, `link = "eth 0"`}, `board.link: "eth 0" is not a network interface name`},
	} {
		src := strings.Replace(pathsBase, c.edit[0], c.edit[1], 1)
		_, err := Parse("paths.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: %v\nwant %q", c.edit[0], c.edit[1], err, c.want)
		}
	}
	// Two data connections.
	src := pathsBase + "\n[[trunk]]\nname = \"lte2\"\nkind = \"sim\"\ndata_interface = \"wwan1\"\n"
	if _, err := Parse("paths.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), "trunk[1].data_interface: a second modem data connection") {
		t.Errorf("two data connections: %v", err)
	}
}
