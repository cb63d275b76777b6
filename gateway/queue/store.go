package queue

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// The segment files on the disk: the active segment records are written
// to, sealing it, deleting a segment once all its records are settled, and
// finding the segment that holds a number.

type segment struct {
	first, last uint64
	path        string
	size        int64
	compressed  bool
	sealed      bool
	damaged     bool // move to quarantine rather than delete when done
	removed     bool
	keepRaw     bool // compaction failed; leave it raw
}

// write appends one record to the active segment, after a settled-range
// marker for the numbers skipped since its last record; mu is held.
func (q *Queue) write(seq uint64, payload []byte) error {
	if q.active != nil && q.active.size >= q.o.SegmentBytes {
		q.seal()
	}
	if q.active == nil {
		if err := q.createActive(seq); err != nil {
			return err
		}
	}
	q.wbuf = q.wbuf[:0]
	if a := q.active; a.last >= a.first && seq > a.last+1 {
		q.wbuf = appendSettled(q.wbuf, a.last+1, seq-1)
	}
	q.wbuf = appendRecord(q.wbuf, seq, payload)
	n, err := q.af.WriteAt(q.wbuf, q.active.size)
	if err == nil && n < len(q.wbuf) {
		err = errors.New("short write")
	}
	if err != nil {
		// Cut what may have been written, so the next record follows a
		// clean end; if even that fails, start a new segment.
		if terr := q.af.Truncate(q.active.size); terr != nil {
			q.active.damaged = true
			q.seal()
		}
		return err
	}
	q.active.size += int64(n)
	q.active.last = seq
	q.stats.Bytes += int64(n)
	q.unsynced++
	return nil
}

func (q *Queue) createActive(first uint64) error {
	path := filepath.Join(q.o.Dir, rawName(first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(rawHeader); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	// The new name must survive a power loss with the records in it.
	if err := atomicfile.SyncDir(q.o.Dir); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	s := &segment{first: first, last: first - 1, path: path, size: int64(len(rawHeader))}
	q.segs = append(q.segs, s)
	q.active, q.af = s, f
	q.stats.Bytes += s.size
	return nil
}

// seal closes the active segment; mu is held.
func (q *Queue) seal() {
	s := q.active
	if s == nil {
		return
	}
	if err := q.af.Sync(); err != nil {
		q.log.Error("fsync on seal", "segment", filepath.Base(s.path), "error", err)
	}
	q.af.Close()
	q.active, q.af, q.unsynced = nil, nil, 0
	s.sealed = true
	switch {
	case s.last < s.first:
		q.removeSegment(s)
	case q.acked.covers(s.first, s.last):
		q.removeSegment(s)
	default:
		q.signalCompact()
	}
}

// removeSegment deletes (or quarantines, if damaged) a segment; mu is held
// or the queue is not yet shared.
func (q *Queue) removeSegment(s *segment) {
	if s == q.active {
		q.af.Close()
		q.active, q.af, q.unsynced = nil, nil, 0
	}
	s.removed = true
	if s.damaged {
		q.quarantineFile(filepath.Base(s.path), "damaged segment, all readable records sent")
	} else if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.log.Error("cannot delete segment", "segment", filepath.Base(s.path), "error", err)
	}
	q.stats.Bytes -= s.size
	i := slices.Index(q.segs, s)
	if i >= 0 {
		q.segs = slices.Delete(q.segs, i, i+1)
	}
	if len(q.segs) > 0 {
		q.acked.dropBelow(q.segs[0].first)
	} else {
		// Numbers above flushed may be records still in memory, whose
		// acknowledgements count.
		q.acked.dropBelow(q.flushed + 1)
	}
	q.cursorDirty = true
}

// segmentOf finds the segment whose range holds seq; mu is held.
func (q *Queue) segmentOf(seq uint64) *segment {
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].last >= seq })
	if i < len(q.segs) && q.segs[i].first <= seq {
		return q.segs[i]
	}
	return nil
}

// segmentFrom finds the first segment with records at or after seq.
func (q *Queue) segmentFrom(seq uint64) *segment {
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].last >= seq && q.segs[i].last >= q.segs[i].first })
	if i < len(q.segs) {
		return q.segs[i]
	}
	return nil
}
