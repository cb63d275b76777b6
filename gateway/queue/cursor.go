package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The cursor file keeps the acknowledged sequence numbers above the oldest
// segment, so a restart does not send again what the broker already has.
// Losing it costs only duplicates, never data, so it is written by rename
// without an fsync of its own:
//
//	"BWQC" | count uint32 | count × (lo uint64, hi uint64) | CRC-32C of all before
const cursorMagic = 0x42575143 // "BWQC"

const cursorFile = "cursor"

func saveCursor(dir string, s spans, durable bool) error {
	buf := binary.BigEndian.AppendUint32(nil, cursorMagic)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	for _, r := range s {
		buf = binary.BigEndian.AppendUint64(buf, r.lo)
		buf = binary.BigEndian.AppendUint64(buf, r.hi)
	}
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	path := filepath.Join(dir, cursorFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	return nil
}

var errNoCursor = errors.New("no cursor file")

func loadCursor(dir string) (spans, error) {
	data, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoCursor
	}
	if err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	return decodeCursor(data)
}

func decodeCursor(data []byte) (spans, error) {
	if len(data) < 12 || binary.BigEndian.Uint32(data) != cursorMagic {
		return nil, fmt.Errorf("cursor: not a cursor file")
	}
	n := int(binary.BigEndian.Uint32(data[4:]))
	if n < 0 || len(data) != 12+16*n {
		return nil, fmt.Errorf("cursor: %d ranges in %d bytes", n, len(data))
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("cursor: checksum mismatch")
	}
	var s spans
	for i := 0; i < n; i++ {
		lo := binary.BigEndian.Uint64(data[8+16*i:])
		hi := binary.BigEndian.Uint64(data[16+16*i:])
		if hi < lo {
			return nil, fmt.Errorf("cursor: range %d..%d", lo, hi)
		}
		s.add(lo, hi)
	}
	return s, nil
}
