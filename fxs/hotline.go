package fxs

// Hotline and warmline: a port that dials a configured number by itself,
// at once when the handset is lifted (lift, refuge and car-park emergency
// phones) or after a pause without a digit.
//
// A hotline port fires at once by definition: the porter cannot dial
// anything else, 999 included, so a hotline's number is the one place its
// users must reach (the lodge, a group, or the emergency service itself).
// A warmline port plays dial tone first and collects digits as any port:
// a number dialled before the pause is over (999 above all) goes where it
// was dialled; only silence sends the warmline's number.

import (
	"errors"
	"fmt"
)

// seizeLocked answers a handset lifted on an idle port: dial tone, or the
// hotline's number at once.
func (p *Port) seizeLocked(detail string) {
	p.enterLocked(StateDialTone, detail)
	if p.hotline == "" {
		return
	}
	exact, _ := p.isEmergency(p.hotline)
	p.digits = append(p.digits[:0], p.hotline...)
	p.emitLocked(Event{Kind: EventDigit, Source: "hotline", Digits: p.hotline, Detail: "hotline: dialled on off-hook"})
	p.routeLocked(p.hotline, exact)
}

// dialToneTimerLocked arms dial tone's own timer: the warmline, or the
// dial tone timeout.
func (p *Port) dialToneTimerLocked() {
	if p.warmline == "" {
		p.armState(p.prof.Dialling.DialToneTimeout, func() { p.enterLocked(StateUnobtainable, "dial tone timed out") })
		return
	}
	p.armState(p.warmAfter, func() {
		if p.state != StateDialTone {
			return // a digit came first
		}
		exact, _ := p.isEmergency(p.warmline)
		p.digits = append(p.digits[:0], p.warmline...)
		p.emitLocked(Event{Kind: EventDigit, Source: "warmline", Digits: p.warmline, Detail: fmt.Sprintf("warmline: no digit in %s", p.warmAfter)})
		p.routeLocked(p.warmline, exact)
	})
}

// checkLines checks the hotline and warmline settings against the profile.
func checkLines(cfg Config) error {
	switch {
	case cfg.Hotline != "" && cfg.Warmline != "":
		return errors.New("both a hotline and a warmline: give one")
	case cfg.Warmline == "":
		return nil
	case cfg.WarmlineAfter <= 0:
		return errors.New("warmline without WarmlineAfter")
	case cfg.WarmlineAfter >= cfg.Profile.Dialling.DialToneTimeout:
		return fmt.Errorf("warmline after %s is not shorter than the dial tone timeout %s", cfg.WarmlineAfter, cfg.Profile.Dialling.DialToneTimeout)
	}
	return nil
}
