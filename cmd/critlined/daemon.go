package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/critline/critline/config"
	"github.com/critline/critline/control"
	"github.com/critline/critline/firmware"
	"github.com/critline/critline/hal"
	"github.com/critline/critline/sip"
	"github.com/critline/critline/survivability"
	"github.com/critline/critline/survivability/forwarding"
	"github.com/critline/critline/survivability/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type daemon struct {
	flags flags
	cfg   *config.Config
	log   *slog.Logger
	level *slog.LevelVar
}

// serve runs the appliance until ctx ends. Order matters: the board opens
// with every relay in bypass; the daemon says READY only once the control
// socket and metrics are being served; on the way out the relays go to
// bypass before anything else closes.
func (d *daemon) serve(ctx context.Context, hup <-chan os.Signal) error {
	start := time.Now()
	cfg := d.cfg
	if err := prepareStateDir(cfg.State.Dir); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	b, err := openBoard(ctx, cfg, d.log)
	if err != nil {
		return err
	}
	gov := newCPUGovernor(d.log, os.Getenv) // procs.go
	b.board = governBoard(b.board, gov)
	defer func() {
		if err := b.Close(); err != nil {
			d.log.Error("closing board", "err", err)
		}
	}()

	if err := openTrunks(cfg, b, reg, d.log); err != nil {
		return err
	}
	nets, err := openPaths(cfg, b, d.log)
	if err != nil {
		return err
	}
	prof, err := loadProfile(cfg)
	if err != nil {
		return err
	}
	var mirror forwarding.NetworkForwarder
	mt, serves := mirrorTrunk(cfg, b)
	if mt != nil {
		mirror = networkForwarder{t: mt}
	}
	grd, fwd, err := openPolicies(cfg, b.clock, reg, d.log, mirror, serves)
	if err != nil {
		return err
	}
	defer fwd.Close()
	bat, err := openBattery(cfg, reg, d.log)
	if err != nil {
		return err
	}
	defer bat.Stop()
	ao := applianceOptions(cfg, b, prof, reg, d.log)
	ao.StateDir = cfg.State.Dir
	ao.Guard, ao.Forwarding, ao.RemoteTrunk = grd, fwd, cfg.Survivability.RemoteTrunk
	if ao.ServiceExtension, ao.Prompts, err = remoteOptions(cfg, prof); err != nil {
		return err
	}
	ao.OnPower = bat.Observe
	ao.OnCall = gov.busy // a call that reaches no port runs on every CPU too (procs.go)
	app, err := survivability.New(ao)
	if err != nil {
		return err
	}
	tests, err := openPathTests(cfg, app, reg, d.log)
	if err != nil {
		return err
	}
	if b.sim != nil {
		b.sim.ports = app
	}
	var ua *sip.UA
	if len(cfg.SIP.Registrars) > 0 {
		sip.SetTimers(0, 0, 0) // RFC 3261 defaults, set once for the process
		sip.SetLibraryLogger(d.log.With("component", "sipgo"))
		sc := sipConfig(cfg, app, b.clock, reg, d.log)
		if err := sipTLS(cfg, &sc); err != nil {
			return err
		}
		if sc.Dialogs, err = store.Open(cfg.State.Dir, "dialogs", d.log); err != nil {
			return err
		}
		ua, err = sip.New(sc)
		if err != nil {
			return fmt.Errorf("sip: %w", err)
		}
		app.AttachSIP(ua)
		nets.feed(ua)
	}

	ln, err := listenControl(cfg.Control.Socket, cfg.Control.Group)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Control.Socket)
	var sim control.Sim
	if b.sim != nil {
		sim = b.sim
	}
	// Streaming requests (sim watch, listen) end when streams does: after the
	// relays are safe, so a watcher sees them move.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	api := applianceAPI{Appliance: app, tests: tests, battery: bat}
	ctlSrv := control.NewServer(control.NewHandler(api, sim, d.log), cfg.Control.IdleTimeout.Duration, streams)

	mln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("metrics: cannot listen on %s (%v): free the port or change [metrics] listen / --metrics-listen", cfg.Metrics.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, Timeout: 5 * time.Second}))
	metSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	appDone := make(chan error, 1)
	wg.Go(func() { appDone <- app.Run(runCtx) })
	if ua != nil {
		if err := ua.Start(runCtx); err != nil {
			cancel()
			<-appDone
			ln.Close()
			mln.Close()
			return err
		}
		defer closeWithin(d.log, "sip", 3*time.Second, ua.Close)
	}
	wg.Go(func() { tests.Run(runCtx) })
	wg.Go(func() { bat.Run(runCtx) })
	wg.Go(func() { serveUntilClosed(d.log, "control", ctlSrv, ln) })
	wg.Go(func() { serveUntilClosed(d.log, "metrics", metSrv, mln) })

	releaseStartup()
	wg.Go(func() {
		restMemory(runCtx, restSettle, restCheck, fullRestEvery, func() bool { return quiet(app.Status()) },
			func(full bool) {
				gov.rest(full)
				restNow(d.log, full)
				if full {
					gov.restGC()
				}
			}, gov.busy)
	})
	if ok, err := sd.SdNotify(false, sd.SdNotifyReady); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	} else if ok {
		d.log.Debug("told systemd we are ready")
	}
	d.log.Info("critlined ready",
		"version", version, "board", b.board.Kind(), "ports", len(cfg.Ports),
		"control", cfg.Control.Socket, "metrics", mln.Addr().String(),
		"startup_ms", time.Since(start).Milliseconds())
	go d.watchdog(runCtx, app)
	if cfg.Firmware.Enabled() {
		// After a trial boot into a new slot, confirm it only once the
		// appliance does its job; otherwise the firmware package reboots
		// into the old slot.
		go func() {
			if err := firmware.ConfirmWhenHealthy(runCtx, firmwareConfig(cfg, d.log), func(context.Context) error { return app.Healthy() }); err != nil {
				d.log.Error("firmware trial boot", "err", err)
			}
		}()
	}

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping")
			break loop
		case err := <-appDone:
			runErr = fmt.Errorf("appliance stopped: %w", err)
			appDone <- nil
			break loop
		case <-hup:
			d.reload()
		}
	}
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
	cancel() // the appliance puts every relay into bypass before Run returns
	if err := <-appDone; err != nil && runErr == nil {
		runErr = err
	}
	endStreams()
	shutdown, done := context.WithTimeout(context.Background(), 3*time.Second)
	defer done()
	_ = ctlSrv.Shutdown(shutdown)
	_ = metSrv.Shutdown(shutdown)
	wg.Wait()
	return runErr
}

