package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/critline/critline/config"
	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/configcheck"
)

// version is set at link time.
var version = "dev"

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is what every verb gets.
type env struct {
	ctx    context.Context
	socket string
	stdout io.Writer
	stderr io.Writer
}

func (e *env) client() *control.Client { return control.NewClient(e.socket) }

// verb is one command.
type verb struct {
	usage string                        // synopsis
	help  string                        // one line: what it does
	long  string                        // more, for `VERB --help`
	sub   map[string]string             // sub-verbs' usage, for `VERB SUB --help`
	flags func(sub string, w io.Writer) // prints a sub-verb's flags, for verbs that parse flags
	run   func(e *env, args []string) int
}

func verbs() map[string]verb {
	v := map[string]verb{
		"status": {usage: "status [--json]", help: "mode, power, LAN, registrars, trunks, ports and relays at a glance",
			long: "--json prints the status JSON contract (docs/design.md): field mode is normal, survivable or lifeline.",
			run:  runStatus},
		"sim": {usage: "sim VERB ...", help: "drive the simulated board (sim help lists the verbs)",
			long: strings.TrimPrefix(simUsage, "usage: critlinectl sim VERB ...\n"), sub: simSub, run: runSim},
		"version": {usage: "version", help: "this tool's and the daemon's versions", run: runVersion},
		"config": {usage: "config check FILE", help: "validate a configuration file offline, exactly as critlined --check-config does",
			sub: configSub, run: runConfig},
		"forward": {usage: "forward PORT KIND NUMBER ...", help: "call forwarding, remote-activation lockouts, PIN hashes (forward --help)",
			long: strings.TrimPrefix(forwardUsage, "usage: critlinectl forward ...\n"), sub: forwardSub, run: runForward},
		"lifeline": {usage: "lifeline PORT on|off", help: "put a port's handset on the PSTN line by hand (on), or back to automatic (off)",
			long: "on keeps the port's relay in bypass (the handset on the line behind the relay) until off;\nthe choice survives restarts.",
			run:  runLifeline},
	}
	for name, x := range extraVerbs() {
		v[name] = x
	}
	return v
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: critlinectl [--socket PATH] VERB [ARGS]\n\nVerbs:\n")
	vs := verbs()
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-28s %s\n", vs[n].usage, vs[n].help)
	}
	fmt.Fprintf(w, "\nThe socket defaults to $CRITLINE_SOCKET or %s.\n", config.DefaultSocket)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("critlinectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := os.Getenv("CRITLINE_SOCKET")
	if def == "" {
		def = config.DefaultSocket
	}
	socket := fs.String("socket", def, "control socket")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, "critlinectl:", err)
		usage(stderr)
		return exitUsage
	}
	if *help {
		usage(stdout)
		return exitOK
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		if len(rest) == 0 {
			usage(stdout)
			return exitOK
		}
		name, rest = rest[0], append(rest[1:], "--help") // help VERB [SUB]
	}
	v, ok := verbs()[name]
	if !ok {
		fmt.Fprintf(stderr, "critlinectl: unknown verb %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	if wantsHelp(rest) {
		printVerbHelp(stdout, name, v, rest)
		return exitOK
	}
	return v.run(&env{ctx: ctx, socket: *socket, stdout: stdout, stderr: stderr}, rest)
}

// fail prints an error the way every verb does and returns its exit code:
// usage problems 2, everything else 1.
func fail(e *env, err error) int {
	var api *control.APIError
	if errors.As(err, &api) {
		fmt.Fprintf(e.stderr, "critlinectl: %s\n", api.Message)
		return exitFail
	}
	fmt.Fprintf(e.stderr, "critlinectl: %v\n", err)
	return exitFail
}

func usageErr(e *env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "critlinectl: "+format+"\n", args...)
	return exitUsage
}

func runVersion(e *env, args []string) int {
	if len(args) != 0 {
		return usageErr(e, "usage: version")
	}
	fmt.Fprintf(e.stdout, "critlinectl %s\n", version)
	v, err := e.client().Version(e.ctx)
	if err != nil {
		fmt.Fprintf(e.stdout, "critlined   (not reachable: %s)\n", strings.SplitN(err.Error(), "\n", 2)[0])
		return exitOK
	}
	fmt.Fprintf(e.stdout, "critlined   %s (%s board, %s)\n", v.Version, v.Board, v.Go)
	return exitOK
}

// runConfig checks a file with the daemon's own checks (configcheck), so
// both commands accept and refuse the same files with the same lines and
// exit codes (0, or 78).
func runConfig(e *env, args []string) int {
	if len(args) != 2 || args[0] != "check" {
		return usageErr(e, "usage: config check FILE")
	}
	return configcheck.Report(args[1], nil, e.stdout, e.stderr)
}

func runLifeline(e *env, args []string) int {
	if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
		return usageErr(e, "usage: lifeline PORT on|off")
	}
	p, ok := port(e, args[0])
	if !ok {
		return exitUsage
	}
	return posted(e, "/v1/lifeline", control.LifelineRequest{Port: p, State: args[1]})
}
