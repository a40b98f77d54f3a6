package fxs

// Digits: collection, the dial plan and emergency numbers.

import (
	"fmt"
	"strings"
	"time"

	"github.com/critline/critline/fxs/digitmap"
)

func (p *Port) digitLocked(d rune, source string) {
	switch p.state {
	case StateDialTone:
		p.enterLocked(StateCollecting, "")
		fallthrough
	case StateCollecting:
		if d == '#' {
			p.emitLocked(Event{Kind: EventDigit, Digit: "#", Source: source, Digits: string(p.digits)})
			p.evaluateLocked(evalSendNow)
			return
		}
		if len(p.digits) >= 32 {
			p.enterLocked(StateUnobtainable, "too many digits")
			return
		}
		p.digits = append(p.digits, byte(d))
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source, Digits: string(p.digits)})
		p.evaluateLocked(evalDigit)
	case StateConnected:
		if p.waitingDigitLocked(d) || p.localRecallDigitLocked(d) || p.recallDigitLocked(d) {
			return // caller ID's acknowledgement or a recall code: not for the far end
		}
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source})
		if ds, ok := p.call.(DigitSender); ok {
			p.work.push("digit", func() {
				if err := ds.SendDigit(d); err != nil {
					p.log.Info("sending a digit to the call", "digit", string(d), "err", err)
				}
			})
		}
	default:
		p.emitLocked(Event{Kind: EventDigit, Digit: string(d), Source: source, Detail: "ignored in " + string(p.state)})
	}
}

type evalKind int

const (
	evalDigit evalKind = iota
	evalSendNow
	evalTimeout
)

func (p *Port) isEmergency(d string) (exact, prefix bool) {
	for _, e := range p.emergency {
		if e == d {
			exact = true
		}
		if strings.HasPrefix(e, d) {
			prefix = true
		}
	}
	return exact, prefix
}

// evaluateLocked decides what the digits collected so far mean.
func (p *Port) evaluateLocked(k evalKind) {
	d := string(p.digits)
	if exact, _ := p.isEmergency(d); exact {
		p.routeLocked(d, true)
		return
	}
	r, more := p.plan.Match(d)
	_, emPrefix := p.isEmergency(d)
	switch {
	case k == evalSendNow || k == evalTimeout:
		if r == digitmap.Full {
			p.routeLocked(d, false)
		} else {
			p.enterLocked(StateUnobtainable, fmt.Sprintf("%q is not a complete number", d))
		}
	case r == digitmap.NoMatch && !emPrefix:
		p.enterLocked(StateUnobtainable, fmt.Sprintf("%q matches no number in the dial plan", d))
	case r == digitmap.Full && !more && !emPrefix:
		p.routeLocked(d, false)
	case r == digitmap.Full:
		p.armInterdigit(p.prof.Dialling.InterdigitShort)
	default:
		p.armInterdigit(p.prof.Dialling.InterdigitLong)
	}
}

func (p *Port) armInterdigit(d time.Duration) {
	p.armState(d, func() {
		if p.state == StateCollecting {
			p.evaluateLocked(evalTimeout)
		}
	})
}
