package fxs

// Line outputs: ring and polarity, with their errors counted.

func (p *Port) lineSetRing(on bool) {
	if err := p.line.SetRing(on); err != nil {
		p.counters.LineErrors++
		p.emitLocked(Event{Kind: EventLineError, Detail: "ring output: " + err.Error()})
	}
}

func (p *Port) lineSetReverse(rev bool) {
	if err := p.line.SetReverse(rev); err != nil {
		p.counters.LineErrors++
		p.emitLocked(Event{Kind: EventLineError, Detail: "polarity output: " + err.Error()})
	}
}
