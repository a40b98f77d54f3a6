package rtp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Static and default payload types.
const (
	PTPCMU         = 0   // G.711 µ-law
	PTPCMA         = 8   // G.711 A-law
	DefaultEventPT = 101 // telephone-event/8000 when we offer it
	Ptime          = 20  // ms, the only packet time critline sends
)

// Limits on SDP bodies from the network.
const (
	maxSDPSize    = 16 << 10
	maxSDPFormats = 32
)

// Direction is an SDP media direction attribute.
type Direction uint8

const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// RTPMap is one a=rtpmap line.
type RTPMap struct {
	PT   uint8
	Name string // encoding name as written (compare case-insensitively)
	Rate int
}

// Description is what critline reads from an SDP body: the first audio
// stream (RTP/AVP, or RTP/SAVP with SDES keys) and its connection address.
type Description struct {
	Addr      netip.Addr // media-level c= if present, else session-level
	Port      int        // 0 means the stream was refused
	Formats   []uint8    // payload types in the sender's order of preference
	RTPMaps   []RTPMap
	Ptime     int // ms, 0 when absent
	Direction Direction
	// Secure is true for an RTP/SAVP (or RTP/SAVPF) stream: SRTP.
	Secure bool
	// Cryptos are the stream's a=crypto lines critline can use, in the
	// sender's order (RFC 4568); lines with other suites are left out.
	Cryptos []Crypto
}

// ErrSDP wraps every SDP parse and negotiation error.
var ErrSDP = errors.New("sdp")

func sdpErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSDP, fmt.Sprintf(format, a...))
}

// ParseSDP reads an SDP body. It is strict where critline relies on a value
// (connection address, audio port and formats) and ignores what it does not
// use; it never panics on hostile input.
func ParseSDP(body []byte) (*Description, error) {
	if len(body) > maxSDPSize {
		return nil, sdpErr("body is %d bytes, more than %d", len(body), maxSDPSize)
	}
	var (
		d           Description
		sessionAddr netip.Addr
		inAudio     bool
		seenAudio   bool
		sawVersion  bool
		mediaAddr   netip.Addr
	)
	lineNo := 0
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, sdpErr("line %d: %q is not type=value", lineNo, clip(line))
		}
		typ, val := line[0], string(line[2:])
		if lineNo == 1 || !sawVersion {
			if typ != 'v' || val != "0" {
				return nil, sdpErr("line %d: body must start with v=0", lineNo)
			}
			sawVersion = true
			continue
		}
		switch typ {
		case 'c':
			a, err := parseConnection(val)
			if err != nil {
				return nil, sdpErr("line %d: %v", lineNo, err)
			}
			if inAudio {
				mediaAddr = a
			} else if !seenAudio {
				sessionAddr = a
			}
		case 'm':
			if seenAudio {
				inAudio = false // only the first audio stream is used
				continue
			}
			f := strings.Fields(val)
			if len(f) < 4 || f[0] != "audio" {
				inAudio = false
				continue
			}
			port, err := strconv.Atoi(f[1])
			if err != nil || port < 0 || port > 65535 {
				return nil, sdpErr("line %d: audio port %q is not a port number", lineNo, f[1])
			}
			switch f[2] {
			case "RTP/AVP", "RTP/AVPF":
			case "RTP/SAVP", "RTP/SAVPF":
				d.Secure = true
			default:
				return nil, sdpErr("line %d: audio transport %q is not RTP/AVP or RTP/SAVP (DTLS-SRTP is not supported)", lineNo, f[2])
			}
			if len(f)-3 > maxSDPFormats {
				return nil, sdpErr("line %d: %d formats, more than %d", lineNo, len(f)-3, maxSDPFormats)
			}
			for _, s := range f[3:] {
				pt, err := strconv.Atoi(s)
				if err != nil || pt < 0 || pt > 127 {
					return nil, sdpErr("line %d: format %q is not an RTP payload type", lineNo, s)
				}
				d.Formats = append(d.Formats, uint8(pt))
			}
			d.Port = port
			inAudio, seenAudio = true, true
		case 'a':
			if seenAudio && !inAudio {
				continue
			}
			if err := d.parseAttr(val, inAudio); err != nil {
				return nil, sdpErr("line %d: %v", lineNo, err)
			}
		}
	}
	if !sawVersion {
		return nil, sdpErr("empty body")
	}
	if !seenAudio {
		return nil, sdpErr("no audio stream (m=audio line)")
	}
	d.Addr = sessionAddr
	if mediaAddr.IsValid() {
		d.Addr = mediaAddr
	}
	if !d.Addr.IsValid() {
		return nil, sdpErr("no connection address (c= line) for the audio stream")
	}
	return &d, nil
}

