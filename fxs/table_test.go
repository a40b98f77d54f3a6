package fxs

import (
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
)

// TestTransitions drives the port through scripted steps and checks the
// state (and condition) it ends in. Steps:
//
//	lift, hang          handset off / on (waiting out seize / clear)
//	dtmf:D, pulse:D     dial digits
//	wait:DUR            let time pass
//	route:ok|busy|err   answer the router's request (ok returns a call)
//	alert, early, answer, fail:R, end   progress of the current call
//	offer, cancel       an inbound call and its caller giving up
//	flash[:DUR]         a timed-break recall (default 100 ms)
func TestTransitions(t *testing.T) {
	for _, c := range []struct {
		script string
		want   State
		cond   Condition
	}{
		{"", StateIdle, ConditionOK},
		{"lift", StateDialTone, ConditionOK},
		{"lift hang", StateIdle, ConditionOK},
		{"lift dtmf:2", StateCollecting, ConditionOK},
		{"lift pulse:2", StateCollecting, ConditionOK},
		{"lift dtmf:2 hang", StateIdle, ConditionOK},
		{"lift dtmf:5", StateUnobtainable, ConditionOK},
		{"lift wait:20s", StateUnobtainable, ConditionOK},
		{"lift wait:19s", StateDialTone, ConditionOK},
		{"lift wait:80s", StateParked, ConditionLeftOffHook},
		{"lift wait:80s hang", StateIdle, ConditionOK},
		{"lift wait:80s hang lift", StateDialTone, ConditionOK},
		{"lift dtmf:2 wait:11s wait:60s", StateParked, ConditionLeftOffHook},
		{"lift dtmf:21234", StateRouting, ConditionOK},
		{"lift dtmf:21234 route:ok", StateRouting, ConditionOK},
		{"lift dtmf:21234 route:busy", StateBusy, ConditionOK},
		{"lift dtmf:21234 route:err", StateCongestion, ConditionOK},
		{"lift dtmf:21234 route:err wait:30s", StateUnobtainable, ConditionOK},
		{"lift dtmf:21234 route:err wait:90s", StateParked, ConditionLeftOffHook},
		{"lift dtmf:21234 route:ok alert", StateRingback, ConditionOK},
		{"lift dtmf:21234 route:ok early", StateEarlyMedia, ConditionOK},
		{"lift dtmf:21234 route:ok alert early", StateEarlyMedia, ConditionOK},
		{"lift dtmf:21234 route:ok alert answer", StateConnected, ConditionOK},
		{"lift dtmf:21234 route:ok answer", StateConnected, ConditionOK},
		{"lift dtmf:21234 route:ok alert fail:busy", StateBusy, ConditionOK},
		{"lift dtmf:21234 route:ok alert fail:unobtainable", StateUnobtainable, ConditionOK},
		{"lift dtmf:21234 route:ok alert fail:congestion", StateCongestion, ConditionOK},
		{"lift dtmf:21234 route:ok alert end", StateUnobtainable, ConditionOK},
		{"lift dtmf:21234 route:ok answer end", StateUnobtainable, ConditionOK},
		{"lift dtmf:21234 route:ok answer end wait:60s", StateParked, ConditionLeftOffHook},
		{"lift dtmf:21234 route:ok answer flash", StateConnected, ConditionOK},
		{"lift dtmf:21234 route:ok answer hang", StateIdle, ConditionOK},
		{"lift dtmf:21234 route:ok answer wait:10m", StateConnected, ConditionOK},
		{"lift dtmf:21234 route:ok answer alert", StateConnected, ConditionOK},
		{"lift dtmf:21234 route:ok alert hang", StateIdle, ConditionOK},
		// While dialling, a 100 ms break is a slow dial's "1" (7 pps at 72 %
		// break is 103 ms); a longer recall is a recall, and ignored.
		{"lift flash", StateCollecting, ConditionOK},
		{"lift flash:150ms", StateDialTone, ConditionOK},
		{"lift dtmf:2 flash:150ms", StateCollecting, ConditionOK},
		{"offer", StateRinging, ConditionOK},
		{"offer wait:30s", StateRinging, ConditionOK},
		{"offer cancel", StateIdle, ConditionOK},
		{"offer lift", StateConnected, ConditionOK},
		{"offer lift end", StateUnobtainable, ConditionOK},
		{"offer lift hang", StateIdle, ConditionOK},
		{"offer lift flash", StateConnected, ConditionOK},
		{"offer cancel lift", StateDialTone, ConditionOK},
		{"offer lift cancel", StateUnobtainable, ConditionOK},
	} {
		t.Run(strings.ReplaceAll(c.script, " ", "_"), func(t *testing.T) {
			h := newHarness(t, "uk", withPlan("2xxxx"), withoutAudio())
			// DTMF needs audio; this table runs without the pump, so
			// dtmf steps inject detected digits as the pump would.
			var r routed
			var prog Progress
			for _, step := range strings.Fields(c.script) {
				verb, arg, _ := strings.Cut(step, ":")
				switch verb {
				case "lift":
					h.offHook()
				case "hang":
					h.onHook()
				case "dtmf":
					for _, d := range arg {
						h.p.mu.Lock()
						h.p.digitLocked(d, "dtmf")
						h.p.mu.Unlock()
					}
				case "pulse":
					h.pulse(arg)
				case "wait":
					d, err := time.ParseDuration(arg)
					if err != nil {
						t.Fatal(err)
					}
					h.advance(d)
				case "route":
					r = h.route()
					prog = r.progress
					switch arg {
					case "ok":
						r.reply <- routeReply{call: &fakeCall{}}
						h.waitCall()
					case "busy":
						r.reply <- routeReply{err: &CallError{Reason: FailBusy}}
						h.waitState(StateBusy)
					default:
						r.reply <- routeReply{err: errTest}
						h.waitState(StateCongestion)
					}
				case "alert":
					prog.Update(CallUpdate{State: CallAlerting})
				case "early":
					prog.Update(CallUpdate{State: CallEarlyMedia, Media: &fakeMedia{}})
				case "answer":
					prog.Update(CallUpdate{State: CallAnswered, Media: &fakeMedia{}})
				case "end", "cancel":
					prog.Update(CallUpdate{State: CallEnded})
				case "fail":
					reason := map[string]FailReason{"busy": FailBusy, "unobtainable": FailUnobtainable, "congestion": FailCongestion}[arg]
					prog.Update(CallUpdate{State: CallFailed, Reason: reason})
				case "offer":
					var err error
					prog, err = h.p.Offer(&fakeCall{media: &fakeMedia{}}, dsp.CallerID{Number: "1"})
					if err != nil {
						t.Fatal(err)
					}
				case "flash":
					d := 100 * time.Millisecond
					if arg != "" {
						d, _ = time.ParseDuration(arg)
					}
					h.hook(false)
					h.advance(d)
					h.hook(true)
					h.advance(300 * time.Millisecond)
				default:
					t.Fatalf("bad step %q", step)
				}
			}
			s := h.p.Snapshot()
			if s.State != c.want || s.Condition != c.cond {
				t.Errorf("%q: state %s condition %s, want %s %s; events %v", c.script, s.State, s.Condition, c.want, c.cond, h.drain())
			}
			if s.OffHook != (strings.Count(c.script, "lift") > strings.Count(c.script, "hang")) {
				t.Errorf("off-hook %v", s.OffHook)
			}
		})
	}
}

var errTest = testError("test router failure")

type testError string

func (e testError) Error() string { return string(e) }
