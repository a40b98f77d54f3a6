package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/critline/critline/config"
	"github.com/critline/critline/hal"
)

// runTestBoard is the offline verb `critlinectl test board --config FILE`:
// it opens the configured GPIO board itself (the daemon must be stopped, or
// the lines are busy), reads every input, exercises every output, plays a
// tone on each port's audio device, optionally watches the inputs for a
// while, and prints what it saw. Relays end in bypass whatever happens.
func runTestBoard(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test board", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "configuration file (board.kind = \"gpio\")")
	hold := fs.Duration("hold", time.Second, "how long each output is held asserted")
	watch := fs.Duration("watch", 0, "then watch the inputs this long (lift a handset, pull the mains)")
	noAudio := fs.Bool("no-audio", false, "do not open the ports' audio devices")
	const usage = "usage: critlinectl test board --config FILE [--hold 1s] [--watch 30s] [--no-audio]"
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printFlags(stdout, fs)
		return exitOK
	}
	if err != nil || fs.NArg() != 0 || *cfgPath == "" || *hold <= 0 || *watch < 0 {
		if err != nil {
			fmt.Fprintf(stderr, "critlinectl: test board: %v\n", err)
		}
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	if cfg.Board.Kind != "gpio" {
		fmt.Fprintf(stderr, "critlinectl: test board: %s has board.kind = %q; this verb tests real GPIO boards (kind = \"gpio\"); drive the sim board with 'critlinectl sim'\n", *cfgPath, cfg.Board.Kind)
		return exitFail
	}
	b, err := openTestBoard(ctx, cfg.BoardProfile(), !*noAudio)
	if err != nil {
		fmt.Fprintf(stderr, "critlinectl: test board: %v\n", err)
		return exitFail
	}
	err = exerciseBoard(ctx, b, *hold, *watch, stdout)
	if cerr := b.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the board: %w", cerr))
	}
	if err != nil {
		fmt.Fprintf(stderr, "critlinectl: test board: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, "done: every relay back in bypass, every line released")
	return exitOK
}

// leds is what a board with LEDs offers (hal/gpio's Board does).
type leds interface {
	LEDs() []string
	SetLED(name string, on bool) error
}

// exerciseBoard runs the test on any hal.Board.
func exerciseBoard(ctx context.Context, b hal.Board, hold, watch time.Duration, w io.Writer) error {
	start := time.Now()
	pause := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	ports := b.Ports()
	fmt.Fprintf(w, "board %s, %d port(s)\n", b.Kind(), len(ports))
	defer func() {
		for _, p := range ports {
			if p.Relay != nil {
				_ = p.Relay.SetBypass(true)
			}
		}
	}()

	fmt.Fprintln(w, "relays (the handsets leave the PSTN line for the board):")
	for _, p := range ports {
		if err := p.Relay.SetBypass(false); err != nil {
			fmt.Fprintf(w, "  port %d relay: %v\n", p.ID, err)
			continue
		}
		fmt.Fprintf(w, "  port %d relay: energised, bypass=%v\n", p.ID, p.Relay.Bypass())
	}

	fmt.Fprintln(w, "inputs:")
	for _, p := range ports {
		off, err := p.Line.OffHook()
		if err != nil {
			return fmt.Errorf("port %d hook: %w", p.ID, err)
		}
		fmt.Fprintf(w, "  port %d hook: %s\n", p.ID, hookWord(off))
	}
	pw, err := b.Power().Power()
	if err != nil {
		return fmt.Errorf("power: %w", err)
	}
	fmt.Fprintf(w, "  mains: %s\n  battery: %s\n", pick(pw.Mains, "present", "absent (on battery)"), pick(pw.BatteryLow, "LOW", "ok"))
	ls, err := b.Link().Link()
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	fmt.Fprintf(w, "  LAN link: %s\n", pick(ls.Up, "up", "down"))

	fmt.Fprintf(w, "outputs (each held %v):\n", hold)
	for _, p := range ports {
		if err := ringFor(ctx, p.Line, hold); err != nil {
			return fmt.Errorf("port %d ring: %w", p.ID, err)
		}
		fmt.Fprintf(w, "  port %d ring (%s): on %v, off\n", p.ID, p.Line.RingDrive(), hold)
		if err := p.Line.SetReverse(true); err != nil {
			fmt.Fprintf(w, "  port %d polarity: %v\n", p.ID, err)
		} else {
			if err := pause(hold); err != nil {
				return err
			}
			if err := p.Line.SetReverse(false); err != nil {
				return fmt.Errorf("port %d polarity: %w", p.ID, err)
			}
			fmt.Fprintf(w, "  port %d polarity: reversed %v, forward\n", p.ID, hold)
		}
	}
	if l, ok := b.(leds); ok {
		for _, name := range l.LEDs() {
			if err := l.SetLED(name, true); err != nil {
				return err
			}
			if err := pause(hold); err != nil {
				return err
			}
			if err := l.SetLED(name, false); err != nil {
				return err
			}
			fmt.Fprintf(w, "  led %s: on %v, off\n", name, hold)
		}
	}

	for _, p := range ports {
		if p.Audio == nil {
			continue
		}
		lvl, f, err := toneCheck(p.Audio, hold)
		if err != nil {
			return fmt.Errorf("port %d audio: %w", p.ID, err)
		}
		fmt.Fprintf(w, "  port %d audio: played 1 kHz at -10 dBFS for %v; heard %.1f dBFS, strongest at %.0f Hz\n", p.ID, hold, lvl, f)
	}

	if watch > 0 {
		fmt.Fprintf(w, "watching inputs for %v:\n", watch)
		if err := watchInputs(ctx, b, watch, start, w); err != nil {
			return err
		}
	}
	for _, p := range ports {
		if err := p.Relay.SetBypass(true); err != nil {
			return fmt.Errorf("port %d relay back to bypass: %w", p.ID, err)
		}
		fmt.Fprintf(w, "  port %d relay: bypass=%v\n", p.ID, p.Relay.Bypass())
	}
	return nil
}

// ringFor rings for d: ring enable, or on RingToggle boards ring mode with the
// polarity toggled at 25 Hz as the FXS engine does.
func ringFor(ctx context.Context, l hal.Line, d time.Duration) error {
	if err := l.SetRing(true); err != nil {
		return err
	}
	defer func() { _ = l.SetRing(false); _ = l.SetReverse(false) }()
	end := time.Now().Add(d)
	if l.RingDrive() != hal.RingToggle {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		return l.SetRing(false)
	}
	rev := false
	for time.Now().Before(end) {
		rev = !rev
		if err := l.SetReverse(rev); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // half of a 25 Hz cycle
		}
	}
	return l.SetRing(false)
}

