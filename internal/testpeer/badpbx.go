package testpeer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BadPBX is a tiny SIP registrar and PBX over UDP that misbehaves on
// purpose, as a crashed, half-dead or buggy PBX does: it accepts every
// REGISTER and answers OPTIONS, and does with each INVITE whatever the
// test says (100 Trying and then nothing, a late 200, a refusal, ...). It
// can also call the appliance (an INVITE whose 200 it never ACKs, a BYE with
// the wrong tag, a CANCEL that overtakes its INVITE). kamailio cannot be
// made to do these things; this peer exists for the tests that need them.
type BadPBX struct {
	t    testing.TB
	IP   string
	Port int
	Addr string // ip:port
	ns   string

	mu       sync.Mutex
	onInvite func(req *Msg) Plan
	conn     *net.UDPConn
	stopped  chan struct{}
	got      []*Msg                  // every request received
	contacts map[string]*net.UDPAddr // REGISTERed user -> where it listens
	acked    map[string]bool         // Call-IDs whose 2xx got its ACK
	finals   map[string]bool         // Call-IDs that got a final response from us
	waiting  map[string]chan *Msg    // Call-ID+method of our own requests -> their responses
	mute     bool                    // drop everything (a PBX that hangs)
	stubborn map[string]bool         // Call-IDs whose Plan ignores CANCEL
	seen     map[string]bool         // INVITEs (Call-ID and CSeq) already taken
	hold     holdState               // frozen, or losing INVITEs (faults.go)
}

// Plan is what the PBX does with one INVITE.
type Plan struct {
	Trying bool          // send 100 Trying first
	Ring   bool          // then 180 Ringing
	Final  int           // then this final response (0: none ever; 200 answers with SDP)
	After  time.Duration // wait this long before the final response
	// Then runs after the provisional responses went out (e.g. kill the
	// PBX, cut the LAN): a fault in the middle of call set-up.
	Then func()
	// IgnoreCancel answers CANCEL with 200 but sends the final response
	// anyway (a 200 that crosses the CANCEL).
	IgnoreCancel bool
}

// Msg is one SIP message.
type Msg struct {
	Start   string      // "INVITE sip:x@y SIP/2.0" or "SIP/2.0 200 OK"
	Headers [][2]string // in order
	Body    string
	Src     *net.UDPAddr
	At      time.Time
}

var compact = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type"}

func canon(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if long, ok := compact[n]; ok {
		return long
	}
	return n
}

// ParseMsg reads one SIP message.
func ParseMsg(b []byte) (*Msg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("no end of headers")
	}
	lines := strings.Split(string(head), "\r\n")
	m := &Msg{Start: lines[0], Body: string(body), At: time.Now()}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		m.Headers = append(m.Headers, [2]string{canon(k), strings.TrimSpace(v)})
	}
	return m, nil
}

// Get returns the first value of a header ("" when absent).
func (m *Msg) Get(name string) string {
	n := canon(name)
	for _, h := range m.Headers {
		if h[0] == n {
			return h[1]
		}
	}
	return ""
}

// All returns every value of a header, in order.
func (m *Msg) All(name string) []string {
	n := canon(name)
	var out []string
	for _, h := range m.Headers {
		if h[0] == n {
			out = append(out, h[1])
		}
	}
	return out
}

// Method is a request's method ("" for a response).
func (m *Msg) Method() string {
	if strings.HasPrefix(m.Start, "SIP/2.0 ") {
		return ""
	}
	return strings.Fields(m.Start)[0]
}

