//go:build unix

package firmware

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// streamSource is size pseudo-random bytes, generated on the fly (the same
// on every Open), so a 256 MiB bundle is built without 256 MiB in memory.
func streamSource(name string, size int64, seed byte) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.LimitReader(rand.NewChaCha8([32]byte{seed}), size)), nil
	}}
}

// BenchmarkInstallFileSlot installs a 256 MiB bundle into a file slot in a
// child process (the test binary re-executed), and reports the install
// throughput (write + fsync + read-back) and the child's peak resident
// memory. Run it with:
//
//	go test -run '^$' -bench BenchmarkInstallFileSlot -benchtime 3x ./firmware/
func BenchmarkInstallFileSlot(b *testing.B) {
	r := newRig(b)
	const size = 256 << 20
	bundle := filepath.Join(r.dir, "big.crfw")
	f, err := os.Create(bundle)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Build(f, BuildOptions{Kind: KindRootfs, Version: "3.0.0", SecurityVersion: 1, Boards: []string{r.cfg.Board},
		Key: r.priv}, []Source{streamSource("rootfs.img", size, 42)}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.SetBytes(size)
	b.ResetTimer()
	var maxRSS int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		_ = os.Remove(r.cfg.StateFile) // back to the factory state: slot b inactive
		_ = os.Remove(r.cfg.SlotB)
		cmd := r.childCmd(bundle, 0)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errb
		b.StartTimer()
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v: %s", err, errb.String())
		}
		elapsed += time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && int64(ru.Maxrss) > maxRSS {
			maxRSS = int64(ru.Maxrss) // KiB on Linux
		}
	}
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/elapsed.Seconds(), "MiB/s")
}

// BenchmarkVerify measures streaming verification of a bundle in memory
// (signature, manifest, SHA-256 of the payload).
func BenchmarkVerify(b *testing.B) {
	r := newRig(b)
	payload := randBytes(5, 16<<20)
	bundle := r.bundle("1.0.0", 1, payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(bytes.NewReader(bundle), r.keys, nil); err != nil {
			b.Fatal(err)
		}
	}
}
