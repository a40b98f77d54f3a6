package fxs

import (
	"fmt"
	"time"
)

// State is the port's state, as shown by status and the event stream.
type State string

// States.
const (
	StateIdle         State = "idle"         // on-hook, nothing happening
	StateDialTone     State = "dialtone"     // off-hook, dial tone (special dial tone when forwarding is on)
	StateCollecting   State = "collecting"   // digits being dialled
	StateRouting      State = "routing"      // number complete, asking the router
	StateRingback     State = "ringback"     // far end alerting, local ringback tone
	StateEarlyMedia   State = "early-media"  // far end's audio before answer
	StateConnected    State = "connected"    // in a call (either direction)
	StateBusy         State = "busy"         // busy tone
	StateCongestion   State = "congestion"   // congestion tone
	StateUnobtainable State = "unobtainable" // number unobtainable tone
	StateRinging      State = "ringing"      // inbound call: caller ID and ringing
	StateParked       State = "parked"       // handset left off-hook after the tones timed out
	StateStopped      State = "stopped"      // Run not running
)

// Condition is the line's health as the survivability layer sees it.
type Condition string

const (
	ConditionOK Condition = "ok"
	// ConditionLeftOffHook: the handset has been left off the hook (the port
	// is parked); inbound calls should be diverted.
	ConditionLeftOffHook Condition = "left-off-hook"
)

// EventKind says what an Event reports.
type EventKind int

const (
	EventState          EventKind = iota + 1 // state change: State, Prev, Detail
	EventHook                                // handset lifted or replaced: OffHook
	EventDigit                               // a digit dialled: Digit, Source (dtmf|pulse), Digits so far
	EventRecall                              // a recall (hook flash): Detail says what was done with it
	EventRing                                // ring output on or off: On
	EventPolarity                            // line polarity: On = reversed (caller-ID signalling)
	EventCallerID                            // caller-ID audio: Detail "start" or "end"
	EventCondition                           // line condition changed: Condition
	EventHookError                           // a hook signal fitting no window, or lost hook events: Detail
	EventLineError                           // a line or audio operation failed: Detail
	EventCallWaiting                         // call-waiting tone in the call: On
	EventMessageWaiting                      // messages wait (On) or not; Detail says what the handset was told
	EventService                             // a flash-hook service: Detail names it (Service*), Digits says more
)

func (k EventKind) String() string {
	switch k {
	case EventState:
		return "state"
	case EventHook:
		return "hook"
	case EventDigit:
		return "digit"
	case EventRecall:
		return "recall"
	case EventRing:
		return "ring"
	case EventPolarity:
		return "polarity"
	case EventCallerID:
		return "callerid"
	case EventCondition:
		return "condition"
	case EventHookError:
		return "hook-error"
	case EventLineError:
		return "line-error"
	case EventCallWaiting:
		return "call-waiting"
	case EventMessageWaiting:
		return "message-waiting"
	case EventService:
		return "service"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// MarshalText makes JSON show the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one thing that happened on a port.
type Event struct {
	Port      int           `json:"port"`
	At        time.Duration `json:"at_ns"` // the port's clock (monotonic, the hal.Clock base), as hal/sim Change.At
	Kind      EventKind     `json:"kind"`
	State     State         `json:"state,omitempty"`
	Prev      State         `json:"prev,omitempty"`
	OffHook   bool          `json:"off_hook"`
	Digit     string        `json:"digit,omitempty"`
	Source    string        `json:"source,omitempty"` // dtmf | pulse
	Digits    string        `json:"digits,omitempty"`
	On        bool          `json:"on,omitempty"`
	Condition Condition     `json:"condition,omitempty"`
	Detail    string        `json:"detail,omitempty"`
}

// Counters are running totals since New.
type Counters struct {
	Frames         uint64 `json:"frames"`           // audio frames pumped
	DTMFDigits     uint64 `json:"dtmf_digits"`      // digits detected in the handset's audio
	PulseDigits    uint64 `json:"pulse_digits"`     // digits dialled by loop-disconnect
	Recalls        uint64 `json:"recalls"`          // timed-break recalls
	HookErrors     uint64 `json:"hook_errors"`      // hook signals fitting no window
	LostHookEvents uint64 `json:"lost_hook_events"` // hook events lost before reaching the port (Seq gaps)
	AudioErrors    uint64 `json:"audio_errors"`     // device or media read/write errors
	AudioRests     uint64 `json:"audio_rests"`      // times the audio device was stopped while the port needed none
	LineErrors     uint64 `json:"line_errors"`      // ring/polarity output errors
	DroppedEvents  uint64 `json:"dropped_events"`   // events a slow subscriber missed
	CallsOut       uint64 `json:"calls_out"`        // numbers routed
	CallsIn        uint64 `json:"calls_in"`         // calls offered
}

// Snapshot is the port as critlinectl status shows it.
type Snapshot struct {
	Port       int           `json:"port"`
	State      State         `json:"state"`
	Since      time.Duration `json:"since_ns"` // port clock when State was entered
	OffHook    bool          `json:"off_hook"`
	Digits     string        `json:"digits"`     // digits collected so far (or dialled for the current call)
	Direction  string        `json:"direction"`  // "in", "out" or "" when no call
	Emergency  bool          `json:"emergency"`  // the current outbound call is to an emergency number
	Condition  Condition     `json:"condition"`  // ok | left-off-hook
	Forwarding bool          `json:"forwarding"` // special dial tone is on
	// MessageWaiting: messages wait (message-waiting dial tone, lamp set).
	MessageWaiting bool     `json:"message_waiting"`
	Ringing        bool     `json:"ringing"` // the ring output is on now
	Profile        string   `json:"profile"` // country profile name
	Counters       Counters `json:"counters"`
	// Held is the caller or number of a call on hold (or, in a three-way,
	// the other party); Waiting that of a call waiting; ThreeWay says the
	// porter is in a three-way call (services.go).
	Held     string `json:"held,omitempty"`
	Waiting  string `json:"waiting,omitempty"`
	ThreeWay bool   `json:"three_way,omitempty"`
}

// Subscribe returns a channel carrying every event from now on, buffered to
// buf (at least 16), and a function that ends the subscription and closes
// the channel. A subscriber that falls behind misses events (counted in
// Counters.DroppedEvents); the port never waits for one.
func (p *Port) Subscribe(buf int) (<-chan Event, func()) {
	if buf < 16 {
		buf = 16
	}
	ch := make(chan Event, buf)
	p.mu.Lock()
	p.subID++
	id := p.subID
	p.subs[id] = ch
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if c, ok := p.subs[id]; ok {
			delete(p.subs, id)
			close(c)
		}
	}
}

// emitLocked stamps and sends an event to every subscriber without blocking.
func (p *Port) emitLocked(e Event) {
	e.Port = p.id
	e.At = p.clock.Now()
	e.OffHook = p.offHook
	for _, ch := range p.subs {
		select {
		case ch <- e:
		default:
			p.counters.DroppedEvents++
		}
	}
}
