//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "critline-modemsim: needs Linux (it runs on ptys)")
	os.Exit(1)
}
