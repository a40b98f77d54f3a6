package hook

import (
	"fmt"
	"time"
)

// Windows are the timing rules, normally from the country profile.
//
// A lone break (one break between two long makes) of length b is:
//   - bounce when b < Debounce (the two edges are dropped);
//   - noise when b < PulseBreakMin (ignored; it spoils a digit in progress);
//   - a pulse ("1") when b <= PulseBreakMax while dialling, or when
//     b < FlashMin during a call;
//   - a recall when FlashMin <= b <= FlashMax and it is not taken as a pulse;
//   - refused when FlashMax < b < Clear;
//   - a clear (on-hook) once the break has lasted Clear.
//
// A train of breaks separated by makes shorter than DigitEnd is always a
// pulsed digit, however long each break (up to PulseBreakMax), so a slow
// dial's "2" is never a recall; a make of DigitEnd ends the digit.
type Windows struct {
	Debounce      time.Duration
	Seize         time.Duration
	PulseBreakMin time.Duration
	PulseBreakMax time.Duration
	DigitEnd      time.Duration
	FlashMin      time.Duration
	FlashMax      time.Duration
	Clear         time.Duration
}

// Validate checks that the windows are ordered so no signal is ambiguous.
func (w Windows) Validate() error {
	switch {
	case w.Debounce < 0:
		return fmt.Errorf("debounce %v is negative", w.Debounce)
	case w.Seize < w.Debounce:
		return fmt.Errorf("seize %v is shorter than debounce %v", w.Seize, w.Debounce)
	case w.PulseBreakMin <= w.Debounce:
		return fmt.Errorf("pulse_break_min %v must be longer than debounce %v", w.PulseBreakMin, w.Debounce)
	case w.PulseBreakMax <= w.PulseBreakMin:
		return fmt.Errorf("pulse_break_max %v must be longer than pulse_break_min %v", w.PulseBreakMax, w.PulseBreakMin)
	case w.DigitEnd <= w.Debounce:
		return fmt.Errorf("digit_end %v must be longer than debounce %v", w.DigitEnd, w.Debounce)
	case w.FlashMin <= w.PulseBreakMin:
		return fmt.Errorf("flash_min %v must be longer than pulse_break_min %v", w.FlashMin, w.PulseBreakMin)
	case w.FlashMax < w.FlashMin:
		return fmt.Errorf("flash_max %v is shorter than flash_min %v", w.FlashMax, w.FlashMin)
	case w.Clear <= w.FlashMax || w.Clear <= w.PulseBreakMax:
		return fmt.Errorf("clear %v must be longer than flash_max %v and pulse_break_max %v", w.Clear, w.FlashMax, w.PulseBreakMax)
	}
	return nil
}

// Kind is what an Event reports.
type Kind int

const (
	// OffHook: the handset was lifted (the loop has been closed for Seize).
	OffHook Kind = iota + 1
	// OnHook: the handset was put down (the loop has been open for Clear).
	OnHook
	// PulseStart: the first pulse of a dialled digit (dial tone stops here).
	PulseStart
	// Digit: a complete pulsed digit, in Digit ('1'..'9', '0').
	Digit
	// Flash: a timed-break recall.
	Flash
	// Invalid: a signal that fits no window; Detail says what was seen.
	// Any digit in progress is discarded.
	Invalid
)

