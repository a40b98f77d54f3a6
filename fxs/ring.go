package fxs

import (
	"fmt"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/fxs/profile"
	"github.com/critline/critline/hal"
)

// ringer is the state of ringing and caller-ID signalling for one offered
// call. All of it is guarded by Port.mu.
type ringer struct {
	// from the profile
	cadence  []time.Duration
	half     time.Duration // half a period of the ring frequency (RingToggle)
	method   string
	reversal bool
	alert    *dsp.ToneGen // nil = no alert tone
	alertLen int          // samples
	fsk      dsp.FSKStandard
	fskOpts  dsp.FSKOptions
	sdmf     bool

	active    bool
	step      int
	stepStart time.Duration
	on        bool // ring output on
	reversed  bool // polarity reversed by us (caller ID or toggling)
	cidAfter  bool // send caller ID after the first ring (Bellcore)
	cidPlay   bool // caller-ID audio playing
	cidOK     bool // caller-ID audio rendered
	slot      timerSlot
	toggle    timerSlot
	cidSlot   timerSlot
	toggles   int
}

func (r *ringer) init(p *profile.Profile) error {
	r.cadence = p.Ring.Cadence
	r.half = time.Duration(float64(time.Second) / (2 * p.Ring.Frequency))
	c := p.CallerID
	r.method, r.reversal = c.Method, c.Reversal && c.Method == profile.CIDBeforeRing
	r.sdmf = c.Format == "sdmf"
	r.fsk = dsp.V23
	if c.Standard == "bell202" {
		r.fsk = dsp.Bell202
	}
	r.fskOpts = dsp.DefaultFSKOptions(r.fsk)
	r.fskOpts.SeizureBits, r.fskOpts.MarkBits, r.fskOpts.LevelDBm0 = c.SeizureBits, c.MarkBits, c.Level
	if c.Method == profile.CIDBeforeRing && c.Alert.Cadence != "" {
		t, err := c.Alert.Parse("alert")
		if err != nil {
			return fmt.Errorf("caller_id.alert: %w", err)
		}
		t.Repeat = false
		r.alert = dsp.NewToneGen(DSPTone(t))
		r.alertLen = samples(toneLength(t))
	}
	return nil
}

// startRingingLocked begins the caller-ID and ringing sequence. The first
// line action comes first; the caller-ID audio is rendered while the
// standard's first interval runs.
func (p *Port) startRingingLocked(cid dsp.CallerID) {
	r := &p.ring
	r.active, r.step, r.cidAfter, r.cidPlay, r.cidOK = true, 0, false, false, false
	method := r.method
	if p.audio == nil {
		method = profile.CIDNone
	}
	switch method {
	case profile.CIDBeforeRing:
		if r.reversal {
			p.reverseLocked(true)
			r.cidOK = p.renderCIDLocked(cid, method)
			p.arm(&r.cidSlot, p.prof.CallerID.AfterReversal, p.startCIDAudioLocked)
		} else {
			r.cidOK = p.renderCIDLocked(cid, method)
			p.startCIDAudioLocked()
		}
	case profile.CIDAfterFirstRing:
		p.startCadenceLocked()
		r.cidOK = p.renderCIDLocked(cid, method)
		r.cidAfter = r.cidOK
	default:
		p.startCadenceLocked()
	}
}

// cidScratchLocked is p.cidBuf emptied, made when the port has none: the
// buffer lives only while caller ID or a message-waiting indication plays
// (4 s of audio, 64 kB a port), not on every idle port.
func (p *Port) cidScratchLocked() []int16 {
	if p.cidBuf == nil {
		p.cidBuf = make([]int16, 0, 4*hal.SampleRate)
	}
	return p.cidBuf[:0]
}

// renderCIDLocked builds the caller-ID audio into p.cidBuf.
func (p *Port) renderCIDLocked(cid dsp.CallerID, method string) bool {
	r := &p.ring
	msg, err := p.cidMessage(cid)
	if err != nil {
		p.log.Warn("caller ID not sent", "err", err)
		p.emitLocked(Event{Kind: EventCallerID, Detail: "not sent: " + err.Error()})
		return false
	}
	buf := p.cidScratchLocked()
	if method == profile.CIDBeforeRing && r.alert != nil {
		r.alert.Reset()
		n := len(buf)
		buf = append(buf, make([]int16, r.alertLen)...)
		r.alert.FillSamples(buf[n:])
		buf = append(buf, make([]int16, samples(p.prof.CallerID.AfterAlert))...)
	}
	buf = dsp.AppendFSK(buf, r.fsk, msg, r.fskOpts)
	p.cidBuf, p.cidPos = buf, 0
	return true
}

