package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartToReady measures what a porter waits for after a reboot or a
// crash restart: from exec to the daemon telling systemd READY=1 on the sim
// board, and its resident memory once ready. Reported as medians.
func BenchmarkStartToReady(b *testing.B) {
	bin := buildBinaries(b)
	var ready, rss []float64
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		notify := filepath.Join(dir, "n.sock")
		ln, err := listenUnixgram(notify)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(bin, "critlined"), "--config", simConfig(b),
			"--control-socket", filepath.Join(dir, "c.sock"), "--state-dir", filepath.Join(dir, "state"),
			"--metrics-listen", "127.0.0.1:0", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
		b.StartTimer()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 512)
		ln.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := ln.Read(buf)
			if err != nil {
				b.Fatal("no READY=1:", err)
			}
			if strings.Contains(string(buf[:n]), "READY=1") {
				break
			}
		}
		ready = append(ready, float64(time.Since(start).Microseconds())/1000)
		b.StopTimer()
		rss = append(rss, rssMB(b, cmd.Process.Pid))
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		ln.Close()
		b.StartTimer()
	}
	b.ReportMetric(median(ready), "ready-ms-median")
	b.ReportMetric(median(rss), "rss-MB-median")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(os.Stderr, "start-to-ready: median %.1f ms over %d runs (min %.1f, max %.1f); RSS when ready: median %.1f MB\n",
		median(ready), len(ready), slices.Min(ready), slices.Max(ready), median(rss))
}

func rssMB(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
