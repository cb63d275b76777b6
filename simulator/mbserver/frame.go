package mbserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// Function codes the server implements (Modbus Application Protocol v1.1b3, 6.1–6.12).
const (
	fcReadCoils              = 1
	fcReadDiscreteInputs     = 2
	fcReadHoldingRegisters   = 3
	fcReadInputRegisters     = 4
	fcWriteSingleCoil        = 5
	fcWriteSingleRegister    = 6
	fcWriteMultipleCoils     = 15
	fcWriteMultipleRegisters = 16
)

// Quantity limits of the specification; they keep every response PDU within
// the 253 bytes a serial ADU can carry.
const (
	maxReadBits       = 2000
	maxReadRegisters  = 125
	maxWriteBits      = 1968
	maxWriteRegisters = 123
)

// MBAP framing (Modbus Messaging on TCP/IP Implementation Guide v1.0b, 3.1.3).
const (
	mbapLen = 7
	// The length field counts the unit id and the PDU: at least a function
	// code, at most the 253-byte PDU.
	minLength = 2
	maxLength = 254
	maxPDU    = maxLength - 1
	maxADU    = mbapLen + maxPDU
)

// Protocol is the framing a request arrived in.
type Protocol uint8

// The framings the server speaks.
const (
	ProtocolTCP        Protocol = iota + 1 // Modbus TCP: MBAP header, no checksum
	ProtocolRTUOverTCP                     // RTU frames (unit, PDU, CRC) in a TCP stream
	ProtocolRTU                            // RTU frames on a serial line, delimited by silence
)

func (p Protocol) String() string {
	switch p {
	case ProtocolTCP:
		return "tcp"
	case ProtocolRTUOverTCP:
		return "rtu-over-tcp"
	case ProtocolRTU:
		return "rtu"
	}
	return fmt.Sprintf("protocol(%d)", uint8(p))
}

// Request is one decoded Modbus request as the server (and its Hook) sees it.
// For malformed PDUs only the fields decoded before the fault are set.
type Request struct {
	Protocol    Protocol
	Remote      net.Addr // client address of the connection, or the serial port
	Transaction uint16   // MBAP transaction id, echoed in the answer; 0 on RTU
	Unit        uint8
	Function    byte
	Addr        uint16
	Qty         uint16   // number of bits or registers; 1 for FC 5 and 6
	Bits        []bool   // values written by FC 5 and 15
	Regs        []uint16 // values written by FC 6 and 16
}

// mbap is the decoded MBAP header; the protocol id is checked on decode.
type mbap struct {
	transaction uint16
	length      uint16
	unit        uint8
}

// errFrame marks framing violations after which the byte stream can no
// longer be trusted, so the connection is closed instead of answered.
var errFrame = errors.New("invalid MBAP header")

func decodeHeader(h []byte) (mbap, error) {
	m := mbap{
		transaction: binary.BigEndian.Uint16(h[0:]),
		length:      binary.BigEndian.Uint16(h[4:]),
		unit:        h[6],
	}
	if p := binary.BigEndian.Uint16(h[2:]); p != 0 {
		return m, fmt.Errorf("%w: protocol id %d, want 0", errFrame, p)
	}
	if m.length < minLength || m.length > maxLength {
		return m, fmt.Errorf("%w: length %d outside %d..%d", errFrame, m.length, minLength, maxLength)
	}
	return m, nil
}

// appendHeader appends an MBAP header announcing a PDU of pduLen bytes.
func appendHeader(dst []byte, transaction uint16, unit uint8, pduLen int) []byte {
	dst = binary.BigEndian.AppendUint16(dst, transaction)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(1+pduLen))
	return append(dst, unit)
}

// table returns the data table a function code addresses.
func table(fc byte) Table {
	switch fc {
	case fcReadCoils, fcWriteSingleCoil, fcWriteMultipleCoils:
		return Coils
	case fcReadDiscreteInputs:
		return DiscreteInputs
	case fcReadHoldingRegisters, fcWriteSingleRegister, fcWriteMultipleRegisters:
		return HoldingRegisters
	case fcReadInputRegisters:
		return InputRegisters
	}
	return 0
}

