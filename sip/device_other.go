//go:build !linux

package sip

import "errors"

func bindToDevice(uintptr, string) error {
	return errors.New("binding a socket to a network interface needs Linux")
}
