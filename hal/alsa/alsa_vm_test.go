//go:build linux && vmtest

package alsa

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/critline/critline/hal"
)

// These tests run inside the VM scripts/test-vm boots, with snd-aloop loaded
// (one substream, card id "Loopback"): what is played into hw:Loopback,0 is
// captured at hw:Loopback,1 and the other way round, paced by the kernel's
// timer like a sound card's clock.

func openPCM(t *testing.T, dev string, opts ...Option) *PCM {
	t.Helper()
	p, err := Open(dev, opts...)
	if err != nil {
		t.Fatalf("Open %s: %v", dev, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.(*PCM)
}

// echo reads frames from p and writes them back until stop is closed: the
// far end of a loop.
func echo(t *testing.T, p *PCM, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var f hal.Frame
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := p.ReadFrame(&f); err != nil {
				if !errors.Is(err, hal.ErrClosed) {
					t.Errorf("echo read: %v", err)
				}
				return
			}
			if err := p.WriteFrame(&f); err != nil {
				t.Errorf("echo write: %v", err)
				return
			}
		}
	}()
	return &wg
}

// goertzel returns the power of frequency f in s (rate hal.SampleRate).
func goertzel(s []int16, f float64) float64 {
	w := 2 * math.Pi * f / hal.SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// A tone played into one end comes out of the other at the same frequency
// and level, at 8 kHz and through the 48 kHz resampler.
func TestVMToneThroughLoopback(t *testing.T) {
	for _, rate := range []int{0, 48000} {
		t.Run("rate="+strconv.Itoa(rate), func(t *testing.T) {
			// Deep buffers: the VM may be starved of CPU by a busy host, and this
			// test is about the signal, not latency.
			opts := []Option{WithPeriods(25), WithPrefill(12), WithStallTimeout(10 * time.Second)}
			if rate != 0 {
				opts = append(opts, WithRate(rate))
			}
			a := openPCM(t, "hw:Loopback,0", opts...)
			b := openPCM(t, "hw:Loopback,1", opts...)
			if rate != 0 && a.Config().Rate != rate {
				t.Fatalf("config %+v, want %d Hz", a.Config(), rate)
			}
			t.Logf("device config %+v", a.Config())
			const freq, amp = 1000.0, 10362 // -10 dBFS
			const frames = 100
			got := make(chan []int16, 1)
			go func() { // the far end listens on its own clock
				var in hal.Frame
				var s []int16
				for i := 0; i < frames; i++ {
					if err := b.ReadFrame(&in); err != nil {
						t.Error(err)
						break
					}
					s = append(s, in[:]...)
				}
				got <- s
			}()
			var out, in hal.Frame
			n := 0
			for i := 0; i < frames+10; i++ {
				for j := range out {
					out[j] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(n)/hal.SampleRate)))
					n++
				}
				if err := a.ReadFrame(&in); err != nil { // a's clock paces its writes
					t.Fatal(err)
				}
				if err := a.WriteFrame(&out); err != nil {
					t.Fatal(err)
				}
			}
			heard := <-got
			// Skip the start (silence, then the resampler's ramp).
			tail := heard[len(heard)/2:]
			rms := 0.0
			for _, v := range tail {
				rms += float64(v) * float64(v)
			}
			rms = math.Sqrt(rms / float64(len(tail)))
			lvl := 20 * math.Log10(rms/(32767/math.Sqrt2))
			want := 20 * math.Log10(amp/32767.0)
			if math.Abs(lvl-want) > 0.2 {
				t.Fatalf("level %.2f dBFS, want %.2f", lvl, want)
			}
			best, bestF := 0.0, 0.0
			for f := 300.0; f <= 3400; f += 10 {
				if p := goertzel(tail, f); p > best {
					best, bestF = p, f
				}
			}
			if bestF != freq {
				t.Fatalf("strongest frequency %v Hz, want %v", bestF, freq)
			}
			if st := a.Stats(); st.Overruns+st.Underruns+st.Dropped+st.Trimmed != 0 {
				t.Fatalf("a stats %+v", st)
			}
			fmt.Printf("FIGURE alsa tone at %d Hz device rate: %.0f Hz at %.2f dBFS in, %.2f dBFS out\n", a.Config().Rate, freq, want, lvl)
		})
	}
}

