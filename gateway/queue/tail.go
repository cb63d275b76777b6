package queue

import (
	"slices"
	"sort"
	"time"
)

// The in-memory tail: the recent unacknowledged records, bounded by
// TailBytes, from which live publishing reads without touching the disk.

// tailRec is a record kept in memory, with when it was appended.
type tailRec struct {
	Record
	at time.Duration // since Queue.t0
}

// addTail keeps a new record in memory; mu is held. Beyond TailBytes the
// oldest records go (and are read from disk when needed); write-behind, one
// not yet written is written first.
func (q *Queue) addTail(seq uint64, payload []byte) {
	if q.tailFirst == 0 {
		q.tailFirst = seq
	}
	q.tail = append(q.tail, tailRec{Record{Seq: seq, Payload: slices.Clone(payload)}, time.Since(q.t0)})
	q.tailBytes += len(payload)
	if q.o.WriteBehind == 0 {
		q.flushed = seq
	}
	for q.tailBytes > q.o.TailBytes && len(q.tail) > 1 {
		// The broker is behind: the oldest go, and are read from disk.
		if q.tail[0].Seq > q.flushed {
			q.flushLocked(q.tail[0].Seq, 0)
		}
		q.popTail()
	}
}

// popTail drops the oldest record kept in memory; mu is held.
func (q *Queue) popTail() {
	q.tailBytes -= len(q.tail[0].Payload)
	q.tailFirst = q.tail[0].Seq + 1
	q.tail[0] = tailRec{} // let the payload go now, not when the array does
	q.tail = q.tail[1:]
}

// popAcked drops the acknowledged records at the head of the tail; mu is
// held.
func (q *Queue) popAcked() {
	for len(q.tail) > 0 && q.acked.has(q.tail[0].Seq) {
		q.popTail()
	}
}

// firstUnflushed is the index of the tail's first record above flushed:
// from it on, records are in memory only (write-behind); mu is held.
func (q *Queue) firstUnflushed() int {
	return sort.Search(len(q.tail), func(i int) bool { return q.tail[i].Seq > q.flushed })
}
