package bus

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/goburrow/modbus"
)

// The bus's errors, and how the gateway tells them apart: the error kinds
// of its metrics, exceptions, and failures that mean no answer at all.

// ErrConnect marks a failure to dial or open the port.
var ErrConnect = errors.New("cannot connect")

// ErrByteCount marks a well-framed reply carrying the wrong amount of data.
var ErrByteCount = errors.New("modbus: reply byte count does not match the request")

// ErrClosed is returned when the peer closed the connection between requests.
var ErrClosed = errors.New("connection closed by the device")

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

// ExceptionCode returns the Modbus exception code err carries, if the
// device answered with an exception.
func ExceptionCode(err error) (byte, bool) {
	if err == nil {
		return 0, false
	}
	var mbErr *modbus.ModbusError
	if errors.As(err, &mbErr) {
		return mbErr.ExceptionCode, true
	}
	return 0, false
}

// NoAnswer reports whether err means the device could not be reached or did
// not answer at all (timeout, refused or reset connection), as opposed to a
// reply that was wrong. Further requests to it in the same cycle would only
// cost the bus another timeout.
func NoAnswer(err error) bool {
	if _, ok := ExceptionCode(err); ok {
		return false
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, ErrConnect)
}
