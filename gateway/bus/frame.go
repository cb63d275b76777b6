package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame sizes: an MBAP frame is a 7-byte header and a PDU of at most 253
// bytes; an RTU frame is unit, PDU and CRC, at most 256 bytes.
const (
	mbapHeader = 7
	maxFrame   = mbapHeader + 253
	rtuMax     = 256
)

// ErrFrame marks a reply whose framing cannot be trusted: after it the
// stream is out of step and the connection is closed.
var ErrFrame = errors.New("modbus: malformed reply frame")

// readMBAP reads one Modbus TCP frame into buf (at least maxFrame bytes),
// in one read when the frame has arrived whole: the reply's header and
// body together rather than one read each. buf[:have] holds bytes read
// before (what followed a frame that was skipped). It returns what it read
// of the frame, also on error, and how many bytes followed the frame in
// buf (surplus: a duplicate or spurious frame, or the next frame after a
// skipped one).
func readMBAP(r io.Reader, buf []byte, have int) (frame []byte, surplus int, err error) {
	n := have
	if n < mbapHeader {
		m, err := io.ReadAtLeast(r, buf[n:maxFrame], mbapHeader-n)
		n += m
		if err != nil {
			return buf[:n], 0, fmt.Errorf("read MBAP header: %w", err)
		}
	}
	if p := binary.BigEndian.Uint16(buf[2:]); p != 0 {
		return buf[:mbapHeader], 0, fmt.Errorf("%w: protocol id %d, want 0", ErrFrame, p)
	}
	// The length counts the unit id and the PDU (function code and data).
	length := int(binary.BigEndian.Uint16(buf[4:]))
	if length < 2 || length > 254 {
		return buf[:mbapHeader], 0, fmt.Errorf("%w: MBAP length %d outside 2..254", ErrFrame, length)
	}
	end := mbapHeader + length - 1
	if n >= end {
		return buf[:end], n - end, nil
	}
	m, err := io.ReadFull(r, buf[n:end])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the frame's start was read
	}
	if err != nil {
		return buf[:n+m], 0, fmt.Errorf("read MBAP body (%d of %d bytes): %w", n+m-mbapHeader, length-1, err)
	}
	return buf[:end], 0, nil
}

// readRTU reads the RTU reply to req into buf (at least rtuMax bytes). An
// RTU frame carries no length, so the length follows from the request and
// the reply's function code and byte count; a byte count other than the
// request implies is refused before reading on, since reading a garbled
// count's worth of bytes would only end at the deadline.
func readRTU(r io.Reader, req []byte, buf []byte) ([]byte, error) {
	if len(req) < 6 {
		return nil, fmt.Errorf("%w: request of %d bytes", ErrFrame, len(req))
	}
	n, err := io.ReadFull(r, buf[:2])
	if err != nil {
		return buf[:n], fmt.Errorf("read RTU reply header: %w", err)
	}
	fc := req[1]
	rest := 0
	switch buf[1] {
	case fc | 0x80:
		rest = 3 // exception code, CRC
	case fc:
		switch fc {
		case 1, 2, 3, 4:
			m, err := io.ReadFull(r, buf[2:3])
			n += m
			if err != nil {
				return buf[:n], fmt.Errorf("read RTU byte count: %w", err)
			}
			qty := int(binary.BigEndian.Uint16(req[4:]))
			want := 2 * qty
			if fc <= 2 {
				want = (qty + 7) / 8
			}
			if got := int(buf[2]); got != want {
				return buf[:n], fmt.Errorf("%w: byte count %d, want %d for %d %s", ErrByteCount, got, want, qty, map[bool]string{true: "bits", false: "registers"}[fc <= 2])
			}
			rest = want + 2
		case 5, 6, 15, 16:
			rest = 6 // address, value or quantity, CRC
		default:
			return buf[:n], fmt.Errorf("%w: cannot frame a reply to function %d", ErrFrame, fc)
		}
	default:
		return buf[:n], fmt.Errorf("%w: reply function code 0x%02X to a request with 0x%02X", ErrFrame, buf[1], fc)
	}
	if n+rest > len(buf) || n+rest > rtuMax {
		return buf[:n], fmt.Errorf("%w: reply of %d bytes exceeds %d", ErrFrame, n+rest, rtuMax)
	}
	total := n + rest
	m, err := io.ReadFull(r, buf[n:total])
	n += m
	if err != nil {
		return buf[:n], fmt.Errorf("read RTU reply (%d of %d bytes): %w", n, total, err)
	}
	return buf[:n], nil
}
