// Package queue is the gateway's store-and-forward queue: every telemetry
// message is appended here before it is published, and removed only after
// the broker acknowledged it (PUBACK). It survives kill -9 and power loss,
// is bounded in bytes, and never stops the gateway over a damaged file.
//
// Layout of the queue directory:
//
//	seq                              sequence numbers reserved so far (Sequence)
//	cursor                           acknowledged numbers above the oldest segment
//	seg-<first>.raw                  records as appended (see record.go)
//	seg-<first>-<last>.z             sealed segments with unsent records, compressed
//	quarantine/                      files the queue could not use, kept for inspection
//
// Durability, write-behind (Options.WriteBehind > 0, the gateway's
// default): a record is kept in memory and written to its segment, with an
// fsync, only if the broker has not acknowledged it within half the window,
// when the records in memory exceed TailBytes, or on Close. While the broker
// acknowledges promptly nothing reaches the disk; a crash or power loss
// loses at most the records of the last WriteBehind that the broker had not
// acknowledged. Numbers acknowledged before they were written leave a small
// settled-range marker in the segment (record.go), so they are not taken for
// damage.
//
// Write-through (WriteBehind 0): a record is written to the segment file
// (the page cache) before Append returns, so a crash of the process loses
// nothing. The file is fsynced every SyncEvery and after SyncRecords
// records, or on every record with SyncAlways, so a power loss loses at
// most the records of that window that the broker had not acknowledged
// yet.
//
// Sequence numbers are reserved in blocks with an fsync before use and never
// repeat.
package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxBytes        = 500_000_000
	DefaultSyncEvery       = 100 * time.Millisecond
	DefaultSyncRecords     = 100
	DefaultSegmentBytes    = 4 << 20
	DefaultTailBytes       = 256 << 10
	DefaultQuarantineBytes = 64 << 20
)

// Options configure a queue. Zero values take the defaults.
type Options struct {
	Dir string
	// MaxBytes bounds the segment files. When they exceed it the oldest
	// segment is deleted with its unsent records, which are counted as
	// Dropped and logged: data is lost, never silently.
	MaxBytes int64
	// SyncEvery is the longest a written record waits for its fsync.
	SyncEvery time.Duration
	// SyncRecords forces an fsync after this many records.
	SyncRecords int
	// SyncAlways fsyncs every record before Append returns.
	SyncAlways bool
	// SegmentBytes is the size at which a segment is sealed.
	SegmentBytes int64
	// TailBytes bounds the recent records kept in memory, so that live
	// publishing never reads the disk. Only records not yet acknowledged
	// stay: an edge box cannot spare memory for what was delivered.
	TailBytes int
	// QuarantineBytes bounds quarantine/; the oldest files go first.
	QuarantineBytes int64
	// WriteBehind, if positive, keeps records in memory and writes (and
	// fsyncs) only those the broker has not acknowledged within half of it:
	// every unacknowledged record is on the disk at most WriteBehind after
	// Append. Ignored with SyncAlways. 0: every record is written on Append.
	WriteBehind time.Duration
	Logger      *slog.Logger
}

