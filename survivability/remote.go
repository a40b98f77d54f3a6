package survivability

import (
	"context"
	"sync"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/survivability/forwarding"
)

// The remote-activation dialogue's tones: a short proceed tone inviting
// the next entry, three high pips confirming a change, and a low pulsed tone
// for a refusal.
func remoteTone(t forwarding.Tone) dsp.Tone {
	on := func(f float64, d time.Duration) dsp.ToneSegment {
		return dsp.ToneSegment{Components: []dsp.Component{{Freq: f, Level: -13}}, Duration: d}
	}
	off := func(d time.Duration) dsp.ToneSegment { return dsp.ToneSegment{Duration: d} }
	switch t {
	case "prompt":
		return dsp.Tone{Name: "prompt", Segments: []dsp.ToneSegment{
			{Components: []dsp.Component{{Freq: 350, Level: -16}, {Freq: 440, Level: -16}}, Duration: 600 * time.Millisecond}}}
	case "confirm":
		return dsp.Tone{Name: "confirm", Segments: []dsp.ToneSegment{
			on(1400, 100*time.Millisecond), off(100 * time.Millisecond), on(1400, 100*time.Millisecond),
			off(100 * time.Millisecond), on(1400, 100*time.Millisecond), off(300 * time.Millisecond)}}
	case "error":
		return dsp.Tone{Name: "error", Segments: []dsp.ToneSegment{
			on(400, 375*time.Millisecond), off(375 * time.Millisecond), on(400, 375*time.Millisecond), off(375 * time.Millisecond)}}
	}
	return dsp.Tone{}
}

// remoteCall is a trunk call answered by the remote-activation dialogue.
type remoteCall struct {
	a    *Appliance
	c    *trunkCall
	sess *forwarding.Session

	mu     sync.Mutex
	tone   *dsp.ToneGen
	hangup bool
	done   chan struct{}
	once   sync.Once
}

// remoteActivation answers an inbound call on the service trunk and hands
// its DTMF to the forwarding dialogue.
func (a *Appliance) remoteActivation(c *trunkCall, callerID string) {
	rc := &remoteCall{a: a, c: c, done: make(chan struct{})}
	c.mu.Lock()
	c.remote = rc
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.tl.t.Answer(ctx, c.callID()); err != nil {
		a.log.Warn("remote activation: answering failed", "trunk", c.tl.nm, "err", err)
		c.end(err)
		return
	}
	a.log.Info("remote activation call", "trunk", c.tl.nm, "caller", callerID)
	rc.sess = a.fwd.StartSession(callerID, 0, rc.act)
	go rc.pump()
}

// act plays what the dialogue asks for.
func (rc *remoteCall) act(x forwarding.Action) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if x.Tone != "" {
		rc.tone = dsp.NewToneGen(remoteTone(x.Tone))
	}
	if x.Hangup {
		rc.hangup = true
	}
}

// digit passes a DTMF key from the far end to the dialogue.
func (rc *remoteCall) digit(d rune) {
	if rc.sess != nil {
		rc.sess.Digit(d)
	}
}

// pump plays the dialogue's tones to the caller, paced by the trunk's voice
// stream, and hangs up once a final tone has played.
func (rc *remoteCall) pump() {
	audio := rc.c.tl.t.Audio()
	var in, out hal.Frame
	tick := time.NewTicker(hal.FrameDuration)
	defer tick.Stop()
	for {
		select {
		case <-rc.done:
			return
		default:
		}
		if audio != nil {
			if err := audio.ReadFrame(&in); err != nil {
				audio = nil
			}
		} else {
			<-tick.C
		}
		rc.mu.Lock()
		clear(out[:])
		if rc.tone != nil {
			rc.tone.Fill(&out)
			if rc.tone.Done() {
				rc.tone = nil
			}
		}
		finished := rc.hangup && rc.tone == nil
		rc.mu.Unlock()
		if audio != nil {
			_ = audio.WriteFrame(&out)
		}
		if finished {
			_ = rc.c.Hangup()
			rc.stop()
			return
		}
	}
}

func (rc *remoteCall) stop() {
	rc.once.Do(func() {
		close(rc.done)
		if rc.sess != nil {
			rc.sess.Close()
		}
	})
}
