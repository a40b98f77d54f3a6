package rtp

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// simulate runs a sender whose clock is off by ppm against a consumer that
// pulls one frame per 20 ms of its own clock, with uniform network jitter
// up to maxJitter and a loss probability, for dur of simulated time.
// It returns the stats and the largest margin seen after warm-up.
func simulate(t testing.TB, ppm float64, dur, maxJitter time.Duration, loss float64, seed uint64) (JitterStats, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	j := NewJitter(JitterConfig{})
	var payload [hal.FrameSamples]byte
	var f hal.Frame
	period := float64(hal.FrameDuration) / (1 + ppm*1e-6) // sender's frame period in true time
	const base = 30 * time.Millisecond
	var k int64 // next packet to send
	maxDepth := 0
	pulls := int64(dur / hal.FrameDuration)
	// Packets in flight ordered by arrival: keep a small queue.
	type pkt struct {
		at time.Duration
		ts uint32
	}
	var q []pkt
	for n := int64(0); n < pulls; n++ {
		now := time.Duration(n) * hal.FrameDuration
		for {
			sent := time.Duration(float64(k) * period)
			if sent > now {
				break
			}
			if rng.Float64() >= loss {
				at := sent + base + time.Duration(rng.Int64N(int64(maxJitter)+1))
				q = append(q, pkt{at, uint32(k * hal.FrameSamples)})
			}
			k++
		}
		// deliver everything due, in arrival order (reordering included)
		for i := 0; i < len(q); {
			if q[i].at <= now {
				for m := range payload {
					payload[m] = byte(q[i].ts >> 8)
				}
				j.Push(0x1234, q[i].ts+1000, ULaw, payload[:], q[i].at)
				q[i] = q[len(q)-1]
				q = q[:len(q)-1]
				continue
			}
			i++
		}
		j.Pull(&f)
		if n > 500 {
			if d := j.Stats().Depth; d > maxDepth {
				maxDepth = d
			}
		}
	}
	return j.Stats(), maxDepth
}

func TestJitterNoDriftOverHours(t *testing.T) {
	hours := 6.0
	if testing.Short() {
		hours = 1
	}
	dur := time.Duration(hours * float64(time.Hour))
	for _, tc := range []struct {
		name string
		ppm  float64
	}{{"sender fast +100ppm", 100}, {"sender slow -100ppm", -100}, {"same clock", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			st, maxDepth := simulate(t, tc.ppm, dur, 8*time.Millisecond, 0, 7)
			driftFrames := tc.ppm * 1e-6 * dur.Seconds() / hal.FrameDuration.Seconds()
			t.Logf("%.0f h at %+.0f ppm: played %d dropped %d inserted %d concealed %d late %d resyncs %d target %d max margin %d (expected drift %.0f frames)",
				hours, tc.ppm, st.Played, st.Dropped, st.Inserted, st.Concealed, st.Late, st.Resyncs, st.Target, maxDepth, driftFrames)
			if st.Resyncs != 0 {
				t.Errorf("buffer resynced %d times on a steady stream", st.Resyncs)
			}
			if maxDepth > st.Target+jbSlots/8 {
				t.Errorf("margin grew to %d frames (target %d): playout delay drifts", maxDepth, st.Target)
			}
			// Corrections must track the drift, not run away.
			net := float64(st.Dropped) - float64(st.Inserted)
			if d := net - driftFrames; d > 30 || d < -30 {
				t.Errorf("net drop-insert %.0f frames, drift is %.0f frames", net, driftFrames)
			}
			if st.Concealed+st.Late > uint64(dur/hal.FrameDuration)/1000 {
				t.Errorf("%d concealed and %d late frames: the buffer does not cover 8 ms jitter", st.Concealed, st.Late)
			}
		})
	}
}

func TestJitterLossAndReorder(t *testing.T) {
	st, _ := simulate(t, 0, 10*time.Minute, 60*time.Millisecond, 0.02, 3)
	t.Logf("10 min, 60 ms jitter, 2%% loss: %+v", st)
	total := uint64(10 * time.Minute / hal.FrameDuration)
	if st.Concealed < total/100 || st.Concealed > total/25 {
		t.Errorf("concealed %d of %d frames with 2%% loss", st.Concealed, total)
	}
	if st.Target < 2 {
		t.Errorf("target %d frames does not follow 60 ms of jitter", st.Target)
	}
}

func TestJitterResyncOnJump(t *testing.T) {
	j := NewJitter(JitterConfig{})
	var p [160]byte
	var f hal.Frame
	for i := range uint32(20) {
		j.Push(1, i*160, ULaw, p[:], time.Duration(i)*hal.FrameDuration)
		j.Pull(&f)
	}
	// new SSRC far away in timestamp: must be followed at once
	for i := range uint32(20) {
		j.Push(2, 9_000_000+i*160, ULaw, p[:], time.Duration(20+i)*hal.FrameDuration)
		j.Pull(&f)
	}
	st := j.Stats()
	if st.Resyncs != 1 || st.Played < 30 {
		t.Errorf("after an SSRC change: %+v", st)
	}
}

func BenchmarkJitterPushPull(b *testing.B) {
	j := NewJitter(JitterConfig{})
	var p [160]byte
	var f hal.Frame
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j.Push(1, uint32(i*160), ALaw, p[:], time.Duration(i)*hal.FrameDuration)
		j.Pull(&f)
	}
}