// withDefaults fills in the zero values.
func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = DefaultSyncEvery
	}
	if o.SyncRecords <= 0 {
		o.SyncRecords = DefaultSyncRecords
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.TailBytes <= 0 {
		o.TailBytes = DefaultTailBytes
	}
	if o.QuarantineBytes <= 0 {
		o.QuarantineBytes = DefaultQuarantineBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SyncAlways || o.WriteBehind < 0 {
		o.WriteBehind = 0
	}
	return o
}

// Stats are the queue's counters; the gateway reports them in its status.
type Stats struct {
	Pending  uint64 // records not yet acknowledged by the broker
	Bytes    int64  // bytes of segment files
	Segments int
	Appended uint64 // records appended since Open
	Acked    uint64 // records acknowledged since Open
	// Dropped: unsent records deleted because the queue was full.
	Dropped uint64
	// Lost: records that could not be written, or were unreadable.
	Lost uint64
	// Damaged: damaged regions found (torn or corrupt records, bad blocks).
	Damaged uint64
	// Quarantined: files moved to quarantine/.
	Quarantined uint64
	// Compacted: segments rewritten compressed.
	Compacted uint64
}

// Queue is a durable FIFO of telemetry records with out-of-order
// acknowledgement. It is safe for concurrent use.
type Queue struct {
	o   Options
	log *slog.Logger
	seq *Sequence

	syncMu sync.Mutex // serialises fsyncs, outside mu

	mu          sync.Mutex
	segs        []*segment // by first
	active      *segment   // last of segs while it takes appends
	af          *os.File
	wbuf        []byte
	unsynced    int
	acked       spans
	cursorDirty bool
	// cursorUnsynced: the cursor file was saved without an fsync since
	// Open; Close saves it durably then, and only then.
	cursorUnsynced bool
	cursorWrites   int // cursor files written since Open
	tail           []tailRec
	tailFirst      uint64 // every record ≥ tailFirst appended since Open is in tail
	tailBytes      int    // payload bytes in tail
	// flushed: every number up to it is written or needs no writing
	// (acknowledged or lost); the tail's records above it are in memory
	// only (write-behind).
	flushed uint64
	t0      time.Time // tailRec.at counts from here
	stats   Stats
	closed  bool

	notify  chan struct{}
	compact chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Open opens or creates the queue in o.Dir, recovering what a crash left:
// torn records are skipped and logged, unreadable files are moved to
// quarantine/, and everything else stays queued.
func Open(o Options) (*Queue, error) {
	if o.Dir == "" {
		return nil, errors.New("queue: no directory")
	}
	o = o.withDefaults()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &Queue{
		o: o, log: o.Logger.With("component", "queue", "dir", o.Dir), t0: time.Now(),
		notify: make(chan struct{}, 1), compact: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	seq, err := OpenSequence(o.Dir)
	var bad errSeqFile
	if errors.As(err, &bad) {
		// Numbering continues above every number the queue knows of, plus
		// a block, so no number is used twice.
		q.quarantineFile("seq", err.Error())
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.seq = seq
	if err := q.load(bad.err != nil); err != nil {
		return nil, err
	}
	q.flushed = q.seq.Last()
	q.enforceLimit()
	q.wg.Go(q.background)
	st := q.Stats()
	q.log.Info("queue opened", "pending", st.Pending, "segments", st.Segments, "bytes", st.Bytes, "next_seq", q.seq.Last()+1)
	return q, nil
}

// Append numbers a message, has build encode it with that number, and
// queues it. Write-through, the record is in the operating system's hands
// when Append returns (it survives a crash of the gateway) and on the disk
// after the next fsync; write-behind, it is in memory, and is written only
// if the broker has not acknowledged it within half of WriteBehind. A number
// whose message could not be stored is counted as Lost, so the collector
// sees and reports the gap.
func (q *Queue) Append(build func(seq uint64) ([]byte, error)) (uint64, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, errors.New("queue closed")
	}
	seq, err := q.seq.Next()
	if err != nil {
		q.mu.Unlock()
		return 0, fmt.Errorf("queue: %w", err)
	}
	payload, err := build(seq)
	if err == nil && q.o.WriteBehind == 0 {
		err = q.write(seq, payload)
	}
	if err != nil {
		q.acked.add(seq, seq)
		q.flushed = max(q.flushed, seq)
		q.stats.Lost++
		q.mu.Unlock()
		return seq, fmt.Errorf("queue: seq %d: %w", seq, err)
	}
	q.stats.Appended++
	q.addTail(seq, payload)
	needSync := q.o.WriteBehind == 0 && (q.o.SyncAlways || q.unsynced >= q.o.SyncRecords)
	over := q.stats.Bytes > q.o.MaxBytes+2*q.o.SegmentBytes
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	if over {
		// Compaction is behind; do not let the disk fill meanwhile.
		q.enforceLimit()
	}
	if needSync {
		if err := q.Sync(); err != nil {
			return seq, err
		}
	}
	return seq, nil
}

// Ack marks a record as acknowledged by the broker. A segment whose records
// are all acknowledged is deleted.
func (q *Queue) Ack(seq uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.acked.has(seq) {
		return
	}
	s := q.segmentOf(seq)
	if s == nil {
		if seq <= q.flushed || seq > q.seq.Last() {
			return
		}
		// Write-behind: still in memory only. Nothing on the disk
		// changes, not even the cursor.
		q.acked.add(seq, seq)
		q.stats.Acked++
		q.popAcked()
		return
	}
	q.acked.add(seq, seq)
	q.stats.Acked++
	q.cursorDirty = true
	q.popAcked()
	if s.sealed && q.acked.covers(s.first, s.last) {
		q.removeSegment(s)
	}
}

// Notify is signalled after each Append.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// LastSeq is the last number handed out.
func (q *Queue) LastSeq() uint64 { return q.seq.Last() }

// FirstPending is the lowest unacknowledged number, or LastSeq()+1 if none.
func (q *Queue) FirstPending() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.segs {
		for x := s.first; x <= s.last; {
			if !q.acked.has(x) {
				return x
			}
			// Skip the acknowledged range containing x.
			i := sort.Search(len(q.acked), func(i int) bool { return q.acked[i].hi >= x })
			x = q.acked[i].hi + 1
			if x == 0 {
				break
			}
		}
	}
	// Write-behind: records in memory only.
	for i := q.firstUnflushed(); i < len(q.tail); i++ {
		if !q.acked.has(q.tail[i].Seq) {
			return q.tail[i].Seq
		}
	}
	return q.seq.Last() + 1
}

// Oldest returns the oldest record not yet acknowledged, read as the
// forwarder reads it; false when nothing waits.
func (q *Queue) Oldest() (Record, bool, error) {
	r := q.NewReader(q.FirstPending())
	defer r.Close()
	return r.Next(q.LastSeq())
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Segments = len(q.segs)
	for _, s := range q.segs {
		if s.last >= s.first {
			st.Pending += (s.last - s.first + 1) - q.acked.count(s.first, s.last)
		}
	}
	st.Pending += q.unwrittenLocked()
	return st
}

// Sync fsyncs the records written so far.
func (q *Queue) Sync() error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	f, n := q.af, q.unsynced
	q.unsynced = 0
	q.mu.Unlock()
	if f == nil || n == 0 {
		return nil
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("queue fsync: %w", err)
	}
	return nil
}

// Close fsyncs, saves the cursor and stops the background work. The active
// segment stays as it is; the next Open picks it up.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	q.wg.Wait()
	// Write-behind: what the broker has not acknowledged goes to disk now.
	err := q.flush(0)
	q.mu.Lock()
	if q.af != nil {
		q.af.Close()
		q.active, q.af = nil, nil
	}
	q.mu.Unlock()
	q.saveCursor(true)
	return err
}
