package survivability

import (
	"sync"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/prompts"
)

// The remote-activation dialogue's fallback tones, for a language without
// prompts: a short proceed tone inviting the next entry, three high pips
// confirming a change, and a low pulsed tone for a refusal.
func remoteTone(t forwarding.Tone) dsp.Tone {
	on := func(f float64, d time.Duration) dsp.ToneSegment {
		return dsp.ToneSegment{Components: []dsp.Component{{Freq: f, Level: -13}}, Duration: d}
	}
	off := func(d time.Duration) dsp.ToneSegment { return dsp.ToneSegment{Duration: d} }
	switch t {
	case forwarding.TonePrompt:
		return dsp.Tone{Name: "prompt", Segments: []dsp.ToneSegment{
			{Components: []dsp.Component{{Freq: 350, Level: -16}, {Freq: 440, Level: -16}}, Duration: 600 * time.Millisecond}}}
	case forwarding.ToneConfirm:
		return dsp.Tone{Name: "confirm", Segments: []dsp.ToneSegment{
			on(1400, 100*time.Millisecond), off(100 * time.Millisecond), on(1400, 100*time.Millisecond),
			off(100 * time.Millisecond), on(1400, 100*time.Millisecond), off(300 * time.Millisecond)}}
	case forwarding.ToneError:
		return dsp.Tone{Name: "error", Segments: []dsp.ToneSegment{
			on(400, 375*time.Millisecond), off(375 * time.Millisecond), on(400, 375*time.Millisecond), off(375 * time.Millisecond)}}
	}
	return dsp.Tone{}
}

func toneLength(t dsp.Tone) time.Duration {
	var d time.Duration
	for _, s := range t.Segments {
		d += s.Duration
	}
	return d
}

// remoteLeg is the call a dialogue runs on: an answered trunk call or SIP
// call.
type remoteLeg interface {
	// media is the call's voice stream; nil when the board carries the
	// audio in analogue (then only tones and digits work).
	media() hal.PCM
	// paced says whether media's ReadFrame keeps time itself (a modem's
	// voice port does; an RTP stream is paced by its writer).
	paced() bool
	// hangup ends the call.
	hangup() error
}

// remoteCall is a call answered by the remote-activation dialogue: it
// speaks the dialogue's prompts (or plays its tones) to the caller, feeds
// the caller's DTMF to it, and hangs up or hands the call to the lodge
// when it says so.
type remoteCall struct {
	a    *Appliance
	leg  remoteLeg
	set  *prompts.Set // nil: tones only
	sess *forwarding.Session
	// toLodge puts the call through to the porters' phones (trunk calls
	// from staff numbers); nil when the entry offers no lodge.
	toLodge func(rc *remoteCall)
	// inband detects the caller's DTMF in their audio (SIP callers whose
	// PBX sends no RFC 4733 events).
	inband *dsp.DTMFDetector

	mu     sync.Mutex
	player prompts.Player
	tone   *dsp.ToneGen
	final  bool // the last words: keys no longer interrupt them
	hangup bool
	lodge  bool
	ring   *dsp.ToneGen // ringback while the lodge's phones ring
	early  []rune       // keys that came before the dialogue started
	done   chan struct{}
	pumped chan struct{} // closed when the pump has let go of the media
	once   sync.Once
}

func (a *Appliance) newRemoteCall(leg remoteLeg) *remoteCall {
	return &remoteCall{a: a, leg: leg, set: a.o.Prompts, done: make(chan struct{}), pumped: make(chan struct{})}
}

// start runs the dialogue for c; the call is already answered.
func (rc *remoteCall) start(c forwarding.Call) {
	sess := rc.a.fwd.StartSession(c, rc.act) // calls act: rc.mu must be free
	rc.mu.Lock()
	rc.sess = sess
	early := rc.early
	rc.early = nil
	rc.mu.Unlock()
	select {
	case <-rc.done: // the caller hung up while the dialogue was starting
		sess.Close()
		close(rc.pumped)
		return
	default:
	}
	for _, d := range early {
		rc.digit(d)
	}
	go rc.pump()
}

