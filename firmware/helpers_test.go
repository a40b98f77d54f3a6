package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// rig is a file-backed A/B appliance in a temporary directory.
type rig struct {
	t       testing.TB
	dir     string
	cfg     Config
	priv    ed25519.PrivateKey
	keys    *Keyring
	reboots int
	logBuf  *bytes.Buffer
}

func newRig(t testing.TB) *rig {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := GenerateKey(rand.NewChaCha8([32]byte{1}))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, priv: priv, logBuf: &bytes.Buffer{}}
	r.keys = NewKeyring(TrustedKey{Source: "test", Key: pub})
	r.cfg = Config{
		Board:         "pi-hat-2fxs",
		SlotA:         filepath.Join(dir, "slot-a.img"),
		SlotB:         filepath.Join(dir, "slot-b.img"),
		StateFile:     filepath.Join(dir, "state", "boot.state"),
		Cmdline:       filepath.Join(dir, "cmdline"),
		HealthTimeout: 300 * time.Millisecond,
		HealthRetry:   10 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(r.logBuf, nil)),
	}
	r.cfg.Reboot = func() error { r.reboots++; return nil }
	// The factory image in slot a, something old in slot b.
	writeFile(t, r.cfg.SlotA, randBytes(3, 300<<10))
	writeFile(t, r.cfg.SlotB, randBytes(4, 100<<10))
	return r
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = rng.Read(b)
	return b
}

func fileSum(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func bytesSource(name string, data []byte) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// bundle builds a signed rootfs bundle holding payload.
func (r *rig) bundle(version string, secVer uint64, payload []byte, boards ...string) []byte {
	r.t.Helper()
	if len(boards) == 0 {
		boards = []string{"pi-hat-2fxs", "sim"}
	}
	var buf bytes.Buffer
	_, err := Build(&buf, BuildOptions{Kind: KindRootfs, Version: version, SecurityVersion: secVer, Boards: boards,
		Created: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), Key: r.priv}, []Source{bytesSource("rootfs.img", payload)})
	if err != nil {
		r.t.Fatal(err)
	}
	return buf.Bytes()
}

// rawBundle signs any manifest bytes (even invalid ones) with key and
// appends payload: for bundles Build refuses to make.
func rawBundle(key ed25519.PrivateKey, manifest, payload []byte) []byte {
	signed := make([]byte, prefixSize, prefixSize+len(manifest))
	copy(signed, magic)
	binary.BigEndian.PutUint32(signed[len(magic):], uint32(len(manifest)))
	signed = append(signed, manifest...)
	out := append([]byte(nil), signed...)
	out = append(out, key.Public().(ed25519.PublicKey)...)
	out = append(out, ed25519.Sign(key, signedMessage(signed))...)
	return append(out, payload...)
}

// manifestJSON is a valid manifest for payload, as a map to tamper with.
func manifestMap(payload []byte) map[string]any {
	s := sha256.Sum256(payload)
	return map[string]any{
		"format": 1, "product": "critline", "kind": "rootfs", "boards": []string{"pi-hat-2fxs"},
		"version": "2.0.0", "security_version": 5, "created": "2026-11-27T08:00:00Z",
		"payloads": []map[string]any{{"name": "rootfs.img", "size": len(payload), "sha256": hex.EncodeToString(s[:])}},
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (r *rig) install(b []byte, opt InstallOptions) (*InstallResult, error) {
	if opt.Keys == nil {
		opt.Keys = r.keys
	}
	return Install(r.t.Context(), r.cfg, bytes.NewReader(b), opt)
}

func (r *rig) state() *State {
	r.t.Helper()
	st, err := LoadState(r.cfg.StateFile)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
