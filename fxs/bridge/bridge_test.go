package bridge

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/fxs/dsp"
	"github.com/critline/critline/hal"
)

// frame returns a frame whose samples all carry v (a sequence number).
func frame(v int16) hal.Frame {
	var f hal.Frame
	for i := range f {
		f[i] = v
	}
	return f
}

func TestPairCarriesFramesBothWaysInOrder(t *testing.T) {
	p := NewPair()
	a, b := p.A(), p.B()
	var got hal.Frame
	for i := int16(1); i <= 50; i++ {
		fa, fb := frame(i), frame(-i)
		_ = a.WriteFrame(&fa)
		_ = b.WriteFrame(&fb)
		if i < Prime {
			continue // playout waits for Prime frames
		}
		_ = b.ReadFrame(&got)
		if want := i - Prime + 1; got[0] != want || got[hal.FrameSamples-1] != want {
			t.Fatalf("A to B, frame %d: got %d, want %d", i, got[0], want)
		}
		_ = a.ReadFrame(&got)
		if want := -(i - Prime + 1); got[0] != want {
			t.Fatalf("B to A, frame %d: got %d, want %d", i, got[0], want)
		}
	}
	ab, ba := p.Stats()
	if ab.Dropped+ab.Inserts+ba.Dropped+ba.Inserts != 0 {
		t.Errorf("lock-step pumping dropped or inserted frames: %+v %+v", ab, ba)
	}
}

// TestPairAbsorbsDrift: two clocks apart by 1 % either way. The delay
// across the bridge stays within Depth frames, audio stays in order, and
// the drift costs a frame dropped (writer faster) or a silent frame
// inserted (reader faster) now and then, counted.
func TestPairAbsorbsDrift(t *testing.T) {
	for _, tc := range []struct {
		name          string
		writes, reads int // per round
	}{{"writer faster", 101, 100}, {"reader faster", 100, 101}} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPair()
			var seq, last int16
			var f hal.Frame
			for round := 0; round < 50; round++ {
				w, r := 0, 0
				for w < tc.writes || r < tc.reads {
					// Interleave so that both clocks advance evenly.
					if w*tc.reads <= r*tc.writes && w < tc.writes {
						seq = seq%30000 + 1
						fr := frame(seq)
						_ = p.A().WriteFrame(&fr)
						w++
						continue
					}
					_ = p.B().ReadFrame(&f)
					r++
					if f[0] == 0 {
						continue
					}
					if f[0] <= last && !(last > 29000 && f[0] < 1000) {
						t.Fatalf("frame %d played after %d: out of order", f[0], last)
					}
					if d := seq - f[0]; d >= Depth || d < 0 {
						t.Fatalf("delay across the bridge %d frames, want < %d", d, Depth)
					}
					last = f[0]
				}
			}
			ab, _ := p.Stats()
			t.Logf("%+v", ab)
			switch tc.name {
			case "writer faster":
				if ab.Dropped == 0 {
					t.Errorf("writer 1%% faster for 5000 frames and nothing dropped: %+v", ab)
				}
				if ab.Dropped > 2*50+Depth {
					t.Errorf("dropped %d frames, want about one per 100", ab.Dropped)
				}
			default:
				if ab.Inserts == 0 {
					t.Errorf("reader 1%% faster for 5000 frames and nothing inserted: %+v", ab)
				}
				if ab.Inserts > 2*50+Depth {
					t.Errorf("inserted %d frames, want about one per 100", ab.Inserts)
				}
			}
		})
	}
}

func TestPairClose(t *testing.T) {
	p := NewPair()
	f := frame(7)
	_ = p.A().WriteFrame(&f)
	_ = p.A().WriteFrame(&f)
	p.Close()
	if err := p.B().ReadFrame(&f); err != nil || f[0] != 0 {
		t.Fatalf("after Close: read %d, %v; want silence, nil", f[0], err)
	}
	if err := p.A().WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
}

