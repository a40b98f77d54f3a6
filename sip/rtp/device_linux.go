//go:build linux

package rtp

import "golang.org/x/sys/unix"

// bindToDevice is SO_BINDTODEVICE: the socket sends and receives by that
// interface only.
func bindToDevice(fd uintptr, device string) error {
	return unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, device)
}
