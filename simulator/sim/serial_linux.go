//go:build linux

package sim

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// bauds maps line speeds to termios speed codes.
var bauds = map[int]uint32{
	1200: syscall.B1200, 2400: syscall.B2400, 4800: syscall.B4800, 9600: syscall.B9600,
	19200: syscall.B19200, 38400: syscall.B38400, 57600: syscall.B57600, 115200: syscall.B115200,
}

// cbaud masks the speed bits of c_cflag (CBAUD | CBAUDEX in Linux's termbits.h).
const cbaud = 0x100f

// openSerial opens a serial device or pseudo-terminal in raw mode: 8 data
// bits, the given parity, 1 stop bit, no echo, no line editing, no CR/LF
// translation — a terminal's defaults would mangle binary frames. The file
// stays non-blocking, so ServeRTU can use read deadlines.
func openSerial(path string, baud int, parity string) (*os.File, error) {
	speed, ok := bauds[baud]
	if !ok {
		return nil, fmt.Errorf("serial %s: baud %d not supported", path, baud)
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		var t syscall.Termios
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = fmt.Errorf("get terminal attributes: %w", e)
			return
		}
		// cfmakeraw(3), then speed, parity and VMIN 1 (a read returns as
		// soon as a byte is there).
		t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON | syscall.IXOFF
		t.Oflag &^= syscall.OPOST
		t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
		t.Cflag &^= syscall.CSIZE | syscall.PARENB | syscall.PARODD | syscall.CSTOPB | cbaud
		t.Cflag |= syscall.CS8 | syscall.CREAD | syscall.CLOCAL | speed
		switch parity {
		case "even":
			t.Cflag |= syscall.PARENB
		case "odd":
			t.Cflag |= syscall.PARENB | syscall.PARODD
		}
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(&t))); e != 0 {
			ioErr = fmt.Errorf("set terminal attributes: %w", e)
		}
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("serial %s: %w", path, err)
	}
	return f, nil
}
