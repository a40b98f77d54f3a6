package hook

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// uk mirrors fxs/profile/profiles/uk.toml (the profile package is tested to
// load; this package must not depend on it).
var uk = Windows{
	Debounce: 15 * ms, Seize: 20 * ms,
	PulseBreakMin: 25 * ms, PulseBreakMax: 110 * ms, DigitEnd: 150 * ms,
	FlashMin: 85 * ms, FlashMax: 250 * ms, Clear: 400 * ms,
}

var us = Windows{
	Debounce: 15 * ms, Seize: 20 * ms,
	PulseBreakMin: 25 * ms, PulseBreakMax: 110 * ms, DigitEnd: 150 * ms,
	FlashMin: 300 * ms, FlashMax: time.Second, Clear: 1100 * ms,
}

// run feeds a decoder that starts on-hook at 0 with alternating segments
// starting with a make: make, break, make, ... durations. It then lets 5 s
// pass and returns the events as compact strings.
func run(w Windows, dialling bool, segs ...time.Duration) []string {
	d := New(w, false, 0)
	d.SetDialling(dialling)
	var evs []Event
	t := time.Second
	closed := true
	for _, s := range segs {
		evs = d.Edge(evs, closed, t)
		t += s
		closed = !closed
	}
	evs = d.Expire(evs, t+5*time.Second)
	var out []string
	for _, e := range evs {
		switch e.Kind {
		case Digit:
			out = append(out, string(e.Digit))
		case Invalid:
			out = append(out, "invalid")
		default:
			out = append(out, e.Kind.String())
		}
	}
	return out
}

func TestWindowsValidate(t *testing.T) {
	for _, w := range []Windows{uk, us} {
		if err := w.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	bad := uk
	bad.Clear = 200 * ms
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "clear") {
		t.Errorf("clear shorter than flash_max accepted: %v", err)
	}
	bad = uk
	bad.FlashMin = 20 * ms
	if err := bad.Validate(); err == nil {
		t.Error("flash_min below pulse_break_min accepted")
	}
}

// TestBoundaries walks a single break (between a long make before and a
// long make after) across every window edge, in both contexts.
func TestBoundaries(t *testing.T) {
	long := 2 * time.Second
	for _, c := range []struct {
		w        Windows
		dialling bool
		brk      time.Duration
		want     string
	}{
		// UK while dialling: up to pulse_break_max a slow "1".
		{uk, true, 10 * ms, "off-hook"}, // bounce
		{uk, true, 14 * ms, "off-hook"}, // bounce
		{uk, true, 20 * ms, "off-hook"}, // noise, ignored
		{uk, true, 24 * ms, "off-hook"}, // noise, ignored
		{uk, true, 25 * ms, "off-hook pulse-start 1"},
		{uk, true, 67 * ms, "off-hook pulse-start 1"},
		{uk, true, 80 * ms, "off-hook pulse-start 1"},
		{uk, true, 103 * ms, "off-hook pulse-start 1"}, // 7 pps, 72 % break
		{uk, true, 110 * ms, "off-hook pulse-start 1"},
		{uk, true, 111 * ms, "off-hook flash"},
		{uk, true, 250 * ms, "off-hook flash"},
		{uk, true, 251 * ms, "off-hook invalid"},
		{uk, true, 399 * ms, "off-hook invalid"},
		{uk, true, 400 * ms, "off-hook on-hook off-hook"},
		// UK in a call: from flash_min a recall.
		{uk, false, 20 * ms, "off-hook"},
		{uk, false, 25 * ms, "off-hook pulse-start 1"},
		{uk, false, 84 * ms, "off-hook pulse-start 1"},
		{uk, false, 85 * ms, "off-hook flash"},
		{uk, false, 100 * ms, "off-hook flash"}, // nominal timed break recall
		{uk, false, 110 * ms, "off-hook flash"},
		{uk, false, 111 * ms, "off-hook flash"},
		{uk, false, 250 * ms, "off-hook flash"},
		{uk, false, 251 * ms, "off-hook invalid"},
		{uk, false, 400 * ms, "off-hook on-hook off-hook"},
		// US: hook flash 300-1000 ms, clear from 1100 ms.
		{us, false, 110 * ms, "off-hook pulse-start 1"},
		{us, false, 111 * ms, "off-hook invalid"},
		{us, false, 299 * ms, "off-hook invalid"},
		{us, false, 300 * ms, "off-hook flash"},
		{us, false, 1000 * ms, "off-hook flash"},
		{us, false, 1001 * ms, "off-hook invalid"},
		{us, false, 1100 * ms, "off-hook on-hook off-hook"},
		{us, true, 600 * ms, "off-hook flash"},
	} {
		got := strings.Join(run(c.w, c.dialling, long, c.brk, long), " ")
		if got != c.want {
			t.Errorf("clear=%v dialling=%v break %v: got %q, want %q", c.w.Clear, c.dialling, c.brk, got, c.want)
		}
	}
}

