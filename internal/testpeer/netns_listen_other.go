//go:build !linux

package testpeer

import (
	"errors"
	"net"
)

// inNetNS needs Linux network namespaces.
func inNetNS(string, func() error) error {
	return errors.New("network namespaces are Linux only")
}

// listenInNetNS needs Linux network namespaces.
func listenInNetNS(ns string, addr *net.UDPAddr) (*net.UDPConn, error) {
	return nil, errors.New("network namespaces are Linux only")
}