// act plays what the dialogue asks for and says how long it takes. It is
// called with the session's lock held.
func (rc *remoteCall) act(x forwarding.Action) time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var d time.Duration
	names := make([]string, len(x.Say))
	for i, p := range x.Say {
		names[i] = string(p)
	}
	switch {
	case len(names) > 0 && rc.set != nil && len(rc.set.Missing(names)) == 0:
		clips := make([][]byte, len(names))
		for i, n := range names {
			clips[i], _ = rc.set.Clip(n)
		}
		rc.player.Say(clips...)
		rc.tone = nil
		d = rc.set.Duration(names...)
	case x.Tone != "":
		t := remoteTone(x.Tone)
		rc.player.Stop()
		rc.tone = dsp.NewToneGen(t)
		d = toneLength(t)
	}
	if x.Tone == forwarding.ToneConfirm || x.Hangup {
		// Forwarding changed: the porters' dial tone says so at once.
		go rc.a.syncForwarding()
	}
	if x.Hangup {
		rc.hangup, rc.final = true, true
	}
	if x.Lodge {
		rc.lodge, rc.final = true, true
		rc.player.Stop()
		rc.tone = nil
	}
	return d
}

// digit passes a DTMF key from the caller to the dialogue; it cuts short
// what is being said (barge-in) unless those are the call's last words.
func (rc *remoteCall) digit(d rune) {
	rc.mu.Lock()
	sess := rc.sess
	if sess == nil {
		if len(rc.early) < 64 {
			rc.early = append(rc.early, d) // the call is answered, the dialogue not yet started
		}
		rc.mu.Unlock()
		return
	}
	if !rc.final {
		rc.player.Stop()
		rc.tone = nil
	}
	rc.mu.Unlock()
	sess.Digit(d)
}

// hangupTail is the silence sent after the last words before hanging
// up, so that audio still on its way (modem queues, jitter buffers) is
// heard, not cut off.
const hangupTail = 600 * time.Millisecond

// pump speaks to the caller, paced by the call's voice stream, and hangs
// up (or hands over to the lodge) once the last words have been said.
func (rc *remoteCall) pump() {
	defer close(rc.pumped)
	audio, paced := rc.leg.media(), rc.leg.paced()
	tail := int(hangupTail / hal.FrameDuration)
	var in, out hal.Frame
	tick := time.NewTicker(hal.FrameDuration)
	defer tick.Stop()
	for {
		select {
		case <-rc.done:
			return
		default:
		}
		if audio == nil || !paced {
			select {
			case <-tick.C:
			case <-rc.done:
				return
			}
		}
		if audio != nil {
			if err := audio.ReadFrame(&in); err != nil {
				audio = nil
			} else if rc.inband != nil {
				rc.inband.Process(in[:])
			}
		}
		rc.mu.Lock()
		switch {
		case rc.ring != nil:
			rc.ring.Fill(&out)
		case rc.player.Busy():
			rc.player.Fill(&out)
		case rc.tone != nil:
			rc.tone.Fill(&out)
			if rc.tone.Done() {
				rc.tone = nil
			}
		default:
			clear(out[:])
		}
		quiet := !rc.player.Busy() && rc.tone == nil
		finished := rc.hangup && quiet
		lodge := rc.lodge && rc.ring == nil
		rc.mu.Unlock()
		if audio != nil {
			_ = audio.WriteFrame(&out)
		}
		if finished && tail > 0 {
			tail--
			continue
		}
		switch {
		case finished:
			_ = rc.leg.hangup()
			rc.stop()
			return
		case lodge && rc.toLodge != nil:
			rc.toLodge(rc)
		case lodge:
			_ = rc.leg.hangup()
			rc.stop()
			return
		}
	}
}

// ringback plays the profile's ringback tone to the caller until release.
func (rc *remoteCall) ringback(t dsp.Tone) {
	rc.mu.Lock()
	rc.ring = dsp.NewToneGen(t)
	rc.mu.Unlock()
}

// release stops the pump and waits until it has let go of the media, so
// a port can take the call's audio over.
func (rc *remoteCall) release() {
	rc.stop()
	<-rc.pumped
}

func (rc *remoteCall) stop() {
	rc.once.Do(func() {
		close(rc.done)
		rc.mu.Lock()
		sess := rc.sess
		rc.mu.Unlock()
		if sess != nil {
			sess.Close()
		}
	})
}