func (d *Description) parseAttr(val string, media bool) error {
	name, rest, _ := strings.Cut(val, ":")
	switch name {
	case "sendrecv":
		d.Direction = SendRecv
	case "sendonly":
		d.Direction = SendOnly
	case "recvonly":
		d.Direction = RecvOnly
	case "inactive":
		d.Direction = Inactive
	case "ptime":
		if !media {
			return nil
		}
		p, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || p <= 0 || p > 1000 {
			return fmt.Errorf("ptime %q is not a packet time in ms", rest)
		}
		d.Ptime = p
	case "crypto":
		if !media {
			return nil
		}
		c, ok, err := parseCrypto(rest)
		if err != nil {
			return err
		}
		if ok && len(d.Cryptos) < maxSDPFormats {
			d.Cryptos = append(d.Cryptos, c)
		}
	case "rtpmap":
		if !media {
			return nil
		}
		ptS, enc, ok := strings.Cut(rest, " ")
		if !ok {
			return fmt.Errorf("rtpmap %q lacks an encoding", rest)
		}
		pt, err := strconv.Atoi(ptS)
		if err != nil || pt < 0 || pt > 127 {
			return fmt.Errorf("rtpmap payload type %q is not 0-127", ptS)
		}
		parts := strings.Split(strings.TrimSpace(enc), "/")
		rate := 0
		if len(parts) >= 2 {
			rate, err = strconv.Atoi(parts[1])
			if err != nil || rate <= 0 {
				return fmt.Errorf("rtpmap clock rate %q is not a number", parts[1])
			}
		}
		if len(d.RTPMaps) >= maxSDPFormats {
			return fmt.Errorf("more than %d rtpmap lines", maxSDPFormats)
		}
		d.RTPMaps = append(d.RTPMaps, RTPMap{PT: uint8(pt), Name: parts[0], Rate: rate})
	}
	return nil
}

func parseConnection(val string) (netip.Addr, error) {
	f := strings.Fields(val)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("connection %q is not \"IN IP4 address\"", val)
	}
	host, _, _ := strings.Cut(f[2], "/") // multicast TTL
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("connection address %q is not an IP address (host names are not supported)", f[2])
	}
	return a.Unmap(), nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// rtpmap returns the mapping for pt, or the static one for 0 and 8.
func (d *Description) rtpmap(pt uint8) (RTPMap, bool) {
	for _, m := range d.RTPMaps {
		if m.PT == pt {
			return m, true
		}
	}
	switch pt {
	case PTPCMU:
		return RTPMap{PT: pt, Name: "PCMU", Rate: 8000}, true
	case PTPCMA:
		return RTPMap{PT: pt, Name: "PCMA", Rate: 8000}, true
	}
	return RTPMap{}, false
}

// Media is the negotiated description of one call's audio.
type Media struct {
	Remote    netip.AddrPort // where to send RTP (the peer's c= and m= port); 0.0.0.0: send nothing (RFC 2543 hold)
	Law       Law
	PT        uint8 // audio payload type
	Events    bool  // the peer takes telephone-event/8000
	EventPT   uint8 // its payload type when Events
	Ptime     int   // peer's preferred packet time in ms (we always send 20)
	Direction Direction
	// Crypto is the peer's SDES line (its sending key) for an SRTP stream,
	// nil for plain RTP. LocalKey is ours (the one in our SDP for the same
	// tag); the caller sets it before Stream.SetMedia.
	Crypto   *Crypto
	LocalKey []byte
}

// Secure reports whether the media is SRTP.
func (m Media) Secure() bool { return m.Crypto != nil }

// Sends reports whether we send audio to the peer: it takes it (sendrecv
// or its recvonly) at a real address.
func (m Media) Sends() bool {
	return (m.Direction == SendRecv || m.Direction == RecvOnly) && m.Remote.Addr().IsValid() && !m.Remote.Addr().IsUnspecified()
}

// Negotiate picks, in the peer's order, the first G.711 law among laws
// (nil means both) and telephone-event/8000 if present. It works the same on
// an offer (we are answering) and on an answer (we offered).
func (d *Description) Negotiate(laws []Law) (Media, error) {
	if len(laws) == 0 {
		laws = []Law{ALaw, ULaw}
	}
	m := Media{Ptime: d.Ptime, Direction: d.Direction}
	if d.Port == 0 {
		return m, sdpErr("the peer refused the audio stream (port 0)")
	}
	m.Remote = netip.AddrPortFrom(d.Addr, uint16(d.Port))
	found := false
	for _, pt := range d.Formats {
		rm, ok := d.rtpmap(pt)
		if !ok {
			continue
		}
		if strings.EqualFold(rm.Name, "telephone-event") && (rm.Rate == 8000 || rm.Rate == 0) && !m.Events {
			m.Events, m.EventPT = true, pt
			continue
		}
		if found || rm.Rate != 8000 {
			continue
		}
		for _, l := range laws {
			if strings.EqualFold(rm.Name, l.String()) {
				m.Law, m.PT, found = l, pt, true
				break
			}
		}
	}
	if !found {
		return m, sdpErr("no common codec: the peer offers payload types %v, critline speaks PCMA and PCMU", d.Formats)
	}
	if d.Secure {
		if len(d.Cryptos) == 0 {
			return m, sdpErr("RTP/SAVP stream without a usable a=crypto line: critline speaks SDES %s and %s, no MKI", SuiteAES128SHA80, SuiteAES128SHA32)
		}
		c := d.Cryptos[0]
		m.Crypto = &c
	}
	return m, nil
}

