package queue

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Segment files. A raw segment is where records are appended:
//
//	seg-<first seq, 20 digits>.raw   header "BWQ1RAW\n", then records
//
// A sealed raw segment that still holds unacknowledged records is rewritten
// compressed, so that a long outage fits on the disk:
//
//	seg-<first>-<last>.z             header "BWQ1ZIP\n", then blocks
//
// A block carries about 64 KiB of records, deflated, framed as
//
//	magic  uint32 "BWQB" | rawLen uint32 | compLen uint32 |
//	crc    uint32 CRC-32C of rawLen, compLen and the compressed bytes | data
//
// so a damaged block loses only its own records and the reader finds the
// next block by its magic.
const (
	rawHeader   = "BWQ1RAW\n"
	zipHeader   = "BWQ1ZIP\n"
	blockMagic  = 0x42575142 // "BWQB"
	blockHeader = 16
	// blockTarget is the raw size of a compressed block: large enough for
	// deflate's 32 KiB window to see many records of every device.
	blockTarget = 64 << 10
	// maxBlock bounds a block's sizes when reading a possibly damaged file;
	// a block holds 64 KiB plus at most one record of up to 256 KiB.
	maxBlock = 1 << 20
)

var blockMagicBytes = [4]byte{'B', 'W', 'Q', 'B'}

func rawName(first uint64) string { return fmt.Sprintf("seg-%020d.raw", first) }

func zipName(first, last uint64) string { return fmt.Sprintf("seg-%020d-%020d.z", first, last) }

// parseSegmentName recognises the two segment names.
func parseSegmentName(name string) (first, last uint64, compressed, ok bool) {
	base, isRaw := strings.CutSuffix(name, ".raw")
	if !isRaw {
		var isZip bool
		base, isZip = strings.CutSuffix(name, ".z")
		if !isZip {
			return 0, 0, false, false
		}
	}
	rest, ok := strings.CutPrefix(base, "seg-")
	if !ok {
		return 0, 0, false, false
	}
	num := func(s string) (uint64, bool) {
		if len(s) != 20 {
			return 0, false
		}
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil
	}
	if isRaw {
		first, ok = num(rest)
		return first, 0, false, ok
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false, false
	}
	first, ok1 := num(a)
	last, ok2 := num(b)
	if !ok1 || !ok2 || last < first {
		return 0, 0, false, false
	}
	return first, last, true, true
}

// damage describes bytes of a segment that could not be read.
type damage struct {
	offset, length int64
	reason         string
}

// segReader reads the records of one segment file in order.
type segReader interface {
	// next returns the next good record. limit is how many bytes of the
	// file are written (raw segments grow while they are active); -1 means
	// the file is complete.
	// It returns io.EOF when no further record is available now.
	next(limit int64) (Record, error)
	// damaged reports and clears the damage found since the last call.
	damaged() []damage
	close() error
}

func openSegReader(path string, compressed bool) (segReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if compressed {
		return &zipReader{f: f, r: bufio.NewReaderSize(f, maxBlock+blockHeader), off: int64(len(zipHeader)), first: true}, nil
	}
	return &rawReader{f: f}, nil
}

// rawReader reads a raw segment through a window of its bytes: a sealed
// segment is 4 MiB, more than a gateway should hold at once.
type rawReader struct {
	f      *os.File
	buf    []byte // the file's bytes from off on, as far as read
	off    int64
	pos    int   // the next record in buf
	headed bool  // the segment header was checked
	sealed bool  // no more appends: an incomplete record at the end is damage
	size   int64 // the file's size once sealed
	dmg    []damage
}

// rawChunk is how much a rawReader reads at a time.
const rawChunk = 64 << 10

