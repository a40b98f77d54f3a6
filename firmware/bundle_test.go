package firmware

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestBuildVerifyRoundTrip(t *testing.T) {
	r := newRig(t)
	payload := randBytes(7, 3<<20+17)
	b := r.bundle("1.2.0", 3, payload)
	var seen int64
	res, err := Verify(bytes.NewReader(b), r.keys, func(done int64) { seen = done })
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	m := res.Header.Manifest
	if m.Version != "1.2.0" || m.SecurityVersion != 3 || m.TotalSize() != int64(len(payload)) || seen != int64(len(payload)) {
		t.Fatalf("manifest %+v, progress %d", m, seen)
	}
	if res.Signer.ID != KeyID(r.priv.Public().(ed25519.PublicKey)) || res.Signer.Source != "test" {
		t.Fatalf("signer %+v", res.Signer)
	}
	if !strings.Contains(m.String(), "security version: 3") {
		t.Fatalf("String():\n%s", m)
	}
}

func TestKeysRoundTripPEM(t *testing.T) {
	pub, priv, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pp, _ := MarshalPrivateKey(priv)
	pb, _ := MarshalPublicKey(pub)
	priv2, err := ParsePrivateKey(pp)
	if err != nil || !priv2.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	dir := t.TempDir()
	writeFile(t, dir+"/release.pub", pb)
	writeFile(t, dir+"/README", []byte("not a key"))
	ring, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := ring.Lookup(pub)
	if !ok || k.Source != dir+"/release.pub" {
		t.Fatalf("lookup: %+v %v", k, ok)
	}
	if _, err := ParsePublicKey(pp); err == nil {
		t.Fatal("a private key parsed as a public key")
	}
	if _, err := LoadKeyring(t.TempDir()); !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("empty key dir: %v", err)
	}
}

