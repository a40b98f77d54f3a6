package rtp

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3711 appendix B.3: the session keys derived from its master key and
// salt (key derivation rate 0).
func TestSRTPKeyDerivationRFC3711(t *testing.T) {
	mk := unhex(t, "E1F97A0D3E018BE0D64FA32C06DE4139")
	ms := unhex(t, "0EC675AD498AFEEBB6960B3AABE6")
	for _, c := range []struct {
		label byte
		n     int
		want  string
	}{
		{0x00, 16, "C61E7A93744F39EE10734AFE3FF7A087"},
		{0x02, 14, "30CBBC08863D8C85D49DB34A9AE1"},
		{0x01, 20, "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"},
	} {
		got, err := deriveSessionKey(mk, ms, c.label, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, unhex(t, c.want)) {
			t.Errorf("label %d: %X, want %s", c.label, got, c.want)
		}
	}
}

// RFC 3711 appendix B.2: the AES-CM keystream of SSRC 0, index 0.
func TestSRTPKeystreamRFC3711(t *testing.T) {
	block, err := aes.NewCipher(unhex(t, "2B7E151628AED2A6ABF7158809CF4F3C"))
	if err != nil {
		t.Fatal(err)
	}
	c := &srtpContext{block: block}
	copy(c.salt[:], unhex(t, "F0F1F2F3F4F5F6F7F8F9FAFBFCFD"))
	ks := make([]byte, 48)
	c.xorKeystream(ks, 0, 0)
	want := "E03EAD0935C95E80E166B16DD92B4EB4" + "D23513162B02D0F72A43A2FE4A5F97AB" + "41E95B3BB0A2E8DD477901E4FCA894C0"
	if !bytes.Equal(ks, unhex(t, want)) {
		t.Fatalf("keystream %X\nwant      %s", ks, want)
	}
}

// libsrtp's reference packet (test/srtp_driver.c, srtp_validate): the
// same master key, SSRC 0xcafebabe, sequence 0x1234, sixteen 0xab.
func TestSRTPReferencePacket(t *testing.T) {
	master := unhex(t, "E1F97A0D3E018BE0D64FA32C06DE4139"+"0EC675AD498AFEEBB6960B3AABE6")
	plain := unhex(t, "800f1234decafbadcafebabeabababababababababababababababab")
	want := unhex(t, "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb")
	tx, err := newSRTPContext(SuiteAES128SHA80, master)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	copy(buf, plain)
	n, err := tx.protect(buf, len(plain))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("protected %x\nwant      %x", buf[:n], want)
	}
	rx, _ := newSRTPContext(SuiteAES128SHA80, master)
	got, err := rx.unprotect(append([]byte(nil), want...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("unprotected %x", got)
	}
	// The same packet again is a replay.
	if _, err := rx.unprotect(append([]byte(nil), want...)); !errors.Is(err, ErrSRTPReplay) {
		t.Fatalf("replay: %v", err)
	}
	// A flipped bit fails authentication and changes nothing.
	bad := append([]byte(nil), want...)
	bad[15] ^= 1
	rx2, _ := newSRTPContext(SuiteAES128SHA80, master)
	if _, err := rx2.unprotect(bad); !errors.Is(err, ErrSRTPAuth) {
		t.Fatalf("tampered: %v", err)
	}
}

// A sender and a receiver stay in step across the 16-bit sequence wrap,
// with reordering and loss, for both suites.
func TestSRTPRolloverAndReorder(t *testing.T) {
	master := bytes.Repeat([]byte{7}, MasterLen)
	for _, s := range Suites() {
		tx, _ := newSRTPContext(s, master)
		rx, _ := newSRTPContext(s, master)
		var pkts [][]byte
		for i := range 300 {
			seq := uint16(65400 + i) // wraps at 136
			buf := make([]byte, 12+20+10)
			buf[0] = 0x80
			binary.BigEndian.PutUint16(buf[2:], seq)
			binary.BigEndian.PutUint32(buf[8:], 0x1234)
			copy(buf[12:], bytes.Repeat([]byte{byte(i)}, 20))
			n, err := tx.protect(buf, 32)
			if err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, buf[:n])
		}
		// swap neighbours, drop every 7th
		for i := 0; i+1 < len(pkts); i += 2 {
			pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
		}
		got := 0
		for i, p := range pkts {
			if i%7 == 3 {
				continue
			}
			out, err := rx.unprotect(p)
			if err != nil {
				t.Fatalf("%s packet %d (seq %d): %v", s, i, binary.BigEndian.Uint16(p[2:]), err)
			}
			if out[12] != out[31] {
				t.Fatalf("%s: payload garbled", s)
			}
			got++
		}
		if rx.rxROC != 1 {
			t.Errorf("%s: receiver ROC %d after the wrap, want 1", s, rx.rxROC)
		}
		if got == 0 {
			t.Fatal("nothing received")
		}
	}
}

func TestSRTPRejectsBadKeys(t *testing.T) {
	if _, err := newSRTPContext(SuiteAES128SHA80, make([]byte, 16)); err == nil {
		t.Error("short master accepted")
	}
	if _, err := newSRTPContext("F8_128_HMAC_SHA1_80", make([]byte, MasterLen)); err == nil {
		t.Error("unsupported suite accepted")
	}
}

func FuzzSRTPUnprotect(f *testing.F) {
	master := bytes.Repeat([]byte{3}, MasterLen)
	tx, _ := newSRTPContext(SuiteAES128SHA80, master)
	buf := make([]byte, 64)
	copy(buf, []byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4})
	n, _ := tx.protect(buf, 16)
	f.Add(buf[:n])
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xbe, 0xde, 0xff, 0xff})
	f.Add([]byte{0x8f})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		rx, _ := newSRTPContext(SuiteAES128SHA80, master)
		_, _ = rx.unprotect(pkt)
		_, _ = rx.unprotect(pkt)
	})
}
