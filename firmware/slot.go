package firmware

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// slotWriter is the inactive slot opened for an install.
type slotWriter struct {
	f        *os.File
	path     string
	regular  bool  // a file rather than a block device
	capacity int64 // bytes the slot holds; -1 when a file may grow
}

// slotCapacity reports how many bytes the slot at path holds without
// opening it for writing (-1: a regular file, which may grow).
func slotCapacity(path string) (int64, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil // a file slot not yet created
	}
	if err != nil {
		return 0, fmt.Errorf("slot %s: %w", path, err)
	}
	if st.Mode().IsRegular() {
		return -1, nil
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		return 0, fmt.Errorf("slot %s is neither a block device nor a regular file: fix firmware.slot_a/slot_b", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("slot %s: %w", path, err)
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("slot %s: reading its size: %w", path, err)
	}
	return n, nil
}

func openSlot(path string) (*slotWriter, error) {
	capacity, err := slotCapacity(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening slot %s for writing: %w", path, err)
	}
	return &slotWriter{f: f, path: path, regular: capacity < 0, capacity: capacity}, nil
}

// finish truncates a file slot to the image size and flushes it to the
// medium.
func (s *slotWriter) finish(size int64) error {
	if s.regular {
		if err := s.f.Truncate(size); err != nil {
			return fmt.Errorf("slot %s: %w", s.path, err)
		}
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("slot %s: flushing to the medium: %w", s.path, err)
	}
	dropCache(s.f)
	return nil
}

func (s *slotWriter) close() error { return s.f.Close() }

// readBack re-reads what was written to the slot and checks every payload's
// digest; it returns the digest of the whole image.
func readBack(path string, payloads []Payload, buf []byte, progress func(int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read-back of slot %s: %w", path, err)
	}
	defer f.Close()
	dropCache(f)
	whole := sha256.New()
	var done int64
	for _, p := range payloads {
		h := sha256.New()
		r := io.LimitReader(f, p.Size)
		for {
			n, err := r.Read(buf)
			h.Write(buf[:n])
			whole.Write(buf[:n])
			done += int64(n)
			if n > 0 && progress != nil {
				progress(done)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("read-back of slot %s: %w", path, err)
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
			return "", fmt.Errorf("%w: slot %s holds sha256 %s for payload %s, but %s was written: the medium is failing or something else writes it", ErrReadback, path, got, p.Name, p.SHA256)
		}
	}
	return hex.EncodeToString(whole.Sum(nil)), nil
}

// hashSlot returns the SHA-256 of the first size bytes of the slot at path.
func hashSlot(path string, size int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, size))
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("slot %s holds %d bytes, %d expected", path, n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifySlot re-reads the named slot ("a" or "b") and compares it with the
// size and SHA-256 recorded when it was installed. A slot critline never
// installed (the factory image) has nothing recorded to compare with.
func VerifySlot(cfg Config, name string) error {
	cfg = cfg.withDefaults()
	if name != "a" && name != "b" {
		return fmt.Errorf("slot %q: use a or b", name)
	}
	st, err := loadState(cfg)
	if err != nil {
		return err
	}
	si := st.Slot(name)
	if si.SHA256 == "" || si.Size == 0 {
		return fmt.Errorf("%w: slot %s (%s) has no recorded digest: critline did not install it", ErrNothingToDo, name, si.State)
	}
	got, err := hashSlot(cfg.slotPath(name), si.Size)
	if err != nil {
		return fmt.Errorf("%w: slot %s: %v", ErrReadback, name, err)
	}
	if got != si.SHA256 {
		return fmt.Errorf("%w: slot %s (%s) now has sha256 %s, %s was installed: the medium is failing or something else wrote it", ErrReadback, name, cfg.slotPath(name), got, si.SHA256)
	}
	return nil
}