// TestInstallRefusesBadBundles: every bad bundle is refused with its reason
// named, and when the manifest (or anything before the payloads) is bad the
// inactive slot and the state file are not touched at all.
func TestInstallRefusesBadBundles(t *testing.T) {
	r0 := newRig(t)
	payload := randBytes(9, 256<<10)
	good := r0.bundle("2.0.0", 5, payload)
	hdrLen := len(good) - len(payload)
	_, otherKey, _ := GenerateKey(nil)

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		return c
	}
	mm := func(edit func(m map[string]any)) []byte {
		m := manifestMap(payload)
		edit(m)
		return rawBundle(r0.priv, mustJSON(m), payload)
	}
	hugeLen := bytes.Clone(good)
	copy(hugeLen[8:12], []byte{0xff, 0xff, 0xff, 0xff})
	zeroLen := bytes.Clone(good[:12])
	copy(zeroLen[8:12], []byte{0, 0, 0, 0})

	cases := []struct {
		name       string
		bundle     []byte
		want       error
		msg        string
		slotTouch  bool // the payload was being written when the problem showed
		minSecVer  uint64
		boardOfRig string
	}{
		{name: "tampered manifest", bundle: flip(good, 30), want: ErrBadSignature, msg: "altered after signing"},
		{name: "tampered signature", bundle: flip(good, hdrLen-3), want: ErrBadSignature, msg: "does not verify"},
		{name: "tampered payload", bundle: flip(good, hdrLen+1000), want: ErrPayloadDigest, msg: "payload rootfs.img has sha256", slotTouch: true},
		{name: "wrong key", bundle: rawBundle(otherKey, mustJSON(manifestMap(payload)), payload), want: ErrUntrustedKey, msg: "not among the trusted keys"},
		{name: "truncated in prefix", bundle: good[:10], want: ErrTruncated, msg: "prefix"},
		{name: "truncated in manifest", bundle: good[:40], want: ErrTruncated, msg: "manifest"},
		{name: "truncated in signature", bundle: good[:hdrLen-10], want: ErrTruncated, msg: "signature"},
		{name: "truncated in payload", bundle: good[:hdrLen+5000], want: ErrTruncated, msg: "ends after 5000 of its 262144 bytes", slotTouch: true},
		{name: "trailing data", bundle: append(bytes.Clone(good), 0), want: ErrTrailingData, msg: "more follow", slotTouch: true},
		{name: "wrong board", bundle: r0.bundle("2.0.0", 5, payload, "other-board"), want: ErrWrongBoard, msg: `this appliance is "pi-hat-2fxs"`},
		{name: "lower security version", bundle: good, minSecVer: 6, want: ErrDowngrade, msg: "security version is 5, the appliance accepts 6"},
		{name: "zero-length file", bundle: nil, want: ErrNotBundle, msg: "empty"},
		{name: "not a bundle", bundle: []byte("PK\x03\x04 a zip file, not a bundle"), want: ErrNotBundle, msg: "does not start with"},
		{name: "zero-length manifest", bundle: zeroLen, want: ErrBadManifest, msg: "manifest length is zero"},
		{name: "huge manifest length", bundle: hugeLen, want: ErrBadManifest, msg: "manifest length 4294967295 is more than"},
		{name: "zero-length payload", bundle: mm(func(m map[string]any) {
			m["payloads"] = []map[string]any{{"name": "rootfs.img", "size": 0, "sha256": strings.Repeat("0", 64)}}
		}), want: ErrBadManifest, msg: "must not be empty"},
		{name: "huge payload size", bundle: mm(func(m map[string]any) {
			m["payloads"] = []map[string]any{{"name": "rootfs.img", "size": int64(1) << 50, "sha256": strings.Repeat("0", 64)}}
		}), want: ErrBadManifest, msg: "more than the 1099511627776 allowed"},
		{name: "empty version", bundle: mm(func(m map[string]any) { m["version"] = "" }), want: ErrBadManifest, msg: "version: is empty"},
		{name: "huge version", bundle: mm(func(m map[string]any) { m["version"] = strings.Repeat("9", 10000) }), want: ErrBadManifest, msg: "more than the 64 allowed"},
		{name: "no boards", bundle: mm(func(m map[string]any) { m["boards"] = []string{} }), want: ErrBadManifest, msg: "boards is empty"},
		{name: "huge board list", bundle: mm(func(m map[string]any) { m["boards"] = make([]string, 1000) }), want: ErrBadManifest, msg: "1000 boards"},
		{name: "huge security version", bundle: mm(func(m map[string]any) { m["security_version"] = uint64(1) << 40 }), want: ErrBadManifest, msg: "security_version"},
		{name: "no payloads", bundle: mm(func(m map[string]any) { m["payloads"] = []any{} }), want: ErrBadManifest, msg: "payloads is empty"},
		{name: "bad digest field", bundle: mm(func(m map[string]any) {
			m["payloads"] = []map[string]any{{"name": "rootfs.img", "size": len(payload), "sha256": "xyz"}}
		}), want: ErrBadManifest, msg: "not 64 lowercase hex"},
		{name: "wrong product", bundle: mm(func(m map[string]any) { m["product"] = "spa3102" }), want: ErrBadManifest, msg: "not critline firmware"},
		{name: "unknown field", bundle: mm(func(m map[string]any) { m["exec"] = "rm -rf /" }), want: ErrBadManifest, msg: "unknown field"},
		{name: "manifest not JSON", bundle: rawBundle(r0.priv, []byte("\x00\x01garbage"), payload), want: ErrBadManifest, msg: "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.priv = r0.priv
			r.keys = r0.keys
			if tc.minSecVer > 0 {
				st := defaultState()
				st.MinSecurityVersion = tc.minSecVer
				if err := SaveState(r.cfg.StateFile, st); err != nil {
					t.Fatal(err)
				}
			}
			stateBefore, _ := os.ReadFile(r.cfg.StateFile)
			aBefore, bBefore := fileSum(t, r.cfg.SlotA), fileSum(t, r.cfg.SlotB)
			_, err := r.install(tc.bundle, InstallOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %q does not say %q", err, tc.msg)
			}
			if fileSum(t, r.cfg.SlotA) != aBefore {
				t.Fatal("the active slot a changed")
			}
			st := r.state()
			if tc.slotTouch {
				if st.B.State != SlotBad || st.Trial != "" || st.Install != "" || !strings.Contains(st.LastResult, "failed") {
					t.Fatalf("after a failed payload the state is %+v", st)
				}
				return
			}
			if fileSum(t, r.cfg.SlotB) != bBefore {
				t.Fatal("the inactive slot b was written although the bundle was refused before its payload")
			}
			stateAfter, _ := os.ReadFile(r.cfg.StateFile)
			if !bytes.Equal(stateBefore, stateAfter) {
				t.Fatalf("state file changed:\n%s", stateAfter)
			}
			// verify refuses it too (it reads the same way).
			if _, err := Verify(bytes.NewReader(tc.bundle), r.keys, nil); err == nil && tc.want != ErrWrongBoard && tc.want != ErrDowngrade {
				t.Fatal("Verify accepted it")
			}
		})
	}
}

func TestReleaseBundle(t *testing.T) {
	r := newRig(t)
	tree := t.TempDir()
	for p, body := range map[string]string{
		"usr/bin/critlined":                    "#!binary 1",
		"usr/bin/critlinectl":                  "#!binary 2",
		"lib/systemd/system/critlined.service": "[Unit]\n",
		"etc/critline/critline.toml":           "[board]\n",
	} {
		if err := os.MkdirAll(tree+"/"+p[:strings.LastIndex(p, "/")], 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, tree+"/"+p, []byte(body))
	}
	var b1, b2 bytes.Buffer
	opts := BuildOptions{Kind: KindRelease, Version: "1.3.0", SecurityVersion: 1, Boards: []string{"pi-hat-2fxs"}, Key: r.priv}
	if _, err := Build(&b1, opts, []Source{ReleaseSource(tree)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(&b2, opts, []Source{ReleaseSource(tree)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Fatal("the same release tree gave two different bundles")
	}
	res, err := r.install(b1.Bytes(), InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Kind != KindRelease || res.Manifest.Payloads[0].Name != "release.tar" {
		t.Fatalf("manifest %+v", res.Manifest)
	}
}
