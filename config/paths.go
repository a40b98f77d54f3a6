package config

import (
	"fmt"
	"strings"
	"time"
)

// Network paths to the registrars: the LAN ([board] link) and a modem's
// data connection ([[trunk]] data_interface), chosen per registrar by its
// via (docs/data-path.md).

// Via values of [[sip.registrar]].
const (
	ViaLAN  = "lan"
	ViaWWAN = "wwan"
	ViaAny  = "any"
)

// Data bearers of [[trunk]].
const (
	BearerAT       = "at"
	BearerExternal = "external"
)

// Defaults of the data path.
const (
	// DefaultDataProbeInterval: OPTIONS over the mobile data connection
	// every 30 s costs about 1.6 kB a minute per registrar; a dead path is
	// noticed within two probes (an interface or bearer that goes away, at
	// once).
	DefaultDataProbeInterval = 30 * time.Second
	// DefaultDataKeepAlive is under the shortest carrier NAT UDP timeouts
	// (about 30 s), at 32 bytes a keep-alive.
	DefaultDataKeepAlive = 15 * time.Second
	// DefaultDataHoldDown covers a data session being re-established (a
	// few seconds on LTE), so the mode does not flap.
	DefaultDataHoldDown = 20 * time.Second
)

var (
	vias    = []string{ViaLAN, ViaWWAN, ViaAny}
	bearers = []string{BearerAT, BearerExternal}
)

func (c *Config) pathDefaults() {
	for i := range c.SIP.Registrars {
		if c.SIP.Registrars[i].Via == "" {
			c.SIP.Registrars[i].Via = ViaLAN
		}
	}
	for i := range c.Trunks {
		if c.Trunks[i].DataInterface != "" && c.Trunks[i].DataBearer == "" {
			c.Trunks[i].DataBearer = BearerAT
		}
	}
	if dt := c.DataTrunk(); dt != nil {
		uses := false
		for _, r := range c.SIP.Registrars {
			uses = uses || r.Via == ViaWWAN || r.Via == ViaAny
		}
		if !uses {
			c.Notices = append(c.Notices, Problem{Key: fmt.Sprintf("trunk[%d].data_interface", dt.index(c)),
				Msg: "no [[sip.registrar]] has via = \"wwan\" or \"any\": the data connection is kept up but no registrar uses it"})
		}
	}
	if c.SIP.DataProbeInterval.Duration == 0 {
		c.SIP.DataProbeInterval.Duration = DefaultDataProbeInterval
	}
	if c.SIP.DataKeepAlive == nil {
		c.SIP.DataKeepAlive = &Duration{DefaultDataKeepAlive}
	}
	if c.SIP.DataHoldDown == nil {
		c.SIP.DataHoldDown = &Duration{DefaultDataHoldDown}
	}
}

// DataTrunk is the trunk whose modem carries the data path (nil for none).
func (c *Config) DataTrunk() *Trunk {
	for i := range c.Trunks {
		if c.Trunks[i].DataInterface != "" {
			return &c.Trunks[i]
		}
	}
	return nil
}

func (t *Trunk) index(c *Config) int {
	for i := range c.Trunks {
		if &c.Trunks[i] == t {
			return i
		}
	}
	return -1
}

// validInterface checks a Linux network interface name.
func validInterface(s string) bool {
	return s != "" && len(s) <= 15 && !strings.ContainsAny(s, "/ \t\n:") && s != "." && s != ".."
}

func (c *Config) validatePaths(bad func(key, format string, args ...any)) {
	if l := c.Board.Link; l != "" && !validInterface(l) {
		bad("board.link", "%q is not a network interface name: give the LAN's, e.g. eth0", l)
	}
	var data []string
	for i, t := range c.Trunks {
		k := fmt.Sprintf("trunk[%d]", i)
		if t.DataInterface == "" {
			if t.DataBearer != "" {
				bad(k+".data_bearer", "set without data_interface: give the network interface the modem's data connection appears as, e.g. data_interface = \"wwan0\"")
			}
			if t.APN != "" {
				bad(k+".apn", "set without data_interface: the APN is for the modem's data connection")
			}
			continue
		}
		data = append(data, k)
		if !validInterface(t.DataInterface) {
			bad(k+".data_interface", "%q is not a network interface name: give the one the modem's data connection appears as, e.g. wwan0 or usb0", t.DataInterface)
		}
		if t.DataInterface == c.Board.Link {
			bad(k+".data_interface", "%q is also board.link: the LAN and the modem's data connection are two interfaces", t.DataInterface)
		}
		if !oneOf(t.DataBearer, bearers) {
			bad(k+".data_bearer", "%q: use \"at\" (critline dials it on the AT port) or \"external\" (ModemManager or the module brings it up)", t.DataBearer)
		}
		if t.APN != "" && t.DataBearer != BearerAT {
			bad(k+".apn", "only used when critline dials the data connection (data_bearer = \"at\"): set the APN in ModemManager instead")
		}
		if strings.ContainsAny(t.APN, "\"\r\n,;") {
			bad(k+".apn", "%q has a character an AT command cannot carry: write the APN as the operator gives it", t.APN)
		}
	}
	if len(data) > 1 {
		bad(data[1]+".data_interface", "a second modem data connection (already %s): give data_interface to one trunk only", data[0])
	}
	for i, r := range c.SIP.Registrars {
		k := fmt.Sprintf("sip.registrar[%d]", i)
		if !oneOf(r.Via, vias) {
			bad(k+".via", "%q is not a path: use \"lan\", \"wwan\" (the modem's data connection) or \"any\" (the LAN while it works, else the data connection)", r.Via)
			continue
		}
		if r.Via == ViaLAN {
			continue
		}
		if len(data) == 0 {
			bad(k+".via", "%q needs the modem's data connection: set data_interface (e.g. \"wwan0\") on the [[trunk]] whose modem carries it", r.Via)
		}
		if r.Transport != "udp" {
			bad(k+".transport", "%q over the mobile data connection is not supported yet: use \"udp\" (its bytes are counted for the SIM's tariff and CRLF keep-alives hold the carrier's NAT), or via = \"lan\"", r.Transport)
		}
	}
	if len(data) > 0 && c.Board.Link == "" {
		bad("board.link", "missing: with a modem data connection (%s) the LAN path's sockets are bound to the LAN interface, so nothing meant for the LAN leaves by the mobile data connection: give the LAN interface, e.g. link = \"eth0\"", data[0])
	}
	within := func(key string, d Duration, lo, hi time.Duration, why string) {
		if d.Duration < lo || d.Duration > hi {
			bad(key, "%s is out of range: use %s to %s (%s)", d, lo, hi, why)
		}
	}
	within("sip.data_probe_interval", c.SIP.DataProbeInterval, time.Second, 10*time.Minute,
		"OPTIONS over the mobile data connection cost data; a dead path is noticed within two")
	if d := c.SIP.DataKeepAlive; d != nil && d.Duration != 0 {
		within("sip.data_keepalive", *d, time.Second, 10*time.Minute,
			"under the carrier NAT's UDP timeout, often 30 s; 0s turns keep-alives off")
	}
	if d := c.SIP.DataHoldDown; d != nil {
		within("sip.data_hold_down", *d, 0, 5*time.Minute,
			"how long a lost data session may take to come back before its registrars count as down; 0s: at once")
	}
}