func serveUntilClosed(log *slog.Logger, name string, srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("server failed", "server", name, "err", err)
	}
}

// watchdog pings systemd at half its interval, and only while every port
// can take and place calls (app.Probe: the appliance's lock is free and each
// port's engine runs a step). A port whose call step stalls recovers by
// itself within its stall limit, missing at most a ping or two; one that
// stays wedged starves the watchdog and systemd restarts the daemon.
func (d *daemon) watchdog(ctx context.Context, app *survivability.Appliance) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, interval/4)
			err := app.Probe(pctx)
			cancel()
			switch {
			case err == nil:
				if failing {
					d.log.Warn("every port's engine answers again: feeding the watchdog")
				}
				failing = false
				_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
			case ctx.Err() != nil:
				return
			default:
				failing = true
				d.log.Error("a port cannot take or place calls: withholding the watchdog ping (systemd restarts the daemon if it stays so)", "err", err)
			}
		}
	}
}

// reload re-reads the configuration. An invalid file is logged and the
// running configuration kept. The log level applies at once; other changes
// need a restart, and the log says which.
func (d *daemon) reload() {
	_, _ = sd.SdNotify(false, sd.SdNotifyReloading)
	defer sd.SdNotify(false, sd.SdNotifyReady)
	cfg, err := loadConfig(d.flags)
	if err != nil {
		d.log.Error("SIGHUP: new configuration rejected, keeping the running one", "err", err)
		return
	}
	if l, err := parseLevel(cfg.Log.Level); err == nil {
		d.level.Set(l)
	}
	old := d.cfg
	var restart []string
	for _, s := range []struct {
		name string
		a, b any
	}{
		{"board", old.Board, cfg.Board}, {"port", old.Ports, cfg.Ports}, {"sip", old.SIP, cfg.SIP},
		{"trunk", old.Trunks, cfg.Trunks}, {"survivability", old.Survivability, cfg.Survivability},
		{"metrics", old.Metrics, cfg.Metrics}, {"control", old.Control, cfg.Control}, {"state", old.State, cfg.State},
	} {
		if !reflect.DeepEqual(s.a, s.b) {
			restart = append(restart, s.name)
		}
	}
	if len(restart) > 0 {
		d.log.Warn("SIGHUP: configuration valid; these sections changed and apply at the next restart (systemctl restart critlined, between calls)", "sections", restart)
	} else {
		d.log.Info("SIGHUP: configuration re-read", "log_level", cfg.Log.Level)
	}
	d.cfg.Log = cfg.Log
}

func prepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("state directory %s cannot be created (%v): create it writable by the daemon's user, or pass --state-dir", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("state directory %s is not writable (%v): fix its owner/mode, or pass --state-dir", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// listenControl opens the control socket, mode 0660 and owned by group when
// one is given. A stale socket left by a crash is replaced; a live one is
// another daemon, and an error.
func listenControl(path, group string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket folder %s cannot be created (%v): create it (systemd's RuntimeDirectory=critline does) or pass --control-socket", dir, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s exists and is not a socket: move it away or choose another path", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use: another critlined is running (systemctl status critlined)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale control socket %s: %w", path, err)
		}
	}
	old := syscall.Umask(0o117)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w (check the folder's permissions, or pass --control-socket)", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket group %q: %v: create the group or change [control] group", group, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		// Under systemd the socket is usually born with the right group
		// (the unit's Group=); the unit's syscall filter forbids chown.
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err == nil && int(st.Gid) == gid {
			return ln, nil
		}
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket %s: giving it to group %s: %w", path, group, err)
		}
	}
	return ln, nil
}

// board is the opened hardware and trunks, plus the sim controls when
// simulated.
type board struct {
	board  hal.Board
	clock  hal.Clock
	sim    *simControl
	trunks []survivability.TrunkOptions
	close  []func() error
}

// Close releases the board (relays to bypass first) and what came with it.
func (b *board) Close() error {
	err := b.board.Close()
	for _, c := range b.close {
		if e := c(); err == nil {
			err = e
		}
	}
	return err
}

// closeWithin closes a component but gives up waiting after d: by then the
// relays are already in bypass and the daemon must exit.
func closeWithin(log *slog.Logger, name string, d time.Duration, close func() error) {
	done := make(chan error, 1)
	go func() { done <- close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("closing", "component", name, "err", err)
		}
	case <-time.After(d):
		log.Error("closing timed out; exiting anyway", "component", name, "after", d)
	}
}
