//go:build !linux

package firmware

import "os"

func dropCache(*os.File) {}
