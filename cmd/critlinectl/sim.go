package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/audiofile"
)

const simUsage = `usage: critlinectl sim VERB ...
(dial returns once the digits are keyed, listen once recorded; play at once)
  hook PORT off|on                 lift or replace the handset
  dial PORT DIGITS [--pulse]       key DTMF into the handset (or pulse-dial with --pulse)
  flash PORT                       a timed-break recall
  power mains|battery|battery-low  the supply
  link up|down                     the LAN cable
  copper PORT live|dead            cut or restore the copper line behind a port's relay
  trunk [--trunk NAME] VERB ARGS   the simulated modem (sim trunk help lists its verbs)
  play PORT FILE                   audio into the handset (WAV 8 kHz mono 16-bit, or raw s16le)
  listen PORT --seconds N --out FILE   record the earpiece (WAV if FILE ends in .wav, else raw)
  watch [PORT]                     stream ring, polarity, relay, hook and port state changes`

func port(e *env, s string) (int, bool) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 {
		usageErr(e, "%q is not a port number (ports are numbered from 1)", s)
		return 0, false
	}
	return p, true
}

func posted(e *env, path string, req any) int {
	r, err := e.client().Post(e.ctx, path, req)
	if err != nil {
		return fail(e, err)
	}
	if r.Seconds > 0 {
		fmt.Fprintf(e.stdout, "%s (%.1f s)\n", r.Message, r.Seconds)
	} else {
		fmt.Fprintln(e.stdout, r.Message)
	}
	playOut(e, r)
	return exitOK
}

// playOut waits while an action that reports its length plays out on the
// board (digits being keyed), so that the next command of a script or of
// the README's tour acts after it, as a person would: a recall sent while
// 999 is still being keyed would be taken as a pulsed digit. Ctrl-C stops
// waiting, not the action. A recall (sim flash) waits until the port has
// taken it, so a code keyed next follows the R. (sim play does not wait:
// one speaks while doing other things.)
func playOut(e *env, r control.Result) {
	if r.Seconds <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(r.Seconds * float64(time.Second)))
	defer t.Stop()
	select {
	case <-e.ctx.Done():
	case <-t.C:
	}
}

func runSim(e *env, args []string) int {
	if len(args) == 0 {
		return usageErr(e, "%s", simUsage)
	}
	verb, args := args[0], args[1:]
	switch verb {
	case "help", "--help", "-h":
		fmt.Fprintln(e.stdout, simUsage)
		return exitOK
	case "hook":
		if len(args) != 2 || (args[1] != "off" && args[1] != "on") {
			return usageErr(e, "usage: sim hook PORT off|on")
		}
		p, ok := port(e, args[0])
		if !ok {
			return exitUsage
		}
		return posted(e, "/v1/sim/hook", control.HookRequest{Port: p, State: args[1]})
	case "dial":
		pulse := false
		var pos []string
		for _, a := range args {
			if a == "--pulse" || a == "-pulse" {
				pulse = true
			} else {
				pos = append(pos, a)
			}
		}
		if len(pos) != 2 {
			return usageErr(e, "usage: sim dial PORT DIGITS [--pulse]")
		}
		p, ok := port(e, pos[0])
		if !ok {
			return exitUsage
		}
		return posted(e, "/v1/sim/dial", control.DialRequest{Port: p, Digits: pos[1], Pulse: pulse})
	case "flash":
		if len(args) != 1 {
			return usageErr(e, "usage: sim flash PORT")
		}
		p, ok := port(e, args[0])
		if !ok {
			return exitUsage
		}
		return posted(e, "/v1/sim/flash", control.FlashRequest{Port: p})
	case "power":
		if len(args) != 1 {
			return usageErr(e, "usage: sim power mains|battery|battery-low")
		}
		return posted(e, "/v1/sim/power", control.PowerRequest{State: args[0]})
	case "copper":
		if len(args) != 2 || (args[1] != "live" && args[1] != "dead") {
			return usageErr(e, "usage: sim copper PORT live|dead")
		}
		p, ok := port(e, args[0])
		if !ok {
			return exitUsage
		}
		return posted(e, "/v1/sim/copper", control.CopperRequest{Port: p, State: args[1]})
	case "link":
		if len(args) != 1 {
			return usageErr(e, "usage: sim link up|down")
		}
		return posted(e, "/v1/sim/link", control.LinkRequest{State: args[0]})
	case "trunk":
		name := ""
		if len(args) >= 2 && (args[0] == "--trunk" || args[0] == "-trunk") {
			name, args = args[1], args[2:]
		}
		if len(args) == 0 {
			return usageErr(e, "usage: sim trunk [--trunk NAME] VERB ARGS (try: sim trunk help)")
		}
		return posted(e, "/v1/sim/trunk", control.TrunkRequest{Trunk: name, Args: args})
	case "play":
		if len(args) != 2 {
			return usageErr(e, "usage: sim play PORT FILE")
		}
		p, ok := port(e, args[0])
		if !ok {
			return exitUsage
		}
		data, err := os.ReadFile(args[1])
		if err != nil {
			return fail(e, err)
		}
		samples, err := audiofile.Decode(data)
		if err != nil {
			return fail(e, fmt.Errorf("%s: %w", args[1], err))
		}
		r, err := e.client().Play(e.ctx, p, samples)
		if err != nil {
			return fail(e, err)
		}
		fmt.Fprintln(e.stdout, r.Message) // at once: speech goes on while other verbs act (listen, answer)
		return exitOK
	case "listen":
		return simListen(e, args)
	case "watch":
		p := 0
		if len(args) > 1 {
			return usageErr(e, "usage: sim watch [PORT]")
		}
		if len(args) == 1 {
			var ok bool
			if p, ok = port(e, args[0]); !ok {
				return exitUsage
			}
		}
		err := e.client().Watch(e.ctx, p, func(line []byte) error {
			_, err := fmt.Fprintf(e.stdout, "%s\n", bytes.TrimSpace(line))
			return err
		})
		if err != nil && e.ctx.Err() == nil {
			return fail(e, err)
		}
		return exitOK
	}
	return usageErr(e, "unknown sim verb %q\n%s", verb, simUsage)
}

func simListen(e *env, args []string) int {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	secs := fs.Float64("seconds", 0, "")
	out := fs.String("out", "", "")
	// Accept the port before or after the flags.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return usageErr(e, "usage: sim listen PORT --seconds N --out FILE (%v)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 || *secs <= 0 || *out == "" {
		return usageErr(e, "usage: sim listen PORT --seconds N --out FILE")
	}
	p, ok := port(e, pos[0])
	if !ok {
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(e.ctx, time.Duration(*secs*float64(time.Second))+30*time.Second)
	defer cancel()
	samples, err := e.client().Listen(ctx, p, time.Duration(*secs*float64(time.Second)))
	if err != nil {
		return fail(e, err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fail(e, err)
	}
	if strings.HasSuffix(strings.ToLower(*out), ".wav") {
		err = audiofile.EncodeWAV(f, samples)
	} else {
		err = audiofile.EncodeRaw(f, samples)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "recorded %.2f s from port %d to %s\n", float64(len(samples))/audiofile.SampleRate, p, *out)
	return exitOK
}
