package queue

import (
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Compaction: sealed raw segments that still hold unacknowledged records
// are rewritten compressed with only those records, so a long outage fits on
// the disk; recovery uses the same rewrite for a damaged segment's good
// records. Also the byte bound (MaxBytes), which drops the oldest segment.

func (q *Queue) signalCompact() {
	select {
	case q.compact <- struct{}{}:
	default:
	}
}

// compressLevel: deflate's default; level 1 is about a third larger on
// telemetry JSON for little CPU saved at gateway rates.
const compressLevel = 6

// compactSealed rewrites sealed raw segments that still hold unsent records
// as compressed segments.
func (q *Queue) compactSealed() {
	for {
		q.mu.Lock()
		var s *segment
		for _, c := range q.segs {
			if c.sealed && !c.compressed && !c.removed && !c.keepRaw {
				s = c
				break
			}
		}
		q.mu.Unlock()
		if s == nil {
			return
		}
		if err := q.compactOne(s); err != nil {
			q.log.Error("compaction failed; segment stays uncompressed", "segment", filepath.Base(s.path), "error", err)
			q.mu.Lock()
			s.keepRaw = true // do not retry on every signal
			q.mu.Unlock()
			return
		}
	}
}

// compactOne rewrites one sealed raw segment compressed, with its
// unacknowledged records only.
func (q *Queue) compactOne(s *segment) error {
	r, err := openSegReader(s.path, false)
	if err != nil {
		return err
	}
	defer r.close()
	kept := 0
	out, err := q.rewrite(q.unacknowledged(s, r, &kept))
	if d := r.damaged(); len(d) > 0 {
		q.mu.Lock()
		q.noteDamage(s, d)
		q.mu.Unlock()
	}
	if errors.Is(err, errNoRecords) {
		// Delivered meanwhile, or unreadable: markLost counts only what
		// was not acknowledged.
		q.mu.Lock()
		q.markLost(s, s.first, s.last, "segment unreadable")
		if !s.removed {
			q.removeSegment(s)
		}
		q.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	q.replaceCompacted(s, out, kept)
	return nil
}

// unacknowledged yields segment s's records, read by r, that are not
// acknowledged, one at a time (most of a segment sealed while the broker is
// up was delivered already), and counts them in kept. Numbers missing
// between records are counted as lost as they are found.
func (q *Queue) unacknowledged(s *segment, r segReader, kept *int) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		prev := s.first - 1
		for {
			rec, err := r.next(-1)
			if err != nil {
				return
			}
			if rec.through != 0 {
				prev = max(prev, rec.through)
				continue
			}
			if rec.Seq > prev+1 {
				// Unreadable records: counted now, since the compressed
				// segment marks every gap as settled.
				q.mu.Lock()
				q.markLost(s, prev+1, rec.Seq-1, "unreadable")
				q.mu.Unlock()
			}
			prev = max(prev, rec.Seq)
			if q.isAcked(rec.Seq) {
				continue
			}
			*kept++
			if !yield(rec) {
				return
			}
		}
	}
}

// replaceCompacted puts the compressed file out in the place of segment
// s's raw file, unless s was removed meanwhile.
func (q *Queue) replaceCompacted(s, out *segment, kept int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s.removed {
		os.Remove(out.path)
		return
	}
	old := s.path
	q.stats.Bytes += out.size - s.size
	s.path, s.size, s.compressed = out.path, out.size, true
	s.first, s.last = min(s.first, out.first), max(s.last, out.last)
	q.stats.Compacted++
	if err := os.Remove(old); err != nil {
		q.log.Error("cannot delete compacted raw segment", "segment", filepath.Base(old), "error", err)
	}
	q.log.Debug("segment compacted", "segment", filepath.Base(out.path), "records", kept, "bytes", out.size)
}

// rewrite writes records to a new compressed segment, streaming: a sealed
// segment is 4 MiB, which a gateway's memory should not hold at once.
func (q *Queue) rewrite(recs iter.Seq[Record]) (*segment, error) {
	var zw *zipWriter
	var first, last uint64
	for r := range recs {
		if r.through != 0 {
			continue // the writer marks gaps itself
		}
		if zw == nil {
			var err error
			if zw, err = newZipWriter(filepath.Join(q.o.Dir, fmt.Sprintf("rewrite-%d.tmp", r.Seq)), compressLevel); err != nil {
				return nil, err
			}
			first = r.Seq
		}
		if err := zw.add(r); err != nil {
			zw.abort()
			return nil, err
		}
		last = r.Seq
	}
	if zw == nil {
		return nil, errNoRecords
	}
	tmp, path := zw.f.Name(), filepath.Join(q.o.Dir, zipName(first, last))
	if err := zw.finish(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := atomicfile.SyncDir(q.o.Dir); err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &segment{first: first, last: last, path: path, size: info.Size(), compressed: true, sealed: true}, nil
}

// errNoRecords: a rewrite found nothing to keep.
var errNoRecords = errors.New("no records to rewrite")

// enforceLimit deletes the oldest segments while the queue is over MaxBytes.
func (q *Queue) enforceLimit() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.stats.Bytes > q.o.MaxBytes && len(q.segs) > 0 {
		s := q.segs[0]
		if s == q.active {
			if len(q.segs) > 1 {
				break // cannot happen: the active segment is the newest
			}
			q.seal()
			if len(q.segs) == 0 {
				break
			}
			s = q.segs[0]
		}
		var unsent uint64
		if s.last >= s.first {
			unsent = (s.last - s.first + 1) - q.acked.count(s.first, s.last)
			q.acked.add(s.first, s.last)
		}
		q.stats.Dropped += unsent
		q.log.Warn("queue full: oldest segment dropped", "segment", filepath.Base(s.path), "from", s.first, "to", s.last,
			"unsent_records", unsent, "max_bytes", q.o.MaxBytes, "dropped_total", q.stats.Dropped)
		s.damaged = false // space is the point: delete, do not keep in quarantine/
		q.removeSegment(s)
	}
}
