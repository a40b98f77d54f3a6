package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func seedCorpus(f *testing.F) {
	valid, _ := Encode("forwarding", state{Seq: 3, Ports: map[string]string{"1": "0123"}}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(bytes.Replace(valid, []byte(`"seq": 3`), []byte(`"seq": 4`), 1))
	f.Add([]byte(`{"format":"critline-state","version":1,"name":"forwarding","sha256":"","payload":null}`))
	f.Add([]byte(`{"format":"critline-state","version":1,"name":"forwarding","sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","payload":{}}`))
	f.Add([]byte(""))
	f.Add([]byte("null"))
	f.Add([]byte("\xff\xfe{"))
}

// FuzzDecode feeds arbitrary bytes to the loader: it must never panic, must
// leave v alone on error, and must only accept bytes whose checksum holds.
func FuzzDecode(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		st := state{Seq: -7, Keep: "k"}
		err := Decode("forwarding", data, &st)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Problem == "" {
				t.Fatalf("error without a problem: %v", err)
			}
			if st.Seq != -7 || st.Keep != "k" || st.Ports != nil {
				t.Fatalf("failed decode changed v: %+v", st)
			}
			return
		}
		// Accepted: re-encoding what was read must decode to the same.
		again, err := Encode("forwarding", st, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var st2 state
		if err := Decode("forwarding", again, &st2); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
	})
}

// FuzzLoad runs the whole Load path on a file holding arbitrary bytes: it
// either loads or sets the file aside, and a Save afterwards always works.
func FuzzLoad(f *testing.F) {
	seedCorpus(f)
	dir := f.TempDir()
	file, err := Open(dir, "forwarding", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file.Path(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		var st state
		err := file.Load(&st)
		_, statErr := os.Stat(file.Path())
		switch {
		case err == nil && statErr != nil:
			t.Fatal("loaded, but the file is gone")
		case err != nil && !IsCorrupt(err):
			t.Fatalf("unexpected error kind: %v", err)
		case err != nil && statErr == nil:
			t.Fatal("corrupt file left in place")
		}
		if err := file.Save(state{Seq: 1}); err != nil {
			t.Fatal(err)
		}
		// Keep the directory small across iterations.
		m, _ := os.ReadDir(dir)
		if len(m) > keepCorrupt+2 {
			t.Fatalf("%d files in the state directory", len(m))
		}
	})
}
