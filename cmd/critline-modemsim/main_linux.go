//go:build linux

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/critline/critline/hal/sim/modemsim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("critline-modemsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for the stable port symlinks (default: a new temporary directory)")
	name := fs.String("name", "modem", "port name: the AT port is DIR/NAME, the voice port DIR/NAME-pcm")
	variant := fs.String("variant", "simcom", "AT dialect: simcom, quectel or generic")
	noPCM := fs.Bool("no-pcm", false, "no voice port")
	ring := fs.Duration("ring-interval", 3*time.Second, "time between RINGs of an inbound call")
	serve := fs.Bool("serve", false, "keep running after stdin ends, until SIGINT or SIGTERM")
	verbose := fs.Bool("v", false, "log what the simulator does")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "critline-modemsim: unexpected argument %q: options only (see -h)\n", fs.Arg(0))
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "critline-modemsim-")
		if err != nil {
			fmt.Fprintln(stderr, "critline-modemsim:", err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	sim, err := modemsim.New(modemsim.Options{
		Dir: *dir, Name: *name, Variant: modemsim.Variant(*variant), NoPCM: *noPCM,
		RingInterval: *ring,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Fprintln(stderr, "critline-modemsim:", err)
		return 1
	}
	defer sim.Close()

	at, pcm := sim.TTYs()
	fmt.Fprintf(stdout, "critline-modemsim: %s modem simulator\n", *variant)
	fmt.Fprintf(stdout, "AT port:  %s -> %s\n", sim.ATPath(), at)
	if sim.PCMPath() != "" {
		fmt.Fprintf(stdout, "PCM port: %s -> %s (8 kHz s16le mono, 20 ms chunks)\n", sim.PCMPath(), pcm)
	}
	fmt.Fprintf(stdout, "config:   [[trunk]] kind = \"modem\"  device = %q  pcm = %q  variant = %q\n", sim.ATPath(), sim.PCMPath(), *variant)
	fmt.Fprintln(stdout, "control:  one verb per line on stdin (help lists them); quit or end of input stops")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return 0
		case l, ok := <-lines:
			if !ok {
				if *serve {
					<-ctx.Done()
				}
				return 0
			}
			f := strings.Fields(l)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			if f[0] == "quit" || f[0] == "exit" {
				return 0
			}
			out, err := sim.Control(f)
			if err != nil {
				fmt.Fprintln(stderr, "error:", err)
				continue
			}
			fmt.Fprintln(stdout, out)
		}
	}
}