// TestPairZeroAllocs: a frame each way costs no allocation.
func TestPairZeroAllocs(t *testing.T) {
	p := NewPair()
	a, b := p.A(), p.B()
	var f hal.Frame
	if n := testing.AllocsPerRun(1000, func() {
		_ = a.WriteFrame(&f)
		_ = b.ReadFrame(&f)
		_ = b.WriteFrame(&f)
		_ = a.ReadFrame(&f)
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// clocked pumps one end of a pair as an FXS port does: one frame in, one
// out, every period of its own ticker, with a tone in its microphone;
// it records what its earpiece got.
type clocked struct {
	end    *End
	period time.Duration
	tone   *dsp.ToneGen
	heard  []int16
}

func (c *clocked) run(ctx context.Context) {
	t := time.NewTicker(c.period)
	defer t.Stop()
	var in, out hal.Frame
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.tone != nil {
			c.tone.Fill(&in)
		}
		_ = c.end.WriteFrame(&in)
		_ = c.end.ReadFrame(&out)
		c.heard = append(c.heard, out[:]...)
	}
}

func sine(hz float64) *dsp.ToneGen {
	return dsp.NewToneGen(dsp.Tone{Name: "test", Segments: []dsp.ToneSegment{{Duration: 0, Components: []dsp.Component{{Freq: hz, Level: -10}}}}})
}

// TestPairTonesAcrossTwoClocks: two pumps on their own tickers, 2 % apart,
// each playing a tone; each hears the other's frequency and not its own.
func TestPairTonesAcrossTwoClocks(t *testing.T) {
	p := NewPair()
	a := &clocked{end: p.A(), period: 20 * time.Millisecond, tone: sine(697)}
	b := &clocked{end: p.B(), period: 20400 * time.Microsecond, tone: sine(1209)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.run(ctx) })
	wg.Go(func() { b.run(ctx) })
	wg.Wait()
	check := func(who string, heard []int16, want, not float64) {
		t.Helper()
		if len(heard) < 40*hal.FrameSamples {
			t.Fatalf("%s heard only %d samples", who, len(heard))
		}
		s := heard[10*hal.FrameSamples:]
		w, n := dsp.ToneLevelDBm0(s, want), dsp.ToneLevelDBm0(s, not)
		t.Logf("%s: %.0f Hz at %.1f dBm0, %.0f Hz at %.1f dBm0", who, want, w, not, n)
		if w < -22 || n > w-20 {
			t.Errorf("%s: %.0f Hz at %.1f dBm0 (want about -10 with gaps), %.0f Hz at %.1f", who, want, w, not, n)
		}
	}
	check("A", a.heard, 1209, 697)
	check("B", b.heard, 697, 1209)
}

// pacedMedia is a device paced by its own clock: ReadFrame waits for the
// next period (like a trunk's voice channel).
type pacedMedia struct {
	tick   *time.Ticker
	tone   *dsp.ToneGen
	closed chan struct{}
	mu     sync.Mutex
	heard  []int16
}

func (m *pacedMedia) ReadFrame(f *hal.Frame) error {
	select {
	case <-m.tick.C:
	case <-m.closed:
		return hal.ErrClosed
	}
	m.tone.Fill(f)
	return nil
}

func (m *pacedMedia) WriteFrame(f *hal.Frame) error {
	m.mu.Lock()
	m.heard = append(m.heard, f[:]...)
	m.mu.Unlock()
	return nil
}

// TestRelayJoinsTwoCalls: a port's pair end relayed to a paced device (a
// trunk), and two pair ends relayed by a ticker (two RTP legs): tones
// cross both ways.
func TestRelayJoinsTwoCalls(t *testing.T) {
	t.Run("paced by a device", func(t *testing.T) {
		p := NewPair()
		port := &clocked{end: p.A(), period: 20 * time.Millisecond, tone: sine(697)}
		trunk := &pacedMedia{tick: time.NewTicker(20 * time.Millisecond), tone: sine(1209), closed: make(chan struct{})}
		defer trunk.tick.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { port.run(ctx) })
		var st RelayStats
		var err error
		wg.Go(func() { st, err = Relay(ctx, trunk, p.B(), nil) })
		wg.Wait()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("relay ended with %v", err)
		}
		if st.Frames < 20 || st.Frames > 80 {
			t.Errorf("relayed %d frames in 1.5 s, want at most about 75 (paced by the device), and some", st.Frames)
		}
		trunk.mu.Lock()
		heard := trunk.heard
		trunk.mu.Unlock()
		if l := dsp.ToneLevelDBm0(heard[10*hal.FrameSamples:], 697); l < -22 {
			t.Errorf("trunk heard 697 Hz at %.1f dBm0", l)
		}
		if l := dsp.ToneLevelDBm0(port.heard[10*hal.FrameSamples:], 1209); l < -22 {
			t.Errorf("port heard 1209 Hz at %.1f dBm0", l)
		}
	})
	t.Run("paced by a ticker, closed by a side", func(t *testing.T) {
		p1, p2 := NewPair(), NewPair()
		x := &clocked{end: p1.A(), period: 20 * time.Millisecond, tone: sine(770)}
		y := &clocked{end: p2.A(), period: 20 * time.Millisecond, tone: sine(1336)}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { x.run(ctx) })
		wg.Go(func() { y.run(ctx) })
		tk := NewTicker()
		defer tk.Stop()
		_, err := Relay(ctx, p1.B(), p2.B(), tk)
		wg.Wait()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("relay ended with %v", err)
		}
		if l := dsp.ToneLevelDBm0(x.heard[10*hal.FrameSamples:], 1336); l < -22 {
			t.Errorf("x heard 1336 Hz at %.1f dBm0", l)
		}
		if l := dsp.ToneLevelDBm0(y.heard[10*hal.FrameSamples:], 770); l < -22 {
			t.Errorf("y heard 770 Hz at %.1f dBm0", l)
		}
		closed := &pacedMedia{tick: time.NewTicker(time.Millisecond), tone: sine(400), closed: make(chan struct{})}
		defer closed.tick.Stop()
		close(closed.closed)
		if _, err := Relay(context.Background(), closed, p1.B(), nil); !errors.Is(err, hal.ErrClosed) {
			t.Fatalf("relay of a closed device: %v, want hal.ErrClosed", err)
		}
	})
}

