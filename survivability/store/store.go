package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Format is the envelope's format name.
const Format = "critline-state"

// Version is the envelope version Save writes and Load accepts.
const Version = 1

// MaxSize is the largest state file Load reads; anything bigger is treated
// as corrupt (state files are a few kilobytes).
const MaxSize = 4 << 20

// keepCorrupt is how many set-aside copies of one state file are kept; older
// ones are removed so a file that keeps going bad cannot fill the disk.
const keepCorrupt = 5

// envelope is the on-disk form.
type envelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Name    string          `json:"name"`
	Saved   string          `json:"saved,omitempty"`
	SHA256  string          `json:"sha256"`
	Payload json.RawMessage `json:"payload"`
}

// File is one named state file in a directory. Its methods are safe for
// concurrent use.
type File struct {
	dir  string
	name string
	path string
	log  *slog.Logger
	now  func() time.Time
	mu   sync.Mutex
}

// ErrNotFound is returned (wrapped) by Load when no state has been saved yet;
// errors.Is(err, fs.ErrNotExist) is also true.
var ErrNotFound = errors.New("no saved state")

// CorruptError reports a state file that could not be used. The file has
// been renamed to SetAside (empty if even that failed) and the caller should
// carry on from its defaults.
type CorruptError struct {
	Path     string // the state file
	Problem  string // what was wrong with it
	SetAside string // where it was moved to
	Err      error  // the underlying decoding error, if any
}

func (e *CorruptError) Error() string {
	if e.SetAside != "" {
		return fmt.Sprintf("state file %s is unusable (%s); moved it to %s and starting from defaults", e.Path, e.Problem, e.SetAside)
	}
	return fmt.Sprintf("state file %s is unusable (%s); could not move it aside, starting from defaults", e.Path, e.Problem)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err is (or wraps) a *CorruptError.
func IsCorrupt(err error) bool {
	var c *CorruptError
	return errors.As(err, &c)
}

// Open prepares the state file NAME.json in dir, creating dir (0750) if it
// does not exist. name is a plain file-name stem such as "forwarding". Stale
// temporary files left by a crash during Save are removed. log may be nil.
func Open(dir, name string, log *slog.Logger) (*File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("store: no state directory given: set [state] dir or --state-dir")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: state directory %s: %w%s", dir, err, hint(err, dir))
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new directory's entry must itself be durable.
		_ = syncDir(filepath.Dir(filepath.Clean(dir)))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("store: state directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("store: state directory %s is not a directory: point [state] dir or --state-dir at a directory", dir)
	}
	f := &File{dir: dir, name: name, path: filepath.Join(dir, name+".json"), log: log.With("state", name), now: time.Now}
	f.removeStaleTemps()
	return f, nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("store: empty state name")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("store: state name %q: use only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// Path is the state file's path.
func (f *File) Path() string { return f.path }

func (f *File) tempPrefix() string { return "." + f.name + ".json.tmp-" }

func (f *File) removeStaleTemps() {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), f.tempPrefix()) {
			p := filepath.Join(f.dir, e.Name())
			if err := os.Remove(p); err == nil {
				f.log.Info("removed a temporary state file left by an interrupted save", "file", p)
			}
		}
	}
}

