package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Product is the only product name a critline bundle may carry.
const Product = "critline"

// Bundle kinds.
const (
	KindRootfs  = "rootfs"  // a root filesystem image, written raw to the slot
	KindRelease = "release" // a critline release (binaries, units, default config) as one tar payload
)

// Limits on what a manifest may hold; anything beyond is refused as corrupt
// or hostile before a byte of payload is read.
const (
	MaxManifestSize    = 64 << 10
	MaxPayloads        = 16
	MaxBoards          = 32
	MaxNameLen         = 64
	MaxPayloadSize     = 1 << 40 // 1 TiB
	MaxSecurityVersion = 1 << 31
)

// Manifest describes a bundle; it is signed, and the payloads are bound to
// it by their sizes and SHA-256 digests.
type Manifest struct {
	Format          int       `json:"format"`
	Product         string    `json:"product"`
	Kind            string    `json:"kind"`
	Boards          []string  `json:"boards"`
	Version         string    `json:"version"`
	SecurityVersion uint64    `json:"security_version"`
	Created         time.Time `json:"created"`
	Payloads        []Payload `json:"payloads"`
}

// Payload is one stretch of bytes after the manifest. Payloads are written
// back to back into the slot, the first at offset 0.
type Payload struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// TotalSize is the sum of the payload sizes: what the slot must hold.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, p := range m.Payloads {
		n += p.Size
	}
	return n
}

// ParseManifest decodes and checks a manifest. Unknown fields, trailing
// data, missing or out-of-range values are refused with ErrBadManifest.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: manifest is empty (zero length)", ErrBadManifest)
	}
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest is %d bytes, more than the %d allowed", ErrBadManifest, len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrBadManifest, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: manifest has data after its JSON object", ErrBadManifest)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks every field against the format's rules.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if m.Format != 1 {
		bad("format %d is not supported (this critlinectl reads format 1): use a newer critlinectl", m.Format)
	}
	if m.Product != Product {
		bad("product %q is not %q: this bundle is not critline firmware", clip(m.Product), Product)
	}
	if m.Kind != KindRootfs && m.Kind != KindRelease {
		bad("kind %q is not %q or %q", clip(m.Kind), KindRootfs, KindRelease)
	}
	switch {
	case len(m.Boards) == 0:
		bad("boards is empty: a bundle must name the boards it runs on")
	case len(m.Boards) > MaxBoards:
		bad("boards lists %d boards, more than the %d allowed", len(m.Boards), MaxBoards)
	default:
		for i, b := range m.Boards {
			if err := checkName(b); err != nil {
				bad("boards[%d]: %v", i, err)
			}
		}
	}
	if err := checkVersion(m.Version); err != nil {
		bad("version: %v", err)
	}
	if m.SecurityVersion > MaxSecurityVersion {
		bad("security_version %d is larger than %d", m.SecurityVersion, uint64(MaxSecurityVersion))
	}
	switch {
	case len(m.Payloads) == 0:
		bad("payloads is empty: a bundle carries at least one payload")
	case len(m.Payloads) > MaxPayloads:
		bad("payloads lists %d payloads, more than the %d allowed", len(m.Payloads), MaxPayloads)
	default:
		var total int64
		seen := map[string]bool{}
		for i, p := range m.Payloads {
			if err := checkName(p.Name); err != nil {
				bad("payloads[%d].name: %v", i, err)
			} else if seen[p.Name] {
				bad("payloads[%d].name %q appears twice", i, p.Name)
			}
			seen[p.Name] = true
			switch {
			case p.Size <= 0:
				bad("payloads[%d] (%s) has size %d: a payload must not be empty", i, clip(p.Name), p.Size)
			case p.Size > MaxPayloadSize:
				bad("payloads[%d] (%s) has size %d, more than the %d allowed", i, clip(p.Name), p.Size, int64(MaxPayloadSize))
			default:
				total += p.Size
				if total > MaxPayloadSize {
					bad("payloads add up to more than %d bytes", int64(MaxPayloadSize))
				}
			}
			if !isHex(p.SHA256, 64) {
				bad("payloads[%d] (%s) sha256 %q is not 64 lowercase hex digits", i, clip(p.Name), clip(p.SHA256))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadManifest, errors.Join(errs...))
	}
	return nil
}

// Supports reports whether the manifest lists board.
func (m *Manifest) Supports(board string) bool {
	for _, b := range m.Boards {
		if b == board {
			return true
		}
	}
	return false
}

func checkName(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("is %d characters long, more than the %d allowed", len(s), MaxNameLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q may hold only letters, digits, '-', '_' and '.'", s)
		}
	}
	return nil
}

func checkVersion(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("is %d characters long, more than the %d allowed", len(s), MaxNameLen)
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '=' || r == '#' {
			return fmt.Errorf("%q may hold only printable ASCII without spaces, '=' or '#'", clip(s))
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// clip shortens s for messages, so a huge hostile field cannot flood a log.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

// String renders the manifest for people.
func (m *Manifest) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "product:          %s\n", m.Product)
	fmt.Fprintf(&b, "kind:             %s\n", m.Kind)
	fmt.Fprintf(&b, "version:          %s\n", m.Version)
	fmt.Fprintf(&b, "security version: %d\n", m.SecurityVersion)
	fmt.Fprintf(&b, "boards:           %s\n", strings.Join(m.Boards, ", "))
	if !m.Created.IsZero() {
		fmt.Fprintf(&b, "created:          %s\n", m.Created.UTC().Format(time.RFC3339))
	}
	for _, p := range m.Payloads {
		fmt.Fprintf(&b, "payload:          %s  %d bytes  sha256 %s\n", p.Name, p.Size, p.SHA256)
	}
	return b.String()
}
