//go:build !linux

package sim

import (
	"fmt"
	"os"
)

// openSerial opens a serial device as it is configured: setting the line up
// (raw mode, speed, parity) is implemented for Linux only.
func openSerial(path string, baud int, parity string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	return f, nil
}