// decodeRequest decodes a request PDU (function code and data). The checks
// follow the order of the specification's state diagrams: function code
// (exception 1), then quantity and structure (3), then address range (2).
// Errors are *Exception values wrapped with what was wrong.
func decodeRequest(pdu []byte) (Request, error) {
	if len(pdu) == 0 {
		return Request{}, fmt.Errorf("empty PDU: %w", IllegalFunction)
	}
	req := Request{Function: pdu[0]}
	data := pdu[1:]
	switch req.Function {
	case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters:
		if len(data) != 4 {
			return req, fmt.Errorf("function %d: %d data bytes, want 4: %w", req.Function, len(data), IllegalDataValue)
		}
		req.Addr = binary.BigEndian.Uint16(data[0:])
		req.Qty = binary.BigEndian.Uint16(data[2:])
		limit := uint16(maxReadRegisters)
		if req.Function <= fcReadDiscreteInputs {
			limit = maxReadBits
		}
		if req.Qty == 0 || req.Qty > limit {
			return req, fmt.Errorf("function %d: quantity %d outside 1..%d: %w", req.Function, req.Qty, limit, IllegalDataValue)
		}
	case fcWriteSingleCoil:
		if len(data) != 4 {
			return req, fmt.Errorf("function %d: %d data bytes, want 4: %w", req.Function, len(data), IllegalDataValue)
		}
		req.Addr = binary.BigEndian.Uint16(data[0:])
		req.Qty = 1
		switch v := binary.BigEndian.Uint16(data[2:]); v {
		case 0xFF00:
			req.Bits = []bool{true}
		case 0x0000:
			req.Bits = []bool{false}
		default:
			return req, fmt.Errorf("function %d: coil value %#04x, want 0xff00 or 0: %w", req.Function, v, IllegalDataValue)
		}
	case fcWriteSingleRegister:
		if len(data) != 4 {
			return req, fmt.Errorf("function %d: %d data bytes, want 4: %w", req.Function, len(data), IllegalDataValue)
		}
		req.Addr = binary.BigEndian.Uint16(data[0:])
		req.Qty = 1
		req.Regs = []uint16{binary.BigEndian.Uint16(data[2:])}
	case fcWriteMultipleCoils, fcWriteMultipleRegisters:
		if len(data) < 5 {
			return req, fmt.Errorf("function %d: %d data bytes, want at least 5: %w", req.Function, len(data), IllegalDataValue)
		}
		req.Addr = binary.BigEndian.Uint16(data[0:])
		req.Qty = binary.BigEndian.Uint16(data[2:])
		count := int(data[4])
		values := data[5:]
		limit, want := uint16(maxWriteBits), (int(req.Qty)+7)/8
		if req.Function == fcWriteMultipleRegisters {
			limit, want = maxWriteRegisters, 2*int(req.Qty)
		}
		if req.Qty == 0 || req.Qty > limit {
			return req, fmt.Errorf("function %d: quantity %d outside 1..%d: %w", req.Function, req.Qty, limit, IllegalDataValue)
		}
		if count != want || len(values) != count {
			return req, fmt.Errorf("function %d: byte count %d and %d value bytes for quantity %d, want %d: %w",
				req.Function, count, len(values), req.Qty, want, IllegalDataValue)
		}
		if req.Function == fcWriteMultipleCoils {
			req.Bits = make([]bool, req.Qty)
			for i := range req.Bits {
				req.Bits[i] = values[i/8]&(1<<(i%8)) != 0
			}
		} else {
			req.Regs = make([]uint16, req.Qty)
			for i := range req.Regs {
				req.Regs[i] = binary.BigEndian.Uint16(values[2*i:])
			}
		}
	default:
		return req, fmt.Errorf("function %d: %w", req.Function, IllegalFunction)
	}
	if int(req.Addr)+int(req.Qty) > 1<<16 {
		return req, fmt.Errorf("function %d: address %d + quantity %d beyond 65536: %w", req.Function, req.Addr, req.Qty, IllegalDataAddress)
	}
	return req, nil
}

// encodeResponse appends the response PDU for a request that decodeRequest
// accepted and the device executed; bits or regs hold what a read returned.
// Callers guarantee len(bits) or len(regs) == req.Qty for reads.
func encodeResponse(dst []byte, req Request, bits []bool, regs []uint16) []byte {
	dst = append(dst, req.Function)
	switch req.Function {
	case fcReadCoils, fcReadDiscreteInputs:
		n := (len(bits) + 7) / 8
		dst = append(dst, byte(n))
		start := len(dst)
		dst = append(dst, make([]byte, n)...)
		for i, on := range bits {
			if on {
				dst[start+i/8] |= 1 << (i % 8)
			}
		}
	case fcReadHoldingRegisters, fcReadInputRegisters:
		dst = append(dst, byte(2*len(regs)))
		for _, r := range regs {
			dst = binary.BigEndian.AppendUint16(dst, r)
		}
	case fcWriteSingleCoil:
		// The normal response is an echo of the request.
		dst = binary.BigEndian.AppendUint16(dst, req.Addr)
		v := uint16(0)
		if len(req.Bits) > 0 && req.Bits[0] {
			v = 0xFF00
		}
		dst = binary.BigEndian.AppendUint16(dst, v)
	case fcWriteSingleRegister:
		dst = binary.BigEndian.AppendUint16(dst, req.Addr)
		v := uint16(0)
		if len(req.Regs) > 0 {
			v = req.Regs[0]
		}
		dst = binary.BigEndian.AppendUint16(dst, v)
	case fcWriteMultipleCoils, fcWriteMultipleRegisters:
		dst = binary.BigEndian.AppendUint16(dst, req.Addr)
		dst = binary.BigEndian.AppendUint16(dst, req.Qty)
	}
	return dst
}

// encodeException appends an exception response PDU.
func encodeException(dst []byte, function, code byte) []byte {
	return append(dst, function|0x80, code)
}
