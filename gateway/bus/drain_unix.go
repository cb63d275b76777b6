//go:build unix

package bus

import "syscall"

// drainer reads and discards, without blocking, whatever a stream's kernel
// buffer holds. The descriptor is non-blocking (Go's poller owns it), so a
// read returns EAGAIN at once when nothing is there. A zero-byte read means
// the peer closed the connection.
type drainer struct {
	c    stream
	rc   syscall.RawConn
	buf  []byte
	n    int
	err  error
	read func(fd uintptr) bool
}

func newDrainer(c stream, buf []byte) *drainer {
	d := &drainer{c: c, buf: buf}
	d.rc, _ = c.SyscallConn()
	d.read = func(fd uintptr) bool {
		d.n, d.err = syscall.Read(int(fd), d.buf)
		return true // never wait for more
	}
	return d
}

func (d *drainer) drain() (int, error) {
	if d.rc == nil {
		return 0, nil // not a descriptor: nothing to drain
	}
	total := 0
	// Bounded: a device that keeps talking is garbage either way.
	for range 64 {
		if err := d.rc.Read(d.read); err != nil {
			return total, err
		}
		switch {
		case d.n > 0:
			total += d.n
		case d.n == 0 && d.err == nil:
			return total, ErrClosed
		case d.err == syscall.EAGAIN || d.err == syscall.EINTR:
			return total, nil
		default:
			return total, d.err
		}
	}
	return total, nil
}
