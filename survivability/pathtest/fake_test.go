package pathtest

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/critline/critline/hal"
)

// fakeApp is an appliance above the hal for unit tests of the logic: it
// answers test calls the way each test sets up (far end, audio, digits).
type fakeApp struct {
	mu       sync.Mutex
	busy     string // TestIdle's why; "" idle
	far      farEnd
	placeErr error
	copper   CopperReading
	copperE  error
	sense    bool
	placed   []string
	acts     map[int]func(string)
	nact     int
}

// farEnd is what the called party does.
type farEnd struct {
	answerAfter time.Duration // 0: answers at once
	end         error         // ends instead of answering (hal.ErrBusy...)
	never       bool          // rings for ever
	toneHz      float64       // plays this tone once answered (0: silence)
	echo        bool          // echoes what it hears
	echoDTMF    bool          // sends back the digits it is sent
	noEvents    bool          // takes no DTMF events (digits go in-band)
	noMedia     bool          // its audio is not wired to the appliance
	hangAfter   time.Duration // clears this long after answering (0: never)
}

func (f *fakeApp) TestIdle() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy == "", f.busy
}

func (f *fakeApp) CanSenseCopper(int) bool { return f.sense }

func (f *fakeApp) CheckCopper(ctx context.Context, port int) (CopperReading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copper, f.copperE
}

func (f *fakeApp) OnActivity(fn func(string)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.acts == nil {
		f.acts = map[int]func(string){}
	}
	f.nact++
	id := f.nact
	f.acts[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.acts, id)
	}
}

// act is a porter doing something.
func (f *fakeApp) act(why string) {
	f.mu.Lock()
	var fs []func(string)
	for _, fn := range f.acts {
		fs = append(fs, fn)
	}
	f.mu.Unlock()
	for _, fn := range fs {
		fn(why)
	}
}

func (f *fakeApp) PlaceTestCall(ctx context.Context, kind, route, number string) (Call, error) {
	f.mu.Lock()
	f.placed = append(f.placed, kind+":"+route+":"+number)
	far, err := f.far, f.placeErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c := &fakeCall{far: far, events: make(chan Event, 64), done: make(chan struct{})}
	go c.run()
	return c, nil
}

type fakeCall struct {
	far    farEnd
	events chan Event

	mu       sync.Mutex
	answered bool
	over     bool
	done     chan struct{}
	n        int
	heard    []int16
}

func (c *fakeCall) emit(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over {
		return
	}
	c.events <- ev
	if ev.Kind == Ended {
		c.over = true
		close(c.events)
		close(c.done)
	}
}

func (c *fakeCall) run() {
	c.emit(Event{Kind: Alerting})
	if c.far.end != nil {
		c.emit(Event{Kind: Ended, Err: c.far.end})
		return
	}
	if c.far.never {
		return
	}
	select {
	case <-time.After(c.far.answerAfter):
	case <-c.done:
		return
	}
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	c.emit(Event{Kind: Answered})
	if c.far.hangAfter > 0 {
		select {
		case <-time.After(c.far.hangAfter):
			c.emit(Event{Kind: Ended})
		case <-c.done:
		}
	}
}

func (c *fakeCall) Events() <-chan Event { return c.events }

func (c *fakeCall) Media() Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.answered || c.far.noMedia {
		return nil
	}
	return fakeMedia{c}
}

func (c *fakeCall) SendDTMF(digits string) error {
	if c.far.noEvents {
		return ErrNoDTMF
	}
	if !c.far.echoDTMF {
		return nil
	}
	go func() {
		for _, d := range digits {
			c.emit(Event{Kind: Digit, Digit: d})
		}
	}()
	return nil
}

func (c *fakeCall) Hangup() error {
	c.emit(Event{Kind: Ended})
	return nil
}

func (c *fakeCall) From() string { return "trunk fake" }

type fakeMedia struct{ c *fakeCall }

func (m fakeMedia) WriteFrame(f *hal.Frame) error {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.over {
		return hal.ErrClosed
	}
	m.c.heard = append(m.c.heard, f[:]...)
	return nil
}

func (m fakeMedia) ReadFrame(f *hal.Frame) error {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.over {
		return hal.ErrClosed
	}
	switch {
	case m.c.far.toneHz > 0:
		for i := range f {
			f[i] = int16(9000 * math.Sin(2*math.Pi*m.c.far.toneHz*float64(m.c.n)/8000))
			m.c.n++
		}
	case m.c.far.echo && len(m.c.heard) >= hal.FrameSamples:
		copy(f[:], m.c.heard[len(m.c.heard)-hal.FrameSamples:])
	default:
		clear(f[:])
	}
	return nil
}
