package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/critline/critline/hal"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is everything the user agent needs. The daemon maps the TOML
// ([sip], [[sip.registrar]], [[port]]) onto it; zero durations and counts
// take the defaults below.
type Config struct {
	// Listen is the local SIP address, "0.0.0.0:5060". UDP always; TCP too
	// when a registrar uses TCP. Port 0 picks a free port (tests).
	Listen string
	// Advertise is the IP put in Contact, Via and SDP. Empty: the listen
	// address when it is specific, else the local address the kernel routes
	// towards each registrar.
	Advertise string
	// RTPPortMin and RTPPortMax bound the RTP ports (inclusive).
	RTPPortMin, RTPPortMax int

	Registrars []Registrar // in order of preference
	Lines      []Line
	// Paths are the network paths registrars are reached by (the LAN, a
	// modem's data connection). Empty: one path, PathLAN, on Listen with
	// the kernel's routing (every registrar over it).
	Paths []Path

	ProbeInterval time.Duration // OPTIONS to every registrar (default 750 ms)
	ProbeTimeout  time.Duration // a probe unanswered this long is lost (default 800 ms)
	DownAfter     int           // consecutive lost probes to mark a registrar down (default 2)
	UpAfter       int           // consecutive answered probes to mark it up again (default 3)
	// Register says which registrars each line registers with:
	// RegisterAll (default: every one at once, so each PBX can reach the
	// line) or RegisterFirst (the most preferred usable one only).
	Register string
	// RegisterExpiry is the Expires asked for (default 120 s): a PBX
	// notices a dead appliance when the binding runs out, so keep it
	// short; a registrar that wants longer (423) gets its Min-Expires.
	RegisterExpiry time.Duration
	// RegisterTimeout bounds one REGISTER transaction, challenge included
	// (default 2 s); a registrar that does not answer in time is skipped.
	RegisterTimeout time.Duration
	// FailbackAfter is how long a better registrar must stay up before idle
	// lines move back to it (default 30 s).
	FailbackAfter time.Duration
	// AuthRetry is the first wait after a registrar refused a line's
	// credentials; it doubles up to 30 min (default 60 s). A refused line is
	// never retried in a loop.
	AuthRetry time.Duration
	// FirstResponse is the outbound INVITE's deadline for any response, far
	// shorter than Timer B (default 2 s). It is the ceiling: a registrar
	// with round-trip history is suspected far sooner (RTTFloor).
	FirstResponse time.Duration
	// RTTFloor is the least time a registrar with round-trip history is
	// given to answer a probe or an INVITE before it is suspected: the
	// deadline is 3 times the slowest of its last 20 probe answers, at
	// least this (default 50 ms; 300 ms at least over TCP and TLS). A
	// suspected registrar gets a probe burst; silent to it, it is down and
	// an outbound call waiting on it moves to the next route at once.
	RTTFloor time.Duration
	// ProbeBurst is how many probes a burst sends, spread over one
	// deadline (default 5; negative: no bursts, a registrar is then down
	// only after DownAfter probes lost in a row, each after ProbeTimeout).
	ProbeBurst int
	// RingTimeout bounds how long an inbound call waits for the router's
	// decision or the answer (default 3 min), then gets 480.
	RingTimeout time.Duration
	// ProgressTimeout bounds an outbound INVITE after its first provisional
	// response (100 Trying): with no ringing (180/183) and no final response
	// within it the attempt is cancelled (CANCEL) and fails with ErrTimeout,
	// so the call moves to the next route (default 6 s). sipgo's INVITE
	// transaction has no such bound after a provisional response.
	ProgressTimeout time.Duration
	// Dialogs, when set, keeps the calls in progress on stable storage so
	// that the next run can end (BYE) the ones a crash left up. A
	// survivability/store.File fits.
	Dialogs DialogStore

	UserAgent string      // User-Agent header (default "critline")
	TLS       *tls.Config // client TLS for registrars with transport "tls"

	// SessionExpires is the session interval our INVITEs ask for (RFC
	// 4028), and that our 2xx gives a caller that supports session timers
	// but asks for none; 0 asks for none. The PBX's own intervals are
	// honoured either way.
	SessionExpires time.Duration
	// TLSListen, when set, is the address of a TLS listener for the
	// registrars' own connections (TLSServer holds its certificate and,
	// with ClientAuth RequireAndVerifyClientCert and ClientCAs, the
	// client-certificate check). tlslisten.go.
	TLSListen string
	TLSServer *tls.Config
	// TrustedTransports lists the transports requests are taken on
	// ("udp", "tcp", "tls"); empty takes all. Over UDP a request's source
	// address is its only credential, and it can be forged on the LAN.
	TrustedTransports []string
	// KeepAlive is the interval of RFC 5626 keep-alives (CRLF ping and
	// pong) on TCP and TLS connections to the registrars; 0 sends none.
	KeepAlive time.Duration

	// MinSE is the smallest session interval accepted: a request asking
	// for less gets 422 with this Min-SE (default DefaultMinSE, RFC 4028's
	// 90 s floor).
	MinSE time.Duration

	// OnIncoming receives every inbound call for a configured line. It must
	// not block: decide later with the IncomingCall's methods. Required.
	OnIncoming func(*IncomingCall)

	Registerer prometheus.Registerer // required: metrics go here
	Logger     *slog.Logger          // default: discard
	Clock      hal.Clock             // default: hal.SystemClock
}