// Code is a response's status code (0 for a request).
func (m *Msg) Code() int {
	f := strings.Fields(m.Start)
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// CallID is the Call-ID.
func (m *Msg) CallID() string { return m.Get("call-id") }

// CSeqMethod is the method named in CSeq.
func (m *Msg) CSeqMethod() string {
	f := strings.Fields(m.Get("cseq"))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// Tag returns the tag parameter of From or To.
func Tag(hdr string) string {
	for _, p := range strings.Split(hdr, ";")[1:] {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "tag") {
			return v
		}
	}
	return ""
}

// Bytes serialises the message with its Content-Length.
func (m *Msg) Bytes() []byte {
	var b strings.Builder
	b.WriteString(m.Start + "\r\n")
	for _, h := range m.Headers {
		if h[0] == "content-length" {
			continue
		}
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	fmt.Fprintf(&b, "content-length: %d\r\n\r\n%s", len(m.Body), m.Body)
	return []byte(b.String())
}

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StartBadPBX listens on ip (a free port) and serves until the test ends.
// netns, when not empty, is a network namespace (see NetNS) to listen in,
// so that cutting its cable cuts the PBX off.
func StartBadPBX(t testing.TB, ip, netns string) *BadPBX {
	t.Helper()
	p := &BadPBX{t: t, IP: ip, ns: netns, contacts: map[string]*net.UDPAddr{}, acked: map[string]bool{},
		finals: map[string]bool{}, waiting: map[string]chan *Msg{}, stubborn: map[string]bool{}, seen: map[string]bool{}}
	p.listen(0)
	t.Cleanup(p.Kill)
	return p
}

func (p *BadPBX) listen(port int) {
	p.t.Helper()
	addr := &net.UDPAddr{IP: net.ParseIP(p.IP), Port: port}
	var c *net.UDPConn
	var err error
	if p.ns == "" {
		c, err = net.ListenUDP("udp", addr)
	} else {
		c, err = listenInNetNS(p.ns, addr)
	}
	if err != nil {
		p.t.Fatalf("bad PBX: listen %v: %v", addr, err)
	}
	p.mu.Lock()
	p.conn, p.stopped = c, make(chan struct{})
	p.Port = c.LocalAddr().(*net.UDPAddr).Port
	p.Addr = net.JoinHostPort(p.IP, strconv.Itoa(p.Port))
	stopped := p.stopped
	p.mu.Unlock()
	go p.serve(c, stopped)
}

// OnInvite sets what the PBX does with each INVITE from the appliance from
// now on (default: 100, 180, then 200).
func (p *BadPBX) OnInvite(decide func(req *Msg) Plan) {
	p.mu.Lock()
	p.onInvite = decide
	p.mu.Unlock()
}

// Kill closes the PBX's socket: it is gone, as after a crash.
func (p *BadPBX) Kill() {
	p.mu.Lock()
	c := p.conn
	p.conn = nil
	p.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Restart opens the socket again on the same port.
func (p *BadPBX) Restart() {
	p.t.Helper()
	p.Kill()
	p.listen(p.Port)
}

// Mute makes the PBX drop (on) or answer (off) everything: a process that
// hangs without closing its socket.
func (p *BadPBX) Mute(on bool) {
	p.mu.Lock()
	p.mute = on
	p.mu.Unlock()
}

// Requests returns the requests received with method ("" for all).
func (p *BadPBX) Requests(method string) []*Msg {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Msg
	for _, m := range p.got {
		if method == "" || m.Method() == method {
			out = append(out, m)
		}
	}
	return out
}

// Acked reports whether the 2xx of the call got its ACK.
func (p *BadPBX) Acked(callID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[callID]
}

// Registered returns where user registered (nil if it has not).
func (p *BadPBX) Registered(user string) *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.contacts[user]
}

func (p *BadPBX) send(to *net.UDPAddr, m *Msg) {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil && to != nil {
		_, _ = c.WriteToUDP(m.Bytes(), to)
	}
}

func (p *BadPBX) serve(c *net.UDPConn, stopped chan struct{}) {
	defer close(stopped)
	buf := make([]byte, 65536)
	for {
		n, src, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if len(bytes.TrimSpace(buf[:n])) == 0 {
			continue // a CRLF keep-alive (RFC 5626): nothing to answer
		}
		m, err := ParseMsg(append([]byte(nil), buf[:n]...))
		if err != nil || strings.TrimSpace(m.Start) == "" {
			continue
		}
		m.Src = src
		p.mu.Lock()
		mute := p.mute
		p.mu.Unlock()
		if mute || p.held(m) {
			continue
		}
		p.handle(m)
	}
}

// handle takes one message from the appliance.
func (p *BadPBX) handle(m *Msg) {
	if m.Method() == "" {
		p.response(m)
		return
	}
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
	p.request(m)
}

// Reply builds a response to req.
func Reply(req *Msg, code int, reason, toTag string) *Msg {
	r := &Msg{Start: fmt.Sprintf("SIP/2.0 %d %s", code, reason)}
	for _, h := range req.Headers {
		switch h[0] {
		case "via", "from", "call-id", "cseq", "record-route":
			r.Headers = append(r.Headers, h)
		case "to":
			v := h[1]
			if toTag != "" && Tag(v) == "" && code > 100 {
				v += ";tag=" + toTag
			}
			r.Headers = append(r.Headers, [2]string{"to", v})
		}
	}
	return r
}

func (p *BadPBX) request(m *Msg) {
	switch m.Method() {
	case "REGISTER":
		user := uriUser(m.Get("to"))
		if ct := contactAddr(m.Get("contact")); ct != nil {
			p.mu.Lock()
			p.contacts[user] = ct
			p.mu.Unlock()
		}
		r := Reply(m, 200, "OK", token())
		if ct := m.Get("contact"); ct != "" {
			r.Headers = append(r.Headers, [2]string{"contact", ct + ";expires=300"})
		}
		p.send(m.Src, r)
	case "OPTIONS":
		p.send(m.Src, Reply(m, 200, "OK", token()))
	case "INVITE":
		if Tag(m.Get("to")) != "" {
			p.send(m.Src, Reply(m, 200, "OK", ""))
			return
		}
		key := m.CallID() + " " + m.Get("cseq")
		p.mu.Lock()
		again := p.seen[key]
		p.seen[key] = true
		p.mu.Unlock()
		if again {
			return // a retransmission: the plan is already under way
		}
		go p.invite(m)
	case "ACK":
		p.mu.Lock()
		p.acked[m.CallID()] = true
		p.mu.Unlock()
	case "BYE":
		p.send(m.Src, Reply(m, 200, "OK", ""))
	case "CANCEL":
		p.send(m.Src, Reply(m, 200, "OK", ""))
		if p.ignoreCancel(m.CallID()) {
			return
		}
		p.mu.Lock()
		done := p.finals[m.CallID()]
		p.finals[m.CallID()] = true
		var inv *Msg
		for _, g := range p.got {
			if g.Method() == "INVITE" && g.CallID() == m.CallID() {
				inv = g
			}
		}
		p.mu.Unlock()
		if !done && inv != nil {
			p.send(inv.Src, Reply(inv, 487, "Request Terminated", token()))
		}
	default:
		p.send(m.Src, Reply(m, 405, "Method Not Allowed", ""))
	}
}

func (p *BadPBX) ignoreCancel(callID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stubborn[callID]
}

// invite carries out the Plan for one INVITE from the appliance.
func (p *BadPBX) invite(req *Msg) {
	plan := Plan{Trying: true, Ring: true, Final: 200}
	p.mu.Lock()
	decide := p.onInvite
	p.mu.Unlock()
	if decide != nil {
		plan = decide(req)
	}
	if plan.IgnoreCancel {
		p.mu.Lock()
		p.stubborn[req.CallID()] = true
		p.mu.Unlock()
	}
	tag := token()
	if plan.Trying {
		p.send(req.Src, Reply(req, 100, "Trying", ""))
	}
	if plan.Ring {
		p.send(req.Src, Reply(req, 180, "Ringing", tag))
	}
	if plan.Then != nil {
		plan.Then()
	}
	if plan.Final == 0 {
		return
	}
	if plan.After > 0 {
		time.Sleep(plan.After)
	}
	p.mu.Lock()
	done := p.finals[req.CallID()]
	p.finals[req.CallID()] = true
	p.mu.Unlock()
	if done && !plan.IgnoreCancel {
		return // cancelled meanwhile
	}
	if plan.Final != 200 {
		p.send(req.Src, Reply(req, plan.Final, "Refused", tag))
		return
	}
	res := Reply(req, 200, "OK", tag)
	p.answerBody(res, strings.Fields(req.Start)[1])
	p.retransmit(req.Src, res, req.CallID())
}

// answerBody makes res a 200 with our Contact and an SDP answer.
func (p *BadPBX) answerBody(res *Msg, ruri string) {
	user := uriUser("<" + ruri + ">")
	res.Headers = append(res.Headers, [2]string{"contact", fmt.Sprintf("<sip:%s@%s>", user, p.Addr)},
		[2]string{"content-type", "application/sdp"})
	res.Body = fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 9 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", p.IP, p.IP)
}

// retransmit sends a 2xx until its ACK comes (RFC 3261 13.3.1.4).
func (p *BadPBX) retransmit(to *net.UDPAddr, res *Msg, callID string) {
	wait := 500 * time.Millisecond
	for end := time.Now().Add(32 * time.Second); time.Now().Before(end); {
		p.send(to, res)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if p.Acked(callID) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		wait = min(2*wait, 4*time.Second)
	}
}

func (p *BadPBX) response(m *Msg) {
	key := m.CallID() + " " + m.CSeqMethod()
	p.mu.Lock()
	ch := p.waiting[key]
	p.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default:
		}
	}
}

