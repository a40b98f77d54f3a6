package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/critline/critline/internal/testenv"
)

type state struct {
	Seq   int               `json:"seq"`
	Ports map[string]string `json:"ports,omitempty"`
	Note  string            `json:"note,omitempty"`
	Keep  string            `json:"keep,omitempty"`
}

func openT(t *testing.T, dir string) (*File, *bytes.Buffer) {
	t.Helper()
	var logbuf bytes.Buffer
	f, err := Open(dir, "forwarding", slog.New(slog.NewTextHandler(&logbuf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return f, &logbuf
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f, _ := openT(t, dir)
	var got state
	if err := f.Load(&got); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of nothing: %v, want ErrNotFound", err)
	}
	want := state{Seq: 7, Ports: map[string]string{"1": "07700900123"}, Note: "<&> \u00e9 \"q\""}
	if err := f.Save(want); err != nil {
		t.Fatal(err)
	}
	got = state{Keep: "default"}
	if err := f.Load(&got); err != nil {
		t.Fatal(err)
	}
	if got.Seq != 7 || got.Ports["1"] != "07700900123" || got.Note != want.Note || got.Keep != "default" {
		t.Fatalf("loaded %+v", got)
	}
	// A second File on the same dir (a restart) sees the same state.
	f2, _ := openT(t, dir)
	var again state
	if err := f2.Load(&again); err != nil || again.Seq != 7 {
		t.Fatalf("after reopen: %+v %v", again, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only the state file", len(ents))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "../x", "a/b", "a.json", "a b"} {
		if _, err := Open(dir, name, nil); err == nil {
			t.Errorf("Open(%q) accepted a bad name", name)
		}
	}
	if _, err := Open("", "x", nil); err == nil || !strings.Contains(err.Error(), "state-dir") {
		t.Errorf("Open with no dir: %v", err)
	}
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(file, "x", nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open on a file: %v", err)
	}
}

func TestStaleTempRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".forwarding.json.tmp-12345")
	other := filepath.Join(dir, ".guard.json.tmp-1")
	os.WriteFile(stale, []byte("{"), 0o600)
	os.WriteFile(other, []byte("{"), 0o600)
	openT(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file survived Open: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another state's temp file was removed: %v", err)
	}
}

func good(t *testing.T, seq int) []byte {
	t.Helper()
	b, err := Encode("forwarding", state{Seq: seq}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptFilesAreSetAside(t *testing.T) {
	valid := good(t, 42)
	cases := []struct {
		name    string
		data    []byte
		problem string
	}{
		{"empty", nil, "empty"},
		{"truncated", valid[:len(valid)/2], "truncated"},
		{"truncated-1", valid[:len(valid)-3], "truncated"},
		{"not json", []byte("hello\x00world"), "not valid JSON"},
		{"trailing", append(append([]byte{}, valid...), []byte("{}")...), "trailing"},
		{"bad checksum", bytes.Replace(valid, []byte(`"seq": 42`), []byte(`"seq": 43`), 1), "checksum mismatch"},
		{"checksum not hex", bytes.Replace(valid, []byte(`"sha256": "`), []byte(`"sha256": "zz`), 1), "not a SHA-256"},
		{"unknown version", bytes.Replace(valid, []byte(`"version": 1`), []byte(`"version": 9`), 1), "unknown version 9"},
		{"other format", bytes.Replace(valid, []byte(Format), []byte("other"), 1), "format is"},
		{"other state", bytes.Replace(valid, []byte(`"name": "forwarding"`), []byte(`"name": "guard"`), 1), `holds state "guard"`},
		{"no payload", []byte(`{"format":"critline-state","version":1,"name":"forwarding","sha256":"00"}`), "no payload"},
		{"wrong layout", mustEncodeRaw(t), "layout"},
		{"array", []byte(`[1,2,3]`), "not valid JSON"},
		{"too big", bytes.Repeat([]byte(" "), MaxSize+10), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, logbuf := openT(t, dir)
			if err := os.WriteFile(f.Path(), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			st := state{Seq: -1, Keep: "default"}
			err := f.Load(&st)
			var ce *CorruptError
			if !errors.As(err, &ce) || !IsCorrupt(err) {
				t.Fatalf("Load: %v, want a CorruptError", err)
			}
			if !strings.Contains(ce.Problem, tc.problem) {
				t.Errorf("problem %q does not mention %q", ce.Problem, tc.problem)
			}
			if !strings.Contains(err.Error(), f.Path()) || !strings.Contains(err.Error(), "starting from defaults") {
				t.Errorf("error does not name the file and the outcome: %v", err)
			}
			if st.Seq != -1 || st.Keep != "default" {
				t.Errorf("v was changed by a failed load: %+v", st)
			}
			if _, err := os.Stat(f.Path()); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("corrupt file still in place")
			}
			aside, err := os.ReadFile(ce.SetAside)
			if err != nil || !bytes.Equal(aside, tc.data) && len(tc.data) < MaxSize {
				t.Errorf("set-aside copy %s: %v", ce.SetAside, err)
			}
			if !strings.Contains(ce.SetAside, ".corrupt-") {
				t.Errorf("set-aside name %q", ce.SetAside)
			}
			if !strings.Contains(logbuf.String(), "level=ERROR") || !strings.Contains(logbuf.String(), f.Path()) {
				t.Errorf("not logged: %s", logbuf)
			}
			// The caller starts again: saving and loading work.
			if err := f.Save(state{Seq: 1}); err != nil {
				t.Fatal(err)
			}
			if err := f.Load(&st); err != nil || st.Seq != 1 {
				t.Fatalf("after recovery: %+v %v", st, err)
			}
		})
	}
}

// mustEncodeRaw is a well-formed state file whose payload does not fit state.
func mustEncodeRaw(t *testing.T) []byte {
	t.Helper()
	type raw struct {
		Seq string `json:"seq"`
	}
	b, err := Encode("forwarding", raw{Seq: "not a number"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandEditedWhitespaceStillLoads(t *testing.T) {
	// Re-indenting the file (an engineer viewing it in an editor) keeps
	// the checksum valid: it covers the compacted payload.
	valid := good(t, 5)
	edited := bytes.ReplaceAll(valid, []byte("\n"), []byte("\n   "))
	var st state
	if err := Decode("forwarding", edited, &st); err != nil || st.Seq != 5 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestCorruptCopiesArePruned(t *testing.T) {
	dir := t.TempDir()
	f, _ := openT(t, dir)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range keepCorrupt + 4 {
		f.now = func() time.Time { return base.Add(time.Duration(i) * time.Second) }
		os.WriteFile(f.Path(), []byte("junk"), 0o600)
		var st state
		if err := f.Load(&st); !IsCorrupt(err) {
			t.Fatal(err)
		}
	}
	m, _ := filepath.Glob(filepath.Join(dir, "forwarding.json.corrupt-*"))
	if len(m) != keepCorrupt {
		t.Fatalf("%d corrupt copies kept, want %d", len(m), keepCorrupt)
	}
	if !strings.Contains(m[len(m)-1], base.Add(time.Duration(keepCorrupt+3)*time.Second).Format("20060102T150405")) {
		t.Errorf("newest copy not kept: %v", m)
	}
}

func TestLoadNeedsPointer(t *testing.T) {
	f, _ := openT(t, t.TempDir())
	f.Save(state{Seq: 1})
	var st state
	if err := f.Load(st); err == nil {
		t.Fatal("Load into a non-pointer succeeded")
	}
	if err := f.Load((*state)(nil)); err == nil {
		t.Fatal("Load into nil succeeded")
	}
	if _, err := os.Stat(f.Path()); err != nil {
		t.Fatal("a caller mistake moved the file aside")
	}
}

func TestSaveUnencodable(t *testing.T) {
	f, _ := openT(t, t.TempDir())
	if err := f.Save(map[string]any{"c": make(chan int)}); err == nil || !strings.Contains(err.Error(), f.Path()) {
		t.Fatalf("Save of a channel: %v", err)
	}
}

func TestUnreadableFileIsNotSetAside(t *testing.T) {
	f, _ := openT(t, testenv.SearchableTempDir(t))
	f.Save(state{Seq: 1})
	os.Chmod(f.Path(), 0)
	var st state
	var err error
	testenv.AsUnprivileged(t, func() { err = f.Load(&st) }) // root would read it
	if err == nil || IsCorrupt(err) {
		t.Fatalf("unreadable file: %v", err)
	}
	if _, err := os.Stat(f.Path()); err != nil {
		t.Fatal("an unreadable (not corrupt) file was moved aside")
	}
}

func ExampleFile() {
	dir, _ := os.MkdirTemp("", "state")
	defer os.RemoveAll(dir)
	f, err := Open(dir, "forwarding", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	type fwd struct{ Number string }
	st := fwd{Number: "default"}
	if err := f.Load(&st); err != nil && !errors.Is(err, ErrNotFound) {
		fmt.Println("carrying on from defaults:", IsCorrupt(err))
	}
	f.Save(fwd{Number: "07700900123"})
	f.Load(&st)
	fmt.Println(st.Number)
	// Output: 07700900123
}

func BenchmarkSave(b *testing.B) {
	f, err := Open(b.TempDir(), "forwarding", nil)
	if err != nil {
		b.Fatal(err)
	}
	st := state{Seq: 1, Ports: map[string]string{"1": "07700900123", "2": "01865270999"}}
	b.ReportAllocs()
	for b.Loop() {
		st.Seq++
		if err := f.Save(st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	f, err := Open(b.TempDir(), "forwarding", nil)
	if err != nil {
		b.Fatal(err)
	}
	f.Save(state{Seq: 1, Ports: map[string]string{"1": "07700900123", "2": "01865270999"}})
	b.ReportAllocs()
	for b.Loop() {
		var st state
		if err := f.Load(&st); err != nil {
			b.Fatal(err)
		}
	}
}
