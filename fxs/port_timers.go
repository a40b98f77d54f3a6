package fxs

// Timers: one slot per purpose, guarded by a generation.

import "time"

// arm (re)starts slot to run f under p.mu after d.
func (p *Port) arm(s *timerSlot, d time.Duration, f func()) {
	p.disarm(s)
	p.tgen++
	gen := p.tgen
	s.gen = gen
	s.t = p.clock.AfterFunc(d, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if s.gen != gen || p.closed {
			return
		}
		s.t = nil
		f()
	})
}

func (p *Port) disarm(s *timerSlot) {
	if s.t != nil {
		s.t.Stop()
		s.t = nil
	}
	s.gen = 0
}

func (p *Port) armState(d time.Duration, f func()) { p.arm(&p.stateSlt, d, f) }
