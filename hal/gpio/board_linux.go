//go:build linux

package gpio

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/critline/critline/hal"
	"github.com/warthog618/go-gpiocdev"
	"golang.org/x/sys/unix"
)

// Option configures Open.
type Option func(*options)

type options struct {
	consumer string
	log      *slog.Logger
	buffer   int
	audio    func(device string) (hal.PCM, error)
	linkPoll time.Duration
	netRoot  string
}

// WithConsumer sets the consumer label prefix the kernel shows for every line
// this board holds (default "critline"; each line adds ":p1-hook" and so on).
func WithConsumer(prefix string) Option { return func(o *options) { o.consumer = prefix } }

// WithLogger sets where lost events and other trouble are logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithEventBuffer sets the kernel's per-line event FIFO and each events
// channel's capacity (default 64).
func WithEventBuffer(n int) Option { return func(o *options) { o.buffer = n } }

// WithAudio makes Open open each port's audio device (PortProfile.Audio) with
// open, and Close close it. Without it Port.Audio is nil and the caller wires
// audio itself.
func WithAudio(open func(device string) (hal.PCM, error)) Option {
	return func(o *options) { o.audio = open }
}

// WithLinkPoll sets how often the LAN carrier is read (default 1 s).
func WithLinkPoll(d time.Duration) Option { return func(o *options) { o.linkPoll = d } }

// WithNetRoot reads link carrier from root/IFACE/carrier instead of
// /sys/class/net (for tests).
func WithNetRoot(root string) Option { return func(o *options) { o.netRoot = root } }

// Stats counts hook and power events that never reached a consumer.
type Stats struct {
	// Lost counts events the kernel dropped (its FIFO overflowed), found from
	// gaps in the per-line sequence numbers.
	Lost uint64
	// Dropped counts events this backend dropped because a consumer's
	// channel was full.
	Dropped uint64
}

// Board is an opened GPIO board. Open returns it as a hal.Board; type-assert
// to *Board for Stats and the LEDs.
type Board struct {
	o     options
	log   *slog.Logger
	chips map[string]*gpiocdev.Chip

	relays  []*output // in request order
	outputs []*output // ring, polarity, LEDs
	inputs  []*input
	leds    map[string]*output
	ports   []hal.Port
	lines   []*portLine
	power   *power
	link    *link
	audio   []hal.PCM

	lost, dropped atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

var _ hal.Board = (*Board)(nil)

// Open claims every line of profile: first each relay, driven to bypass, then
// the hook, ring and polarity lines, the power inputs and the LEDs. A line
// that is missing or busy fails Open with the chip, the line, the function
// and (when busy) the consumer holding it; everything claimed so far is
// released, relays last and in bypass.
func Open(ctx context.Context, profile hal.BoardProfile, opts ...Option) (hal.Board, error) {
	o := options{consumer: "critline", buffer: 64, linkPoll: time.Second, netRoot: "/sys/class/net"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.buffer < 1 {
		o.buffer = 1
	}
	reqs, err := plan(profile)
	if err != nil {
		return nil, err
	}
	b := &Board{o: o, log: o.log, chips: map[string]*gpiocdev.Chip{}, leds: map[string]*output{}}
	if err := b.open(ctx, profile, reqs); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Board) open(ctx context.Context, profile hal.BoardProfile, reqs []request) error {
	portLines := map[int]*portLine{}
	relays := map[int]*relay{}
	for _, pp := range profile.Ports {
		pl := &portLine{b: b, id: pp.ID, drive: pp.RingDrive, events: make(chan hal.HookEvent, b.o.buffer)}
		portLines[pp.ID] = pl
		relays[pp.ID] = &relay{}
	}
	b.power = &power{events: make(chan hal.PowerState, b.o.buffer)}
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gpio: opening the board: %w", err)
		}
		switch {
		case r.role.input():
			in, err := b.requestInput(r, portLines[r.port])
			if err != nil {
				return err
			}
			b.inputs = append(b.inputs, in)
			switch r.role {
			case roleHook:
				portLines[r.port].hook = in
			case roleMains:
				b.power.mains = in
			case roleBatteryLow:
				b.power.batteryLow = in
			}
		default:
			out, err := b.requestOutput(r)
			if err != nil {
				return err
			}
			switch r.role {
			case roleRelay:
				b.relays = append(b.relays, out)
				relays[r.port].out = out
			case roleRing:
				b.outputs = append(b.outputs, out)
				portLines[r.port].ring = out
			case rolePolarity:
				b.outputs = append(b.outputs, out)
				portLines[r.port].polarity = out
			case roleLED:
				b.outputs = append(b.outputs, out)
				b.leds[r.led] = out
			}
		}
	}
	if err := b.power.init(); err != nil {
		return err
	}
	for _, pp := range profile.Ports {
		port := hal.Port{ID: pp.ID, Line: portLines[pp.ID], Relay: relays[pp.ID]}
		if pp.Audio != "" && b.o.audio != nil {
			pcm, err := b.o.audio(pp.Audio)
			if err != nil {
				return fmt.Errorf("gpio: port %d audio %s: %w", pp.ID, pp.Audio, err)
			}
			b.audio = append(b.audio, pcm)
			port.Audio = pcm
		}
		b.ports = append(b.ports, port)
		b.lines = append(b.lines, portLines[pp.ID])
	}
	b.link = newLink(b.o.netRoot, profile.Link, b.o.linkPoll, b.o.buffer, b.log)
	return nil
}