// Local describes our side of a call's audio for building SDP bodies.
type Local struct {
	Addr      netip.Addr // advertised media address
	Port      int        // our RTP port
	Laws      []Law      // order of preference for an offer; nil = PCMA, PCMU
	EventPT   uint8      // telephone-event payload type we offer (0 = DefaultEventPT)
	SessionID uint64     // o= session id
	// Version is added to SessionID for the o= version: raise it for
	// every new offer or answer of the session (RFC 3264 8).
	Version uint64
	// Direction is the direction an offer proposes (default sendrecv) and
	// our own wish in an answer (AnswerDirection).
	Direction Direction
	// Cryptos, when set, make an offer RTP/SAVP with these SDES lines
	// (our keys, one per suite); an answer to an SRTP offer uses
	// Media.LocalKey instead.
	Cryptos []Crypto
}

func (l Local) header(b *bytes.Buffer) {
	ipv := "IP4"
	if l.Addr.Is6() {
		ipv = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=critline %d %d IN %s %s\r\ns=critline\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.SessionID, l.SessionID+l.Version, ipv, l.Addr, ipv, l.Addr)
}

// Offer returns an SDP offer for PCMA/PCMU and telephone-event, ptime 20.
func (l Local) Offer() []byte { return l.OfferDirection(l.Direction) }

// OfferDirection is Offer with the given direction attribute: sendonly or
// inactive to put a call on hold (RFC 3264 8.4, RFC 6337 5.3), sendrecv to
// take it off hold.
func (l Local) OfferDirection(dir Direction) []byte {
	laws := l.Laws
	if len(laws) == 0 {
		laws = []Law{ALaw, ULaw}
	}
	ev := l.EventPT
	if ev == 0 {
		ev = DefaultEventPT
	}
	var b bytes.Buffer
	l.header(&b)
	proto := "RTP/AVP"
	if len(l.Cryptos) > 0 {
		proto = "RTP/SAVP"
	}
	fmt.Fprintf(&b, "m=audio %d %s", l.Port, proto)
	for _, law := range laws {
		fmt.Fprintf(&b, " %d", law.PayloadType())
	}
	fmt.Fprintf(&b, " %d\r\n", ev)
	for _, law := range laws {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", law.PayloadType(), law)
	}
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\na=ptime:%d\r\na=%s\r\n", ev, ev, Ptime, dir)
	for _, c := range l.Cryptos {
		fmt.Fprintf(&b, "a=crypto:%s\r\n", c)
	}
	return b.Bytes()
}

// AnswerDirection is the direction an answer gives (RFC 3264 6.1): we send
// only what the offerer takes and we want to send, and take only what it
// sends and we want to take. ours is our own wish (sendrecv unless we hold).
func AnswerDirection(offer, ours Direction) Direction {
	peerSends := offer == SendRecv || offer == SendOnly
	peerTakes := offer == SendRecv || offer == RecvOnly
	weSend := ours == SendRecv || ours == SendOnly
	weTake := ours == SendRecv || ours == RecvOnly
	send, take := weSend && peerTakes, weTake && peerSends
	switch {
	case send && take:
		return SendRecv
	case send:
		return SendOnly
	case take:
		return RecvOnly
	}
	return Inactive
}

// Answer returns an SDP answer accepting m (the result of Negotiate on the
// offer): one codec, plus telephone-event with the offerer's payload type,
// the direction from the offer's and l.Direction, and for an SRTP offer our
// key (m.LocalKey) under the offer's chosen tag and suite.
func (l Local) Answer(m Media) []byte {
	var b bytes.Buffer
	l.header(&b)
	proto := "RTP/AVP"
	if m.Crypto != nil {
		proto = "RTP/SAVP"
	}
	fmt.Fprintf(&b, "m=audio %d %s %d", l.Port, proto, m.PT)
	if m.Events {
		fmt.Fprintf(&b, " %d", m.EventPT)
	}
	fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/8000\r\n", m.PT, m.Law)
	if m.Events {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", m.EventPT, m.EventPT)
	}
	fmt.Fprintf(&b, "a=ptime:%d\r\na=%s\r\n", Ptime, AnswerDirection(m.Direction, l.Direction))
	if m.Crypto != nil {
		fmt.Fprintf(&b, "a=crypto:%s\r\n", Crypto{Tag: m.Crypto.Tag, Suite: m.Crypto.Suite, Key: m.LocalKey})
	}
	return b.Bytes()
}

// AnswerHeld is Answer for a call we may be holding: while held is true the
// answer never lets the peer's audio flow to us (our wish is sendonly), so
// a session refresh or the peer's own hold does not take our hold off.
func (l Local) AnswerHeld(m Media, held bool) []byte {
	if held {
		l.Direction = SendOnly
	}
	return l.Answer(m)
}
