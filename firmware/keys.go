package firmware

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new signing key pair from rand (crypto/rand when nil).
func GenerateKey(rnd io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	pub, priv, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("generating ed25519 key: %w", err)
	}
	return pub, priv, nil
}

// MarshalPrivateKey encodes priv as PEM "PRIVATE KEY" (PKCS #8), which
// openssl also reads.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes pub as PEM "PUBLIC KEY" (PKIX).
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM PKCS #8 ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM \"PRIVATE KEY\" block: use a key made by 'critlinectl firmware keygen'")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("decoding private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, not ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey decodes a PEM PKIX ed25519 public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\" block: use a .pub file made by 'critlinectl firmware keygen'")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("decoding public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, not ed25519", k)
	}
	return pub, nil
}

// LoadPrivateKey reads a private key file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// TrustedKey is one key a bundle may be signed with.
type TrustedKey struct {
	ID     string
	Source string // file it came from
	Key    ed25519.PublicKey
}

// Keyring is the set of trusted public keys.
type Keyring struct {
	keys map[string]TrustedKey
}

// NewKeyring makes a keyring from keys (tests, and keys given on the
// command line).
func NewKeyring(keys ...TrustedKey) *Keyring {
	r := &Keyring{keys: map[string]TrustedKey{}}
	for _, k := range keys {
		if k.ID == "" {
			k.ID = KeyID(k.Key)
		}
		r.keys[k.ID] = k
	}
	return r
}

// LoadKeyring reads public keys from paths: each a .pub file or a directory
// whose *.pub files are read.
func LoadKeyring(paths ...string) (*Keyring, error) {
	r := NewKeyring()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("trusted keys: %w (put release keys' .pub files there)", err)
		}
		files := []string{p}
		if st.IsDir() {
			files, err = filepath.Glob(filepath.Join(p, "*.pub"))
			if err != nil {
				return nil, fmt.Errorf("trusted keys: %w", err)
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("trusted key: %w", err)
			}
			pub, err := ParsePublicKey(data)
			if err != nil {
				return nil, fmt.Errorf("trusted key %s: %w", f, err)
			}
			id := KeyID(pub)
			r.keys[id] = TrustedKey{ID: id, Source: f, Key: pub}
		}
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("%w: no trusted keys found in %s: install the release public key (*.pub) there", ErrUntrustedKey, strings.Join(paths, ", "))
	}
	return r, nil
}

// Lookup returns the trusted key with the given public key.
func (r *Keyring) Lookup(pub ed25519.PublicKey) (TrustedKey, bool) {
	if r == nil {
		return TrustedKey{}, false
	}
	k, ok := r.keys[KeyID(pub)]
	if !ok || !k.Key.Equal(pub) {
		return TrustedKey{}, false
	}
	return k, true
}

// IDs lists the trusted key ids, sorted.
func (r *Keyring) IDs() []string {
	if r == nil {
		return nil
	}
	ids := make([]string, 0, len(r.keys))
	for id := range r.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