// Save writes v (JSON-encoded) atomically and durably: when Save returns nil
// the new state is on stable storage, and a crash at any moment leaves either
// the previous state or the new one.
func (f *File) Save(v any) error {
	data, err := Encode(f.name, v, f.now())
	if err != nil {
		return fmt.Errorf("store: save %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Something that is not a regular file where the state goes (a
	// directory, a FIFO) is set aside: a directory would refuse the rename
	// for ever.
	if st, err := os.Lstat(f.path); err == nil && !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 {
		_ = f.setAside(bad(nil, "it is a %s, not a regular file", kind(st.Mode())))
	}
	if err := f.writeAtomic(data); err != nil {
		return fmt.Errorf("store: save %s: %w%s", f.path, err, hint(err, f.dir))
	}
	return nil
}

// kind names a non-regular file's type for messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

func (f *File) writeAtomic(data []byte) (err error) {
	tmp, err := os.CreateTemp(f.dir, f.tempPrefix()+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o640); err != nil {
		return fmt.Errorf("chmod temporary file: %w", err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("fsync temporary file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err = os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return syncDir(f.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		// EINVAL: the filesystem does not support fsync on directories.
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// hint turns common filesystem errors into advice.
func hint(err error, dir string) string {
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Sprintf(" (the filesystem holding %s is read-only: point [state] dir or --state-dir at a writable, persistent directory such as /var/lib/critline)", dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf(" (permission denied: make %s writable by the user critlined runs as, e.g. systemd StateDirectory=critline)", dir)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Sprintf(" (no space left on the filesystem holding %s: free some space)", dir)
	}
	return ""
}

// Load reads the state into v, which must be a non-nil pointer. Fields the
// file does not mention keep the values v already holds, so callers fill v
// with defaults first.
//
// Errors are never fatal and leave v unchanged: when nothing has been saved
// yet the error wraps ErrNotFound (and fs.ErrNotExist); when the file is
// unusable it has been logged, moved aside and a *CorruptError is returned;
// other errors (e.g. permission denied) name the file and leave it in place.
func (f *File) Load(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("store: load %s: need a non-nil pointer, got %T", f.path, v)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, for ever (start-up hung, deaf to SIGTERM).
	fh, err := os.OpenFile(f.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %s: %w: %w", f.path, ErrNotFound, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("store: load %s: %w%s", f.path, err, hint(err, f.dir))
	}
	if st, err := fh.Stat(); err == nil && !st.Mode().IsRegular() {
		fh.Close()
		return f.setAside(bad(nil, "it is a %s, not a regular file", kind(st.Mode())))
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxSize+1))
	fh.Close()
	if err != nil {
		return fmt.Errorf("store: load %s: %w", f.path, err)
	}
	if err := Decode(f.name, data, v); err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			return fmt.Errorf("store: load %s: %w", f.path, err)
		}
		return f.setAside(de)
	}
	return nil
}

// setAside renames the bad file and reports it.
func (f *File) setAside(de *DecodeError) error {
	ce := &CorruptError{Path: f.path, Problem: de.Problem, Err: de.Err}
	aside := f.path + ".corrupt-" + f.now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(f.path, aside); err != nil {
		f.log.Error("state file is unusable and could not be moved aside; starting from defaults",
			"file", f.path, "problem", de.Problem, "err", err)
		return ce
	}
	ce.SetAside = aside
	f.log.Error("state file is unusable; moved it aside and starting from defaults",
		"file", f.path, "problem", de.Problem, "moved_to", aside)
	_ = syncDir(f.dir)
	f.pruneCorrupt()
	return ce
}

func (f *File) pruneCorrupt() {
	matches, err := filepath.Glob(filepath.Join(f.dir, f.name+".json.corrupt-*"))
	if err != nil || len(matches) <= keepCorrupt {
		return
	}
	sort.Strings(matches) // timestamps sort lexically
	for _, p := range matches[:len(matches)-keepCorrupt] {
		_ = os.Remove(p)
	}
}

// DecodeError says why the bytes of a state file are unusable.
type DecodeError struct {
	Problem string
	Err     error
}

func (e *DecodeError) Error() string { return e.Problem }
func (e *DecodeError) Unwrap() error { return e.Err }

func bad(err error, format string, a ...any) *DecodeError {
	return &DecodeError{Problem: fmt.Sprintf(format, a...), Err: err}
}

// Encode returns the file contents Save would write for state name.
func Encode(name string, v any, saved time.Time) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	sum := sha256.Sum256(payload)
	env := envelope{Format: Format, Version: Version, Name: name, SHA256: hex.EncodeToString(sum[:]), Payload: payload}
	if !saved.IsZero() {
		env.Saved = saved.UTC().Format(time.RFC3339Nano)
	}
	out, err := json.MarshalIndent(env, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return append(out, '\n'), nil
}

// Decode checks the contents of a state file for state name and decodes its
// payload into v (a non-nil pointer), leaving v unchanged on any error. A
// *DecodeError says what is wrong with the bytes.
func Decode(name string, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("need a non-nil pointer, got %T", v)
	}
	switch {
	case len(data) == 0:
		return bad(nil, "the file is empty")
	case len(data) > MaxSize:
		return bad(nil, "the file is larger than %d bytes", MaxSize)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&env); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return bad(err, "the file is truncated")
		}
		return bad(err, "the file is not valid JSON: %v", err)
	}
	if dec.More() {
		return bad(nil, "trailing data after the JSON envelope")
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		return bad(nil, "trailing data after the JSON envelope")
	}
	if env.Format != Format {
		return bad(nil, "format is %q, not %q", env.Format, Format)
	}
	if env.Version != Version {
		return bad(nil, "unknown version %d (this build reads version %d)", env.Version, Version)
	}
	if env.Name != name {
		return bad(nil, "the file holds state %q, not %q", env.Name, name)
	}
	if len(env.Payload) == 0 {
		return bad(nil, "no payload")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Payload); err != nil {
		return bad(err, "payload is not valid JSON: %v", err)
	}
	want, err := hex.DecodeString(env.SHA256)
	if err != nil || len(want) != sha256.Size {
		return bad(err, "the checksum field is not a SHA-256 hex digest")
	}
	got := sha256.Sum256(compact.Bytes())
	if !bytes.Equal(got[:], want) {
		return bad(nil, "checksum mismatch: the payload was changed or damaged")
	}
	// Decode into a scratch value first so a payload that does not fit v's
	// type leaves v untouched.
	scratch := reflect.New(rv.Elem().Type())
	if err := json.Unmarshal(compact.Bytes(), scratch.Interface()); err != nil {
		return bad(err, "payload does not match the expected layout: %v", err)
	}
	if err := json.Unmarshal(compact.Bytes(), v); err != nil {
		return bad(err, "payload does not match the expected layout: %v", err)
	}
	return nil
}