func (b *Board) consumer(r request) string {
	c := b.o.consumer + ":" + r.tag
	if len(c) > 31 { // the kernel keeps 31 bytes and a NUL
		c = c[:31]
	}
	return c
}

func (b *Board) chip(name string) (*gpiocdev.Chip, error) {
	if c, ok := b.chips[name]; ok {
		return c, nil
	}
	c, err := gpiocdev.NewChip(name, gpiocdev.WithConsumer(b.o.consumer))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("GPIO chip %s does not exist (chips present: %v): fix the chip name in the board profile or load the GPIO driver", name, gpiocdev.Chips())
		}
		return nil, fmt.Errorf("GPIO chip %s: %w", name, err)
	}
	if c.UapiAbiVersion() != 2 {
		c.Close()
		return nil, fmt.Errorf("GPIO chip %s: the kernel offers only GPIO uAPI v%d; critline needs v2 (Linux 5.10 or later) for debounce and event sequence numbers", name, c.UapiAbiVersion())
	}
	b.chips[name] = c
	return c, nil
}

// claim requests one line, turning the kernel's refusals into errors that
// name the chip, the line, the function and the current holder.
func (b *Board) claim(r request, opts ...gpiocdev.LineReqOption) (*gpiocdev.Line, error) {
	c, err := b.chip(r.pin.Chip)
	if err != nil {
		return nil, fmt.Errorf("gpio: %s (%s line %d): %w", r.fn, r.pin.Chip, r.pin.Line, err)
	}
	if r.pin.Line >= c.Lines() {
		return nil, fmt.Errorf("gpio: %s: %s has no line %d (its lines are 0-%d): fix the line number in the board profile", r.fn, c.Name, r.pin.Line, c.Lines()-1)
	}
	opts = append(opts, gpiocdev.WithConsumer(b.consumer(r)))
	if r.pin.ActiveLow {
		opts = append(opts, gpiocdev.AsActiveLow)
	}
	l, err := c.RequestLine(r.pin.Line, opts...)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, unix.EBUSY) {
		holder := "another process"
		if info, ierr := c.LineInfo(r.pin.Line); ierr == nil && info.Consumer != "" {
			holder = fmt.Sprintf("consumer %q", info.Consumer)
		}
		return nil, fmt.Errorf("gpio: %s: %s line %d is busy, held by %s: stop that user (or its device-tree claim) or move %s to a free line", r.fn, c.Name, r.pin.Line, holder, r.fn)
	}
	return nil, fmt.Errorf("gpio: %s: requesting %s line %d: %w", r.fn, c.Name, r.pin.Line, err)
}

func (b *Board) requestOutput(r request) (*output, error) {
	// Relays start de-energised (bypass); every other output starts inactive.
	l, err := b.claim(r, gpiocdev.AsOutput(0))
	if err != nil {
		return nil, err
	}
	return &output{fn: r.fn, l: l}, nil
}

func (b *Board) requestInput(r request, pl *portLine) (*input, error) {
	in := &input{fn: r.fn, b: b}
	switch r.role {
	case roleHook:
		in.onEdge = pl.deliver
	case roleMains, roleBatteryLow:
		in.onEdge = b.power.edge(r.role)
	}
	opts := []gpiocdev.LineReqOption{
		gpiocdev.AsInput,
		gpiocdev.WithBothEdges,
		gpiocdev.WithMonotonicEventClock,
		gpiocdev.WithEventBufferSize(min(b.o.buffer, 1024)), // the kernel's limit for one line
		gpiocdev.WithEventHandler(in.handle),
	}
	switch r.pin.Bias {
	case hal.BiasPullUp:
		opts = append(opts, gpiocdev.WithPullUp)
	case hal.BiasPullDown:
		opts = append(opts, gpiocdev.WithPullDown)
	case hal.BiasDisabled:
		opts = append(opts, gpiocdev.WithBiasDisabled)
	}
	if r.pin.Debounce > 0 {
		opts = append(opts, gpiocdev.WithDebounce(r.pin.Debounce))
	}
	l, err := b.claim(r, opts...)
	if err != nil {
		return nil, err
	}
	in.l = l
	return in, nil
}

