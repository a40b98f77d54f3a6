//go:build linux

package modem

import (
	"slices"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/hal/sim/modemsim"
)

// connect sets up an answered outbound call.
func connect(t *testing.T, r *rig) {
	t.Helper()
	m := r.mark()
	if _, err := r.tr.Dial(ctx(t), "01865270000"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkAnswered)
}

// receive reads frames from the trunk until it has collected want samples
// of non-silent audio, and reports how many silent frames came between
// the first and the last audio frame.
func receive(t *testing.T, pcm hal.PCM, want int) (got []int16, gaps int) {
	t.Helper()
	var f hal.Frame
	silentRun := 0
	for i := 0; len(got) < want; i++ {
		if i > 1500 {
			t.Fatalf("only %d of %d samples arrived", len(got), want)
		}
		if err := pcm.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		if f == (hal.Frame{}) {
			if len(got) > 0 {
				silentRun++
			}
			continue
		}
		gaps += silentRun
		silentRun = 0
		got = append(got, f[:]...)
	}
	return got, gaps
}

func TestVoiceBothWays(t *testing.T) {
	for _, v := range []Variant{SIMCom, Quectel, Generic} {
		t.Run(string(v), func(t *testing.T) {
			r := newRig(t, v)
			pcm := r.tr.Audio()
			if pcm == nil {
				t.Fatal("no audio with a pcm port configured")
			}
			connect(t, r)
			tone := modemsim.Tone(1000, 8000, 400*time.Millisecond)
			r.sim.Play(tone)
			got, _ := receive(t, pcm, len(tone))
			if !slices.Equal(got[:len(tone)], tone) {
				t.Fatal("far-end audio arrived changed")
			}

			// Our audio reaches the far end unchanged. WriteFrame may drop a
			// frame when the machine is too busy to write it in time; every
			// frame sent is heard, in order, or counted as dropped.
			const frames = 25
			_, before := r.sim.Heard()
			dropped0 := counter(t, r, "critline_trunk_voice_dropped_total")
			for i := range frames {
				var f hal.Frame
				for j := range f {
					f[j] = int16(i*1000 + j - 12000)
				}
				if err := pcm.WriteFrame(&f); err != nil {
					t.Fatal(err)
				}
				var in hal.Frame
				pcm.ReadFrame(&in) // paces the writes, as a port's pump does
			}
			var heard []int16
			eventually(t, "far end heard or we dropped every frame", func() bool {
				var n int
				heard, n = r.sim.Heard()
				d := counter(t, r, "critline_trunk_voice_dropped_total") - dropped0
				return (n-before)/hal.FrameSamples+int(d) >= frames
			})
			_, n := r.sim.Heard()
			heard = heard[len(heard)-(n-before):]
			if len(heard)%hal.FrameSamples != 0 || len(heard) < frames/2*hal.FrameSamples {
				t.Fatalf("far end heard %d samples of %d frames", len(heard), frames)
			}
			last := -1
			for k := 0; k < len(heard); k += hal.FrameSamples {
				i := (int(heard[k]) + 12000) / 1000
				for j := range hal.FrameSamples {
					if heard[k+j] != int16(i*1000+j-12000) {
						t.Fatalf("frame %d arrived changed", i)
					}
				}
				if i <= last {
					t.Fatalf("frame %d after frame %d", i, last)
				}
				last = i
			}
		})
	}
}

func TestVoiceGapsAndJitter(t *testing.T) {
	r := newRig(t, SIMCom)
	pcm := r.tr.Audio()
	connect(t, r)
	tone := modemsim.Tone(700, 8000, time.Second)
	r.ctl("jitter", "4")
	r.sim.Play(tone)
	got, _ := receive(t, pcm, 8000*3/10)
	r.ctl("gap", "300ms")
	r.ctl("jitter", "1")
	rest, gaps := receive(t, pcm, len(tone)-len(got))
	got = append(got, rest...)
	if !slices.Equal(got[:len(tone)], tone) {
		t.Fatal("audio changed by jitter or a gap")
	}
	if gaps == 0 {
		t.Fatal("a 300 ms gap played no silence")
	}
	if under := counter(t, r, "critline_trunk_voice_underruns_total"); under == 0 {
		t.Fatal("gap not counted as an underrun")
	}
}

// A consumer reading with no call and no device never blocks for long:
// silence, paced.
func TestVoiceSilentWhenIdleAndWhileVanished(t *testing.T) {
	r := newRig(t, SIMCom)
	pcm := r.tr.Audio()
	var f hal.Frame
	for range 5 {
		if err := pcm.ReadFrame(&f); err != nil || f != (hal.Frame{}) {
			t.Fatalf("idle frame: %v", err)
		}
	}
	m := r.mark()
	r.ctl("vanish")
	r.waitStatus(m, "down", func(s hal.TrunkStatus) bool { return !s.Up })
	for range 5 {
		if err := pcm.ReadFrame(&f); err != nil || f != (hal.Frame{}) {
			t.Fatalf("frame while vanished: %v", err)
		}
		if err := pcm.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	r.ctl("return")
	r.waitStatus(m, "up", func(s hal.TrunkStatus) bool { return s.Up })
	connect(t, r)
	tone := modemsim.Tone(400, 8000, 200*time.Millisecond)
	r.sim.Play(tone)
	if got, _ := receive(t, pcm, len(tone)); !slices.Equal(got[:len(tone)], tone) {
		t.Fatal("audio after return changed")
	}
}

func TestNoAudioWithoutPCMPort(t *testing.T) {
	r := newRig(t, SIMCom, withSim(func(o *modemsim.Options) { o.NoPCM = true }))
	if r.tr.Audio() != nil {
		t.Fatal("Audio() must be nil without a pcm port")
	}
	connect(t, r)
}

// One-way audio: the module sends nothing on a connected call; the trunk
// notices and switches the module's voice on again.
func TestVoiceStallReenables(t *testing.T) {
	r := newRig(t, SIMCom, withConfig(func(c *Config) { c.VoiceStall = 300 * time.Millisecond }))
	r.ctl("gap", "3s")
	connect(t, r)
	eventually(t, "voice stall noticed", func() bool { return counter(t, r, "critline_trunk_voice_stalls_total") == 1 })
	// The stall is counted before the voice command goes out again: wait
	// for the module to have received the second one.
	eventually(t, "voice enabled a second time", func() bool {
		n := 0
		for _, c := range r.sim.Commands() {
			if c == "AT+CPCMREG=1" {
				n++
			}
		}
		return n >= 2
	})
	// Once audio flows, a call is not flagged.
	r.tr.Hangup(ctx(t), r.cur())
	m := r.mark()
	r.ctl("gap", "1ms")
	if _, err := r.tr.Dial(ctx(t), "1"); err != nil {
		t.Fatal(err)
	}
	r.waitKind(m, hal.TrunkAnswered)
	var f hal.Frame
	for range 30 {
		r.tr.Audio().ReadFrame(&f)
	}
	if got := counter(t, r, "critline_trunk_voice_stalls_total"); got != 1 {
		t.Fatalf("%v stalls after a call with audio", got)
	}
}
