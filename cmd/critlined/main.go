package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/critline/critline/config"
	"github.com/critline/critline/internal/configcheck"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitUsage  = 2
	exitConfig = configcheck.ExitConfig // 78, EX_CONFIG
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type flags struct {
	config, socket, metrics, stateDir, logLevel string
	check, version                              bool
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("critlined", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", config.DefaultPath, "configuration `file`")
	fs.BoolVar(&f.check, "check-config", false, "validate the configuration and exit (0 valid, 78 invalid)")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.StringVar(&f.socket, "control-socket", "", "control socket `path` (overrides [control] socket)")
	fs.StringVar(&f.metrics, "metrics-listen", "", "metrics `address` (overrides [metrics] listen)")
	fs.StringVar(&f.stateDir, "state-dir", "", "state `directory` (overrides [state] dir)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (overrides [log] level)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: critlined [flags]\n\nThe critline daemon. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// loadConfig reads the file, applies the command-line overrides and makes
// every check (the same as critlinectl config check, through configcheck).
func loadConfig(f flags) (*config.Config, error) {
	c, err := configcheck.Load(f.config, f.overrides)
	if err != nil {
		return nil, err
	}
	return c.Config, nil
}

// overrides applies the flags that override the file.
func (f flags) overrides(cfg *config.Config) {
	if f.socket != "" {
		cfg.Control.Socket = f.socket
	}
	if f.metrics != "" {
		cfg.Metrics.Listen = f.metrics
	}
	if f.stateDir != "" {
		cfg.State.Dir = f.stateDir
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "critlined:", err)
		return exitUsage
	}
	if f.version {
		fmt.Fprintf(stdout, "critlined %s\n", version)
		return exitOK
	}
	tuneMemory()
	if f.check {
		return configcheck.Report(f.config, f.overrides, stdout, stderr)
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}

	level := new(slog.LevelVar)
	l, _ := parseLevel(cfg.Log.Level) // validated
	level.Set(l)
	logFile, _ := stderr.(*os.File)
	if logFile == nil {
		logFile = os.Stderr
	}
	log := newLogger(logFile, cfg.Log.Format, level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	for _, n := range cfg.NoticeLines() {
		log.Warn("configuration notice: " + n)
	}
	d := &daemon{flags: f, cfg: cfg, log: log, level: level}
	if err := d.serve(ctx, hup); err != nil {
		log.Error("critlined stopped", "err", err)
		return exitFail
	}
	return exitOK
}
