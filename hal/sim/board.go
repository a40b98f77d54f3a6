package sim

import (
	"fmt"
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// Options configure a simulated board.
type Options struct {
	Ports     []int                 // port ids
	RingDrive map[int]hal.RingDrive // per port; default hal.RingEnable
	Debounce  time.Duration         // hook debounce, as the kernel does it
	// Copper: ports with a live copper PSTN line wired behind their relay
	// (the others have nothing there).
	Copper map[int]bool
	Clock  hal.Clock // default hal.SystemClock
}

// Board is the simulated board. Its control methods (Hook, Pulse, Flash,
// SetPower, SetLink, Play, Listen, Watch) stand in for a porter's hands, the
// mains supply and the LAN cable.
type Board struct {
	clock  hal.Clock
	ports  []hal.Port
	lines  map[int]*Line
	relays map[int]*Relay
	pcms   map[int]*PCM
	power  *PowerSensor
	link   *LinkSensor
	watch  *broadcaster

	mu     sync.Mutex
	closed bool
}

// New builds a board with the given ports, all on-hook, relays in bypass
// (their safe state until the daemon energises them), mains on, link up.
func New(o Options) (*Board, error) {
	if len(o.Ports) == 0 {
		return nil, fmt.Errorf("sim board: no ports: give at least one port id")
	}
	if o.Clock == nil {
		o.Clock = hal.SystemClock{}
	}
	b := &Board{
		clock:  o.Clock,
		lines:  map[int]*Line{},
		relays: map[int]*Relay{},
		pcms:   map[int]*PCM{},
		watch:  newBroadcaster(),
	}
	for _, id := range o.Ports {
		if _, dup := b.lines[id]; dup {
			return nil, fmt.Errorf("sim board: port %d given twice", id)
		}
		l := newLine(id, o.RingDrive[id], o.Debounce, o.Clock, b.watch)
		r := &Relay{port: id, bypass: true, clock: o.Clock, watch: b.watch, line: l, copper: o.Copper[id]}
		p := newPCM(id, o.Clock)
		p.phone.offHook = l.drivenOffHook
		b.lines[id], b.relays[id], b.pcms[id] = l, r, p
		b.ports = append(b.ports, hal.Port{ID: id, Line: l, Relay: r, Audio: p})
	}
	b.power = &PowerSensor{state: hal.PowerState{Mains: true, At: o.Clock.Now()}, events: make(chan hal.PowerState, 16), clock: o.Clock, watch: b.watch}
	b.link = &LinkSensor{state: hal.LinkState{Up: true, At: o.Clock.Now()}, events: make(chan hal.LinkState, 16), clock: o.Clock, watch: b.watch}
	return b, nil
}

// Kind is "sim".
func (b *Board) Kind() string { return "sim" }

// Ports returns every port's hardware.
func (b *Board) Ports() []hal.Port { return b.ports }

// Power returns the board's supply sensor.
func (b *Board) Power() hal.PowerSensor { return b.power }

// Link returns the LAN link sensor.
func (b *Board) Link() hal.LinkSensor { return b.link }

// Clock returns the clock the board stamps events with.
func (b *Board) Clock() hal.Clock { return b.clock }

// Close puts every relay into bypass, then stops the audio streams.
func (b *Board) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	for _, p := range b.ports {
		_ = p.Relay.SetBypass(true)
	}
	for _, p := range b.pcms {
		_ = p.Close()
	}
	b.watch.close()
	return nil
}

func (b *Board) line(port int) (*Line, error) {
	l, ok := b.lines[port]
	if !ok {
		return nil, fmt.Errorf("no port %d on this board: ports are %v", port, b.portIDs())
	}
	return l, nil
}

func (b *Board) portIDs() []int {
	ids := make([]int, 0, len(b.ports))
	for _, p := range b.ports {
		ids = append(ids, p.ID)
	}
	return ids
}

// SetCopperLine cuts (live = false) or restores the copper PSTN line wired
// behind a port's relay, as a fault on the exchange's side would: the line
// sensor then reads no voltage and no loop current. A port without copper
// (Options.Copper) has no line to cut.
func (b *Board) SetCopperLine(port int, live bool) error {
	r, ok := b.relays[port]
	if !ok {
		return fmt.Errorf("no port %d on this board: ports are %v", port, b.portIDs())
	}
	if !r.copper {
		return fmt.Errorf("port %d has no copper line behind its relay (behind_relay = \"none\"): nothing to cut or restore", port)
	}
	r.setDead(!live)
	b.watch.publish(Change{At: b.clock.Now(), Port: port, What: "copper", Value: live})
	return nil
}

// HasPort reports whether the board has that port.
func (b *Board) HasPort(port int) bool { _, ok := b.lines[port]; return ok }