// Call is a call the PBX places to the appliance.
type Call struct {
	p       *BadPBX
	CallID  string
	FromTag string
	to      *net.UDPAddr
	ext     string
	invite  *Msg
	noAck   bool

	mu    sync.Mutex
	cseq  int
	final *Msg
	got   chan struct{} // closed at the first final response
	ToTag string        // the appliance's tag, from its final response
}

// CallOpts tune a call the PBX places.
type CallOpts struct {
	From        string // caller's number
	NoAck       bool   // never ACK the 200 (a lost ACK, a broken PBX)
	CancelFirst bool   // send the CANCEL before the INVITE (UDP reordering)
	// CancelLead is how long the CANCEL leads the INVITE with CancelFirst.
	CancelLead time.Duration
}

// Invite calls ext (a line registered with the PBX).
func (p *BadPBX) Invite(ext string, o CallOpts) *Call {
	p.t.Helper()
	to := p.Registered(ext)
	if to == nil {
		p.t.Fatalf("bad PBX: %s has not registered", ext)
	}
	if o.From == "" {
		o.From = "01632960001"
	}
	c := &Call{p: p, CallID: token() + "@badpbx", FromTag: token(), to: to, ext: ext, cseq: 1, noAck: o.NoAck, got: make(chan struct{})}
	branch := "z9hG4bK-" + token()
	inv := &Msg{Start: fmt.Sprintf("INVITE sip:%s@%s SIP/2.0", ext, to)}
	inv.Headers = [][2]string{
		{"via", fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", p.Addr, branch)},
		{"max-forwards", "70"},
		{"from", fmt.Sprintf("<sip:%s@%s>;tag=%s", o.From, p.IP, c.FromTag)},
		{"to", fmt.Sprintf("<sip:%s@%s>", ext, p.IP)},
		{"call-id", c.CallID},
		{"cseq", "1 INVITE"},
		{"contact", fmt.Sprintf("<sip:%s@%s>", o.From, p.Addr)},
		{"content-type", "application/sdp"},
	}
	inv.Body = fmt.Sprintf("v=0\r\no=- 2 2 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 9 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", p.IP, p.IP)
	c.invite = inv
	ch := make(chan *Msg, 64)
	p.mu.Lock()
	p.waiting[c.CallID+" INVITE"] = ch
	p.mu.Unlock()
	go c.follow(ch)
	if o.CancelFirst {
		p.send(to, c.cancelMsg())
		time.Sleep(o.CancelLead)
	}
	p.send(to, inv)
	return c
}

// follow takes the INVITE's responses: it ACKs each final one (unless told
// not to) and keeps the first.
func (c *Call) follow(ch chan *Msg) {
	for {
		select {
		case r := <-ch:
			if r.Code() < 200 {
				continue
			}
			if !c.noAck {
				c.ack(r)
			}
			c.mu.Lock()
			if c.final == nil {
				c.final, c.ToTag = r, Tag(r.Get("to"))
				close(c.got)
			}
			c.mu.Unlock()
		case <-time.After(2 * time.Minute):
			return
		}
	}
}

func (c *Call) cancelMsg() *Msg {
	m := &Msg{Start: "CANCEL " + strings.Fields(c.invite.Start)[1] + " SIP/2.0"}
	for _, h := range c.invite.Headers {
		switch h[0] {
		case "via", "max-forwards", "from", "to", "call-id":
			m.Headers = append(m.Headers, h)
		}
	}
	m.Headers = append(m.Headers, [2]string{"cseq", "1 CANCEL"})
	return m
}

// Cancel sends CANCEL for the call.
func (c *Call) Cancel() { c.p.send(c.to, c.cancelMsg()) }

func (c *Call) ack(r *Msg) {
	m := &Msg{Start: "ACK " + strings.Fields(c.invite.Start)[1] + " SIP/2.0"}
	via := c.invite.Get("via") // a non-2xx ACK is part of the INVITE transaction
	if r.Code() < 300 {
		via = fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s", c.p.Addr, token())
	}
	m.Headers = [][2]string{{"via", via}, {"max-forwards", "70"}, {"from", c.invite.Get("from")},
		{"to", r.Get("to")}, {"call-id", c.CallID}, {"cseq", "1 ACK"}}
	c.p.send(c.to, m)
}

// Final waits for the call's final response (nil after d).
func (c *Call) Final(d time.Duration) *Msg {
	select {
	case <-c.got:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.final
	case <-time.After(d):
		return nil
	}
}

// Bye sends BYE with toTag as the appliance's tag ("" = the right one) and
// returns the status it got (0 for none within two seconds).
func (c *Call) Bye(toTag string) int {
	c.mu.Lock()
	if toTag == "" {
		toTag = c.ToTag
	}
	c.cseq++
	seq := c.cseq
	c.mu.Unlock()
	m := &Msg{Start: "BYE " + fmt.Sprintf("sip:%s@%s", c.ext, c.to) + " SIP/2.0"}
	m.Headers = [][2]string{
		{"via", fmt.Sprintf("SIP/2.0/UDP %s;branch=z9hG4bK-%s", c.p.Addr, token())},
		{"max-forwards", "70"}, {"from", c.invite.Get("from")},
		{"to", fmt.Sprintf("<sip:%s@%s>;tag=%s", c.ext, c.p.IP, toTag)},
		{"call-id", c.CallID}, {"cseq", fmt.Sprintf("%d BYE", seq)},
	}
	ch := make(chan *Msg, 4)
	c.p.mu.Lock()
	c.p.waiting[c.CallID+" BYE"] = ch
	c.p.mu.Unlock()
	c.p.send(c.to, m)
	select {
	case r := <-ch:
		return r.Code()
	case <-time.After(2 * time.Second):
		return 0
	}
}

func uriUser(h string) string {
	s := h
	if i := strings.Index(s, "<"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "sip:"), "sips:")
	if at := strings.IndexByte(s, '@'); at >= 0 {
		return s[:at]
	}
	return ""
}

func contactAddr(h string) *net.UDPAddr {
	s := h
	if i := strings.Index(s, "<"); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	s = strings.TrimPrefix(s, "sip:")
	if at := strings.IndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		s = s[:semi]
	}
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return nil
	}
	return a
}