// The round trip from WriteFrame at one end, through an echo at the other,
// back to ReadFrame, by the device clock (frames), not the wall clock.
func TestVMRoundTripLatency(t *testing.T) {
	a := openPCM(t, "hw:Loopback,0")
	b := openPCM(t, "hw:Loopback,1")
	stop := make(chan struct{})
	wg := echo(t, b, stop)
	defer func() { close(stop); _ = b.Close(); wg.Wait() }()
	var in, out hal.Frame
	var lat []time.Duration
	lostImpulses := 0
	for trial := 0; len(lat) < 10 && trial < 30; trial++ {
		for i := 0; i < 10; i++ { // settle
			if err := a.ReadFrame(&in); err != nil {
				t.Fatal(err)
			}
			out = hal.Frame{}
			if err := a.WriteFrame(&out); err != nil {
				t.Fatal(err)
			}
		}
		const pos = 40
		out[pos] = 20000
		if err := a.ReadFrame(&in); err != nil {
			t.Fatal(err)
		}
		if err := a.WriteFrame(&out); err != nil {
			t.Fatal(err)
		}
		out = hal.Frame{}
		found := false
		for iter := 1; iter <= 50 && !found; iter++ {
			if err := a.ReadFrame(&in); err != nil {
				t.Fatal(err)
			}
			if err := a.WriteFrame(&out); err != nil {
				t.Fatal(err)
			}
			for j, v := range in {
				if v > 10000 {
					samples := iter*hal.FrameSamples + j - pos
					lat = append(lat, time.Duration(samples)*time.Second/hal.SampleRate)
					found = true
					break
				}
			}
		}
		if !found {
			lostImpulses++ // an xrun on a starved VM swallowed it
		}
	}
	if len(lat) < 5 {
		t.Fatalf("only %d of %d impulses came back (stats a %+v, b %+v)", len(lat), len(lat)+lostImpulses, a.Stats(), b.Stats())
	}
	slices.Sort(lat)
	d, _ := a.Delay()
	fmt.Printf("FIGURE alsa round trip through snd-aloop at 20 ms periods (write -> echo at far end -> read): median %v, min %v, max %v over %d trials (%d lost to xruns); playback delay now %v (%d-period buffer, %d primed)\n",
		lat[len(lat)/2], lat[0], lat[len(lat)-1], len(lat), lostImpulses, d, a.Config().BufferFrames/a.Config().PeriodFrames, a.o.prefill)
}

// Stalling the consumer for longer than the buffer overruns capture and
// underruns playback; both are recovered from and the stream carries audio
// again.
func TestVMXrunRecovery(t *testing.T) {
	a := openPCM(t, "hw:Loopback,0")
	b := openPCM(t, "hw:Loopback,1")
	var f hal.Frame
	for i := 0; i < 5; i++ {
		if err := a.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		if err := a.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond) // 5 buffers' worth: both directions run dry or over
	for i := 0; i < 20; i++ {
		if err := a.ReadFrame(&f); err != nil {
			t.Fatalf("read after stall: %v", err)
		}
		for j := range f {
			f[j] = 5000
		}
		if err := a.WriteFrame(&f); err != nil {
			t.Fatalf("write after stall: %v", err)
		}
	}
	st := a.Stats()
	if st.Overruns == 0 || st.Underruns == 0 {
		t.Fatalf("stats %+v: want an overrun and an underrun recovered", st)
	}
	// b has been idle all along (it overran too); it still hears a.
	heard := false
	for i := 0; i < 50 && !heard; i++ {
		if err := b.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		heard = f[80] == 5000
	}
	if !heard {
		t.Fatal("no audio through the loop after recovery")
	}
	fmt.Printf("FIGURE alsa xrun recovery: %+v (a), %+v (b)\n", st, b.Stats())
}

