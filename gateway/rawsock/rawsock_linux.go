//go:build linux

package rawsock

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose Read and Write are raw read(2) and
// write(2) on its non-blocking socket. Waiting for the socket, deadlines
// and Close from another goroutine are net's, through its
// syscall.RawConn; every other method is the TCPConn's.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn
	// A Read and a Write may run at once (paho reads in one goroutine
	// and writes in another), so each has its own call.
	rd, wr call
}

// call is a Read or a Write in progress: its buffer, what the system call
// did, and the callback handed to the RawConn, made once because a closure
// made per call would cost an allocation per call.
type call struct {
	mu    sync.Mutex // Reads (or Writes) from several goroutines take turns, as net's do
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// Wrap returns c read and written with raw system calls.
func Wrap(c *net.TCPConn) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	s := &Conn{TCPConn: c, rc: rc}
	s.rd.fn, s.wr.fn = s.rd.read, s.wr.write
	return s, nil
}

// read is one read(2) into c.p; false asks the poller to wait for data.
func (c *call) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.p))), uintptr(len(c.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.n = int(n)
		default:
			c.errno = e
		}
		return true
	}
}

// write writes what is left of c.p; false asks the poller to wait for
// room in the socket's buffer.
func (c *call) write(fd uintptr) bool {
	for len(c.p) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.p))), uintptr(len(c.p)))
		switch e {
		case 0:
			c.n += int(n)
			c.p = c.p[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.errno = e
			return true
		}
	}
	return true
}

// Read reads into p as net.Conn's Read does: io.EOF once the peer closed
// the connection, os.ErrDeadlineExceeded past the read deadline,
// net.ErrClosed after Close.
func (s *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c := &s.rd
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p, c.n, c.errno = p, 0, 0
	err := s.rc.Read(c.fn)
	n, e := c.n, c.errno
	c.p = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case e != 0:
		return 0, s.opError("read", os.NewSyscallError("read", e))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p as net.Conn's Write does, waiting for room while
// the socket's buffer is full, until the write deadline.
func (s *Conn) Write(p []byte) (int, error) {
	c := &s.wr
	c.mu.Lock()
	defer c.mu.Unlock()
	c.p, c.n, c.errno = p, 0, 0
	err := s.rc.Write(c.fn)
	n, e := c.n, c.errno
	c.p = nil
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case e != 0:
		return n, s.opError("write", os.NewSyscallError("write", e))
	}
	return n, nil
}

// opError wraps err as net wraps its connections' errors; the RawConn's
// own are *net.OpError already (op "raw-read"), whose cause is kept.
func (s *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}
