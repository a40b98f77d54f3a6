// Package survivability is the appliance's brain: it turns health signals
// (power, LAN, registrars, trunks, lines) into a mode (normal, survivable,
// lifeline) per port and for the appliance, drives the lifeline relays from
// it, routes each call along the ladder (registrars, then trunks; the relay
// only where a copper line is behind it), and owns the appliance's status and
// metrics. Emergency calls try every rung there is, in the configured
// emergency route's order, before they give up. Calls that arrive on a
// mobile trunk get the diverts and forwarding of the ports through the
// network's own services, and a second caller during a trunk call is rung
// elsewhere or announced to the porter (trunk_services.go).
//
// It is the only package that connects an FXS port to a route; it sees the
// hardware only through hal interfaces and the SIP and trunk layers only
// through the small interfaces it defines. It opens no devices and reads no
// configuration file: cmd/critlined builds everything and hands it over.
package survivability