func (k Kind) String() string {
	switch k {
	case OffHook:
		return "off-hook"
	case OnHook:
		return "on-hook"
	case PulseStart:
		return "pulse-start"
	case Digit:
		return "digit"
	case Flash:
		return "flash"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Event is one decoded signal.
type Event struct {
	Kind   Kind
	Digit  rune          // Digit
	At     time.Duration // when the signal was recognised (an edge time or a deadline)
	Edge   time.Duration // the edge that began it (the make for OffHook, the break for OnHook, Flash)
	Detail string        // Invalid
}

// Decoder turns edges into Events. It is not safe for concurrent use.
type Decoder struct {
	w Windows

	dialling bool // pulses preferred over recall for ambiguous lone breaks

	// The last committed (debounced) loop state and when it began.
	closed bool
	since  time.Duration

	// An edge waiting out the debounce time.
	pending   bool
	pendClose bool
	pendAt    time.Duration

	seized bool // logically off-hook (a break in progress does not change it)

	pulses    int           // pulses of the digit in progress
	loneBreak time.Duration // length of the first break of the digit in progress
	prevSince time.Duration // start of the make before the current break
}

// New returns a decoder whose loop is closed (off-hook) or open at time at.
// A decoder that starts closed counts as already seized.
func New(w Windows, closed bool, at time.Duration) *Decoder {
	return &Decoder{w: w, closed: closed, since: at, seized: closed, prevSince: at}
}

// SetDialling tells the decoder whether the port is collecting digits. While
// dialling, a lone break up to PulseBreakMax is a "1" (a slow rotary dial);
// otherwise a lone break from FlashMin on is a recall.
func (d *Decoder) SetDialling(on bool) { d.dialling = on }

// OffHook reports whether the decoder considers the handset off-hook.
func (d *Decoder) OffHook() bool { return d.seized }

// Deadline returns when Expire next has something to decide.
func (d *Decoder) Deadline() (time.Duration, bool) {
	if d.pending {
		return d.pendAt + d.w.Debounce, true
	}
	switch {
	case d.closed && !d.seized:
		return d.since + d.w.Seize, true
	case !d.closed && d.seized:
		return d.since + d.w.Clear, true
	case d.closed && d.pulses > 0:
		return d.since + d.w.DigitEnd, true
	}
	return 0, false
}

// Expire decides everything due at or before now and appends the results to
// dst.
func (d *Decoder) Expire(dst []Event, now time.Duration) []Event {
	for {
		dl, ok := d.Deadline()
		if !ok || dl > now {
			return dst
		}
		if d.pending {
			d.pending = false
			dst = d.commit(dst, d.pendClose, d.pendAt)
			continue
		}
		switch {
		case d.closed && !d.seized:
			d.seized = true
			d.pulses = 0
			dst = append(dst, Event{Kind: OffHook, At: dl, Edge: d.since})
		case !d.closed && d.seized:
			d.seized = false
			d.pulses = 0
			dst = append(dst, Event{Kind: OnHook, At: dl, Edge: d.since})
		case d.closed && d.pulses > 0:
			dst = d.endDigit(dst, dl)
		}
	}
}

// Edge feeds one loop edge (closed = loop closed, off-hook) stamped at; the
// results are appended to dst. Edges must come in time order; an edge that
// repeats the current state is ignored.
func (d *Decoder) Edge(dst []Event, closed bool, at time.Duration) []Event {
	dst = d.Expire(dst, at)
	if d.pending {
		if closed != d.pendClose {
			// Undone within the debounce time: bounce, drop both edges.
			d.pending = false
		}
		return dst
	}
	if closed == d.closed {
		return dst
	}
	if at < d.since {
		at = d.since
	}
	if d.w.Debounce == 0 {
		return d.commit(dst, closed, at)
	}
	d.pending, d.pendClose, d.pendAt = true, closed, at
	return dst
}

// Resync forgets any digit in progress and takes closed, read from the line
// at time at, as the current state: for use after events were lost.
func (d *Decoder) Resync(dst []Event, closed bool, at time.Duration) []Event {
	dst = d.Expire(dst, at)
	d.pending = false
	if d.pulses > 0 {
		dst = append(dst, Event{Kind: Invalid, At: at, Detail: "hook events were lost during a dialled digit; the digit is discarded"})
		d.pulses = 0
	}
	if closed != d.closed {
		d.closed, d.since, d.prevSince = closed, at, at
	}
	return dst
}

func (d *Decoder) commit(dst []Event, closed bool, at time.Duration) []Event {
	if !closed {
		// A break begins.
		d.prevSince = d.since
		d.closed, d.since = false, at
		return dst
	}
	// A make ends a break of length b.
	b := at - d.since
	breakAt := d.since
	d.closed, d.since = true, at
	if !d.seized {
		return dst // a make that will have to last Seize
	}
	w := d.w
	switch {
	case b < w.PulseBreakMin:
		if d.pulses > 0 {
			d.pulses = 0
			return append(dst, Event{Kind: Invalid, At: at, Edge: breakAt,
				Detail: fmt.Sprintf("break of %v inside a dialled digit is shorter than a pulse (%v); the digit is discarded", b, w.PulseBreakMin)})
		}
		// A glitch during a call or on dial tone: the make goes on.
		d.since = d.prevSince
		return dst
	case d.pulses > 0 && b <= w.PulseBreakMax:
		d.pulses++
		return dst
	case d.pulses == 0 && b <= w.PulseBreakMax && (d.dialling || b < w.FlashMin):
		d.pulses, d.loneBreak = 1, b
		return append(dst, Event{Kind: PulseStart, At: at, Edge: breakAt})
	case d.pulses == 0 && b >= w.FlashMin && b <= w.PulseBreakMax:
		// During a call: a recall, unless more pulses follow (decided in
		// endDigit or by the next break).
		d.pulses, d.loneBreak = 1, b
		return dst
	case b >= w.FlashMin && b <= w.FlashMax:
		if d.pulses > 0 {
			d.pulses = 0
			return append(dst, Event{Kind: Invalid, At: at, Edge: breakAt,
				Detail: fmt.Sprintf("break of %v inside a dialled digit is longer than a pulse (%v); the digit is discarded", b, w.PulseBreakMax)})
		}
		return append(dst, Event{Kind: Flash, At: at, Edge: breakAt})
	default:
		lost := ""
		if d.pulses > 0 {
			lost = "; the digit in progress is discarded"
		}
		d.pulses = 0
		return append(dst, Event{Kind: Invalid, At: at, Edge: breakAt,
			Detail: fmt.Sprintf("break of %v is neither a pulse (<= %v), a recall (%v-%v) nor a clear (>= %v)%s", b, w.PulseBreakMax, w.FlashMin, w.FlashMax, w.Clear, lost)})
	}
}

func (d *Decoder) endDigit(dst []Event, at time.Duration) []Event {
	n := d.pulses
	d.pulses = 0
	if n == 1 && !d.dialling && d.loneBreak >= d.w.FlashMin {
		return append(dst, Event{Kind: Flash, At: at, Edge: d.since - d.loneBreak})
	}
	if n > 10 {
		return append(dst, Event{Kind: Invalid, At: at, Detail: fmt.Sprintf("%d pulses: a digit has 1 to 10", n)})
	}
	r := rune('0' + n%10)
	return append(dst, Event{Kind: Digit, Digit: r, At: at, Edge: d.since})
}
