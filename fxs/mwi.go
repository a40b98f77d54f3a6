package fxs

// Message waiting: the porter learns that messages wait in the voicemail
// from the dial tone (the profile's message-waiting tone, a stutter or
// special dial tone) and from the handset's lamp or display, set and
// cleared by visual message waiting signalling on the hook (the profile's
// method: ETSI/BT line reversal, alert and V.23 MDMF; Bellcore Bell 202
// VMWI, MDMF or SDMF). The indication is sent when the state changes and
// the port is idle; a port in a call, ringing or off the hook sends it
// when it is next idle (after the profile's delay), and one that is
// interrupted (the handset lifted, a call offered) is sent again later.

import (
	"fmt"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
)

// mwiState is the port's message waiting; guarded by Port.mu.
type mwiState struct {
	on      bool // messages wait
	count   int  // how many, 0 when not known
	shown   bool // what the handset was last told (valid when told)
	told    bool
	pending bool // the handset must be told when the port is idle
	active  bool // signalling in progress
	playing bool // its data is playing (srcCID)
	rev     bool // the line is reversed for it
	slot    timerSlot
	sent    uint64 // indications sent to the end
}

// SetMessageWaiting says whether messages wait (and how many, 0 when the
// PBX does not say). Dial tone becomes the profile's message-waiting tone
// (forwarding's special dial tone takes precedence), and the handset's
// lamp is set or cleared by the profile's visual method when it changes.
func (p *Port) SetMessageWaiting(on bool, count int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &p.mwi
	if !on {
		count = 0
	}
	changed := m.on != on || m.count != count
	m.on, m.count = on, count
	if !changed {
		return
	}
	if p.state == StateDialTone {
		p.playLocked(p.dialTone())
	}
	p.emitLocked(Event{Kind: EventMessageWaiting, On: on, Detail: fmt.Sprintf("messages=%d", count)})
	if p.prof.MessageWaiting.Visual != profile.MWIFSK || p.audio == nil {
		return
	}
	if m.told && m.shown == on && !m.active {
		return // the lamp already says so (a count change alone is not resent)
	}
	m.pending = true
	p.mwiKickLocked(0)
}

// MessageWaiting reports whether messages wait, and whether the handset
// has been told the current state.
func (p *Port) MessageWaiting() (on, told bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mwi.on, p.mwi.told && p.mwi.shown == p.mwi.on && !p.mwi.pending
}

// mwiIdleLocked is called when the port becomes idle: a pending
// indication goes after the profile's delay.
func (p *Port) mwiIdleLocked() {
	p.mwiKickLocked(p.prof.MessageWaiting.Delay)
}

func (p *Port) mwiIdle() bool {
	return p.running && !p.closed && p.state == StateIdle && !p.offHook && !p.ring.active
}

// mwiKickLocked schedules the indication if one is pending and the port
// can send it.
func (p *Port) mwiKickLocked(after time.Duration) {
	m := &p.mwi
	if !m.pending || m.active || !p.mwiIdle() {
		return
	}
	p.arm(&m.slot, after, p.mwiStartLocked)
}

// mwiStartLocked begins the signal: the reversal, then (after its wait)
// the alert and the data.
func (p *Port) mwiStartLocked() {
	m := &p.mwi
	if !m.pending || m.active || !p.mwiIdle() {
		return
	}
	m.active, m.pending = true, false
	mw := p.prof.MessageWaiting
	if mw.Reversal {
		p.reverseLocked(true)
		m.rev = true
		p.arm(&m.slot, mw.AfterReversal, p.mwiDataLocked)
		return
	}
	p.mwiDataLocked()
}

// mwiDataLocked renders and plays the alert and the FSK message.
func (p *Port) mwiDataLocked() {
	m := &p.mwi
	if !m.active || !p.mwiIdle() {
		p.mwiAbortLocked("port busy")
		return
	}
	mw := p.prof.MessageWaiting
	ind := dsp.MessageWaiting{Active: m.on}
	if mw.Count {
		ind.Messages = min(m.count, 255)
	}
	var msg []byte
	var err error
	if mw.Format == "sdmf" {
		msg, err = ind.SDMF()
	} else {
		msg, err = ind.MDMF()
	}
	if err != nil {
		p.log.Warn("visual message waiting not sent", "err", err)
		p.mwiFinishLocked(false)
		return
	}
	buf := p.cidScratchLocked()
	if mw.Alert.Cadence != "" {
		if t, err := mw.Alert.Parse("message_waiting.alert"); err == nil {
			t.Repeat = false
			g := dsp.NewToneGen(DSPTone(t))
			n := len(buf)
			buf = append(buf, make([]int16, samples(toneLength(t)))...)
			g.FillSamples(buf[n:])
			buf = append(buf, make([]int16, samples(mw.AfterAlert))...)
		}
	}
	buf = dsp.AppendFSK(buf, p.ring.fsk, msg, p.ring.fskOpts)
	p.cidBuf, p.cidPos = buf, 0
	m.playing = true
	p.src = srcCID
	p.emitLocked(Event{Kind: EventMessageWaiting, On: m.on, Detail: "indication sent to the handset"})
	p.wakeAudioLocked()
}

// mwiAudioDoneLocked is called by the pump when the data has played; it
// reports whether the caller-ID audio was ours.
func (p *Port) mwiAudioDoneLocked() bool {
	m := &p.mwi
	if !m.playing {
		return false
	}
	m.playing = false
	p.src = srcSilence
	p.arm(&m.slot, p.prof.MessageWaiting.AfterData, func() { p.mwiFinishLocked(true) })
	return true
}

// mwiFinishLocked restores the line; a state that changed meanwhile is
// sent again.
func (p *Port) mwiFinishLocked(ok bool) {
	m := &p.mwi
	if m.rev {
		p.reverseLocked(false)
		m.rev = false
	}
	m.active = false
	if ok {
		m.told, m.shown = true, m.on
		m.sent++
	}
	if m.told && m.shown != m.on {
		m.pending = true
		p.mwiKickLocked(p.prof.MessageWaiting.Delay)
	}
	p.wakeAudioLocked()
}

// mwiAbortLocked stops an indication in progress (the handset lifted, a
// call offered): the line is restored and it is sent again later.
func (p *Port) mwiAbortLocked(why string) {
	m := &p.mwi
	if !m.active {
		p.disarm(&m.slot)
		return
	}
	p.disarm(&m.slot)
	if m.playing {
		m.playing = false
		if p.src == srcCID {
			p.src = srcSilence
		}
	}
	if m.rev {
		p.reverseLocked(false)
		m.rev = false
	}
	m.active, m.pending = false, true
	p.emitLocked(Event{Kind: EventMessageWaiting, On: m.on, Detail: "indication interrupted: " + why})
}