// cidMessage builds the caller-ID message, cleaning what the network gave.
func (p *Port) cidMessage(cid dsp.CallerID) ([]byte, error) {
	if cid.Time.IsZero() {
		cid.Time = p.now()
	}
	if cid.Number == "" && cid.NumberAbsence == dsp.Present {
		cid.NumberAbsence = dsp.Unavailable
	}
	if cid.Number != "" {
		cid.NumberAbsence = dsp.Present
	}
	var num []byte
	for i := 0; i < len(cid.Number) && len(num) < dsp.MaxNumberLen; i++ {
		c := cid.Number[i]
		if (c >= '0' && c <= '9') || c == '*' || c == '#' || (c == '+' && len(num) == 0) {
			num = append(num, c)
		}
	}
	cid.Number = string(num)
	if cid.Number == "" && cid.NumberAbsence == dsp.Present {
		cid.NumberAbsence = dsp.Unavailable
	}
	if cid.Name != "" {
		cid.Name = dsp.PrintableName(cid.Name, 20)
		cid.NameAbsence = dsp.Present
	}
	if p.ring.sdmf {
		cid.Name, cid.NameAbsence = "", dsp.Present // SDMF carries no name
		if len(cid.Number) > dsp.MaxSDMFNumberLen {
			cid.Number = cid.Number[len(cid.Number)-dsp.MaxSDMFNumberLen:]
		}
		return cid.SDMF()
	}
	return cid.MDMF()
}

// startCIDAudioLocked starts playing the rendered caller-ID audio.
func (p *Port) startCIDAudioLocked() {
	r := &p.ring
	if !r.active || p.state != StateRinging {
		return
	}
	if !r.cidOK {
		// No caller ID could be built: ring without it.
		if r.reversed {
			p.reverseLocked(false)
		}
		if r.step == 0 && !r.on {
			p.startCadenceLocked()
		}
		return
	}
	r.cidPlay = true
	p.cidPos = 0
	p.src = srcCID
	p.emitLocked(Event{Kind: EventCallerID, Detail: "start"})
}

// cidFinishedLocked is called by the pump when the caller-ID audio has been
// written out.
func (p *Port) cidFinishedLocked() {
	if p.mwiAudioDoneLocked() {
		return // it was a message-waiting indication (mwi.go)
	}
	r := &p.ring
	p.src = srcSilence
	if !r.cidPlay {
		return
	}
	r.cidPlay = false
	p.emitLocked(Event{Kind: EventCallerID, Detail: "end"})
	if r.method == profile.CIDBeforeRing && r.active && r.step == 0 && !r.on {
		p.arm(&r.cidSlot, p.prof.CallerID.AfterData, func() {
			if r.reversed {
				p.reverseLocked(false)
			}
			p.startCadenceLocked()
		})
	}
}

func (p *Port) startCadenceLocked() {
	r := &p.ring
	if !r.active {
		return
	}
	r.step = 0
	r.stepStart = p.clock.Now()
	p.ringStepLocked()
}

// ringStepLocked applies cadence step r.step, which began at r.stepStart,
// and schedules the next one from the ideal boundary so the cadence does not
// drift.
func (p *Port) ringStepLocked() {
	r := &p.ring
	k := r.step % len(r.cadence)
	d := r.cadence[k]
	on := k%2 == 0
	p.setRingLocked(on)
	if !on && r.step == 1 && r.cidAfter {
		p.arm(&r.cidSlot, r.stepStart+p.prof.CallerID.AfterRing-p.clock.Now(), p.startCIDAudioLocked)
	}
	next := r.stepStart + d
	p.arm(&r.slot, next-p.clock.Now(), func() {
		r.step++
		r.stepStart = next
		p.ringStepLocked()
	})
}

// setRingLocked turns the ringing voltage on or off in the board's way.
func (p *Port) setRingLocked(on bool) {
	r := &p.ring
	if r.on == on {
		return
	}
	r.on = on
	if p.line.RingDrive() == hal.RingToggle {
		if on {
			p.lineSetRing(true)
			r.toggles = 0
			p.armToggleLocked()
		} else {
			p.disarm(&r.toggle)
			if r.reversed {
				p.reverseLocked(false)
			}
			p.lineSetRing(false)
		}
	} else {
		p.lineSetRing(on)
	}
	p.emitLocked(Event{Kind: EventRing, On: on})
}

// armToggleLocked schedules the next polarity flip of a RingToggle ring.
func (p *Port) armToggleLocked() {
	r := &p.ring
	r.toggles++
	at := r.stepStart + time.Duration(r.toggles)*r.half
	p.arm(&r.toggle, at-p.clock.Now(), func() {
		if !r.on {
			return
		}
		p.reverseQuietLocked(!r.reversed)
		p.armToggleLocked()
	})
}

// reverseLocked sets polarity and reports it.
func (p *Port) reverseLocked(rev bool) {
	p.reverseQuietLocked(rev)
	p.emitLocked(Event{Kind: EventPolarity, On: rev})
}

// reverseQuietLocked sets polarity without an event (ring toggling).
func (p *Port) reverseQuietLocked(rev bool) {
	p.ring.reversed = rev
	p.lineSetReverse(rev)
}

// stopRingingLocked ends ringing and caller ID at once.
func (p *Port) stopRingingLocked() {
	r := &p.ring
	if !r.active {
		return
	}
	r.active = false
	p.disarm(&r.slot)
	p.disarm(&r.cidSlot)
	p.disarm(&r.toggle)
	if r.on {
		p.setRingLocked(false)
	}
	if r.reversed {
		p.reverseLocked(false)
	}
	if r.cidPlay {
		r.cidPlay = false
		p.src = srcSilence
		p.emitLocked(Event{Kind: EventCallerID, Detail: "end"})
	}
}
