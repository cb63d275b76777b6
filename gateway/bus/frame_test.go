package bus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/goburrow/modbus"

	"github.com/boilerwatch/boilerwatch/gateway/crc16"
)

func rtuRequest(unit, fc byte, addr, qty uint16) []byte {
	b := []byte{unit, fc}
	b = binary.BigEndian.AppendUint16(b, addr)
	b = binary.BigEndian.AppendUint16(b, qty)
	return crc16.Append(b)
}

func TestReadRTU(t *testing.T) {
	t.Parallel()
	read3 := rtuRequest(1, 3, 0, 2)
	tests := []struct {
		name   string
		req    []byte
		wire   []byte
		frame  int // bytes of wire that make the frame
		errHas string
	}{
		{"registers", read3, crc16.Append([]byte{1, 3, 4, 0, 1, 0, 2}), 9, ""},
		{"registers, trailing bytes left unread", read3, append(crc16.Append([]byte{1, 3, 4, 0, 1, 0, 2}), 0xAA, 0xBB), 9, ""},
		{"coils", rtuRequest(1, 1, 0, 10), crc16.Append([]byte{1, 1, 2, 0xFF, 0x03}), 7, ""},
		{"exception", read3, crc16.Append([]byte{1, 0x83, 2}), 5, ""},
		{"wrong byte count", read3, crc16.Append([]byte{1, 3, 2, 0, 1}), 3, "byte count 2, want 4 for 2 registers"},
		{"foreign function code", read3, crc16.Append([]byte{1, 4, 4, 0, 1, 0, 2}), 2, "reply function code 0x04 to a request with 0x03"},
		{"short frame", read3, []byte{1, 3, 4, 0, 1}, 5, "read RTU reply (5 of 9 bytes): unexpected EOF"},
		{"nothing", read3, nil, 0, "read RTU reply header: EOF"},
		{"write echo", crc16.Append([]byte{1, 6, 0, 1, 0, 3}), crc16.Append([]byte{1, 6, 0, 1, 0, 3}), 8, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.wire)
			var buf [maxFrame]byte
			frame, err := readRTU(r, tt.req, buf[:])
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("err %v, want %q", err, tt.errHas)
			}
			if len(frame) != tt.frame || !bytes.Equal(frame, tt.wire[:tt.frame]) {
				t.Errorf("frame % x, want the first %d bytes of % x", frame, tt.frame, tt.wire)
			}
		})
	}
}

func TestReadMBAP(t *testing.T) {
	t.Parallel()
	good := []byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34}
	tests := []struct {
		name    string
		wire    []byte
		frame   int
		surplus int
		errHas  string
	}{
		{"answer", good, 11, 0, ""},
		{"answer twice in one read", append(append([]byte{}, good...), good...), 11, 11, ""},
		{"protocol id", []byte{0, 1, 0, 9, 0, 5, 1, 3, 2, 0, 0}, 7, 0, "protocol id 9"},
		{"length zero", []byte{0, 1, 0, 0, 0, 0, 1}, 7, 0, "MBAP length 0 outside 2..254"},
		{"length too big", []byte{0, 1, 0, 0, 1, 0, 1}, 7, 0, "MBAP length 256 outside 2..254"},
		{"short body", good[:9], 9, 0, "read MBAP body (2 of 4 bytes): unexpected EOF"},
		{"short header", good[:3], 3, 0, "read MBAP header: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf [maxFrame]byte
			frame, surplus, err := readMBAP(bytes.NewReader(tt.wire), buf[:], 0)
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("err %v, want %q", err, tt.errHas)
			}
			if len(frame) != tt.frame || surplus != tt.surplus {
				t.Errorf("frame % x and %d bytes after it, want %d and %d", frame, surplus, tt.frame, tt.surplus)
			}
		})
	}
}

