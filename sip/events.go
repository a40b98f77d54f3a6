package sip

import "time"

// Event is a RegistrarHealth or a LineStatus, published to subscribers.
type Event interface{ sipEvent() }

// RegistrarHealth is a registrar's probed health over the network path in
// use. It is published on every up/down change (and once when first
// known), when the registrar moves to another path, and when its path's
// verdict is held or released.
type RegistrarHealth struct {
	Registrar string
	Index     int           // position in the ladder, 0 = most preferred
	Up        bool          // verdict with hysteresis, over the path in use
	Known     bool          // false until the first verdict
	RTT       time.Duration // last answered probe over the path in use
	Loss      float64       // lost fraction of the probes since the verdict last changed (at most the last 20)
	At        time.Duration // hal.Clock time of the verdict
	// Path is the network path the registrar is reached by now (PathLAN,
	// PathWWAN, ...).
	Path string
	// Holding: the path in use lost its interface or bearer and the
	// verdict is held while it comes back (Path.HoldDown): no mode change
	// for it, but new calls had better try another route first.
	Holding bool
	Paths   []PathHealth // every path the registrar may use, in preference order
}

// PathHealth is a registrar's health over one network path.
type PathHealth struct {
	Path    string
	Up      bool
	Known   bool
	Holding bool
	RTT     time.Duration
	Loss    float64
	Public  string // on a NAT path: the address the registrar sees us at (ip:port), once known
}

// LineStatus is a line's registration. It is published on every change of
// registrar or registered state, and on a refused registration.
type LineStatus struct {
	Port       int
	Extension  string
	Registrar  string // where it is (or was last) registered; "" for none
	Registered bool
	Err        error // the last failure, nil when registered
	At         time.Duration
	Path       string // the network path the binding was made over (when registered)
}

func (RegistrarHealth) sipEvent() {}
func (LineStatus) sipEvent()      {}

// Subscribe returns a channel of events and a function that ends the
// subscription. The UA never blocks on a subscriber: when the buffer is full
// the oldest event is discarded, so the newest state always arrives.
func (u *UA) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer <= 0 {
		buffer = 64
	}
	ch := make(chan Event, buffer)
	u.subMu.Lock()
	id := u.nextSub
	u.nextSub++
	u.subs[id] = ch
	u.subMu.Unlock()
	return ch, func() {
		u.subMu.Lock()
		delete(u.subs, id)
		u.subMu.Unlock()
	}
}

func (u *UA) publish(e Event) {
	u.subMu.Lock()
	defer u.subMu.Unlock()
	for _, ch := range u.subs {
		select {
		case ch <- e:
		default:
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- e:
			default:
			}
		}
	}
}
