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
	usage string
	help  string
	run   func(e *env, args []string) int
}

func verbs() map[string]verb {
	v := map[string]verb{
		"status":   {"status [--json]", "mode, power, LAN, registrars, trunks, ports and relays at a glance", runStatus},
		"sim":      {"sim VERB ...", "drive the simulated board (sim help lists the verbs)", runSim},
		"version":  {"version", "this tool's and the daemon's versions", runVersion},
		"config":   {"config check FILE", "validate a configuration file offline", runConfig},
		"forward":  {"forward PORT KIND NUMBER | PORT clear | unlock", "call forwarding and remote-activation lockouts (forward help)", runForward},
		"lifeline": {"lifeline PORT on|off", "put a port's handset on the PSTN line by hand (on), or back to automatic (off)", runLifeline},
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
	name := fs.Arg(0)
	if name == "help" {
		usage(stdout)
		return exitOK
	}
	v, ok := verbs()[name]
	if !ok {
		fmt.Fprintf(stderr, "critlinectl: unknown verb %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return v.run(&env{ctx: ctx, socket: *socket, stdout: stdout, stderr: stderr}, fs.Args()[1:])
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

func runConfig(e *env, args []string) int {
	if len(args) != 2 || args[0] != "check" {
		return usageErr(e, "usage: config check FILE")
	}
	cfg, err := config.Load(args[1])
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s: valid (%s board, %d ports, %d registrars, %d trunks)\n",
		args[1], cfg.Board.Kind, len(cfg.Ports), len(cfg.SIP.Registrars), len(cfg.Trunks))
	for _, n := range cfg.NoticeLines() {
		fmt.Fprintln(e.stdout, "notice:", n)
	}
	return exitOK
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
