package bus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/goburrow/modbus"
)

func TestErrorKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		kind, code string
	}{
		{"exception", fmt.Errorf("device x: %w", &modbus.ModbusError{FunctionCode: 0x83, ExceptionCode: 2}), KindException, "2"},
		{"timeout", fmt.Errorf("no reply within the timeout: %w", os.ErrDeadlineExceeded), KindTimeout, ""},
		{"connect", fmt.Errorf("%w: %w", ErrConnect, syscall.ECONNREFUSED), KindConnection, ""},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), KindConnection, ""},
		{"closed", ErrClosed, KindConnection, ""},
		{"frame", fmt.Errorf("%w: protocol id 3, want 0", ErrFrame), KindFraming, ""},
		{"byte count", fmt.Errorf("%w: 4 data bytes, want 6", ErrByteCount), KindFraming, ""},
		{"crc", fmt.Errorf("%w: response crc 0x1234 does not match expected 0x4321", ErrCRC), KindCRC, ""},
		{"cancelled", fmt.Errorf("bus: %w", context.Canceled), KindCancelled, ""},
		{"other", errors.New("something else"), KindOther, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, code := ErrorKind(tc.err)
			if kind != tc.kind || code != tc.code {
				t.Errorf("ErrorKind(%v) = %q, %q; want %q, %q", tc.err, kind, code, tc.kind, tc.code)
			}
		})
	}
}
