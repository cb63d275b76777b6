// Package crc16 is the Modbus RTU frame check, shared by the gateway's
// buses and the simulator's RTU server.
package crc16

// table is the byte-at-a-time table of the reflected polynomial 0xA001.
var table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// Checksum is the Modbus RTU CRC of b (polynomial 0xA001 reflected,
// initial 0xFFFF, Modbus over Serial Line v1.02 §6.2.2).
func Checksum(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc = crc>>8 ^ table[byte(crc)^x]
	}
	return crc
}

// Append appends the CRC of b low byte first, as a frame carries it.
func Append(b []byte) []byte {
	c := Checksum(b)
	return append(b, byte(c), byte(c>>8))
}

// Valid reports whether frame (at least 3 bytes) ends with the CRC of
// what precedes it.
func Valid(frame []byte) bool {
	if len(frame) < 3 {
		return false
	}
	n := len(frame) - 2
	c := Checksum(frame[:n])
	return frame[n] == byte(c) && frame[n+1] == byte(c>>8)
}
