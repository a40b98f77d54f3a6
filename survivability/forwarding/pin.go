package forwarding

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PIN rules.
const (
	MinPINLen = 6
	MaxPINLen = 16
)

// PINIterations is the PBKDF2 work factor HashPIN uses: about 0.1 s per
// verification on a Raspberry Pi Zero, so brute force goes through the
// lockout, not around it.
const PINIterations = 20000

const pinHashScheme = "pbkdf2-sha256"

// PINHash is a parsed PBKDF2-SHA256 PIN hash.
type PINHash struct {
	iter int
	salt []byte
	key  []byte
}

// CheckPIN says why pin is not acceptable, or returns nil: 6 to 16 digits,
// not all one digit, not a run such as 123456 or 987654.
func CheckPIN(pin string) error {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return fmt.Errorf("the PIN has %d digits: use %d to %d digits", len(pin), MinPINLen, MaxPINLen)
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return errors.New("the PIN must be digits only (0-9)")
		}
	}
	same, up, down := true, true, true
	for i := 1; i < len(pin); i++ {
		d := int(pin[i]) - int(pin[i-1])
		same = same && d == 0
		up = up && (d == 1 || d == -9)
		down = down && (d == -1 || d == 9)
	}
	if same || up || down {
		return errors.New("the PIN is too easy to guess (one digit repeated, or a run like 123456): choose another")
	}
	return nil
}

// HashPIN checks pin with CheckPIN and returns its hash string,
// "pbkdf2-sha256$ITERATIONS$SALT$KEY" (base64), suitable for pin_hash in the
// configuration.
func HashPIN(pin string) (string, error) {
	if err := CheckPIN(pin); err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	h, err := derive(pin, salt, PINIterations)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func derive(pin string, salt []byte, iter int) (PINHash, error) {
	key, err := pbkdf2.Key(sha256.New, pin, salt, iter, sha256.Size)
	if err != nil {
		return PINHash{}, fmt.Errorf("derive PIN hash: %w", err)
	}
	return PINHash{iter: iter, salt: salt, key: key}, nil
}

// String is the hash in its configuration form.
func (h PINHash) String() string {
	enc := base64.RawStdEncoding
	return pinHashScheme + "$" + strconv.Itoa(h.iter) + "$" + enc.EncodeToString(h.salt) + "$" + enc.EncodeToString(h.key)
}

// ParsePINHash parses a hash written by HashPIN.
func ParsePINHash(s string) (PINHash, error) {
	const form = "write it as produced by HashPIN: pbkdf2-sha256$ITERATIONS$SALT$KEY"
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != pinHashScheme {
		return PINHash{}, fmt.Errorf("PIN hash is not in the pbkdf2-sha256 form: %s", form)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1000 || iter > 10_000_000 {
		return PINHash{}, fmt.Errorf("PIN hash iterations %q: use 1000..10000000 (%s)", parts[1], form)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return PINHash{}, fmt.Errorf("PIN hash salt is not 8 to 64 bytes of unpadded base64 (%s)", form)
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != sha256.Size {
		return PINHash{}, fmt.Errorf("PIN hash key is not 32 bytes of unpadded base64 (%s)", form)
	}
	return PINHash{iter: iter, salt: salt, key: key}, nil
}

// Verify reports whether pin matches, comparing in constant time.
func (h PINHash) Verify(pin string) bool {
	if len(h.key) == 0 || len(pin) > MaxPINLen {
		return false
	}
	got, err := derive(pin, h.salt, h.iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.key, h.key) == 1
}
