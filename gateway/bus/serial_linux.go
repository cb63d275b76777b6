package bus

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
)

var baudRates = map[int]uint32{
	1200: syscall.B1200, 2400: syscall.B2400, 4800: syscall.B4800, 9600: syscall.B9600,
	19200: syscall.B19200, 38400: syscall.B38400, 57600: syscall.B57600, 115200: syscall.B115200,
}

// openSerial opens a serial port as a non-blocking file, so that Go's
// poller gives it read deadlines like a socket, and sets it to raw mode
// with the bus's line settings.
func openSerial(c fwconfig.Bus) (stream, error) {
	speed, ok := baudRates[c.Baud]
	if !ok {
		return nil, fmt.Errorf("serial port %s: unsupported baud rate %d", c.Address, c.Baud)
	}
	f, err := os.OpenFile(c.Address, os.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// Build the whole termios rather than edit the old one: whatever a
	// previous program left (echo, canonical mode, flow control) would
	// corrupt binary frames.
	var t syscall.Termios
	t.Cflag = speed | syscall.CREAD | syscall.CLOCAL
	switch c.DataBits {
	case 7:
		t.Cflag |= syscall.CS7
	default:
		t.Cflag |= syscall.CS8
	}
	if c.StopBits == 2 {
		t.Cflag |= syscall.CSTOPB
	}
	switch c.Parity {
	case "even":
		t.Cflag |= syscall.PARENB
		t.Iflag |= syscall.INPCK
	case "odd":
		t.Cflag |= syscall.PARENB | syscall.PARODD
		t.Iflag |= syscall.INPCK
	default:
		t.Iflag |= syscall.IGNPAR
	}
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		// Whatever the driver buffered before this open is drained before
		// the first request, like any stale byte.
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TCSETS), uintptr(unsafe.Pointer(&t))); errno != 0 {
			ioErr = errno
		}
	}); err != nil {
		ioErr = err
	}
	if ioErr != nil {
		f.Close()
		return nil, fmt.Errorf("serial port %s: set %d baud %s parity: %w", c.Address, c.Baud, c.Parity, ioErr)
	}
	return f, nil
}