// FuzzReadRTU: whatever arrives after a request, the reader never panics,
// never reads past the frame it returns, and returns only frames whose
// shape matches the request.
func FuzzReadRTU(f *testing.F) {
	f.Add(byte(3), uint16(2), crc16.Append([]byte{1, 3, 4, 0, 1, 0, 2}))
	f.Add(byte(1), uint16(10), crc16.Append([]byte{1, 1, 2, 0xFF, 0x03}))
	f.Add(byte(4), uint16(125), append([]byte{1, 4, 250}, make([]byte, 252)...))
	f.Add(byte(3), uint16(1), crc16.Append([]byte{1, 0x83, 6}))
	f.Add(byte(16), uint16(2), crc16.Append([]byte{1, 16, 0, 0, 0, 2}))
	f.Add(byte(3), uint16(3), []byte{1, 3, 0xFF})
	f.Fuzz(func(t *testing.T, fc byte, qty uint16, wire []byte) {
		req := rtuRequest(1, fc, 0, qty)
		r := bytes.NewReader(wire)
		var buf [maxFrame]byte
		frame, err := readRTU(r, req, buf[:])
		if consumed := len(wire) - r.Len(); consumed != len(frame) {
			t.Fatalf("consumed %d bytes, returned a frame of %d", consumed, len(frame))
		}
		if err != nil {
			if !errors.Is(err, ErrFrame) && !errors.Is(err, ErrByteCount) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if len(frame) > rtuMax || len(frame) < 5 {
			t.Fatalf("frame of %d bytes", len(frame))
		}
		switch frame[1] {
		case fc | 0x80:
			if len(frame) != 5 {
				t.Fatalf("exception frame of %d bytes", len(frame))
			}
		case fc:
			if fc == 3 || fc == 4 {
				if len(frame) != 5+2*int(qty) {
					t.Fatalf("fc %d qty %d: frame of %d bytes", fc, qty, len(frame))
				}
			}
		default:
			t.Fatalf("frame with function 0x%02X for request 0x%02X", frame[1], fc)
		}
	})
}

// FuzzReadMBAP: the MBAP reader never panics, frames exactly what the
// length field announces, and counts what followed it in the same read.
func FuzzReadMBAP(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 0, 0, 0, 254, 1})
	f.Fuzz(func(t *testing.T, wire []byte) {
		var buf [maxFrame]byte
		frame, surplus, err := readMBAP(bytes.NewReader(wire), buf[:], 0)
		if err != nil {
			return
		}
		if len(frame)+surplus > len(wire) {
			t.Fatalf("frame of %d and %d bytes after it from %d bytes", len(frame), surplus, len(wire))
		}
		if n := int(binary.BigEndian.Uint16(frame[4:])); len(frame) != 6+n || len(frame) > maxFrame {
			t.Fatalf("frame of %d bytes for length %d", len(frame), n)
		}
	})
}

// replay is a transporter whose device answers with fixed bytes, framed as
// the bus's transporter frames them.
type replay struct {
	rtu   bool
	wire  []byte
	buf   [maxFrame]byte
	frame []byte
}

func (r *replay) Send(adu []byte) ([]byte, error) {
	var err error
	if r.rtu {
		r.frame, err = readRTU(bytes.NewReader(r.wire), adu, r.buf[:])
	} else {
		r.frame, _, err = readMBAP(bytes.NewReader(r.wire), r.buf[:], 0)
	}
	return r.frame, err
}

// FuzzReply: whatever a device sends back, goburrow's client over our
// packager returns data or an error, never panics, and data it returns lies
// inside a frame that passed the checks (for RTU, its CRC). The byte count
// against the request is checked after this, in exchange.
func FuzzReply(f *testing.F) {
	f.Add(true, byte(3), uint16(2), crc16.Append([]byte{1, 3, 4, 0, 1, 0, 2}))
	f.Add(true, byte(1), uint16(10), crc16.Append([]byte{1, 1, 2, 0xFF, 0x03}))
	f.Add(true, byte(3), uint16(1), crc16.Append([]byte{1, 0x83, 6}))
	f.Add(true, byte(3), uint16(2), []byte{1, 3, 4, 0, 1, 0, 2, 0, 0})
	f.Add(false, byte(3), uint16(1), []byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0x12, 0x34})
	f.Add(false, byte(4), uint16(1), []byte{0, 1, 0, 0, 0, 3, 1, 0x84, 2})
	f.Add(false, byte(2), uint16(3), []byte{0, 1, 0, 0, 0, 4, 1, 2, 1, 5})
	f.Fuzz(func(t *testing.T, rtu bool, fc byte, qty uint16, wire []byte) {
		pk := &packager{rtu: rtu, unit: 1}
		if rtu {
			pk.verify = modbus.NewRTUClientHandler("")
		} else {
			pk.verify = modbus.NewTCPClientHandler("")
		}
		tr := &replay{rtu: rtu, wire: wire}
		c := modbus.NewClient2(pk, tr)
		var data []byte
		var err error
		switch fc % 4 {
		case 0:
			data, err = c.ReadCoils(0, qty)
		case 1:
			data, err = c.ReadDiscreteInputs(0, qty)
		case 2:
			data, err = c.ReadHoldingRegisters(0, qty)
		default:
			data, err = c.ReadInputRegisters(0, qty)
		}
		if err != nil {
			return
		}
		if !bytes.Contains(tr.frame, data) {
			t.Fatalf("data % x not inside the frame % x", data, tr.frame)
		}
		if rtu && !crc16.Valid(tr.frame) {
			t.Fatalf("accepted % x with a bad CRC", tr.frame)
		}
	})
}