// Registrar is one PBX.
type Registrar struct {
	Name      string // labels metrics and events
	Address   string // host:port (port defaults to 5060, 5061 for TLS)
	Transport string // udp | tcp | tls (default udp)
	Domain    string // domain of the AORs; default the address's host
	// MWISubscribe subscribes every line to message-summary (RFC 3842)
	// at this PBX; its unsolicited NOTIFYs are taken either way.
	MWISubscribe bool
	// SRTP is the media encryption policy with this PBX: SRTPAccept
	// (default: SRTP when it offers RTP/SAVP, plain RTP in our offers),
	// SRTPRequire (SRTP offered, plain RTP refused) or SRTPOff.
	SRTP string
	// Paths names the network paths the registrar may be reached by, most
	// preferred first (e.g. {PathLAN, PathWWAN} for "either"); empty: the
	// first of Config.Paths.
	Paths []string
}

// Line is one port's SIP identity.
type Line struct {
	Port      int    // FXS port id
	Extension string // SIP user and number (AOR user)
	AuthUser  string // digest user; default Extension
	Password  string
	// Mailbox is the message account the line subscribes to for message
	// waiting: a user in the registrar's domain or a sip: URI; default
	// the line's own AOR (what Asterisk, FreeSWITCH and 3CX expect).
	Mailbox string
	// Flash is how a hook flash the port passes to the PBX is signalled:
	// FlashRFC4733 (default), FlashInfo or FlashDTMFRelay (info.go).
	Flash string
}

// Register modes.
const (
	RegisterAll   = "all"   // every line with every registrar at once
	RegisterFirst = "first" // every line with the best usable registrar only
)

