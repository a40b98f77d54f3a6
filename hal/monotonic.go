package hal

import "time"

// processStart anchors fallbackNow; it is set once at package load and never
// written again, so it is not mutable state.
var processStart = time.Now()

// fallbackNow is a monotonic reading from Go's own clock, used where
// CLOCK_MONOTONIC cannot be read.
func fallbackNow() time.Duration { return time.Since(processStart) }
