package config

import "github.com/critline/critline/hal"

// BoardProfile turns the board and port sections into the pin map a real
// backend opens. Call it only on a validated Config.
func (c *Config) BoardProfile() hal.BoardProfile {
	pin := func(p *Pin) *hal.Pin {
		if p == nil || p.Line == nil {
			return nil
		}
		b, _ := hal.ParseBias(p.Bias) // validated
		hp := hal.Pin{Chip: p.Chip, Line: *p.Line, ActiveLow: p.ActiveLow, Bias: b, Debounce: c.Board.Debounce.Duration}
		if p.Debounce != nil {
			hp.Debounce = p.Debounce.Duration
		}
		if hp.Chip == "" {
			hp.Chip = c.Board.Chip
		}
		return &hp
	}
	val := func(p *Pin) hal.Pin {
		if hp := pin(p); hp != nil {
			return *hp
		}
		return hal.Pin{Line: -1}
	}
	bp := hal.BoardProfile{
		Mains:      pin(c.Board.Mains),
		BatteryLow: pin(c.Board.BatteryLow),
		Link:       c.Board.Link,
	}
	if len(c.Board.LED) > 0 {
		bp.LEDs = map[string]hal.Pin{}
		for name, p := range c.Board.LED {
			bp.LEDs[name] = val(&p)
		}
	}
	for _, p := range c.Ports {
		pp := hal.PortProfile{
			ID:       p.ID,
			Hook:     val(p.Hook),
			Ring:     val(p.Ring),
			Polarity: val(p.Polarity),
			Relay:    val(p.Relay),
			Audio:    p.Audio,
		}
		if p.RingDrive == "toggle" {
			pp.RingDrive = hal.RingToggle
		}
		bp.Ports = append(bp.Ports, pp)
	}
	return bp
}
