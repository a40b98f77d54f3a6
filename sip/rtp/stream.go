package rtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/critline/critline/hal"
	"github.com/pion/rtp"
)

// Allocator hands out RTP ports from a configured range and opens streams
// on them. Safe for concurrent use.
type Allocator struct {
	bind   netip.Addr
	lo, hi int
	mu     sync.Mutex
	next   int
	inUse  map[int]bool
}

// NewAllocator serves even ports lo..hi (inclusive) on bind (the unspecified
// address binds every interface).
func NewAllocator(bind netip.Addr, lo, hi int) (*Allocator, error) {
	if lo <= 0 || hi > 65535 || hi < lo+1 {
		return nil, fmt.Errorf("rtp port range %d-%d: give two or more ports within 1-65535, e.g. 16384-16482", lo, hi)
	}
	if !bind.IsValid() {
		bind = netip.IPv4Unspecified()
	}
	lo += lo & 1 // RTP takes even ports
	return &Allocator{bind: bind, lo: lo, hi: hi, next: lo, inUse: make(map[int]bool)}, nil
}

// ErrNoPorts means every port in the range is taken.
var ErrNoPorts = errors.New("rtp: no free port in the range: widen sip.rtp_ports")

// StreamConfig tunes a stream. Zero values take the defaults.
type StreamConfig struct {
	Clock       hal.Clock // arrival timestamps; default hal.SystemClock
	Jitter      JitterConfig
	EventBuffer int // received events held for the reader (default 32)
	Logger      *slog.Logger
	// Bind overrides the allocator's address for this stream (a call on
	// another network path); the zero value keeps the allocator's.
	Bind netip.Addr
	// Device binds the stream's socket to a network interface
	// (SO_BINDTODEVICE), so its packets leave by it whatever the routing
	// table prefers: a call carried over a given network path. "" leaves
	// the choice to the kernel.
	Device string
	// Counter, when set, is told the size of every datagram sent and
	// received (the data a metered path carries).
	Counter Counter
}

// Counter counts a stream's datagrams: n is the UDP payload size.
type Counter interface {
	Sent(n int)
	Received(n int)
}

// Open binds the next free port and starts receiving. The stream sends
// nothing until SetMedia gives it the negotiated peer.
func (a *Allocator) Open(cfg StreamConfig) (*Stream, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := (a.hi-a.lo)/2 + 1
	for i := 0; i < n; i++ {
		port := a.next
		a.next += 2
		if a.next > a.hi {
			a.next = a.lo
		}
		if a.inUse[port] {
			continue
		}
		bind := a.bind
		if cfg.Bind.IsValid() {
			bind = cfg.Bind
		}
		conn, err := listen(netip.AddrPortFrom(bind, uint16(port)), cfg.Device)
		if errors.Is(err, errDevice) {
			return nil, err
		}
		if err != nil {
			continue // taken by someone else
		}
		a.inUse[port] = true
		s := newStream(conn, port, cfg)
		s.release = func() {
			a.mu.Lock()
			delete(a.inUse, port)
			a.mu.Unlock()
		}
		go s.receive()
		return s, nil
	}
	return nil, ErrNoPorts
}

// errDevice marks a failure to bind a socket to its network interface: no
// other port would do better.
var errDevice = errors.New("rtp: binding to the network interface")

