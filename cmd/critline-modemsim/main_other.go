//go:build !linux

// Command critline-modemsim runs the simulated modem; it needs Linux ptys.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "critline-modemsim: needs Linux (it runs on ptys)")
	os.Exit(1)
}
