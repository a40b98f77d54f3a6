package rtp

import "time"

// Stats are one stream's counters since it opened.
type Stats struct {
	PacketsSent     uint64
	PacketsReceived uint64 // audio and event packets accepted from the peer
	PacketsLost     int64  // RFC 3550 cumulative loss (expected - received)
	PacketsExpected uint64
	Jitter          time.Duration // RFC 3550 interarrival jitter
	Untrusted       uint64        // packets from an address other than the peer's, dropped
	Malformed       uint64        // packets that are not RTP or carry an unknown payload type
	SRTPFailures    uint64        // SRTP packets that failed authentication or were replayed, dropped
	EventsReceived  uint64        // RFC 4733 events (not packets) received
	EventsSent      uint64
	Buffer          JitterStats
}

// LossRatio is lost / expected, 0 when nothing was expected.
func (s Stats) LossRatio() float64 {
	if s.PacketsExpected == 0 || s.PacketsLost <= 0 {
		return 0
	}
	return float64(s.PacketsLost) / float64(s.PacketsExpected)
}

// seqTracker follows RFC 3550 A.1 loosely: extended highest sequence
// number and packets received.
type seqTracker struct {
	started  bool
	base     uint32
	maxSeq   uint16
	cycles   uint64
	received uint64
}

func (s *seqTracker) update(seq uint16) {
	if !s.started {
		s.started, s.base, s.maxSeq = true, uint32(seq), seq
		s.received = 1
		return
	}
	s.received++
	delta := seq - s.maxSeq
	if delta < 0x8000 && delta != 0 {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
}

func (s *seqTracker) reset() { *s = seqTracker{} }

func (s *seqTracker) expected() uint64 {
	if !s.started {
		return 0
	}
	return s.cycles + uint64(s.maxSeq) - uint64(s.base) + 1
}
