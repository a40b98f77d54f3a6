package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// The bundle file:
//
//	offset  size  field
//	0       8     magic "CRLNFW1\n"
//	8       4     manifest length N, big-endian, 1..MaxManifestSize
//	12      N     manifest (JSON, see Manifest)
//	12+N    32    signer's ed25519 public key
//	44+N    64    ed25519 signature over sigContext || bytes[0:12+N]
//	108+N   ...   payloads, back to back, in manifest order
//
// The payloads are bound to the signature through their sizes and SHA-256
// digests in the manifest, so a reader checks the signature and the
// manifest before reading any payload, and checks each payload's digest as
// it streams past.
const (
	magic       = "CRLNFW1\n"
	prefixSize  = 12
	sigSize     = ed25519.PublicKeySize + ed25519.SignatureSize
	sigContext  = "critline firmware bundle v1\x00"
	copyBufSize = 1 << 20
)

// Header is a bundle's verified beginning: its manifest and who signed it.
type Header struct {
	Manifest  *Manifest
	Raw       []byte // the manifest bytes as signed
	PublicKey ed25519.PublicKey
	KeyID     string
	// Size is the number of bytes before the first payload.
	Size int64
}

// ReadHeader reads a bundle's prefix, manifest and signature from r, checks
// the signature against the key embedded in the bundle and then the
// manifest. It does not say whether that key is trusted: call CheckTrust.
// On success r is positioned at the first payload.
func ReadHeader(r io.Reader) (*Header, error) {
	var pre [prefixSize]byte
	n, err := io.ReadFull(r, pre[:])
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: the file is empty (zero length)", ErrNotBundle)
	case !strings.HasPrefix(magic, string(pre[:min(n, len(magic))])):
		return nil, fmt.Errorf("%w: it does not start with %q", ErrNotBundle, strings.TrimSpace(magic))
	case err != nil:
		return nil, fmt.Errorf("%w: file ends after %d bytes, inside the bundle's prefix", ErrTruncated, n)
	}
	mlen := binary.BigEndian.Uint32(pre[len(magic):])
	if mlen == 0 {
		return nil, fmt.Errorf("%w: manifest length is zero", ErrBadManifest)
	}
	if mlen > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest length %d is more than the %d allowed", ErrBadManifest, mlen, MaxManifestSize)
	}
	signed := make([]byte, prefixSize+int(mlen))
	copy(signed, pre[:])
	if n, err := io.ReadFull(r, signed[prefixSize:]); err != nil {
		return nil, fmt.Errorf("%w: file ends %d bytes into the %d-byte manifest", ErrTruncated, n, mlen)
	}
	var sig [sigSize]byte
	if n, err := io.ReadFull(r, sig[:]); err != nil {
		return nil, fmt.Errorf("%w: file ends %d bytes into the %d-byte signature", ErrTruncated, n, sigSize)
	}
	pub := ed25519.PublicKey(bytes.Clone(sig[:ed25519.PublicKeySize]))
	if !ed25519.Verify(pub, signedMessage(signed), sig[ed25519.PublicKeySize:]) {
		return nil, fmt.Errorf("%w: the manifest's signature does not verify with the key it names (%s): the manifest was altered after signing, or the bundle is corrupt", ErrBadSignature, KeyID(pub))
	}
	m, err := ParseManifest(signed[prefixSize:])
	if err != nil {
		return nil, err
	}
	return &Header{
		Manifest:  m,
		Raw:       signed[prefixSize:],
		PublicKey: pub,
		KeyID:     KeyID(pub),
		Size:      int64(len(signed) + sigSize),
	}, nil
}

func signedMessage(signed []byte) []byte {
	msg := make([]byte, 0, len(sigContext)+len(signed))
	msg = append(msg, sigContext...)
	return append(msg, signed...)
}

// CheckTrust reports which trusted key signed the bundle, or
// ErrUntrustedKey.
func (h *Header) CheckTrust(keys *Keyring) (TrustedKey, error) {
	k, ok := keys.Lookup(h.PublicKey)
	if !ok {
		return TrustedKey{}, fmt.Errorf("%w: the bundle is signed by key %s, which is not among the trusted keys (%s): install that key's .pub file in the trusted-keys directory if it is a release key, otherwise do not install this bundle",
			ErrUntrustedKey, h.KeyID, strings.Join(keys.IDs(), ", "))
	}
	return k, nil
}

// PayloadFunc consumes one payload's bytes from rd; it must read rd to EOF.
type PayloadFunc func(p Payload, rd io.Reader) error

// ReadPayloads streams each payload in r (positioned after the header)
// through fn, checking its size and digest, and then checks that nothing
// follows the last payload.
func (h *Header) ReadPayloads(r io.Reader, fn PayloadFunc) error {
	for _, p := range h.Manifest.Payloads {
		pr := newPayloadReader(r, p)
		if err := fn(p, pr); err != nil {
			return err
		}
		if pr.remaining > 0 {
			// fn stopped early; read the rest so the digest covers it all.
			if _, err := io.Copy(io.Discard, pr); err != nil {
				return err
			}
		}
		if err := pr.check(); err != nil {
			return err
		}
	}
	var one [1]byte
	if n, _ := io.ReadFull(r, one[:]); n > 0 {
		return fmt.Errorf("%w: the manifest accounts for every byte, yet more follow: the bundle is corrupt or was altered", ErrTrailingData)
	}
	return nil
}

// payloadReader yields exactly one payload's bytes, hashing them.
type payloadReader struct {
	r         io.Reader
	p         Payload
	remaining int64
	h         hash.Hash
}

func newPayloadReader(r io.Reader, p Payload) *payloadReader {
	return &payloadReader{r: r, p: p, remaining: p.Size, h: sha256.New()}
}

func (pr *payloadReader) Read(b []byte) (int, error) {
	if pr.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > pr.remaining {
		b = b[:pr.remaining]
	}
	n, err := pr.r.Read(b)
	pr.h.Write(b[:n])
	pr.remaining -= int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if pr.remaining > 0 {
			return n, fmt.Errorf("%w: payload %s ends after %d of its %d bytes", ErrTruncated, pr.p.Name, pr.p.Size-pr.remaining, pr.p.Size)
		}
		err = nil
	}
	if err == nil && pr.remaining == 0 {
		err = io.EOF
	}
	return n, err
}

func (pr *payloadReader) check() error {
	got := hex.EncodeToString(pr.h.Sum(nil))
	if got != pr.p.SHA256 {
		return fmt.Errorf("%w: payload %s has sha256 %s, the manifest says %s: the payload was altered or corrupted", ErrPayloadDigest, pr.p.Name, got, pr.p.SHA256)
	}
	return nil
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Header *Header
	Signer TrustedKey
}

// Verify reads a whole bundle: signature, trust, manifest, every payload's
// size and digest, and the absence of trailing data. progress (may be nil)
// is told about every chunk read.
func Verify(r io.Reader, keys *Keyring, progress func(done int64)) (*VerifyResult, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{Header: h}
	if res.Signer, err = h.CheckTrust(keys); err != nil {
		return res, err
	}
	buf := make([]byte, copyBufSize)
	var done int64
	err = h.ReadPayloads(r, func(_ Payload, rd io.Reader) error {
		for {
			n, err := rd.Read(buf)
			done += int64(n)
			if progress != nil && n > 0 {
				progress(done)
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	return res, err
}
