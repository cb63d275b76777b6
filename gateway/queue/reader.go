package queue

import (
	"errors"
	"io"
	"os"
	"slices"
	"sort"
)

// Reader walks the queue's unacknowledged records in sequence order. Recent
// records come from memory; older ones are read from the segment files.
// A Reader is used by one goroutine.
type Reader struct {
	q    *Queue
	next uint64 // lowest number not yet returned or skipped

	seg    *segment
	sr     segReader
	srRaw  bool   // sr reads the raw file (the segment may be compacted since)
	prev   uint64 // last number read from sr
	peeked *Record
}

// NewReader starts at sequence number from.
func (q *Queue) NewReader(from uint64) *Reader { return &Reader{q: q, next: from} }

// Close releases the open segment file.
func (r *Reader) Close() {
	if r.sr != nil {
		r.sr.close()
		r.sr, r.seg = nil, nil
	}
}

// Next returns the next unacknowledged record numbered at most upTo. It
// returns false when there is none now; it can be called again after more
// appends.
func (r *Reader) Next(upTo uint64) (Record, bool, error) {
	q := r.q
	for {
		if r.peeked != nil {
			if r.peeked.Seq > upTo {
				return Record{}, false, nil
			}
			rec := *r.peeked
			r.peeked = nil
			if !q.isAcked(rec.Seq) {
				return rec, true, nil
			}
			continue
		}
		q.mu.Lock()
		if r.next > upTo {
			q.mu.Unlock()
			return Record{}, false, nil
		}
		if q.tailFirst != 0 && r.next >= q.tailFirst {
			rec, ok := r.fromTail(upTo)
			q.mu.Unlock()
			r.Close()
			return rec, ok, nil
		}
		s := q.segmentFrom(r.next)
		if s == nil {
			if q.tailFirst != 0 && r.next < q.tailFirst {
				// Numbers below the tail that no segment holds need no
				// sending: acknowledged while in memory (write-behind).
				r.next = q.tailFirst
				q.mu.Unlock()
				continue
			}
			q.mu.Unlock()
			return Record{}, false, nil
		}
		if s.first > r.next {
			r.next = s.first
		}
		if r.next > upTo {
			q.mu.Unlock()
			return Record{}, false, nil
		}
		sealed, size, path, compressed := s.sealed, s.size, s.path, s.compressed
		q.mu.Unlock()

		if r.seg != s || r.sr == nil {
			if err := r.open(s, path, compressed); err != nil {
				if isNotExist(err) {
					continue // removed or compacted meanwhile: look again
				}
				return Record{}, false, err
			}
		}
		limit := int64(-1)
		if r.srRaw && !sealed {
			limit = size
		}
		rec, err := r.sr.next(limit)
		if d := r.sr.damaged(); len(d) > 0 {
			q.mu.Lock()
			q.noteDamage(s, d)
			q.mu.Unlock()
		}
		if errors.Is(err, io.EOF) {
			if !sealed {
				return Record{}, false, nil
			}
			r.endSegment(s)
			continue
		}
		if err != nil {
			return Record{}, false, err
		}
		if rec.through != 0 {
			r.settle(s, rec, sealed)
			continue
		}
		if !r.follows(s, rec, sealed) {
			continue
		}
		if rec.Seq < r.next {
			continue
		}
		r.next = rec.Seq + 1
		rec.Payload = slices.Clone(rec.Payload)
		if rec.Seq > upTo {
			r.peeked = &rec
			return Record{}, false, nil
		}
		if q.isAcked(rec.Seq) {
			continue
		}
		return rec, true, nil
	}
}

// open starts reading segment s, whose file is at path.
func (r *Reader) open(s *segment, path string, compressed bool) error {
	r.Close()
	sr, err := openSegReader(path, compressed)
	if err != nil {
		return err
	}
	r.seg, r.sr, r.srRaw, r.prev = s, sr, !compressed, s.first-1
	return nil
}

// endSegment moves past the end of sealed segment s: whatever was not
// read in it is lost.
func (r *Reader) endSegment(s *segment) {
	q := r.q
	q.mu.Lock()
	if r.prev < s.last {
		q.markLost(s, r.prev+1, s.last, "unreadable")
	}
	q.mu.Unlock()
	r.next = max(r.next, s.last+1)
	r.Close()
}

// settle takes a settled-range marker read from segment s: numbers
// acknowledged (or counted lost) before they were written, with nothing to
// send and nothing lost.
func (r *Reader) settle(s *segment, rec Record, sealed bool) {
	q := r.q
	if rec.Seq <= r.prev || rec.through > s.last && sealed {
		q.mu.Lock()
		q.noteDamage(s, []damage{{0, 0, "settled range out of order"}})
		q.mu.Unlock()
		return
	}
	q.mu.Lock()
	q.acked.add(rec.Seq, rec.through)
	q.mu.Unlock()
	r.prev = rec.through
	r.next = max(r.next, rec.through+1)
}

// follows reports whether record rec, read from segment s, comes after the
// last one read, and counts the numbers skipped between them as lost; a
// record out of order is damage.
func (r *Reader) follows(s *segment, rec Record, sealed bool) bool {
	q := r.q
	if rec.Seq <= r.prev || rec.Seq > s.last && sealed {
		q.mu.Lock()
		q.noteDamage(s, []damage{{0, 0, "record out of order"}})
		q.mu.Unlock()
		return false
	}
	if rec.Seq > r.prev+1 {
		q.mu.Lock()
		q.markLost(s, r.prev+1, rec.Seq-1, "unreadable")
		q.mu.Unlock()
	}
	r.prev = rec.Seq
	return true
}

// fromTail serves from the in-memory records; q.mu is held.
func (r *Reader) fromTail(upTo uint64) (Record, bool) {
	t := r.q.tail
	i := sort.Search(len(t), func(i int) bool { return t[i].Seq >= r.next })
	for ; i < len(t) && t[i].Seq <= upTo; i++ {
		r.next = t[i].Seq + 1
		if !r.q.acked.has(t[i].Seq) {
			return t[i].Record, true
		}
	}
	return Record{}, false
}

func (q *Queue) isAcked(seq uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.acked.has(seq)
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