// BenchmarkPairFrame is the per-frame cost of a local bridge: one 20 ms
// frame each way (two writes, two reads), as two ports pump it.
func BenchmarkPairFrame(b *testing.B) {
	p := NewPair()
	x, y := p.A(), p.B()
	var f hal.Frame
	for i := range f {
		f[i] = int16(1000 * math.Sin(float64(i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = x.WriteFrame(&f)
		_ = y.WriteFrame(&f)
		_ = y.ReadFrame(&f)
		_ = x.ReadFrame(&f)
	}
}

// BenchmarkRelayFrame is the per-frame cost of relaying two calls that
// nobody else pumps (pair ends standing in for the two legs).
func BenchmarkRelayFrame(b *testing.B) {
	p1, p2 := NewPair(), NewPair()
	ctx, cancel := context.WithCancel(context.Background())
	pace := &countPacer{n: b.N, cancel: cancel}
	b.ReportAllocs()
	b.ResetTimer()
	st, _ := Relay(ctx, p1.B(), p2.B(), pace)
	b.StopTimer()
	if st.Frames != uint64(b.N) {
		b.Fatalf("relayed %d frames, want %d", st.Frames, b.N)
	}
}

// countPacer lets n frames through at once, then ends the relay.
type countPacer struct {
	n      int
	cancel context.CancelFunc
}

func (c *countPacer) Wait(ctx context.Context) error {
	if c.n == 0 {
		c.cancel()
		return ctx.Err()
	}
	c.n--
	return nil
}

func (c *countPacer) Stop() {}
