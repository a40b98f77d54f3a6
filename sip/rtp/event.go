package rtp

import (
	"encoding/binary"
	"time"
)

// RFC 4733 event codes beyond the digits.
const (
	EventStar  = 10
	EventHash  = 11
	EventFlash = 16 // hook flash (recall)
)

// Event is one RFC 4733 telephone event received from the peer.
type Event struct {
	Code uint8 // 0-9 digits, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash
	TS   uint32
}

// Digit returns the event as a DTMF character, or 0 when it is not a digit
// (16 = flash is not).
func (e Event) Digit() rune { return EventDigit(e.Code) }

// EventDigit maps an event code to its DTMF character, 0 for none.
func EventDigit(code uint8) rune {
	switch {
	case code <= 9:
		return rune('0' + code)
	case code == EventStar:
		return '*'
	case code == EventHash:
		return '#'
	case code >= 12 && code <= 15:
		return rune('A' + code - 12)
	}
	return 0
}

// DigitEvent maps a DTMF character to its event code.
func DigitEvent(d rune) (uint8, bool) {
	switch {
	case d >= '0' && d <= '9':
		return uint8(d - '0'), true
	case d == '*':
		return EventStar, true
	case d == '#':
		return EventHash, true
	case d >= 'A' && d <= 'D':
		return uint8(12 + d - 'A'), true
	case d >= 'a' && d <= 'd':
		return uint8(12 + d - 'a'), true
	}
	return 0, false
}

// eventPayload is the 4-byte RFC 4733 payload.
type eventPayload struct {
	code     uint8
	end      bool
	volume   uint8
	duration uint16
}

func (e eventPayload) put(b []byte) int {
	b[0] = e.code
	b[1] = e.volume & 0x3F
	if e.end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.duration)
	return 4
}

func parseEventPayload(b []byte) (eventPayload, bool) {
	if len(b) < 4 {
		return eventPayload{}, false
	}
	return eventPayload{code: b[0], end: b[1]&0x80 != 0, volume: b[1] & 0x3F, duration: binary.BigEndian.Uint16(b[2:])}, true
}

// pendingEvent is an event queued for sending.
type pendingEvent struct {
	code    uint8
	samples int // total duration in samples
}

// eventQueueLen bounds queued outgoing events (a dialled string).
const eventQueueLen = 32

// eventSender turns queued events into packets, one per WriteFrame.
type eventSender struct {
	q       [eventQueueLen]pendingEvent
	head, n int
	active  bool
	cur     pendingEvent
	startTS uint32
	sent    int // samples covered so far
	gap     int // frames of audio to send before the next event
}

func (s *eventSender) push(code uint8, d time.Duration) bool {
	if s.n == eventQueueLen {
		return false
	}
	samples := int(d.Seconds() * 8000)
	samples = max(samples, 160)
	samples = min(samples, 0xFFFF)
	s.q[(s.head+s.n)%eventQueueLen] = pendingEvent{code: code, samples: samples}
	s.n++
	return true
}
