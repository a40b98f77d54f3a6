//go:build !linux

package hal

import "time"

func monotonicNow() time.Duration { return fallbackNow() }