// listen opens a UDP socket on ap, bound to device when one is named.
func listen(ap netip.AddrPort, device string) (*net.UDPConn, error) {
	if device == "" {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	}
	var devErr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if err := c.Control(func(fd uintptr) { devErr = bindToDevice(fd, device) }); err != nil {
			return err
		}
		return devErr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", ap.String())
	if devErr != nil {
		return nil, fmt.Errorf("%w %s: %v", errDevice, device, devErr)
	}
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// InUse reports how many ports are open.
func (a *Allocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}

// Stream is one call's RTP on one symmetric UDP port. It is a hal.PCM paced
// by its consumer: WriteFrame sends one packet per call and ReadFrame
// returns the next frame from the jitter buffer; ReadFrame blocks only until
// the consumer has written as many frames as it has read (so a consumer
// reading and writing in separate goroutines is paced by its writer), never
// on the network.
type Stream struct {
	conn    *net.UDPConn
	port    int
	clock   hal.Clock
	log     *slog.Logger
	count   Counter
	release func()

	mu        sync.Mutex // receive side and the negotiated media
	media     Media
	haveMedia bool
	peer      netip.AddrPort // where packets go; latched to the peer's source (symmetric RTP)
	jb        Jitter
	seq       seqTracker
	rxSSRC    uint32
	rxStarted bool
	lastEvTS  uint32
	haveEvTS  bool
	evEnded   bool
	rx        Stats
	srtpRx    *srtpContext // the peer's SRTP, nil for plain RTP

	txmu     sync.Mutex // send side
	hdr      rtp.Header
	txbuf    [12 + 4*hal.FrameSamples + 16]byte // header, payload, SRTP tag
	txTS     uint32
	txSeq    uint16
	txFirst  bool
	ev       eventSender
	sent     uint64
	evSent   uint64
	canSend  bool
	txLaw    Law
	txPT     uint8
	txEvPT   uint8
	txEvents bool
	srtpTx   *srtpContext // our SRTP, nil for plain RTP

	events  chan Event
	credits chan struct{}
	closed  chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newStream(conn *net.UDPConn, port int, cfg StreamConfig) *Stream {
	if cfg.Clock == nil {
		cfg.Clock = hal.SystemClock{}
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 32
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stream{
		conn: conn, port: port, clock: cfg.Clock, log: cfg.Logger, count: cfg.Counter,
		events:  make(chan Event, cfg.EventBuffer),
		credits: make(chan struct{}, 16),
		closed:  make(chan struct{}),
		done:    make(chan struct{}),
		txFirst: true,
		txTS:    rand.Uint32(),
		txSeq:   uint16(rand.Uint32()),
	}
	s.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32()}
	s.jb.Init(cfg.Jitter)
	s.credits <- struct{}{} // the first read is free
	return s
}

// LocalPort is the stream's UDP port (for the SDP).
func (s *Stream) LocalPort() int { return s.port }

// SetMedia applies the negotiated media: peer address, codec and events,
// and for SRTP (m.Crypto with m.LocalKey) the keys of both directions. It
// may be called again (early media, then the answer, then re-INVITEs); an
// SRTP context whose key is unchanged is kept, so its rollover counter
// and replay window carry on. An SRTP media without our key sends nothing.
func (s *Stream) SetMedia(m Media) {
	var rx, tx *srtpContext
	s.mu.Lock()
	old := s.media
	s.mu.Unlock()
	if m.Crypto != nil {
		var err error
		if old.Crypto != nil && old.Crypto.Suite == m.Crypto.Suite && string(old.Crypto.Key) == string(m.Crypto.Key) {
			s.mu.Lock()
			rx = s.srtpRx
			s.mu.Unlock()
		} else if rx, err = newSRTPContext(m.Crypto.Suite, m.Crypto.Key); err != nil {
			s.log.Warn("srtp: the peer's key is unusable; its packets will be dropped", "err", err)
		}
		if old.Crypto != nil && old.Crypto.Suite == m.Crypto.Suite && string(old.LocalKey) == string(m.LocalKey) {
			s.txmu.Lock()
			tx = s.srtpTx
			s.txmu.Unlock()
		} else if tx, err = newSRTPContext(m.Crypto.Suite, m.LocalKey); err != nil {
			s.log.Warn("srtp: no usable local key; sending nothing", "err", err)
		}
	}
	s.mu.Lock()
	if !s.haveMedia || s.media.Remote != m.Remote {
		s.peer = m.Remote
	}
	s.media, s.haveMedia, s.srtpRx = m, true, rx
	s.mu.Unlock()
	s.txmu.Lock()
	s.srtpTx = tx
	s.canSend = m.Sends() && (m.Crypto == nil || tx != nil)
	s.txLaw, s.txPT, s.txEvPT, s.txEvents = m.Law, m.PT, m.EventPT, m.Events
	s.txmu.Unlock()
}

// Media returns the negotiated media and whether there is any yet.
func (s *Stream) Media() (Media, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media, s.haveMedia
}

// Events delivers RFC 4733 events from the peer, one per event (not per
// packet). When the reader falls behind, events are dropped.
func (s *Stream) Events() <-chan Event { return s.events }

// ErrNoEvents means the peer did not offer telephone-event.
var ErrNoEvents = errors.New("rtp: the peer did not negotiate telephone-event (RFC 4733)")

// SendEvent queues an RFC 4733 event of duration d (digits 0-15, 16 =
// flash). It goes out in place of audio on the next WriteFrame calls.
func (s *Stream) SendEvent(code uint8, d time.Duration) error {
	s.txmu.Lock()
	defer s.txmu.Unlock()
	if !s.txEvents {
		return ErrNoEvents
	}
	if code > 16 {
		return fmt.Errorf("rtp: event %d is not a DTMF digit or flash (0-16)", code)
	}
	if !s.ev.push(code, d) {
		return errors.New("rtp: too many telephone events queued")
	}
	return nil
}

// ReadFrame writes the next 20 ms of the peer's audio into f (silence when
// nothing has arrived). See Stream for pacing.
func (s *Stream) ReadFrame(f *hal.Frame) error {
	select {
	case <-s.credits:
	case <-s.closed:
		return hal.ErrClosed
	}
	s.mu.Lock()
	s.jb.Pull(f)
	s.mu.Unlock()
	return nil
}

// WriteFrame encodes f and sends it, or the next piece of a queued event.
func (s *Stream) WriteFrame(f *hal.Frame) error {
	select {
	case <-s.closed:
		return hal.ErrClosed
	default:
	}
	select {
	case s.credits <- struct{}{}:
	default:
	}
	s.txmu.Lock()
	defer s.txmu.Unlock()
	s.mu.Lock()
	peer := s.peer
	s.mu.Unlock()
	ts := s.txTS
	s.txTS += hal.FrameSamples
	if !s.canSend || !peer.IsValid() {
		return nil
	}
	if s.txEvents && (s.ev.active || (s.ev.gap == 0 && s.ev.n > 0)) {
		return s.sendEventPiece(ts, peer)
	}
	if s.ev.gap > 0 {
		s.ev.gap--
	}
	s.hdr.PayloadType = s.txPT
	s.hdr.Timestamp = ts
	s.hdr.Marker = s.txFirst
	s.txFirst = false
	payload := s.txbuf[12 : 12+hal.FrameSamples]
	s.txLaw.Encode(payload, f[:])
	return s.send(12+hal.FrameSamples, peer)
}

func (s *Stream) sendEventPiece(ts uint32, peer netip.AddrPort) error {
	e := &s.ev
	marker := false
	if !e.active {
		e.cur = e.q[e.head]
		e.head = (e.head + 1) % eventQueueLen
		e.n--
		e.active, e.startTS, e.sent = true, ts, 0
		marker = true
	}
	e.sent += hal.FrameSamples
	p := eventPayload{code: e.cur.code, volume: 10, duration: uint16(min(e.sent, e.cur.samples))}
	s.hdr.PayloadType = s.txEvPT
	s.hdr.Timestamp = e.startTS
	s.hdr.Marker = marker
	if e.sent < e.cur.samples {
		p.put(s.txbuf[12:])
		return s.send(16, peer)
	}
	// The end packet goes three times (RFC 4733 2.5.1.4).
	p.end = true
	p.put(s.txbuf[12:])
	var err error
	for range 3 {
		if err = s.send(16, peer); err != nil {
			break
		}
		s.hdr.Marker = false
	}
	e.active = false
	e.gap = 2 // 40 ms of audio between events
	s.evSent++
	return err
}

// send marshals the header in front of the payload already in txbuf.
func (s *Stream) send(n int, peer netip.AddrPort) error {
	s.hdr.SequenceNumber = s.txSeq
	s.txSeq++
	if _, err := s.hdr.MarshalTo(s.txbuf[:12]); err != nil {
		return fmt.Errorf("rtp: header: %w", err)
	}
	if s.srtpTx != nil {
		var err error
		if n, err = s.srtpTx.protect(s.txbuf[:], n); err != nil {
			return fmt.Errorf("rtp: %w", err)
		}
	}
	if _, err := s.conn.WriteToUDPAddrPort(s.txbuf[:n], peer); err != nil {
		// A transient network error must not stall the port's audio.
		return nil
	}
	if s.count != nil {
		s.count.Sent(n)
	}
	s.sent++
	return nil
}

func (s *Stream) receive() {
	defer close(s.done)
	var buf [1500]byte
	var h rtp.Header
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.closed:
				return
			default:
				continue
			}
		}
		if s.count != nil {
			s.count.Received(n)
		}
		s.handle(&h, buf[:n], from, s.clock.Now())
	}
}

