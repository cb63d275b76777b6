//go:build !linux

package bus

import (
	"fmt"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

// openSerial: gateways run Linux; elsewhere use rtu-over-tcp through a
// serial device server.
func openSerial(c fwconfig.Bus) (stream, error) {
	return nil, fmt.Errorf("serial port %s: transport rtu is supported on Linux only", c.Address)
}
