package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/critline/critline/config"
	"github.com/critline/critline/control"
	"github.com/critline/critline/internal/testenv"
	"github.com/critline/critline/internal/testpeer"
)

// BenchmarkIdle measures what an idle appliance costs its (battery-backed)
// board, side by side with baresip as the reference: both registered on the
// same kamailio in the same run, nothing happening. critlined runs the sim
// board with two lines registered and the pty modem simulator as its trunk
// (kind "sim", inside the daemon's process, so its costs count too); baresip
// registers one line. Per run, after SETTLE_SECONDS (default 120) of rest:
// CPU clock ticks over IDLE_SECONDS (default 30), system calls per second
// over SYSCALL_SECONDS (default 10, counted by perf's raw_syscalls
// tracepoint, or strace -c -f where perf cannot), and
// resident memory sampled each second over the CPU window (its median and
// its highest). SCRAPE_SECONDS (default 0, none) has the daemon's /metrics
// scraped that often during the window, as a NOC's Prometheus would.
// Medians over b.N runs; run it with scripts/bench-idle (make bench).
func BenchmarkIdle(b *testing.B) {
	baresip := testenv.LookTool(b, "baresip", "baresip-core")
	idle := envSeconds("IDLE_SECONDS", 30)
	sysWin := envSeconds("SYSCALL_SECONDS", 10)
	counter := syscallCounter(b)
	scrape := envSeconds("SCRAPE_SECONDS", 0)
	var cTicks, bTicks, cSys, bSys, cRSS, bRSS, cMax, bMax, cAnon, bAnon, cRef, bRef, cFile, bFile, cFileRef, bFileRef, cFaults, bFaults []float64
	for b.Loop() {
		b.StopTimer()
		r := idleRun(b, baresip, idle, sysWin, scrape, counter)
		cTicks, bTicks = append(cTicks, r.ticks[0]), append(bTicks, r.ticks[1])
		cSys, bSys = append(cSys, r.sys[0]), append(bSys, r.sys[1])
		cRSS, bRSS = append(cRSS, r.rss[0]), append(bRSS, r.rss[1])
		cMax, bMax = append(cMax, r.rssMax[0]), append(bMax, r.rssMax[1])
		cRef, bRef = append(cRef, r.touched[0]), append(bRef, r.touched[1])
		cAnon, bAnon = append(cAnon, r.anon[0]), append(bAnon, r.anon[1])
		cFile, bFile = append(cFile, r.file[0]), append(bFile, r.file[1])
		cFileRef, bFileRef = append(cFileRef, r.fileTouched[0]), append(bFileRef, r.fileTouched[1])
		cFaults, bFaults = append(cFaults, r.faults[0]), append(bFaults, r.faults[1])
		fmt.Fprintf(os.Stderr, "idle run %d: critlined %.0f ticks, %.1f syscalls/s, RSS %.1f MB (highest %.1f), GOMAXPROCS %.0f; baresip %.0f ticks, %.1f syscalls/s, RSS %.1f MB (highest %.1f)\n",
			len(cTicks), r.ticks[0], r.sys[0], r.rss[0], r.rssMax[0], r.procs, r.ticks[1], r.sys[1], r.rss[1], r.rssMax[1])
		b.StartTimer()
	}
	perCore := func(ticks float64) float64 { return ticks / clockTicksPerSecond / idle.Seconds() * 100 }
	goalTicks := 0.002 * clockTicksPerSecond * idle.Seconds()
	probes := float64(time.Second) / float64(config.DefaultProbeInterval) // OPTIONS per second, one registrar
	w := os.Stderr
	fmt.Fprintf(w, "\nidle appliance over %d runs (medians), %v CPU window, %v syscall window (%s)\n", len(cTicks), idle, sysWin, counter.name)
	fmt.Fprintf(w, "  critlined: sim board, 2 lines registered, pty modem trunk; baresip: 1 line; same kamailio\n")
	if scrape > 0 {
		fmt.Fprintf(w, "  critlined's /metrics scraped every %v during the CPU window\n", scrape)
	}
	fmt.Fprintf(w, "  %-26s %12s %12s   %s\n", "figure", "critlined", "baresip", "goal (critlined)")
	fmt.Fprintf(w, "  %-26s %12.0f %12.0f   <= %.0f\n", fmt.Sprintf("CPU clock ticks / %v", idle), median(cTicks), median(bTicks), goalTicks)
	fmt.Fprintf(w, "  %-26s %11.2f%% %11.2f%%   <= 0.20%%\n", "CPU, share of one core", perCore(median(cTicks)), perCore(median(bTicks)))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   follows probes and keep-alives, not the 50 Hz audio clock (%.2f probes/s: %.1f syscalls per probe)\n",
		"system calls / s", median(cSys), median(bSys), probes, median(cSys)/probes)
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   <= %.1f (1.5 x baresip)\n", "RSS, MB (median each 1 s)", median(cRSS), median(bRSS), 1.5*median(bRSS))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f\n", "  highest in the window, MB", median(cMax), median(bMax))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   (pages used in the window, not those mapped around them)\n", "  touched in the window, MB", median(cRef), median(bRef))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   (median each 1 s)\n", "  of which anonymous, MB", median(cAnon), median(bAnon))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   (median each 1 s: executable and libraries, page cache the kernel mapped, 64 kB around each page used)\n", "  file pages mapped, MB", median(cFile), median(bFile))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   (of those, used in the window)\n", "  file pages touched, MB", median(cFileRef), median(bFileRef))
	fmt.Fprintf(w, "  %-26s %12.1f %12.1f   (what resting costs in faulting pages back: minor faults, page cache only)\n", "minor page faults / s", median(cFaults), median(bFaults))
	fmt.Fprintf(w, "  RSS ratio critlined/baresip: %.2f\n", median(cRSS)/median(bRSS))
	b.ReportMetric(median(cTicks), "critlined-ticks")
	b.ReportMetric(median(bTicks), "baresip-ticks")
	b.ReportMetric(median(cSys), "critlined-syscalls/s")
	b.ReportMetric(median(bSys), "baresip-syscalls/s")
	b.ReportMetric(median(cRSS), "critlined-rss-MB")
	b.ReportMetric(median(bRSS), "baresip-rss-MB")
	b.ReportMetric(0, "ns/op")
}

