package bus

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Error kinds, as ErrorKind reports them. They are metric label values, so
// the set is small and fixed.
const (
	KindTimeout    = "timeout"
	KindException  = "exception"
	KindCRC        = "crc"
	KindFraming    = "framing"
	KindConnection = "connection"
	KindCancelled  = "cancelled"
	KindOther      = "other"
)

// ErrorKind classifies a failed read for monitoring: a timeout, a Modbus
// exception (code is its number), a bad checksum, a malformed frame, or a
// connection that could not be made or broke. The order matters: a
// connection error can also be a net.Error with Timeout() (a dial timeout),
// and it is counted as a connection problem because that is what an
// operator must fix.
func ErrorKind(err error) (kind, code string) {
	if c, ok := ExceptionCode(err); ok {
		return KindException, strconv.Itoa(int(c))
	}
	var errno syscall.Errno
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindCancelled, ""
	case errors.Is(err, ErrConnect), errors.Is(err, ErrClosed), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &errno):
		return KindConnection, ""
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout, ""
	case errors.Is(err, ErrFrame), errors.Is(err, ErrByteCount):
		return KindFraming, ""
	case errors.Is(err, ErrCRC):
		return KindCRC, ""
	}
	return KindOther, ""
}
