package modem

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/critline/critline/hal"
	"github.com/critline/critline/internal/testenv"
)

// The jitter buffer's rules, step by step on a manual clock: playout waits
// for JitterFrames, a gap plays silence and re-primes, overflow drops the
// oldest frame. The port is an in-memory pipe carrying the same bytes a
// serial port would.
func TestVoiceJitterBufferRules(t *testing.T) {
	clock := hal.NewManualClock(time.Second)
	cfg := Config{Name: "t", Device: "x", PCM: "y", JitterFrames: 2, MaxJitter: 4, Clock: clock}
	cfg.setDefaults()
	m, err := newMetrics(nil, "t")
	if err != nil {
		t.Fatal(err)
	}
	v := newVoice(cfg, m, quietLog())
	defer v.Close()
	ours, modem := net.Pipe()
	v.attach(ours)

	send := func(vals ...int16) {
		for _, x := range vals {
			b := make([]byte, frameBytes)
			for i := range hal.FrameSamples {
				binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
			}
			// Split a frame across writes, as a serial port may.
			if _, err := modem.Write(b[:100]); err != nil {
				t.Fatal(err)
			}
			if _, err := modem.Write(b[100:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	buffered := func(n int) {
		t.Helper()
		testenv.Eventually(t, 5*time.Second, fmt.Sprintf("the buffer holding %d frames", n), func() bool {
			v.mu.Lock()
			defer v.mu.Unlock()
			return len(v.q) == n
		})
	}
	read := func() int16 {
		t.Helper()
		got := make(chan hal.Frame)
		go func() {
			var f hal.Frame
			if err := v.ReadFrame(&f); err != nil {
				t.Error(err)
			}
			got <- f
		}()
		for clock.Pending() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		clock.Advance(hal.FrameDuration)
		f := <-got
		for _, s := range f {
			if s != f[0] {
				t.Fatal("frame mixed up")
			}
		}
		return f[0]
	}

	send(1)
	buffered(1)
	if x := read(); x != 0 {
		t.Fatalf("played %d before the buffer primed", x)
	}
	send(2)
	buffered(2)
	if a, b := read(), read(); a != 1 || b != 2 {
		t.Fatalf("played %d %d", a, b)
	}
	if x := read(); x != 0 { // gap: silence
		t.Fatalf("gap played %d", x)
	}
	send(3, 4, 5, 6, 7, 8) // more than MaxJitter: 3 and 4 are dropped
	buffered(4)
	for _, want := range []int16{5, 6, 7, 8, 0} {
		if x := read(); x != want {
			t.Fatalf("played %d, want %d", x, want)
		}
	}
	if got := testCounter(m.underruns); got != 2 {
		t.Fatalf("%v underruns, want 2", got)
	}
	if got := testCounter(m.dropped); got != 2 {
		t.Fatalf("%v dropped, want 2", got)
	}

	// Writes reach the modem as s16le.
	f := hal.Frame{}
	f[0], f[159] = -2, 300
	if err := v.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, frameBytes)
	if _, err := io.ReadFull(modem, b); err != nil {
		t.Fatal(err)
	}
	if int16(binary.LittleEndian.Uint16(b)) != -2 || binary.LittleEndian.Uint16(b[318:]) != 300 {
		t.Fatal("written frame changed")
	}

	// Close wakes a blocked reader.
	errc := make(chan error)
	go func() {
		var f hal.Frame
		errc <- v.ReadFrame(&f)
	}()
	for clock.Pending() == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	v.Close()
	if err := <-errc; err != hal.ErrClosed {
		t.Fatalf("blocked read after close: %v", err)
	}
}
