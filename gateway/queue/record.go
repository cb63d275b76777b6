package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record is one queued telemetry message: its sequence number and the JSON
// payload exactly as it is published live (without "historical").
type Record struct {
	Seq     uint64
	Payload []byte
	// through, in a settled-range marker (kindSettled), is the last number
	// of the range Seq..through; 0 in a telemetry record.
	through uint64
}

// On disk a record is framed as
//
//	magic   uint32  "BWQR", so a reader can find the next record after damage
//	length  uint32  of the body
//	crc     uint32  CRC-32C of length and body
//	body:   kind uint8 (1 = telemetry JSON) | seq uint64 | payload
//	        kind 2 = settled range: seq is its first number, payload its
//	        last (uint64): numbers that were acknowledged (or counted lost)
//	        before they were written, so a reader tells them from damage
//
// all big-endian. The CRC covers the length so that a flipped length bit is
// caught rather than sending the reader into the next record.
const (
	recordMagic  uint32 = 0x42575152 // "BWQR"
	recordHeader        = 12
	bodyHeader          = 9
	kindJSON     byte   = 1
	kindSettled  byte   = 2
	// maxBody bounds a record: a telemetry payload is at most 256 KiB.
	maxBody = 256<<10 + bodyHeader
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of decodeRecord.
var (
	// errShort: the buffer ends inside the record; more bytes may complete it.
	errShort = errors.New("record truncated")
	// errCorrupt: the bytes at this position are not a valid record.
	errCorrupt = errors.New("record corrupt")
)

// appendRecord appends the framed record to dst.
func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	return appendFramed(dst, kindJSON, seq, payload)
}

// appendSettled appends a marker for the numbers lo..hi, which need no
// record: they were acknowledged (or counted lost) before being written.
func appendSettled(dst []byte, lo, hi uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], hi)
	return appendFramed(dst, kindSettled, lo, b[:])
}

func appendFramed(dst []byte, kind byte, seq uint64, payload []byte) []byte {
	n := bodyHeader + len(payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, recordMagic)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint32(dst, 0) // CRC, filled below
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = append(dst, payload...)
	crc := crc32.Update(0, castagnoli, dst[start+4:start+8])
	crc = crc32.Update(crc, castagnoli, dst[start+recordHeader:])
	binary.BigEndian.PutUint32(dst[start+8:], crc)
	return dst
}

// decodeRecord reads the record at the start of buf and returns it with
// the number of bytes it occupies. Payload aliases buf. Errors wrap
// errShort or errCorrupt.
func decodeRecord(buf []byte) (Record, int, error) {
	if len(buf) < 4 {
		if !bytes.HasPrefix(magicBytes[:], buf) {
			return Record{}, 0, fmt.Errorf("%w: bad magic", errCorrupt)
		}
		return Record{}, 0, errShort
	}
	if binary.BigEndian.Uint32(buf) != recordMagic {
		return Record{}, 0, fmt.Errorf("%w: bad magic %08x", errCorrupt, binary.BigEndian.Uint32(buf))
	}
	if len(buf) < recordHeader {
		return Record{}, 0, errShort
	}
	n := int(binary.BigEndian.Uint32(buf[4:]))
	if n < bodyHeader || n > maxBody {
		return Record{}, 0, fmt.Errorf("%w: body length %d", errCorrupt, n)
	}
	if len(buf) < recordHeader+n {
		return Record{}, 0, errShort
	}
	body := buf[recordHeader : recordHeader+n]
	crc := crc32.Update(0, castagnoli, buf[4:8])
	crc = crc32.Update(crc, castagnoli, body)
	if crc != binary.BigEndian.Uint32(buf[8:]) {
		return Record{}, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	switch body[0] {
	case kindJSON:
	case kindSettled:
		seq := binary.BigEndian.Uint64(body[1:])
		if n != bodyHeader+8 || binary.BigEndian.Uint64(body[bodyHeader:]) < seq || seq == 0 {
			return Record{}, 0, fmt.Errorf("%w: bad settled-range record", errCorrupt)
		}
		return Record{Seq: seq, through: binary.BigEndian.Uint64(body[bodyHeader:])}, recordHeader + n, nil
	default:
		return Record{}, 0, fmt.Errorf("%w: unknown record kind %d", errCorrupt, body[0])
	}
	return Record{Seq: binary.BigEndian.Uint64(body[1:]), Payload: body[bodyHeader:]}, recordHeader + n, nil
}

var magicBytes = [4]byte{'B', 'W', 'Q', 'R'}

// resync returns the offset of the next possible record start in buf after
// position 0, or len(buf) minus a possible partial magic at its end.
func resync(buf []byte) int {
	if len(buf) <= 1 {
		return len(buf)
	}
	if i := bytes.Index(buf[1:], magicBytes[:]); i >= 0 {
		return i + 1
	}
	// Keep a tail that may be the beginning of a magic split by a read.
	keep := 0
	for k := 3; k > 0; k-- {
		if len(buf)-1 >= k && bytes.HasSuffix(buf, magicBytes[:k]) {
			keep = k
			break
		}
	}
	return len(buf) - keep
}

// scanRecords decodes every record of a complete buffer, skipping damaged
// bytes. It calls rec for each good record and bad for each damaged range
// [from, to) of buf, with the reason. A final incomplete record counts as
// damaged.
func scanRecords(buf []byte, rec func(r Record, off int), bad func(from, to int, why string)) {
	off := 0
	for off < len(buf) {
		r, n, err := decodeRecord(buf[off:])
		if err == nil {
			rec(r, off)
			off += n
			continue
		}
		if errors.Is(err, errShort) {
			bad(off, len(buf), "incomplete record at end")
			return
		}
		skip := resync(buf[off:])
		if off+skip >= len(buf) {
			bad(off, len(buf), err.Error())
			return
		}
		bad(off, off+skip, err.Error())
		off += skip
	}
}
