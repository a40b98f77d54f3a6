package prompts

import (
	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/audiofile"
	"github.com/critline/critline/sip/rtp"
)

// Player speaks a queue of prompts, one 20 ms frame at a time. It is not
// safe for concurrent use.
type Player struct {
	queue [][]byte
	pos   int // in queue[0]
	gap   int // samples of silence still due before queue[0]
}

// Say replaces whatever is being said by clips, in order.
func (p *Player) Say(clips ...[]byte) {
	p.queue = append(p.queue[:0], clips...)
	p.pos, p.gap = 0, 0
}

// Stop silences the player.
func (p *Player) Stop() { p.Say() }

// Busy reports whether anything is left to say.
func (p *Player) Busy() bool { return len(p.queue) > 0 }

// Fill writes the next frame (silence once everything has been said).
func (p *Player) Fill(f *hal.Frame) {
	gap := int(Gap.Seconds() * audiofile.SampleRate)
	for i := 0; i < len(f); {
		if len(p.queue) == 0 {
			clear(f[i:])
			return
		}
		if p.gap > 0 {
			n := min(p.gap, len(f)-i)
			clear(f[i : i+n])
			p.gap -= n
			i += n
			continue
		}
		c := p.queue[0]
		n := rtp.ALaw.Decode(f[i:], c[p.pos:])
		p.pos += n
		i += n
		if p.pos >= len(c) {
			p.queue = p.queue[1:]
			p.pos = 0
			if len(p.queue) > 0 {
				p.gap = gap
			}
		}
	}
}
