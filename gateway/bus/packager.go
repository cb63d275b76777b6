package bus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/goburrow/modbus"

	"github.com/boilerwatch/boilerwatch/gateway/crc16"
)

// ErrCRC marks an RTU reply whose checksum is wrong.
var ErrCRC = errors.New("modbus: bad CRC")

// packager frames requests and unframes replies for goburrow's client in
// buffers of its own: goburrow v0.1.0's packagers allocate a new request
// frame and a new reply PDU for every request, which on a gateway polling
// hundreds of points a second was a third of its allocations. The reply
// checks stay goburrow's (Verify: MBAP transaction, protocol and unit id;
// RTU length and unit id); the RTU CRC is checked here, in Decode, where
// goburrow checks it.
type packager struct {
	verify modbus.Packager // goburrow's packager, for its Verify
	rtu    bool
	unit   byte   // the unit id of the next request
	tid    uint16 // the last MBAP transaction id
	adu    [maxFrame]byte
	pdu    modbus.ProtocolDataUnit
}

var _ modbus.Packager = (*packager)(nil)

// Encode builds the request frame. It aliases the packager's buffer, which
// stays untouched until the next Encode, after the reply was verified.
func (p *packager) Encode(pdu *modbus.ProtocolDataUnit) ([]byte, error) {
	if p.rtu {
		if 4+len(pdu.Data) > rtuMax {
			return nil, fmt.Errorf("%w: request of %d data bytes exceeds an RTU frame", ErrFrame, len(pdu.Data))
		}
		b := append(p.adu[:0], p.unit, pdu.FunctionCode)
		return crc16.Append(append(b, pdu.Data...)), nil
	}
	if mbapHeader+1+len(pdu.Data) > maxFrame {
		return nil, fmt.Errorf("%w: request of %d data bytes exceeds an MBAP frame", ErrFrame, len(pdu.Data))
	}
	p.tid++
	b := binary.BigEndian.AppendUint16(p.adu[:0], p.tid)
	b = append(b, 0, 0) // protocol id: Modbus
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(pdu.Data)))
	b = append(b, p.unit, pdu.FunctionCode)
	return append(b, pdu.Data...), nil
}

func (p *packager) Verify(request, reply []byte) error { return p.verify.Verify(request, reply) }

// Decode returns the reply's PDU, aliasing the reply and valid until the
// next Decode.
func (p *packager) Decode(adu []byte) (*modbus.ProtocolDataUnit, error) {
	if p.rtu {
		// Verify made sure the reply holds at least unit, function code
		// and CRC.
		n := len(adu) - 2
		if want := crc16.Checksum(adu[:n]); !crc16.Valid(adu) {
			return nil, fmt.Errorf("%w: response crc %#04x does not match expected %#04x", ErrCRC, binary.LittleEndian.Uint16(adu[n:]), want)
		}
		p.pdu = modbus.ProtocolDataUnit{FunctionCode: adu[1], Data: adu[2:n]}
		return &p.pdu, nil
	}
	// readMBAP read exactly the length the header gives, at least unit id
	// and function code.
	if len(adu) <= mbapHeader || int(binary.BigEndian.Uint16(adu[4:])) != len(adu)-mbapHeader+1 {
		return nil, fmt.Errorf("%w: MBAP length does not match the frame's %d bytes", ErrFrame, len(adu))
	}
	p.pdu = modbus.ProtocolDataUnit{FunctionCode: adu[mbapHeader], Data: adu[mbapHeader+1:]}
	return &p.pdu, nil
}