// Hook lifts (off = true) or replaces the handset of a port. The SLIC sees
// it only while the relay has the handset on the board; in bypass the
// handset is on the PSTN line (Relay.LineInUse).
func (b *Board) Hook(port int, off bool) error {
	l, err := b.line(port)
	if err != nil {
		return err
	}
	l.cancelSchedule() // the hand on the hook wins over a dial or recall still under way
	l.driveAt(off, b.clock.Now())
	return nil
}

// PulseTiming is how a rotary dial breaks the loop.
type PulseTiming struct {
	PPS        float64       // pulses per second, 7..13 in the field
	BreakRatio float64       // fraction of a pulse period the loop is open, 0.55..0.72
	InterDigit time.Duration // loop closed between digits
}

// DefaultPulse is a UK dial: 10 pps, 66 % break, 700 ms between digits.
func DefaultPulse() PulseTiming {
	return PulseTiming{PPS: 10, BreakRatio: 0.66, InterDigit: 700 * time.Millisecond}
}

// Pulse dials digits on an off-hook port by loop disconnect: each digit n
// (0 = 10 pulses) as n timed breaks, starting now. It returns when the edges
// are scheduled, with the time the last one falls due after now.
func (b *Board) Pulse(port int, digits string, t PulseTiming) (time.Duration, error) {
	l, err := b.line(port)
	if err != nil {
		return 0, err
	}
	if t.PPS < 1 || t.PPS > 30 || t.BreakRatio <= 0 || t.BreakRatio >= 1 {
		return 0, fmt.Errorf("pulse timing %v pps, %v break ratio is impossible", t.PPS, t.BreakRatio)
	}
	if !l.drivenOffHook() {
		return 0, fmt.Errorf("port %d is on-hook: lift the handset first (sim hook %d off)", port, port)
	}
	period := time.Duration(float64(time.Second) / t.PPS)
	brk := time.Duration(float64(period) * t.BreakRatio)
	var edges []edge
	at := time.Duration(0)
	for i, d := range digits {
		if d < '0' || d > '9' {
			return 0, fmt.Errorf("%q cannot be pulse dialled: only 0-9 (a rotary dial has no * or #)", d)
		}
		n := int(d - '0')
		if n == 0 {
			n = 10
		}
		if i > 0 {
			at += t.InterDigit
		}
		for p := range n {
			edges = append(edges, edge{off: false, after: at})
			at += brk
			edges = append(edges, edge{off: true, after: at})
			if p < n-1 {
				at += period - brk
			}
		}
	}
	l.schedule(edges)
	return at, nil
}

// Flash breaks the loop of an off-hook port for d (a timed-break recall).
func (b *Board) Flash(port int, d time.Duration) error {
	l, err := b.line(port)
	if err != nil {
		return err
	}
	if !l.drivenOffHook() {
		return fmt.Errorf("port %d is on-hook: a recall needs the handset lifted", port)
	}
	l.schedule([]edge{{off: false, after: 0}, {off: true, after: d}})
	return nil
}

// SetPower sets the supply: mains present or not, battery low or not.
func (b *Board) SetPower(mains, batteryLow bool) { b.power.set(mains, batteryLow) }

// SetLink plugs (true) or unplugs the LAN cable.
func (b *Board) SetLink(up bool) { b.link.set(up) }

// Play queues audio into a port's microphone (as if spoken into the handset).
// It returns how long it will take to play.
func (b *Board) Play(port int, samples []int16) (time.Duration, error) {
	p, ok := b.pcms[port]
	if !ok {
		return 0, fmt.Errorf("no port %d on this board: ports are %v", port, b.portIDs())
	}
	return p.inject(samples), nil
}

// Listen records what a port's earpiece receives for the next n samples.
// The channel yields the recording once it is complete (or cut short by
// Close).
func (b *Board) Listen(port int, n int) (<-chan []int16, error) {
	p, ok := b.pcms[port]
	if !ok {
		return nil, fmt.Errorf("no port %d on this board: ports are %v", port, b.portIDs())
	}
	if n <= 0 || n > 600*hal.SampleRate {
		return nil, fmt.Errorf("listen length %d samples: use 1 sample to 10 minutes", n)
	}
	return p.tap(n), nil
}

// SetCallerDisplay makes a port's telephone one that answers caller ID on
// call waiting (the default) or an older one that does not.
func (b *Board) SetCallerDisplay(port int, on bool) error {
	p, ok := b.pcms[port]
	if !ok {
		return fmt.Errorf("no port %d on this board: ports are %v", port, b.portIDs())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phone.noCIDCW = !on
	return nil
}

// CallerDisplayAcks counts the acknowledgements a port's telephone sent to
// caller ID on call waiting.
func (b *Board) CallerDisplayAcks(port int) int {
	p, ok := b.pcms[port]
	if !ok {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phone.acks
}

// Watch streams every change of the board's outputs and inputs until
// unsubscribed. Slow watchers lose events (counted in Dropped) rather than
// slowing the board.
func (b *Board) Watch() *Subscription { return b.watch.subscribe() }