// toneCheck plays a 1 kHz tone for d and reports the level and strongest
// frequency captured meanwhile.
func toneCheck(pcm hal.PCM, d time.Duration) (float64, float64, error) {
	var in, out hal.Frame
	var heard []int16
	n := 0
	for i := 0; i < int(d/hal.FrameDuration); i++ {
		if err := pcm.ReadFrame(&in); err != nil {
			return 0, 0, err
		}
		heard = append(heard, in[:]...)
		for j := range out {
			out[j] = int16(10362 * math.Sin(2*math.Pi*1000*float64(n)/hal.SampleRate))
			n++
		}
		if err := pcm.WriteFrame(&out); err != nil {
			return 0, 0, err
		}
	}
	if len(heard) == 0 {
		return math.Inf(-1), 0, nil
	}
	sum := 0.0
	for _, v := range heard {
		sum += float64(v) * float64(v)
	}
	lvl := 20 * math.Log10(math.Sqrt(sum/float64(len(heard)))/(32767/math.Sqrt2))
	best, bestF := 0.0, 0.0
	for f := 200.0; f <= 3800; f += 50 {
		w := 2 * math.Pi * f / hal.SampleRate
		c := 2 * math.Cos(w)
		var s1, s2 float64
		for _, v := range heard {
			s1, s2 = float64(v)+c*s1-s2, s1
		}
		if p := s1*s1 + s2*s2 - c*s1*s2; p > best {
			best, bestF = p, f
		}
	}
	return lvl, bestF, nil
}

func watchInputs(ctx context.Context, b hal.Board, d time.Duration, start time.Time, w io.Writer) error {
	type hook struct {
		ev hal.HookEvent
		ok bool
	}
	hooks := make(chan hook)
	stop := make(chan struct{})
	defer close(stop)
	for _, p := range b.Ports() {
		go func(ch <-chan hal.HookEvent) {
			for {
				select {
				case <-stop:
					return
				case ev, ok := <-ch:
					select {
					case hooks <- hook{ev, ok}:
					case <-stop:
						return
					}
					if !ok {
						return
					}
				}
			}
		}(p.Line.Events())
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	stamp := func() string { return fmt.Sprintf("+%.3fs", time.Since(start).Seconds()) }
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case h := <-hooks:
			if h.ok {
				fmt.Fprintf(w, "  %s port %d hook %s (kernel time %v, seq %d)\n", stamp(), h.ev.Port, hookWord(h.ev.OffHook), h.ev.At, h.ev.Seq)
			}
		case st, ok := <-b.Power().Events():
			if ok {
				fmt.Fprintf(w, "  %s mains %s, battery %s\n", stamp(), pick(st.Mains, "present", "absent"), pick(st.BatteryLow, "LOW", "ok"))
			}
		case st, ok := <-b.Link().Events():
			if ok {
				fmt.Fprintf(w, "  %s LAN link %s\n", stamp(), pick(st.Up, "up", "down"))
			}
		}
	}
}

func hookWord(off bool) string { return pick(off, "off-hook", "on-hook") }

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
