package crc16

import (
	"bytes"
	"testing"
)

func TestChecksum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame []byte
		want  []byte
	}{
		// Modbus over Serial Line v1.02, 6.2.2 and the widely quoted FC 3 example.
		{[]byte{0x11, 0x03, 0x00, 0x6B, 0x00, 0x03}, []byte{0x76, 0x87}},
		{[]byte{0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}, []byte{0xC5, 0xCD}},
		{[]byte{0x01, 0x04, 0x02, 0xFF, 0xFF}, []byte{0xB8, 0x80}},
	}
	for _, tt := range tests {
		got := Append(bytes.Clone(tt.frame))
		if !bytes.Equal(got[len(tt.frame):], tt.want) {
			t.Errorf("CRC of % x = % x, want % x", tt.frame, got[len(tt.frame):], tt.want)
		}
		if !Valid(got) {
			t.Errorf("Valid(% x) = false", got)
		}
		got[0] ^= 0x01
		if Valid(got) {
			t.Errorf("Valid(% x) = true after a bit flip", got)
		}
	}
	if Valid([]byte{0xFF, 0xFF}) {
		t.Error("a 2-byte frame is valid")
	}
}
