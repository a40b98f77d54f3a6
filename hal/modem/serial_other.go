//go:build !linux

package modem

import (
	"io"

	"go.bug.st/serial"
)

// openSerial opens a modem's serial port raw at baud, 8N1, with anything
// left in its input buffer discarded (Linux has its own: serial_linux.go).
func openSerial(path string, baud int) (io.ReadWriteCloser, error) {
	// InitialStatusBits stays nil: setting modem bits fails on a pty and on
	// some USB serial drivers.
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, err
	}
	_ = p.ResetInputBuffer()
	return p, nil
}
