//go:build !unix

package firmware

import "fmt"

type lockFile struct{}

func acquireLock(path string) (*lockFile, error) {
	return nil, fmt.Errorf("%w: firmware installs need a unix system", ErrNotImplemented)
}

func (l *lockFile) release() {}

func lockHeld(string) bool { return false }