// Defaults.
const (
	DefaultProbeInterval   = 750 * time.Millisecond // see config.DefaultProbeInterval
	DefaultProbeTimeout    = 800 * time.Millisecond
	DefaultDownAfter       = 2
	DefaultUpAfter         = 3
	DefaultRegisterExpiry  = 120 * time.Second
	DefaultRegisterTimeout = 2 * time.Second
	DefaultFailbackAfter   = 30 * time.Second
	DefaultAuthRetry       = 60 * time.Second
	DefaultFirstResponse   = 2 * time.Second
	DefaultRingTimeout     = 3 * time.Minute
	DefaultProgressTimeout = 6 * time.Second
	DefaultRTTFloor        = 50 * time.Millisecond
	DefaultProbeBurst      = 5
)

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ProbeInterval, DefaultProbeInterval)
	def(&c.ProbeTimeout, DefaultProbeTimeout)
	def(&c.RegisterExpiry, DefaultRegisterExpiry)
	def(&c.RegisterTimeout, DefaultRegisterTimeout)
	def(&c.FailbackAfter, DefaultFailbackAfter)
	def(&c.AuthRetry, DefaultAuthRetry)
	def(&c.FirstResponse, DefaultFirstResponse)
	def(&c.RingTimeout, DefaultRingTimeout)
	def(&c.ProgressTimeout, DefaultProgressTimeout)
	def(&c.MinSE, DefaultMinSE)
	def(&c.RTTFloor, DefaultRTTFloor)
	if c.ProbeBurst == 0 {
		c.ProbeBurst = DefaultProbeBurst
	}
	if c.DownAfter <= 0 {
		c.DownAfter = DefaultDownAfter
	}
	if c.UpAfter <= 0 {
		c.UpAfter = DefaultUpAfter
	}
	if c.Register == "" {
		c.Register = RegisterAll
	}
	if c.UserAgent == "" {
		c.UserAgent = "critline"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = hal.SystemClock{}
	}
	if len(c.Paths) == 0 {
		c.Paths = []Path{{Name: PathLAN}}
	}
	for i := range c.Paths {
		p := &c.Paths[i]
		def(&p.ProbeInterval, c.ProbeInterval)
		if p.Listen == "" {
			p.Listen = c.Listen
			if i > 0 {
				host, _, err := net.SplitHostPort(c.Listen)
				if err != nil || p.Interface != "" {
					host = "0.0.0.0" // the interface's own address may change
				}
				p.Listen = net.JoinHostPort(host, "0")
			}
		}
	}
	for i := range c.Registrars {
		r := &c.Registrars[i]
		r.Transport = strings.ToLower(r.Transport)
		if r.Transport == "" {
			r.Transport = "udp"
		}
		if r.SRTP == "" {
			r.SRTP = SRTPAccept
		}
		if len(r.Paths) == 0 {
			r.Paths = []string{c.Paths[0].Name}
		}
	}
	for i := range c.Lines {
		if c.Lines[i].AuthUser == "" {
			c.Lines[i].AuthUser = c.Lines[i].Extension
		}
	}
}