// Kind is "gpio".
func (b *Board) Kind() string { return "gpio" }

// Ports returns the ports in profile order.
func (b *Board) Ports() []hal.Port { return b.ports }

// Power returns the mains and battery-low sensor.
func (b *Board) Power() hal.PowerSensor { return b.power }

// Link returns the LAN carrier sensor.
func (b *Board) Link() hal.LinkSensor { return b.link }

// Stats returns the lost and dropped event counts.
func (b *Board) Stats() Stats { return Stats{Lost: b.lost.Load(), Dropped: b.dropped.Load()} }

// LEDs lists the LED functions, sorted.
func (b *Board) LEDs() []string {
	names := make([]string, 0, len(b.leds))
	for n := range b.leds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SetLED lights (on) or darkens an LED.
func (b *Board) SetLED(name string, on bool) error {
	o, ok := b.leds[name]
	if !ok {
		return fmt.Errorf("gpio: no LED %q on this board (have %v)", name, b.LEDs())
	}
	return o.set(on)
}

// Close puts every relay into bypass, turns ringing, reversal and LEDs off,
// releases the inputs (closing their event channels), the other outputs and
// finally the relays, then closes audio devices and chips. It is safe to call
// more than once.
func (b *Board) Close() error {
	b.closeOnce.Do(func() {
		var errs []error
		for _, o := range b.relays {
			errs = append(errs, o.set(false))
		}
		for _, o := range b.outputs {
			errs = append(errs, o.set(false))
		}
		if b.link != nil {
			b.link.close()
		}
		for _, in := range b.inputs {
			errs = append(errs, in.close())
		}
		for _, pl := range b.lines {
			close(pl.events)
		}
		if b.power != nil {
			b.power.close()
		}
		for _, o := range b.outputs {
			errs = append(errs, o.close())
		}
		for _, o := range b.relays {
			errs = append(errs, o.close())
		}
		for _, a := range b.audio {
			errs = append(errs, a.Close())
		}
		for _, c := range b.chips {
			errs = append(errs, c.Close())
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// output is one claimed output line. Values are logical: true = asserted.
type output struct {
	fn     string
	l      *gpiocdev.Line
	mu     sync.Mutex
	val    bool
	closed bool
}

func (o *output) set(v bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return hal.ErrClosed
	}
	n := 0
	if v {
		n = 1
	}
	if err := o.l.SetValue(n); err != nil {
		return fmt.Errorf("gpio: setting %s to %d: %w", o.fn, n, err)
	}
	o.val = v
	return nil
}

func (o *output) get() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.val
}

func (o *output) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if err := o.l.Close(); err != nil {
		return fmt.Errorf("gpio: releasing %s: %w", o.fn, err)
	}
	return nil
}

// input is one claimed input line with both-edge events.
type input struct {
	fn      string
	b       *Board
	l       *gpiocdev.Line
	lastSeq uint32 // only touched on the line's watcher goroutine
	onEdge  func(gpiocdev.LineEvent)
	mu      sync.Mutex
	closed  bool
}

// handle runs on go-gpiocdev's watcher goroutine, serially per line.
func (in *input) handle(e gpiocdev.LineEvent) {
	if in.lastSeq != 0 && e.LineSeqno != in.lastSeq+1 && e.LineSeqno > in.lastSeq {
		gap := uint64(e.LineSeqno - in.lastSeq - 1)
		in.b.lost.Add(gap)
		in.b.log.Warn("gpio: the kernel lost edge events", "function", in.fn, "lost", gap, "seq", e.LineSeqno)
	}
	in.lastSeq = e.LineSeqno
	in.onEdge(e)
}

func (in *input) value() (bool, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false, hal.ErrClosed
	}
	v, err := in.l.Value()
	if err != nil {
		return false, fmt.Errorf("gpio: reading %s: %w", in.fn, err)
	}
	return v == 1, nil
}

func (in *input) close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || in.l == nil {
		return nil
	}
	in.closed = true
	if err := in.l.Close(); err != nil { // waits for the handler to return
		return fmt.Errorf("gpio: releasing %s: %w", in.fn, err)
	}
	return nil
}

func (b *Board) drop(fn string) {
	n := b.dropped.Add(1)
	b.log.Warn("gpio: event channel full, event dropped", "function", fn, "dropped_total", n)
}