// next returns the next good record; its payload is valid until the next
// call.
func (r *rawReader) next(limit int64) (Record, error) {
	if limit < 0 && !r.sealed {
		r.sealed = true
		info, err := r.f.Stat()
		if err != nil {
			return Record{}, fmt.Errorf("read %s: %w", r.f.Name(), err)
		}
		r.size = info.Size()
	}
	if r.sealed {
		limit = r.size
	}
	for {
		if !r.headed && len(r.buf) >= len(rawHeader) {
			r.headed = true
			if !bytes.Equal(r.buf[:len(rawHeader)], []byte(rawHeader)) {
				r.dmg = append(r.dmg, damage{0, limit, "bad segment header"})
				r.pos, r.buf, r.off = 0, r.buf[:0], limit
				return Record{}, io.EOF
			}
			r.pos = len(rawHeader)
		}
		if r.headed && r.pos < len(r.buf) {
			rec, n, err := decodeRecord(r.buf[r.pos:])
			if err == nil {
				r.pos += n
				return rec, nil
			}
			if !errors.Is(err, errShort) {
				skip := resync(r.buf[r.pos:])
				r.dmg = append(r.dmg, damage{r.off + int64(r.pos), int64(skip), err.Error()})
				r.pos += skip
				continue
			}
		}
		// The window holds no whole record: read on, if the file has more.
		end := r.off + int64(len(r.buf))
		if end >= limit {
			if r.sealed && r.pos < len(r.buf) {
				r.dmg = append(r.dmg, damage{r.off + int64(r.pos), int64(len(r.buf) - r.pos), "incomplete record at end"})
				r.pos = len(r.buf)
			}
			return Record{}, io.EOF
		}
		r.off += int64(r.pos)
		r.buf = append(r.buf[:0], r.buf[r.pos:]...)
		r.pos = 0
		n := len(r.buf)
		want := int(min(limit-end, rawChunk))
		r.buf = slices.Grow(r.buf, want)[:n+want]
		m, err := r.f.ReadAt(r.buf[n:], end)
		r.buf = r.buf[:n+m]
		if err != nil && !errors.Is(err, io.EOF) {
			return Record{}, fmt.Errorf("read %s: %w", r.f.Name(), err)
		}
		if m == 0 {
			return Record{}, io.EOF
		}
	}
}

func (r *rawReader) damaged() []damage { d := r.dmg; r.dmg = nil; return d }
func (r *rawReader) close() error      { return r.f.Close() }

// zipReader reads a compressed segment block by block.
type zipReader struct {
	f     *os.File
	r     *bufio.Reader
	off   int64 // file offset of r's next byte
	first bool
	block []byte
	pos   int
	inf   io.ReadCloser
	dmg   []damage
	done  bool
}

func (z *zipReader) next(int64) (Record, error) {
	if z.first {
		z.first = false
		h := make([]byte, len(zipHeader))
		if _, err := io.ReadFull(z.r, h); err != nil || string(h) != zipHeader {
			z.dmg = append(z.dmg, damage{0, int64(len(zipHeader)), "bad segment header"})
			z.done = true
			return Record{}, io.EOF
		}
	}
	for {
		for z.pos < len(z.block) {
			rec, n, err := decodeRecord(z.block[z.pos:])
			if err == nil {
				z.pos += n
				return rec, nil
			}
			// A block passed its checksum, so this is a bug or a
			// deliberate forgery; skip the rest of the block.
			z.dmg = append(z.dmg, damage{z.off, 0, "bad record inside a block: " + err.Error()})
			z.pos = len(z.block)
		}
		if z.done {
			return Record{}, io.EOF
		}
		if err := z.readBlock(); err != nil {
			z.done = true
			if !errors.Is(err, io.EOF) {
				return Record{}, err
			}
		}
	}
}

// readBlock reads the next good block into z.block, skipping damage.
func (z *zipReader) readBlock() error {
	z.block, z.pos = z.block[:0], 0
	var skipped int64
	report := func(reason string) {
		if skipped > 0 {
			z.dmg = append(z.dmg, damage{z.off - skipped, skipped, reason})
			skipped = 0
		}
	}
	for {
		h, err := z.r.Peek(blockHeader)
		if len(h) == 0 && errors.Is(err, io.EOF) {
			report("damaged block")
			return io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", z.f.Name(), err)
		}
		if len(h) < blockHeader {
			z.discard(len(h))
			skipped += int64(len(h))
			report("incomplete block at end")
			return io.EOF
		}
		rawLen := binary.BigEndian.Uint32(h[4:])
		compLen := binary.BigEndian.Uint32(h[8:])
		if binary.BigEndian.Uint32(h) != blockMagic || rawLen > maxBlock || compLen > maxBlock {
			z.skipToMagic(&skipped)
			continue
		}
		want := binary.BigEndian.Uint32(h[12:])
		hdr := append([]byte(nil), h[4:12]...)
		data, err := z.r.Peek(blockHeader + int(compLen))
		if len(data) < blockHeader+int(compLen) {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read %s: %w", z.f.Name(), err)
			}
			// Truncated file: the block's end is missing.
			z.discard(len(data))
			skipped += int64(len(data))
			report("incomplete block at end")
			return io.EOF
		}
		if z.inflate(hdr, data[blockHeader:], want, rawLen) {
			z.discard(len(data))
			report("damaged block")
			return nil
		}
		z.skipToMagic(&skipped)
	}
}

