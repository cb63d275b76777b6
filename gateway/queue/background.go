package queue

import (
	"slices"
	"time"
)

// The queue's one goroutine: on its tick it writes behind (or fsyncs,
// write-through) and saves the cursor now and then; on a signal it compacts
// sealed segments and enforces the byte bound. Close stops it.

// cursorEvery is how often acknowledgements are saved: losing them costs
// duplicates only, and writing a file ten times a second wears flash.
const cursorEvery = time.Second

// background writes behind (or fsyncs, write-through), saves the cursor,
// compacts and enforces the bound.
func (q *Queue) background() {
	every := q.o.SyncEvery
	if q.o.WriteBehind > 0 {
		// A record waits at least half the window for its acknowledgement
		// and is written by the tick after: at most the window in all.
		every = max(q.o.WriteBehind/2, time.Millisecond)
	}
	syncT := time.NewTicker(every)
	defer syncT.Stop()
	lastCursor := time.Now()
	for {
		select {
		case <-q.stop:
			return
		case <-syncT.C:
			var err error
			if q.o.WriteBehind > 0 {
				err = q.flush(every)
			} else {
				err = q.Sync()
			}
			if err != nil {
				q.log.Error("fsync failed", "error", err)
			}
			if time.Since(lastCursor) >= cursorEvery {
				q.saveCursor(false)
				lastCursor = time.Now()
			}
		case <-q.compact:
			q.compactSealed()
			q.enforceLimit()
		}
	}
}

// saveCursor writes the cursor if it changed; durable (on Close) also if
// it was saved without an fsync. A gateway whose broker acknowledges
// records while they are in memory never writes it.
func (q *Queue) saveCursor(durable bool) {
	q.mu.Lock()
	if !q.cursorDirty && !(durable && q.cursorUnsynced) {
		q.mu.Unlock()
		return
	}
	s := slices.Clone(q.acked)
	q.cursorDirty = false
	q.cursorUnsynced = !durable
	q.cursorWrites++
	q.mu.Unlock()
	if err := saveCursor(q.o.Dir, s, durable); err != nil {
		q.log.Error("saving cursor", "error", err)
	}
}
