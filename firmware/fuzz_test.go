package firmware

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBundleReader feeds arbitrary bytes to the bundle reader (prefix,
// manifest, signature, payload streaming): it must never panic, never
// allocate beyond the manifest limit, and every refusal must carry one of
// the package's reasons.
func FuzzBundleReader(f *testing.F) {
	r := newRig(f)
	payload := randBytes(31, 5000)
	good := r.bundle("1.0.0", 1, payload)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:20])
	f.Add([]byte{})
	f.Add([]byte(magic + "\x00\x00\x00\x02{}"))
	f.Add(rawBundle(r.priv, []byte(`{"format":1}`), nil))
	f.Add(rawBundle(r.priv, mustJSON(manifestMap(payload)), payload[:100]))
	reasons := []error{ErrNotBundle, ErrBadManifest, ErrBadSignature, ErrUntrustedKey, ErrTruncated, ErrTrailingData, ErrPayloadDigest}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Verify(bytes.NewReader(data), r.keys, nil)
		if err == nil {
			if res.Header.Manifest.Validate() != nil {
				t.Fatal("accepted an invalid manifest")
			}
			return
		}
		for _, want := range reasons {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("refusal without a reason: %v", err)
	})
}

// FuzzManifest checks the manifest parser alone (the signature usually stops
// mutated bundles before it).
func FuzzManifest(f *testing.F) {
	f.Add(mustJSON(manifestMap([]byte("x"))))
	f.Add([]byte(`{"format":1,"product":"critline","kind":"rootfs","boards":["a"],"version":"1","security_version":1,"payloads":[{"name":"p","size":1,"sha256":"` + string(bytes.Repeat([]byte("0"), 64)) + `"}]}`))
	f.Add([]byte(`{"payloads":[{"size":-1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrBadManifest) {
				t.Fatalf("refusal without reason: %v", err)
			}
			return
		}
		if m.TotalSize() <= 0 || m.TotalSize() > MaxPayloadSize {
			t.Fatalf("accepted total size %d", m.TotalSize())
		}
		_ = m.String()
	})
}

// FuzzStateFile checks the boot-state parser: a state it accepts must
// survive a format/parse round trip unchanged.
func FuzzStateFile(f *testing.F) {
	st := defaultState()
	st.Trial, st.TriesLeft = "b", 1
	st.B = SlotInfo{State: SlotTrial, Version: "2.0.0", SecurityVersion: 4, Size: 10, SHA256: string(bytes.Repeat([]byte("a"), 64))}
	f.Add(st.Format())
	f.Add(defaultState().Format())
	f.Add([]byte("active=b\ntrial=a\ntries_left=0\nbooted=a\n"))
	f.Add([]byte("a_state=bad\nfuture=1\n# comment\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState(data)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("refusal without reason: %v", err)
			}
			return
		}
		again, err := ParseState(st.Format())
		if err != nil {
			t.Fatalf("formatted state does not parse: %v\n%s", err, st.Format())
		}
		if !bytes.Equal(again.Format(), st.Format()) {
			t.Fatalf("round trip changed the state:\n%s\n---\n%s", st.Format(), again.Format())
		}
	})
}

// FuzzCallStatus checks the daemon status reader.