// TestTrains: a train of slow breaks is a digit, never a recall, in either
// context; makes decide where digits end.
func TestTrains(t *testing.T) {
	long := 2 * time.Second
	seq := func(brk, mk time.Duration, n int) []time.Duration {
		s := []time.Duration{long}
		for i := 0; i < n; i++ {
			s = append(s, brk)
			if i < n-1 {
				s = append(s, mk)
			}
		}
		return append(s, long)
	}
	for _, c := range []struct {
		name     string
		dialling bool
		segs     []time.Duration
		want     string
	}{
		{"10pps 2:1 five", true, seq(67*ms, 33*ms, 5), "off-hook pulse-start 5"},
		{"10pps 2:1 zero", true, seq(67*ms, 33*ms, 10), "off-hook pulse-start 0"},
		{"7pps 72% two", true, seq(103*ms, 40*ms, 2), "off-hook pulse-start 2"},
		{"7pps 72% two in a call", false, seq(103*ms, 40*ms, 2), "off-hook 2"},
		{"7pps 55% nine", true, seq(79*ms, 64*ms, 9), "off-hook pulse-start 9"},
		{"13pps 72% eight", true, seq(55*ms, 21*ms, 8), "off-hook pulse-start 8"},
		{"13pps 55% three", true, seq(42*ms, 35*ms, 3), "off-hook pulse-start 3"},
		{"make at digit_end-1 keeps the digit", true, seq(60*ms, 149*ms, 2), "off-hook pulse-start 2"},
		{"make at digit_end splits", true, seq(60*ms, 150*ms, 2), "off-hook pulse-start 1 pulse-start 1"},
		{"eleven pulses", true, seq(60*ms, 40*ms, 11), "off-hook pulse-start invalid"},
		{"recall then digit", false, []time.Duration{long, 100 * ms, long, 60 * ms, 40 * ms, 60 * ms, long}, "off-hook flash pulse-start 2"},
		{"long break in a train", true, []time.Duration{long, 60 * ms, 40 * ms, 200 * ms, long}, "off-hook pulse-start invalid"},
		{"short break in a train", true, []time.Duration{long, 60 * ms, 40 * ms, 20 * ms, 40 * ms, 60 * ms, long}, "off-hook pulse-start invalid pulse-start 1"},
		{"bounce inside a pulse is bridged", true, []time.Duration{long, 30 * ms, 5 * ms, 30 * ms, 40 * ms, 60 * ms, long}, "off-hook pulse-start 2"},
		{"bounce inside a make is bridged", true, []time.Duration{long, 60 * ms, 20 * ms, 5 * ms, 20 * ms, 60 * ms, long}, "off-hook pulse-start 2"},
		{"on-hook mid-digit", true, []time.Duration{long, 60 * ms, 40 * ms, 2 * time.Second}, "off-hook pulse-start on-hook"},
		{"runt make on-hook", true, []time.Duration{10 * ms, 3 * time.Second}, ""},
		{"make shorter than seize", true, []time.Duration{18 * ms, 3 * time.Second}, ""},
		{"make of seize", true, []time.Duration{20 * ms, 3 * time.Second}, "off-hook on-hook"},
	} {
		got := strings.Join(run(uk, c.dialling, c.segs...), " ")
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestEventTimes(t *testing.T) {
	d := New(uk, false, 0)
	var evs []Event
	evs = d.Edge(evs, true, 1000*ms)
	evs = d.Expire(evs, 1019*ms)
	if len(evs) != 0 {
		t.Fatalf("seized early: %+v", evs)
	}
	evs = d.Expire(evs, 1020*ms)
	if len(evs) != 1 || evs[0].Kind != OffHook || evs[0].At != 1020*ms || evs[0].Edge != 1000*ms {
		t.Fatalf("seize: %+v", evs)
	}
	evs = d.Edge(evs[:0], false, 2000*ms)
	if dl, ok := d.Deadline(); !ok || dl != 2015*ms {
		t.Fatalf("deadline during debounce = %v %v", dl, ok)
	}
	evs = d.Expire(evs, 2015*ms)
	if dl, ok := d.Deadline(); !ok || dl != 2400*ms {
		t.Fatalf("clear deadline = %v %v, want 2.4s", dl, ok)
	}
	evs = d.Expire(evs, 2400*ms)
	if len(evs) != 1 || evs[0].Kind != OnHook || evs[0].At != 2400*ms || evs[0].Edge != 2000*ms || d.OffHook() {
		t.Fatalf("clear: %+v", evs)
	}
	if _, ok := d.Deadline(); ok {
		t.Fatal("idle decoder has a deadline")
	}
}

func TestResync(t *testing.T) {
	d := New(uk, true, 0)
	d.SetDialling(true)
	var evs []Event
	evs = d.Edge(evs, false, 1000*ms)
	evs = d.Edge(evs, true, 1060*ms)
	evs = d.Expire(evs, 1080*ms) // one pulse in progress
	evs = d.Resync(evs[:0], false, 1090*ms)
	if len(evs) != 1 || evs[0].Kind != Invalid {
		t.Fatalf("resync mid-digit: %+v", evs)
	}
	evs = d.Expire(evs[:0], 1490*ms)
	if len(evs) != 1 || evs[0].Kind != OnHook {
		t.Fatalf("after resync to on-hook: %+v", evs)
	}
	evs = d.Resync(evs[:0], true, 3000*ms)
	evs = d.Expire(evs, 3020*ms)
	if len(evs) != 1 || evs[0].Kind != OffHook {
		t.Fatalf("after resync to off-hook: %+v", evs)
	}
}

// dial renders digits as loop edges for a dial of the given speed (pulses
// per second) and break ratio, with inter-digit pauses gap, returning the
// segment durations (make first) for run.
func dial(rng *rand.Rand, digits string, pps, ratio float64, gap func() time.Duration, jitter float64) []time.Duration {
	segs := []time.Duration{time.Second}
	period := float64(time.Second) / pps
	for i, c := range digits {
		n := int(c - '0')
		if n == 0 {
			n = 10
		}
		for p := 0; p < n; p++ {
			j := 1 + jitter*(2*rng.Float64()-1)
			brk := time.Duration(period * ratio * j)
			mk := time.Duration(period * (1 - ratio) * j)
			segs = append(segs, brk)
			if p < n-1 {
				segs = append(segs, mk)
			}
		}
		if i < len(digits)-1 {
			segs = append(segs, gap())
		}
	}
	return append(segs, 3*time.Second)
}

// TestRandomDialling: random numbers dialled at 7-13 pps with break ratios
// of 55-72 % and human inter-digit pauses decode to the same digits, in the
// UK and US windows.
func TestRandomDialling(t *testing.T) {
	rng := rand.New(rand.NewSource(20261127))
	for _, w := range []Windows{uk, us} {
		for n := 0; n < 3000; n++ {
			l := 1 + rng.Intn(11)
			b := make([]byte, l)
			for i := range b {
				b[i] = byte('0' + rng.Intn(10))
			}
			digits := string(b)
			pps := 7 + 6*rng.Float64()
			ratio := 0.55 + 0.17*rng.Float64()
			// Stay within the window edges: a 2 % per-pulse jitter is
			// allowed only where it cannot cross 7-13 pps or 55-72 %.
			jit := 0.0
			if pps > 7.2 && pps < 12.7 && ratio > 0.57 && ratio < 0.70 {
				jit = 0.02
			}
			gap := func() time.Duration { return time.Duration(250+rng.Intn(1000)) * ms }
			got := run(w, true, dial(rng, digits, pps, ratio, gap, jit)...)
			var dec strings.Builder
			for _, e := range got {
				if e == "off-hook" || e == "pulse-start" {
					continue
				}
				dec.WriteString(e)
			}
			if dec.String() != digits {
				t.Fatalf("%s at %.2f pps, %.1f %% break: decoded %q (%v)", digits, pps, ratio*100, dec.String(), got)
			}
		}
	}
}

// TestExtremeDials: the four corners of 7-13 pps x 55-72 % for every digit.
func TestExtremeDials(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, pps := range []float64{7, 13} {
		for _, ratio := range []float64{0.55, 0.72} {
			digits := "1234567890"
			gap := func() time.Duration { return 250 * ms }
			got := strings.Join(run(uk, true, dial(rng, digits, pps, ratio, gap, 0)...), "")
			got = strings.NewReplacer("off-hook", "", "pulse-start", "").Replace(got)
			if got != digits {
				t.Errorf("%v pps %v%%: %q", pps, ratio*100, got)
			}
		}
	}
}

func ExampleDecoder() {
	d := New(uk, false, 0)
	d.SetDialling(true)
	var evs []Event
	evs = d.Edge(evs, true, 0)         // lift
	evs = d.Edge(evs, false, 1000*ms)  // dial "2": break
	evs = d.Edge(evs, true, 1067*ms)   // make
	evs = d.Edge(evs, false, 1100*ms)  // break
	evs = d.Edge(evs, true, 1167*ms)   // make
	evs = d.Expire(evs, 2*time.Second) // pause
	for _, e := range evs {
		fmt.Printf("%v %q %v\n", e.Kind, e.Digit, e.At)
	}
	// Output:
	// off-hook '\x00' 20ms
	// pulse-start '\x00' 1.067s
	// digit '2' 1.317s
}

// FuzzDecoder feeds arbitrary edge sequences: the decoder must never
// panic, must report events in time order, only digits 0-9, and must agree
// with itself about the hook state.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{200, 67, 33, 67, 33, 67, 250}, true)
	f.Add([]byte{10, 100, 250, 5, 5, 5}, false)
	f.Add([]byte{1, 1, 1, 1, 255, 255, 255}, true)
	f.Fuzz(func(t *testing.T, gaps []byte, dialling bool) {
		d := New(uk, false, 0)
		d.SetDialling(dialling)
		var evs []Event
		at := time.Duration(0)
		closed := false
		off := false
		for i, g := range gaps {
			if i > 200 {
				break
			}
			at += time.Duration(g) * 2 * ms
			closed = !closed
			evs = d.Edge(evs, closed, at)
		}
		evs = d.Expire(evs, at+10*time.Second)
		last := time.Duration(-1)
		for _, e := range evs {
			if e.At < last {
				t.Fatalf("event %+v before %v", e, last)
			}
			last = e.At
			switch e.Kind {
			case OffHook:
				if off {
					t.Fatal("off-hook twice")
				}
				off = true
			case OnHook:
				if !off {
					t.Fatal("on-hook twice")
				}
				off = false
			case Digit:
				if e.Digit < '0' || e.Digit > '9' || !off {
					t.Fatalf("digit %q (off-hook %v)", e.Digit, off)
				}
			case Flash, PulseStart:
				if !off {
					t.Fatalf("%v while on-hook", e.Kind)
				}
			}
		}
		if off != d.OffHook() {
			t.Fatalf("events say off-hook=%v, decoder says %v", off, d.OffHook())
		}
	})
}