// clockTicksPerSecond is USER_HZ, the unit of /proc/PID/stat's times: 100
// on every Linux architecture critline runs on.
const clockTicksPerSecond = 100

type idleResult struct {
	ticks, sys, rss, rssMax, anon, touched [2]float64 // [critlined, baresip]
	file, fileTouched                      [2]float64 // file-backed pages mapped (median), and used in the window
	faults                                 [2]float64 // minor page faults per second in the window
	procs                                  float64    // critlined's GOMAXPROCS at the end (procs.go)
}

func idleRun(b *testing.B, baresip string, idle, sysWin, scrape time.Duration, counter syscallCount) idleResult {
	users := pbxUsers()
	users["270009"] = "secret-9"
	pbx := testpeer.StartKamailio(b, testpeer.KamailioOptions{Users: users})

	// critlined as it runs in the field: info logging, default probe
	// interval, its own process.
	dir := b.TempDir()
	socket := filepath.Join(dir, "control.sock")
	logf, err := os.Create(filepath.Join(dir, "critlined.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	metrics := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(b))
	cl := exec.Command(shippedDaemon(b), "--config", shippedProbes(b, pbxConfig(b, pbx.Addr)),
		"--control-socket", socket, "--state-dir", filepath.Join(dir, "state"),
		"--metrics-listen", metrics, "--log-level", "info")
	cl.Stdout, cl.Stderr = logf, logf
	if err := cl.Start(); err != nil {
		b.Fatal(err)
	}
	defer stopProc(cl)

	// baresip: one line, no audio driver (it has nothing to play while
	// idle either), the same registration interval as critlined (300 s).
	bdir := filepath.Join(dir, "baresip")
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		b.Fatal(err)
	}
	sipPort := testpeer.FreeUDPPort(b, "127.0.0.1")
	conf := fmt.Sprintf("poll_method\tepoll\nsip_listen\t127.0.0.1:%d\nsip_transports\tudp\nmodule_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule_app\taccount.so\n", sipPort)
	acct := fmt.Sprintf("<sip:270009@%s;transport=udp>;auth_pass=secret-9;regint=300\n", pbx.Addr)
	for name, s := range map[string]string{"config": conf, "accounts": acct, "contacts": "", "uuid": "9d2d1d52-0b6f-4c5e-8b2c-3e3f1a7c0001\n"} {
		if err := os.WriteFile(filepath.Join(bdir, name), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	bout := &testenv.Buffer{}
	bs := exec.Command(baresip, "-f", bdir)
	bs.Stdout, bs.Stderr = bout, bout
	if err := bs.Start(); err != nil {
		b.Fatal(err)
	}
	defer stopProc(bs)

	c := control.NewClient(socket)
	eventually(b, "critlined: both lines registered", func() bool {
		st, err := c.Status(context.Background())
		return err == nil && st.Mode == "normal" && registered(st)
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(bout.String(), "200 OK") {
		if time.Now().After(deadline) {
			b.Fatalf("baresip did not register:\n%s", bout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Measure an appliance that has been up for a while: start-up's work
	// (first registrations and collections) done, the daemon's first
	// memory rest (restSettle after start) and the collection after it
	// (which walks every goroutine's stack and so touches the runtime's
	// function tables again) behind it. Measured any sooner, RSS reads
	// 3-4 MB low.
	time.Sleep(envSeconds("SETTLE_SECONDS", 120))

	var r idleResult
	pids := [2]int{cl.Process.Pid, bs.Process.Pid}
	var t0, f0 [2]float64
	for i, pid := range pids {
		t0[i], f0[i] = procTicks(b, pid), procMinFlt(b, pid)
		clearReferenced(b, pid)
	}
	var samples, anons, files [2][]float64
	start := time.Now()
	nextScrape := start.Add(scrape)
	for time.Since(start) < idle {
		time.Sleep(time.Second)
		for i, pid := range pids {
			rss, anon := procRSS(b, pid)
			samples[i] = append(samples[i], rss)
			anons[i] = append(anons[i], anon)
			files[i] = append(files[i], procKB(b, fmt.Sprintf("/proc/%d/status", pid), "RssFile")/1024)
		}
		if scrape > 0 && time.Now().After(nextScrape) {
			scrapeMetrics(b, metrics)
			nextScrape = nextScrape.Add(scrape)
		}
	}
	for i, pid := range pids {
		r.ticks[i] = procTicks(b, pid) - t0[i]
		r.faults[i] = (procMinFlt(b, pid) - f0[i]) / time.Since(start).Seconds()
		r.rss[i] = median(samples[i])
		r.anon[i] = median(anons[i])
		r.rssMax[i] = slices.Max(samples[i])
		r.touched[i] = referencedMB(b, pid)
		_, r.fileTouched[i] = fileBackedMB(b, pid)
		r.file[i] = median(files[i])
	}
	var wg sync.WaitGroup
	for i, pid := range pids {
		wg.Go(func() { r.sys[i] = counter.count(b, pid, sysWin) / sysWin.Seconds() })
	}
	wg.Wait()
	r.procs = gaugeValue(scrapeMetrics(b, metrics), "go_sched_gomaxprocs_threads")
	if d := os.Getenv("SMAPS_DIR"); d != "" {
		keepSmaps(b, d, pids)
	}
	return r
}

// keepSmaps copies each process's /proc/PID/smaps into dir (critlined-PID.smaps,
// baresip-PID.smaps), for finding where the resident set goes.
func keepSmaps(b *testing.B, dir string, pids [2]int) {
	for i, name := range [2]string{"critlined", "baresip"} {
		m, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pids[i]))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.smaps", name, pids[i])), m, 0o644)
		}
		if err != nil {
			b.Logf("SMAPS_DIR: %v", err)
		}
	}
}

// clearReferenced clears the accessed bits of a process's pages, so that
// referencedMB later counts the pages it used since (its working set).
func clearReferenced(b *testing.B, pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("1"), 0); err != nil {
		b.Fatalf("clear_refs: %v (the process must be ours, or run as root)", err)
	}
}

// referencedMB is the memory a process has used since clearReferenced, MB:
// the pages it touched, not those the kernel mapped around them.
func referencedMB(b *testing.B, pid int) float64 {
	return procKB(b, fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Referenced") / 1024
}

// fileBackedMB is how much of a process's file-backed mappings (its
// executable and libraries) is resident, and how much of that it used
// since clearReferenced, MB. The gap is the kernel's fault-around: each
// page fault on a file maps the cached pages in the 64 kB around it too.
func fileBackedMB(b *testing.B, pid int) (mapped, used float64) {
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		b.Fatal(err)
	}
	file := false
	for line := range strings.Lines(string(smaps)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			// A mapping's header: a path names a file.
			file = len(f) >= 6 && strings.HasPrefix(f[5], "/")
		case file && len(f) == 3 && f[0] == "Rss:":
			v, _ := strconv.ParseFloat(f[1], 64)
			mapped += v / 1024
		case file && len(f) == 3 && f[0] == "Referenced:":
			v, _ := strconv.ParseFloat(f[1], 64)
			used += v / 1024
		}
	}
	return mapped, used
}

// scrapeMetrics reads the daemon's /metrics as Prometheus would and
// returns the exposition.
func scrapeMetrics(b *testing.B, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("scrape: %s, %v", resp.Status, err)
	}
	return string(body)
}

// gaugeValue is an unlabelled sample's value in a Prometheus exposition
// (NaN when absent).
func gaugeValue(exposition, name string) float64 {
	for line := range strings.Lines(exposition) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

// freeTCPPort is a loopback TCP port free now.
func freeTCPPort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// shippedDaemon builds critlined as make cross ships it (CGO_ENABLED=0,
// stripped), once; CRITLINED_BIN names another binary to measure instead
// (an older build, for a before/after comparison in one run).
func shippedDaemon(b *testing.B) string {
	if p := os.Getenv("CRITLINED_BIN"); p != "" {
		return p
	}
	shippedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "critline-shipped-")
		if err != nil {
			shippedErr = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/", "github.com/critline/critline/cmd/critlined")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			shippedErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		shippedPath = filepath.Join(dir, "critlined")
	})
	if shippedErr != nil {
		b.Fatal(shippedErr)
	}
	return shippedPath
}

var (
	shippedOnce sync.Once
	shippedPath string
	shippedErr  error
)

func stopProc(c *exec.Cmd) {
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func envSeconds(name string, def int) time.Duration {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return time.Duration(def) * time.Second
}

// procTicks is a process's user + system CPU time in clock ticks, all its
// threads included.
func procTicks(b *testing.B, pid int) float64 {
	f := procStat(b, pid)
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14, utime
	st, _ := strconv.ParseFloat(f[12], 64) // field 15, stime
	return ut + st
}

// procMinFlt is a process's minor page faults so far, all its threads.
func procMinFlt(b *testing.B, pid int) float64 {
	n, _ := strconv.ParseFloat(procStat(b, pid)[7], 64) // field 10, minflt
	return n
}

// procStat is /proc/PID/stat's fields from the third (state) on: the
// command name may hold spaces, so fields count from after ")".
func procStat(b *testing.B, pid int) []string {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	return strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
}

// procRSS is a process's resident memory and its anonymous share, MB.
func procRSS(b *testing.B, pid int) (rss, anon float64) {
	status := fmt.Sprintf("/proc/%d/status", pid)
	return procKB(b, status, "VmRSS") / 1024, procKB(b, status, "RssAnon") / 1024
}

// procKB reads a "Key:   N kB" line of a /proc file (status, smaps_rollup).
func procKB(t testing.TB, file, key string) float64 {
	t.Helper()
	s, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:\s+(\d+) kB`).FindSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %s", key, file)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// syscallCount counts a process's system calls (all threads) over a window.
type syscallCount struct {
	name  string
	count func(b *testing.B, pid int, d time.Duration) float64
}

var reTotal = regexp.MustCompile(`(?m)^[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total$`)

// syscallCounter prefers perf (a kernel tracepoint counter: it does not
// slow the process) and falls back to strace -c -f.
func syscallCounter(b *testing.B) syscallCount {
	if out, err := exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true").CombinedOutput(); err == nil && !strings.Contains(string(out), "not supported") {
		return syscallCount{name: "perf raw_syscalls:sys_enter", count: func(b *testing.B, pid int, d time.Duration) float64 {
			out, err := exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", strconv.Itoa(pid), "--", "sleep", fmt.Sprint(d.Seconds())).CombinedOutput()
			if err != nil {
				b.Fatalf("perf stat: %v\n%s", err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Split(line, ","); len(f) > 2 && strings.Contains(line, "raw_syscalls:sys_enter") {
					if f[0] == "<not counted>" {
						return 0 // the process never ran in the window
					}
					v, err := strconv.ParseFloat(f[0], 64)
					if err != nil {
						b.Fatalf("perf stat output %q", line)
					}
					return v
				}
			}
			b.Fatalf("perf stat printed no count:\n%s", out)
			return 0
		}}
	}
	strace := testenv.LookTool(b, "strace", "strace")
	return syscallCount{name: "strace -c -f", count: func(b *testing.B, pid int, d time.Duration) float64 {
		out := filepath.Join(b.TempDir(), "strace.txt")
		cmd := exec.Command(strace, "-c", "-f", "-o", out, "-p", strconv.Itoa(pid))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(d)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		s, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		m := reTotal.FindStringSubmatch(string(s))
		if m == nil {
			b.Fatalf("strace -c printed no total:\n%s", s)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}}
}
