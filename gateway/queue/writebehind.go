package queue

import (
	"time"
)

// Write-behind (Options.WriteBehind > 0): records stay in the tail only,
// and those the broker has not acknowledged in time are written and
// fsynced here; write-through, flushed follows every append.

// flushLocked writes, in order, the records kept only in memory that are
// not acknowledged: all of them up to seq upTo, and after those the ones
// appended at least minAge ago; mu is held. A record that cannot be
// written is counted as lost.
func (q *Queue) flushLocked(upTo uint64, minAge time.Duration) {
	i := q.firstUnflushed()
	now := time.Since(q.t0)
	for ; i < len(q.tail); i++ {
		r := &q.tail[i]
		if q.acked.has(r.Seq) {
			q.flushed = r.Seq // settled: nothing to write
			continue
		}
		if r.Seq > upTo && now-r.at < minAge {
			break
		}
		if err := q.write(r.Seq, r.Payload); err != nil {
			q.acked.add(r.Seq, r.Seq)
			q.stats.Lost++
			q.log.Error("record not written to the queue", "seq", r.Seq, "error", err)
		}
		q.flushed = r.Seq
	}
}

// flush writes (and fsyncs) what has waited minAge without an
// acknowledgement, or everything with minAge 0.
func (q *Queue) flush(minAge time.Duration) error {
	q.mu.Lock()
	if minAge == 0 {
		q.flushLocked(^uint64(0), 0)
	} else {
		q.flushLocked(0, minAge)
	}
	over := q.stats.Bytes > q.o.MaxBytes
	q.mu.Unlock()
	if over {
		q.enforceLimit()
	}
	return q.Sync() // what it wrote, and what addTail wrote when memory was full
}

// unwrittenLocked counts the unacknowledged records kept in memory only
// (write-behind); mu is held.
func (q *Queue) unwrittenLocked() uint64 {
	var n uint64
	for i := q.firstUnflushed(); i < len(q.tail); i++ {
		if !q.acked.has(q.tail[i].Seq) {
			n++
		}
	}
	return n
}