// validate reports every problem at once.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q is not host:port: write it like \"0.0.0.0:5060\"", c.Listen)
	}
	if c.Advertise != "" {
		if _, err := netip.ParseAddr(c.Advertise); err != nil {
			bad("advertise %q is not an IP address: give the address the PBX reaches this appliance at", c.Advertise)
		}
	}
	if c.RTPPortMin <= 0 || c.RTPPortMax > 65535 || c.RTPPortMax <= c.RTPPortMin {
		bad("rtp port range %d-%d: give two or more ports within 1-65535", c.RTPPortMin, c.RTPPortMax)
	}
	if len(c.Registrars) == 0 {
		bad("no registrar: configure at least one [[sip.registrar]]")
	}
	if c.Register != RegisterAll && c.Register != RegisterFirst {
		bad("register %q: use %q (every registrar at once) or %q (the best one only)", c.Register, RegisterAll, RegisterFirst)
	}

	pathSet := map[string]bool{}
	for i, p := range c.Paths {
		switch {
		case p.Name == "":
			bad("path %d: missing name", i)
		case pathSet[p.Name]:
			bad("path %q: name used twice", p.Name)
		}
		pathSet[p.Name] = true
		if _, _, err := net.SplitHostPort(p.Listen); err != nil {
			bad("path %q: listen %q is not host:port", p.Name, p.Listen)
		}
		if p.ProbeInterval < 10*time.Millisecond {
			bad("path %q: probe interval %s is too short", p.Name, p.ProbeInterval)
		}
		if p.KeepAlive < 0 || p.HoldDown < 0 {
			bad("path %q: keep-alive and hold-down must not be negative", p.Name)
		}
		if p.Interface != "" && len(p.Interface) > 15 {
			bad("path %q: interface %q: a Linux interface name has at most 15 characters", p.Name, p.Interface)
		}
	}
	names := map[string]bool{}
	for i, r := range c.Registrars {
		if r.Name == "" {
			bad("registrar %d: missing name", i)
		} else if names[r.Name] {
			bad("registrar %q: name used twice", r.Name)
		}
		names[r.Name] = true
		if _, err := registrarHostPort(r); err != nil {
			bad("registrar %q: %v", r.Name, err)
		}
		switch r.Transport {
		case "udp", "tcp", "tls":
		default:
			bad("registrar %q: transport %q: use udp, tcp or tls", r.Name, r.Transport)
		}
		switch r.SRTP {
		case SRTPAccept, SRTPRequire, SRTPOff:
		default:
			bad("registrar %q: srtp %q: use %s, %s or %s", r.Name, r.SRTP, SRTPAccept, SRTPRequire, SRTPOff)
		}
		seen := map[string]bool{}
		for _, pn := range r.Paths {
			switch {
			case !pathSet[pn]:
				bad("registrar %q: path %q is not configured: use one of %s", r.Name, pn, pathNames(c.Paths))
			case seen[pn]:
				bad("registrar %q: path %q given twice", r.Name, pn)
			}
			seen[pn] = true
		}
	}
	ports := map[int]bool{}
	exts := map[string]bool{}
	for _, l := range c.Lines {
		if ports[l.Port] {
			bad("port %d: configured twice", l.Port)
		}
		ports[l.Port] = true
		if mb := l.Mailbox; mb != "" {
			var u sip.Uri
			switch {
			case strings.HasPrefix(mb, "sip:") || strings.HasPrefix(mb, "sips:"):
				if err := sip.ParseUri(mb, &u); err != nil {
					bad("port %d: mailbox %q is not a SIP URI: give a user or sip:user@host", l.Port, mb)
				}
			case strings.ContainsAny(mb, "@:;<> \t\r\n"):
				bad("port %d: mailbox %q: give a user (like 270001) or a full sip: URI", l.Port, mb)
			}
		}
		if l.Extension == "" || strings.ContainsAny(l.Extension, "@:;<> \t\r\n") {
			bad("port %d: extension %q is not a SIP user", l.Port, l.Extension)
		} else if exts[l.Extension] {
			bad("port %d: extension %q is used by another port", l.Port, l.Extension)
		}
		exts[l.Extension] = true
		switch l.Flash {
		case "", FlashRFC4733, FlashInfo, FlashDTMFRelay:
		default:
			bad("port %d: flash %q: use %s, %s or %s", l.Port, l.Flash, FlashRFC4733, FlashInfo, FlashDTMFRelay)
		}
	}
	if c.SessionExpires < 0 || (c.SessionExpires > 0 && c.SessionExpires < c.MinSE) {
		bad("session expires %s: give 0 (ask for no session timer) or at least min SE (%s)", c.SessionExpires, c.MinSE)
	}
	for _, tp := range c.TrustedTransports {
		if tp != "udp" && tp != "tcp" && tp != "tls" {
			bad("trusted transport %q: use udp, tcp or tls", tp)
		}
	}
	if len(c.TrustedTransports) > 0 {
		for _, r := range c.Registrars {
			if !slices.Contains(c.TrustedTransports, r.Transport) {
				bad("registrar %q uses %s, which is not a trusted transport: its requests (calls to the lines) would all be refused; set its transport to one of %v", r.Name, r.Transport, c.TrustedTransports)
			}
		}
	}
	if c.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			bad("tls listen %q is not host:port: write it like \"0.0.0.0:5061\"", c.TLSListen)
		}
		if c.TLSServer == nil || (len(c.TLSServer.Certificates) == 0 && c.TLSServer.GetCertificate == nil) {
			bad("tls listen %q has no certificate: give the server's certificate and key", c.TLSListen)
		}
	}
	if c.OnIncoming == nil {
		bad("OnIncoming is nil: the router must take inbound calls")
	}
	if c.Registerer == nil {
		bad("Registerer is nil: pass the daemon's prometheus registry")
	}
	return errors.Join(errs...)
}

// registrarHostPort returns host:port with the transport's default port.
func registrarHostPort(r Registrar) (string, error) {
	addr := r.Address
	if addr == "" {
		return "", errors.New("missing address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "5060"
		if r.Transport == "tls" {
			port = "5061"
		}
	}
	if host == "" {
		return "", fmt.Errorf("address %q has no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("address %q: bad port", addr)
	}
	return net.JoinHostPort(host, port), nil
}
