package mbserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// encodeRequest is the client side of decodeRequest: tests use it to build
// frames and the fuzz target to check that decoding loses nothing.
func encodeRequest(req Request) []byte {
	pdu := []byte{req.Function}
	pdu = binary.BigEndian.AppendUint16(pdu, req.Addr)
	switch req.Function {
	case fcWriteSingleCoil:
		v := uint16(0)
		if len(req.Bits) > 0 && req.Bits[0] {
			v = 0xFF00
		}
		return binary.BigEndian.AppendUint16(pdu, v)
	case fcWriteSingleRegister:
		return binary.BigEndian.AppendUint16(pdu, req.Regs[0])
	case fcWriteMultipleCoils:
		pdu = binary.BigEndian.AppendUint16(pdu, req.Qty)
		packed := make([]byte, (len(req.Bits)+7)/8)
		for i, on := range req.Bits {
			if on {
				packed[i/8] |= 1 << (i % 8)
			}
		}
		pdu = append(pdu, byte(len(packed)))
		return append(pdu, packed...)
	case fcWriteMultipleRegisters:
		pdu = binary.BigEndian.AppendUint16(pdu, req.Qty)
		pdu = append(pdu, byte(2*len(req.Regs)))
		for _, r := range req.Regs {
			pdu = binary.BigEndian.AppendUint16(pdu, r)
		}
		return pdu
	}
	return binary.BigEndian.AppendUint16(pdu, req.Qty)
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pdu  []byte
		want Request
		code byte // expected exception, 0 for success
	}{
		{"read coils", []byte{1, 0, 10, 0, 3}, Request{Function: 1, Addr: 10, Qty: 3}, 0},
		{"read 2000 discrete inputs", []byte{2, 0, 0, 0x07, 0xD0}, Request{Function: 2, Qty: 2000}, 0},
		{"read 125 holding registers", []byte{3, 0, 0, 0, 125}, Request{Function: 3, Qty: 125}, 0},
		{"read input registers at the top", []byte{4, 0xFF, 0xFF, 0, 1}, Request{Function: 4, Addr: 0xFFFF, Qty: 1}, 0},
		{"write coil on", []byte{5, 0, 7, 0xFF, 0}, Request{Function: 5, Addr: 7, Qty: 1, Bits: []bool{true}}, 0},
		{"write coil off", []byte{5, 0, 7, 0, 0}, Request{Function: 5, Addr: 7, Qty: 1, Bits: []bool{false}}, 0},
		{"write register", []byte{6, 0, 1, 0xAB, 0xCD}, Request{Function: 6, Addr: 1, Qty: 1, Regs: []uint16{0xABCD}}, 0},
		{"write 10 coils", []byte{15, 0, 0, 0, 10, 2, 0b1000_0101, 0b10}, Request{Function: 15, Qty: 10,
			Bits: []bool{true, false, true, false, false, false, false, true, false, true}}, 0},
		{"write 2 registers", []byte{16, 0, 4, 0, 2, 4, 0, 1, 0, 2}, Request{Function: 16, Addr: 4, Qty: 2, Regs: []uint16{1, 2}}, 0},

		{"empty", nil, Request{}, 1},
		{"unknown function", []byte{0x2B, 0x0E, 1, 0}, Request{Function: 0x2B}, 1},
		{"function 0", []byte{0}, Request{}, 1},
		{"mask write register is not implemented", []byte{22, 0, 0, 0, 0, 0, 0}, Request{Function: 22}, 1},
		{"read 0 registers", []byte{3, 0, 0, 0, 0}, Request{Function: 3}, 3},
		{"read 126 registers", []byte{3, 0, 0, 0, 126}, Request{Function: 3, Qty: 126}, 3},
		{"read 2001 coils", []byte{1, 0, 0, 0x07, 0xD1}, Request{Function: 1, Qty: 2001}, 3},
		{"read short PDU", []byte{3, 0, 0, 0}, Request{Function: 3}, 3},
		{"read long PDU", []byte{3, 0, 0, 0, 1, 0}, Request{Function: 3}, 3},
		{"coil value 0x1234", []byte{5, 0, 0, 0x12, 0x34}, Request{Function: 5, Qty: 1}, 3},
		{"write 124 registers", append([]byte{16, 0, 0, 0, 124, 248}, make([]byte, 248)...), Request{Function: 16, Qty: 124}, 3},
		{"write 1969 coils", append([]byte{15, 0, 0, 0x07, 0xB1, 247}, make([]byte, 247)...), Request{Function: 15, Qty: 1969}, 3},
		{"write 0 coils", []byte{15, 0, 0, 0, 0, 0}, Request{Function: 15}, 3},
		{"register byte count mismatch", []byte{16, 0, 0, 0, 2, 2, 0, 1}, Request{Function: 16, Qty: 2}, 3},
		{"coil byte count mismatch", []byte{15, 0, 0, 0, 9, 1, 0xFF}, Request{Function: 15, Qty: 9}, 3},
		{"values shorter than byte count", []byte{16, 0, 0, 0, 2, 4, 0, 1}, Request{Function: 16, Qty: 2}, 3},
		{"no byte count", []byte{16, 0, 0, 0, 2}, Request{Function: 16}, 3},
		{"read beyond 65536", []byte{3, 0xFF, 0xFF, 0, 2}, Request{Function: 3, Addr: 0xFFFF, Qty: 2}, 2},
		{"write beyond 65536", []byte{16, 0xFF, 0xFF, 0, 2, 4, 0, 1, 0, 2}, Request{Function: 16, Addr: 0xFFFF, Qty: 2, Regs: []uint16{1, 2}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRequest(tt.pdu)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("decodeRequest(% x): %v", tt.pdu, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("decodeRequest(% x) = %+v, want %+v", tt.pdu, got, tt.want)
				}
				return
			}
			if !errors.Is(err, &Exception{Code: tt.code}) {
				t.Fatalf("decodeRequest(% x) error = %v, want exception %d", tt.pdu, err, tt.code)
			}
			if got.Function != tt.want.Function || got.Addr != tt.want.Addr || got.Qty != tt.want.Qty {
				t.Errorf("decodeRequest(% x) = %+v, want fields of %+v", tt.pdu, got, tt.want)
			}
		})
	}
}

func TestEncodeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		bits []bool
		regs []uint16
		want []byte
	}{
		{"coils", Request{Function: 1, Qty: 10}, []bool{true, false, true, false, false, false, false, true, false, true}, nil,
			[]byte{1, 2, 0b1000_0101, 0b10}},
		{"holding registers", Request{Function: 3, Qty: 2}, nil, []uint16{0x1234, 0xABCD}, []byte{3, 4, 0x12, 0x34, 0xAB, 0xCD}},
		{"write coil echo", Request{Function: 5, Addr: 0xAC, Qty: 1, Bits: []bool{true}}, nil, nil, []byte{5, 0, 0xAC, 0xFF, 0}},
		{"write register echo", Request{Function: 6, Addr: 1, Qty: 1, Regs: []uint16{3}}, nil, nil, []byte{6, 0, 1, 0, 3}},
		{"write registers", Request{Function: 16, Addr: 1, Qty: 2, Regs: []uint16{1, 2}}, nil, nil, []byte{16, 0, 1, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := encodeResponse(nil, tt.req, tt.bits, tt.regs); !bytes.Equal(got, tt.want) {
				t.Errorf("encodeResponse = % x, want % x", got, tt.want)
			}
		})
	}
	if got := encodeException(nil, 3, 2); !bytes.Equal(got, []byte{0x83, 2}) {
		t.Errorf("encodeException = % x, want 83 02", got)
	}
}

// FuzzDecodeRequest checks that decoding never panics, that every error is an
// exception the server can send, and that an accepted request re-encodes to
// the same PDU (up to the unused padding bits of FC 15) and answers within
// the PDU limit.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, pdu []byte) {
		req, err := decodeRequest(pdu)
		if err != nil {
			var ex *Exception
			if !errors.As(err, &ex) || ex.Code < 1 || ex.Code > 3 {
				t.Fatalf("decodeRequest(% x) error %v is not exception 1..3", pdu, err)
			}
			if len(pdu) > 0 && req.Function != pdu[0] {
				t.Fatalf("decodeRequest(% x) lost the function code: %+v", pdu, req)
			}
			return
		}
		if req.Qty == 0 || int(req.Addr)+int(req.Qty) > 1<<16 {
			t.Fatalf("decodeRequest(% x) accepted addr %d qty %d", pdu, req.Addr, req.Qty)
		}
		enc := encodeRequest(req)
		want := pdu
		if req.Function == fcWriteMultipleCoils && req.Qty%8 != 0 {
			want = bytes.Clone(pdu)
			want[len(want)-1] &= 1<<(req.Qty%8) - 1
		}
		if !bytes.Equal(enc, want) {
			t.Fatalf("decodeRequest(% x) = %+v re-encodes to % x", pdu, req, enc)
		}
		again, err := decodeRequest(enc)
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("re-decoding % x = %+v, %v; want %+v", enc, again, err, req)
		}

		// The answer to any accepted request must fit a PDU and announce its size.
		var bits []bool
		var regs []uint16
		switch req.Function {
		case fcReadCoils, fcReadDiscreteInputs:
			bits = make([]bool, req.Qty)
		case fcReadHoldingRegisters, fcReadInputRegisters:
			regs = make([]uint16, req.Qty)
		}
		resp := encodeResponse(nil, req, bits, regs)
		if len(resp) > maxPDU || resp[0] != req.Function {
			t.Fatalf("response to %+v: % x", req, resp)
		}
		if bits != nil || regs != nil {
			if int(resp[1]) != len(resp)-2 {
				t.Fatalf("response to %+v: byte count %d for %d bytes", req, resp[1], len(resp)-2)
			}
		} else if len(resp) != 5 {
			t.Fatalf("write response to %+v: % x, want 5 bytes", req, resp)
		}
	})
}
