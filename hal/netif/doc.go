// Package netif watches the board's network interfaces, the LAN's and a
// modem's data interface: whether each is up with carrier and which IPv4
// addresses it has, from the kernel's rtnetlink events (a new address is
// seen the moment it is set, without polling), with a slow re-read as a
// safety net should the kernel drop events. It also serves one interface's
// carrier as a hal.LinkSensor (the LAN link of a board that has no sensor
// of its own).
//
// It only reads: configuring an interface is systemd-networkd's job (see
// docs/data-path.md). Linux only; elsewhere Watch fails.
package netif
