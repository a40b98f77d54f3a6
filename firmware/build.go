package firmware

import (
	"archive/tar"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Source is one payload to put in a bundle. Open is called twice (once to
// size and hash it, once to write it), so it must yield the same bytes both
// times; Build checks that it did.
type Source struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// FileSource is a payload read from a file (e.g. a rootfs image).
func FileSource(name, path string) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// ReleaseSource is a critline release: the tree under dir (e.g.
// usr/bin/critlined, usr/bin/critlinectl, lib/systemd/system/...,
// etc/critline/critline.toml) as one tar payload, entries sorted, owned by
// root, so the same tree always gives the same bytes.
func ReleaseSource(dir string) Source {
	return Source{Name: "release.tar", Open: func() (io.ReadCloser, error) {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("release tree: %w", err)
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeReleaseTar(pw, dir)) }()
		return pr, nil
	}}
}

func writeReleaseTar(w io.Writer, dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release tree: %w", err)
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("release tree: %w", err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		link := ""
		if st.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("release tree: %w", err)
			}
		}
		hdr, err := tar.FileInfoHeader(st, link)
		if err != nil {
			return fmt.Errorf("release tree: %s: %w", p, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if st.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		hdr.ModTime = st.ModTime().UTC().Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if st.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("release tree: %w", err)
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("release tree: %s: %w", p, err)
			}
		}
	}
	return tw.Close()
}

// BuildOptions describe the bundle to build.
type BuildOptions struct {
	Kind            string
	Version         string
	SecurityVersion uint64
	Boards          []string
	Created         time.Time
	Key             ed25519.PrivateKey
}

// Build writes a signed bundle of sources to w and returns its manifest.
func Build(w io.Writer, opts BuildOptions, sources []Source) (*Manifest, error) {
	m := &Manifest{
		Format:          1,
		Product:         Product,
		Kind:            opts.Kind,
		Boards:          opts.Boards,
		Version:         opts.Version,
		SecurityVersion: opts.SecurityVersion,
		Created:         opts.Created.UTC().Truncate(time.Second),
	}
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("no signing key: pass the private key made by 'critlinectl firmware keygen'")
	}
	buf := make([]byte, copyBufSize)
	for _, s := range sources {
		n, sum, err := hashSource(s, buf, io.Discard)
		if err != nil {
			return nil, err
		}
		m.Payloads = append(m.Payloads, Payload{Name: s.Name, Size: n, SHA256: sum})
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	if len(raw) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest would be %d bytes, more than %d", ErrBadManifest, len(raw), MaxManifestSize)
	}
	signed := make([]byte, prefixSize, prefixSize+len(raw))
	copy(signed, magic)
	binary.BigEndian.PutUint32(signed[len(magic):], uint32(len(raw)))
	signed = append(signed, raw...)
	sig := ed25519.Sign(opts.Key, signedMessage(signed))
	pub := opts.Key.Public().(ed25519.PublicKey)
	for _, b := range [][]byte{signed, pub, sig} {
		if _, err := w.Write(b); err != nil {
			return nil, fmt.Errorf("writing bundle: %w", err)
		}
	}
	for i, s := range sources {
		n, sum, err := hashSource(s, buf, w)
		if err != nil {
			return nil, err
		}
		if n != m.Payloads[i].Size || sum != m.Payloads[i].SHA256 {
			return nil, fmt.Errorf("payload %s changed while the bundle was being built (size %d then %d): build again from files nobody is writing", s.Name, m.Payloads[i].Size, n)
		}
	}
	return m, nil
}

func hashSource(s Source, buf []byte, w io.Writer) (int64, string, error) {
	rc, err := s.Open()
	if err != nil {
		return 0, "", fmt.Errorf("payload %s: %w", s.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(h, w), struct{ io.Reader }{rc}, buf)
	if err != nil {
		return n, "", fmt.Errorf("payload %s: %w", s.Name, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