// Close wakes a ReadFrame that is waiting for the device.
func TestVMCloseWakesReader(t *testing.T) {
	a := openPCM(t, "hw:Loopback,0", WithStallTimeout(time.Minute))
	done := make(chan error, 1)
	go func() {
		var f hal.Frame
		for {
			if err := a.ReadFrame(&f); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	_ = a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, hal.ErrClosed) {
			t.Fatalf("ReadFrame after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame still blocked after Close")
	}
	if err := a.WriteFrame(&hal.Frame{}); !errors.Is(err, hal.ErrClosed) {
		t.Fatalf("WriteFrame after Close: %v", err)
	}
}

// A busy or missing device is refused by name.
func TestVMBusyAndMissingDevice(t *testing.T) {
	a := openPCM(t, "hw:Loopback,0")
	_ = a
	if _, err := Open("hw:Loopback,0"); err == nil {
		t.Fatal("second open of a busy device succeeded")
	} else {
		t.Logf("busy: %v", err)
	}
	if _, err := Open("hw:Nonesuch,0"); err == nil {
		t.Fatal("opened a card that does not exist")
	} else {
		t.Logf("missing: %v", err)
	}
	if _, err := Open("hw:0,9"); err == nil {
		t.Fatal("opened a device that does not exist")
	} else {
		t.Logf("missing device: %v", err)
	}
}

// Streaming for a long time shows no drift between the device clock and the
// frame count: every frame read is accounted for (no xrun, nothing dropped)
// and the playback queue neither grows nor empties. CRITLINE_VM_STREAM sets
// the real seconds (scripts/test-vm: 60 by default; 600 is the full ten
// minutes).
func TestVMStreamingNoDrift(t *testing.T) {
	secs := 60
	if s := os.Getenv("CRITLINE_VM_STREAM"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CRITLINE_VM_STREAM=%q: %v", s, err)
		}
		secs = n
	}
	// A one-second buffer, half primed: the VM may be starved of CPU by a
	// busy host; drift, not latency, is under test.
	opts := []Option{WithPeriods(50), WithPrefill(25), WithStallTimeout(10 * time.Second)}
	a := openPCM(t, "hw:Loopback,0", opts...)
	b := openPCM(t, "hw:Loopback,1", opts...)
	stop := make(chan struct{})
	wg := echo(t, b, stop)
	defer func() { close(stop); _ = b.Close(); wg.Wait() }()
	frames := secs * 50
	var f hal.Frame
	minD, maxD := time.Hour, time.Duration(0)
	var start, last, maxGap, backlog0 time.Duration
	for i := 0; i < frames; i++ {
		if err := a.ReadFrame(&f); err != nil {
			t.Fatal(err)
		}
		now := hal.SystemClock{}.Now()
		if i == 1 { // from the end of the first frame, counting what the device already holds
			start, backlog0 = clockAndBacklog(t, a)
		}
		if i > 0 {
			maxGap = max(maxGap, now-last)
		}
		last = now
		if err := a.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			d, err := a.Delay()
			if err != nil {
				t.Fatal(err)
			}
			minD, maxD = min(minD, d), max(maxD, d)
		}
	}
	end, backlog1 := clockAndBacklog(t, a)
	elapsed := end - start
	st, bs := a.Stats(), b.Stats()
	// Audio the device clock produced over the measured span.
	media := time.Duration(frames-2)*hal.FrameDuration + backlog1 - backlog0
	fmt.Printf("FIGURE alsa streaming %v of audio (%d frames) in %v monotonic: %+.0f ppm; playback delay %v..%v; longest wait between frames %v; a %+v, far end %+v\n",
		media, frames, elapsed.Round(time.Millisecond), (float64(elapsed)/float64(media)-1)*1e6, minD, maxD, maxGap, st, bs)
	if st.Read != uint64(frames) {
		t.Fatalf("read %d frames, want %d", st.Read, frames)
	}
	headroom := time.Duration(a.o.prefill-1) * hal.FrameDuration
	if xruns := st.Overruns + st.Underruns + bs.Overruns + bs.Underruns; xruns > 0 {
		// The only excuse for an xrun is a stall longer than the headroom:
		// the host starving the VM of CPU, not the backend losing count.
		if maxGap < headroom {
			t.Fatalf("%d xruns without any stall longer than the %v headroom (longest %v)", xruns, headroom, maxGap)
		}
		t.Logf("the host stalled the VM for %v (> %v headroom): %d xruns recovered; drift bound not checked this run", maxGap, headroom, xruns)
		return
	}
	if st.Written+st.Trimmed+st.Dropped != uint64(frames) || st.Dropped != 0 {
		t.Fatalf("frames written %d + trimmed %d + dropped %d != %d read", st.Written, st.Trimmed, st.Dropped, frames)
	}
	buf := time.Duration(a.Config().BufferFrames) * time.Second / time.Duration(a.Config().Rate)
	if minD <= 0 || maxD >= buf {
		t.Fatalf("playback delay wandered over %v..%v (buffer %v): the writer drifted from the device clock", minD, maxD, buf)
	}
	// The frames counted (plus what the device holds) match the time the
	// device clock ran, within a few periods.
	if d := (elapsed - media).Abs(); d > 5*hal.FrameDuration {
		t.Fatalf("over %v the frame count and the monotonic clock differ by %v", elapsed, d)
	}
}

// clockAndBacklog reads the monotonic clock and the capture backlog at
// (nearly) the same moment.
func clockAndBacklog(t *testing.T, p *PCM) (time.Duration, time.Duration) {
	t.Helper()
	for {
		t0 := hal.SystemClock{}.Now()
		d, err := p.CaptureDelay()
		if err != nil {
			t.Fatal(err)
		}
		t1 := hal.SystemClock{}.Now()
		if t1-t0 < 2*time.Millisecond {
			return t1, d
		}
	}
}

