package testpeer

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNetNS runs f on a thread inside a network namespace: the sockets f
// opens stay there whichever thread uses them later. The thread is left in
// the namespace (never unlocked), so it ends with f's goroutine.
func inNetNS(ns string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- err
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// listenInNetNS opens a UDP socket inside a network namespace.
func listenInNetNS(ns string, addr *net.UDPAddr) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := inNetNS(ns, func() error {
		var err error
		c, err = net.ListenUDP("udp", addr)
		return err
	})
	return c, err
}