// inflate checks a block and decompresses it into z.block.
func (z *zipReader) inflate(hdr, comp []byte, want, rawLen uint32) bool {
	crc := crc32.Update(0, castagnoli, hdr)
	crc = crc32.Update(crc, castagnoli, comp)
	if crc != want {
		return false
	}
	if z.inf == nil {
		z.inf = flate.NewReader(bytes.NewReader(comp))
	} else {
		z.inf.(flate.Resetter).Reset(bytes.NewReader(comp), nil)
	}
	if cap(z.block) < int(rawLen) {
		z.block = make([]byte, rawLen)
	}
	z.block = z.block[:rawLen]
	if _, err := io.ReadFull(z.inf, z.block); err != nil {
		z.block = z.block[:0]
		return false
	}
	return true
}

func (z *zipReader) discard(n int) {
	d, _ := z.r.Discard(n)
	z.off += int64(d)
}

// skipToMagic drops bytes up to the next possible block start.
func (z *zipReader) skipToMagic(skipped *int64) {
	z.discard(1)
	*skipped++
	for {
		b, err := z.r.Peek(4096)
		if len(b) == 0 {
			return
		}
		if i := bytes.Index(b, blockMagicBytes[:]); i >= 0 {
			z.discard(i)
			*skipped += int64(i)
			return
		}
		n := len(b) - 3
		if n <= 0 || (err != nil && len(b) < 4) {
			z.discard(len(b))
			*skipped += int64(len(b))
			return
		}
		z.discard(n)
		*skipped += int64(n)
	}
}

func (z *zipReader) damaged() []damage { d := z.dmg; z.dmg = nil; return d }
func (z *zipReader) close() error {
	if z.inf != nil {
		z.inf.Close()
	}
	return z.f.Close()
}

// zipWriter writes a compressed segment.
type zipWriter struct {
	f     *os.File
	w     *bufio.Writer
	fw    *flate.Writer
	raw   []byte
	comp  bytes.Buffer
	first uint64
	last  uint64
	n     int
}

func newZipWriter(path string, level int) (*zipWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	z := &zipWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	z.fw, _ = flate.NewWriter(&z.comp, level)
	z.w.WriteString(zipHeader)
	return z, nil
}

// add appends a telemetry record; numbers skipped since the previous one
// (acknowledged, or counted lost) get a settled-range marker, so a reader
// does not take them for damage. Markers given to add are dropped: the
// gaps they describe get their own.
func (z *zipWriter) add(r Record) error {
	if r.through != 0 {
		return nil
	}
	if z.n == 0 {
		z.first = r.Seq
	} else if r.Seq > z.last+1 {
		z.raw = appendSettled(z.raw, z.last+1, r.Seq-1)
	}
	z.last = r.Seq
	z.n++
	z.raw = appendRecord(z.raw, r.Seq, r.Payload)
	if len(z.raw) >= blockTarget {
		return z.flushBlock()
	}
	return nil
}

func (z *zipWriter) flushBlock() error {
	if len(z.raw) == 0 {
		return nil
	}
	z.comp.Reset()
	z.fw.Reset(&z.comp)
	z.fw.Write(z.raw)
	if err := z.fw.Close(); err != nil {
		return err
	}
	var h [blockHeader]byte
	binary.BigEndian.PutUint32(h[0:], blockMagic)
	binary.BigEndian.PutUint32(h[4:], uint32(len(z.raw)))
	binary.BigEndian.PutUint32(h[8:], uint32(z.comp.Len()))
	crc := crc32.Update(0, castagnoli, h[4:12])
	crc = crc32.Update(crc, castagnoli, z.comp.Bytes())
	binary.BigEndian.PutUint32(h[12:], crc)
	z.w.Write(h[:])
	_, err := z.w.Write(z.comp.Bytes())
	z.raw = z.raw[:0]
	return err
}

// finish flushes, fsyncs and closes the file.
func (z *zipWriter) finish() error {
	err := z.flushBlock()
	if err == nil {
		err = z.w.Flush()
	}
	if err == nil {
		err = z.f.Sync()
	}
	if cerr := z.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (z *zipWriter) abort() {
	z.f.Close()
	os.Remove(z.f.Name())
}