// handle processes one datagram. It allocates nothing for a good packet.
func (s *Stream) handle(h *rtp.Header, b []byte, from netip.AddrPort, arrival time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveMedia || from.Addr().Unmap() != s.media.Remote.Addr().Unmap() {
		s.rx.Untrusted++
		return
	}
	if len(b) < 12 || b[0]>>6 != 2 {
		s.rx.Malformed++
		return
	}
	if s.media.Crypto != nil {
		if s.srtpRx == nil {
			s.rx.SRTPFailures++
			return
		}
		var err error
		if b, err = s.srtpRx.unprotect(b); err != nil {
			s.rx.SRTPFailures++
			return
		}
	}
	hn, err := h.Unmarshal(b)
	if err != nil {
		s.rx.Malformed++
		return
	}
	payload := b[hn:]
	if h.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			s.rx.Malformed++
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	if !s.rxStarted || h.SSRC != s.rxSSRC {
		s.seq.reset()
		s.rxStarted, s.rxSSRC = true, h.SSRC
	}
	if from != s.peer {
		s.peer = from // symmetric RTP: answer where the peer sends from
	}
	switch {
	case h.PayloadType == s.media.PT:
		s.seq.update(h.SequenceNumber)
		s.rx.PacketsReceived++
		s.jb.Push(h.SSRC, h.Timestamp, s.media.Law, payload, arrival)
	case s.media.Events && h.PayloadType == s.media.EventPT:
		s.seq.update(h.SequenceNumber)
		s.rx.PacketsReceived++
		ep, ok := parseEventPayload(payload)
		if !ok {
			s.rx.Malformed++
			return
		}
		// One report per event: a new timestamp, or a fresh start after the
		// previous event ended (replayed captures reuse timestamps).
		if s.haveEvTS && h.Timestamp == s.lastEvTS && !(s.evEnded && !ep.end) {
			s.evEnded = s.evEnded || ep.end
			return // a continuation or end packet of the event already reported
		}
		s.haveEvTS, s.lastEvTS, s.evEnded = true, h.Timestamp, ep.end
		s.rx.EventsReceived++
		select {
		case s.events <- Event{Code: ep.code, TS: h.Timestamp}:
		default:
		}
	case h.PayloadType == 13: // comfort noise: nothing to play
		s.seq.update(h.SequenceNumber)
		s.rx.PacketsReceived++
	default:
		s.rx.Malformed++
	}
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	st := s.rx
	st.PacketsExpected = s.seq.expected()
	st.PacketsLost = int64(st.PacketsExpected) - int64(s.seq.received)
	st.Jitter = time.Duration(s.jb.JitterSamples() * float64(time.Second) / hal.SampleRate)
	st.Buffer = s.jb.Stats()
	s.mu.Unlock()
	s.txmu.Lock()
	st.PacketsSent, st.EventsSent = s.sent, s.evSent
	s.txmu.Unlock()
	return st
}

// Close stops the stream and frees its port. A blocked ReadFrame returns
// hal.ErrClosed.
func (s *Stream) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.conn.Close()
		<-s.done
		if s.release != nil {
			s.release()
		}
	})
	return nil
}

var _ hal.PCM = (*Stream)(nil)
