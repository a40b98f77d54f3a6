// Package sip is critline's SIP user agent, built on sipgo: every FXS port is
// a line (an AOR with digest credentials) registered with every registrar
// at once (Config.Register "all", so each PBX can reach it), or with the best
// one of an ordered ladder ("first"); every registrar is probed with OPTIONS for RTT, loss
// and an up/down verdict with hysteresis, and one that leaves a probe or an INVITE
// unanswered for a few of its own round-trip times is asked at once by a burst of
// probes (burst.go), whose silence takes it down; inbound INVITEs become
// IncomingCall decisions for the router (ring, answer, reject, redirect);
// outbound calls are attempts with a short first-response deadline and a
// deadline after 100 Trying, whose failures are typed so the router can move
// to the next route at once. No wait is unbounded and nothing on a port's
// path waits for the network: hang-ups, CANCELs and the ACK of an answer
// happen in the background; a 2xx that comes late is ACKed and ended with
// BYE; in-dialog requests must match Call-ID and both tags; the calls in
// progress are kept on disk so the next run can end what a crash left up.
// Only
// the configured registrars may talk to it: anything else is dropped in the
// transport read filter and counted. So the PBX must stay in the dialog
// path (record-route, or be a back-to-back UA, as PBXs are): a far end's
// BYE sent straight to the appliance is dropped like any other stranger's.
//
// A registrar may be reached over more than one network path (the LAN, a
// modem's mobile data connection: paths.go): each path has its own sockets,
// bound to its interface, and its own sipgo stack; health is kept per
// registrar and path; the path in use fails over at once and back only when
// idle; over a NAT path the public address the registrar sees goes in
// Contact and SDP, CRLF keep-alives hold the mapping, and a lost data
// session holds its registrars' verdict for a while (SetPathState).
//
// Media lives in sip/rtp; a Call hands out its rtp.Stream, a hal.PCM the FXS
// port pumps. This package knows nothing about ports' hardware (GPIO,
// relays, audio devices) and nothing about other routes (trunks): that is
// the survivability layer above it. sipgo's transaction timers are
// process-wide: SetTimers is the one place that sets them.
package sip