// substreamState reads the kernel's state of one direction of p ("RUNNING",
// "PREPARED", ...) from /proc/asound.
func substreamState(t *testing.T, p *PCM, dir byte) string {
	t.Helper()
	var card, dev int
	if _, err := fmt.Sscanf(p.Config().Device, "/dev/snd/pcmC%dD%d", &card, &dev); err != nil {
		t.Fatalf("device %q: %v", p.Config().Device, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/asound/card%d/pcm%d%c/sub0/status", card, dev, dir))
	if err != nil {
		t.Fatal(err)
	}
	var st string
	fmt.Sscanf(string(b), "state: %s", &st)
	return st
}

// Pause stops both directions of the device (the kernel says PREPARED, no
// frames are captured), Resume starts them again with audio flowing at
// once, and the far end of the loop, streaming all along, notices nothing
// but silence. Pausing (drop + prepare) is timed against closing and
// reopening the device, the other way to rest it.
func TestVMPauseResume(t *testing.T) {
	opts := []Option{WithPeriods(25), WithPrefill(12), WithStallTimeout(10 * time.Second)}
	a := openPCM(t, "hw:Loopback,0", opts...)
	b := openPCM(t, "hw:Loopback,1", opts...)
	// The far end listens all along, on its own clock.
	stop := make(chan struct{})
	heard := make(chan []int16, 1)
	var bErr error
	go func() {
		var in hal.Frame
		var s []int16
		for {
			select {
			case <-stop:
				heard <- s
				return
			default:
			}
			if bErr = b.ReadFrame(&in); bErr != nil {
				heard <- s
				return
			}
			s = append(s, in[:]...)
		}
	}()
	var f hal.Frame
	stream := func(n int, val int16) {
		for i := 0; i < n; i++ {
			if err := a.ReadFrame(&f); err != nil {
				t.Fatal(err)
			}
			for j := range f {
				f[j] = val
			}
			if err := a.WriteFrame(&f); err != nil {
				t.Fatal(err)
			}
		}
	}
	stream(10, 0)
	if c, p := substreamState(t, a, 'c'), substreamState(t, a, 'p'); c != "RUNNING" || p != "RUNNING" {
		t.Fatalf("streaming: capture %s, playback %s", c, p)
	}
	var pauses, resumes []time.Duration
	for cycle := 0; cycle < 10; cycle++ {
		t0 := hal.SystemClock{}.Now()
		if err := a.Pause(); err != nil {
			t.Fatal(err)
		}
		pauses = append(pauses, hal.SystemClock{}.Now()-t0)
		if c, p := substreamState(t, a, 'c'), substreamState(t, a, 'p'); c != "PREPARED" || p != "PREPARED" {
			t.Fatalf("paused: capture %s, playback %s", c, p)
		}
		d0, _ := a.CaptureDelay()
		time.Sleep(100 * time.Millisecond)
		if d1, _ := a.CaptureDelay(); d1 != d0 {
			t.Fatalf("paused device captured %v in 100 ms", d1-d0)
		}
		t0 = hal.SystemClock{}.Now()
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		resumes = append(resumes, hal.SystemClock{}.Now()-t0)
		// The consumer's first frame right after Resume, then streaming.
		for j := range f {
			f[j] = 7000
		}
		if err := a.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
		stream(39, 7000)
		if c, p := substreamState(t, a, 'c'), substreamState(t, a, 'p'); c != "RUNNING" || p != "RUNNING" {
			t.Fatalf("resumed: capture %s, playback %s", c, p)
		}
	}
	close(stop)
	s := <-heard
	if bErr != nil {
		t.Fatalf("the far end failed while this end paused and resumed: %v", bErr)
	}
	loud := 0
	for _, v := range s {
		if v == 7000 {
			loud++
		}
	}
	// Each pause drops what playback still held (up to the 12 primed
	// periods: an on-hook earpiece has nothing to hear); the rest of each
	// cycle's 40 frames reaches the far end.
	if want := 10 * (40 - 13) * hal.FrameSamples; loud < want {
		t.Fatalf("the far end heard %d samples of the resumed stream's audio, want at least %d", loud, want)
	}
	if st := a.Stats(); st.Pauses != 10 {
		t.Fatalf("stats %+v: want 10 pauses", st)
	}

	// The other way to rest: close the device and open it again (with its
	// hw_params negotiation) before streaming.
	var reopens []time.Duration
	for cycle := 0; cycle < 10; cycle++ {
		t0 := hal.SystemClock{}.Now()
		_ = a.Close()
		x, err := Open("hw:Loopback,0", opts...)
		if err != nil {
			t.Fatal(err)
		}
		a = x.(*PCM)
		if err := a.start(); err != nil {
			t.Fatal(err)
		}
		reopens = append(reopens, hal.SystemClock{}.Now()-t0)
	}
	_ = a.Close()
	med := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	fmt.Printf("FIGURE alsa rest on snd-aloop: pause (drop+prepare) median %v, resume (start+prime) median %v, together %v; close + reopen + start median %v (%.1fx)\n",
		med(pauses), med(resumes), med(pauses)+med(resumes), med(reopens), float64(med(reopens))/float64(med(pauses)+med(resumes)))
}
