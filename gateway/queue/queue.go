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
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

const quarantineDir = "quarantine"

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

// tailRec is a record kept in memory, with when it was appended.
type tailRec struct {
	Record
	at time.Duration // since Queue.t0
}

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

// load reads the directory: segments, cursor, foreign files.
func (q *Queue) load(seqLost bool) error {
	entries, err := os.ReadDir(q.o.Dir)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	var raws, zips []*segment
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "seq" || name == cursorFile || name == "lost+found":
			continue
		case name == quarantineDir && e.IsDir():
			continue
		case strings.HasSuffix(name, ".tmp") && e.Type().IsRegular():
			// Our own interrupted write (seq, cursor or compaction): the
			// original is still in place.
			os.Remove(filepath.Join(q.o.Dir, name))
			continue
		}
		first, last, compressed, ok := parseSegmentName(name)
		if !ok || !e.Type().IsRegular() {
			q.quarantineFile(name, "not a queue file")
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		s := &segment{first: first, last: last, path: filepath.Join(q.o.Dir, name), size: info.Size(), compressed: compressed, sealed: true}
		if compressed {
			zips = append(zips, s)
		} else {
			raws = append(raws, s)
		}
	}
	// A compaction that crashed after its rename leaves both files: the
	// compressed one is complete (it was fsynced before the rename).
	for _, r := range raws {
		if slices.ContainsFunc(zips, func(z *segment) bool { return z.first == r.first }) {
			os.Remove(r.path)
			continue
		}
		if s := q.loadRaw(r); s != nil {
			q.segs = append(q.segs, s)
		}
	}
	for _, z := range zips {
		if q.checkZip(z) {
			q.segs = append(q.segs, z)
		}
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i].first < q.segs[j].first })
	// Overlapping segments cannot come from this code; keep the first.
	for i := 1; i < len(q.segs); i++ {
		if q.segs[i].first <= q.segs[i-1].last {
			q.quarantineFile(filepath.Base(q.segs[i].path), fmt.Sprintf("overlaps %s", filepath.Base(q.segs[i-1].path)))
			q.segs = append(q.segs[:i], q.segs[i+1:]...)
			i--
		}
	}
	for _, s := range q.segs {
		q.stats.Bytes += s.size
	}
	acked, err := loadCursor(q.o.Dir)
	switch {
	case errors.Is(err, errNoCursor):
	case err != nil:
		// Only duplicates follow: everything queued is sent again.
		q.log.Warn("cursor unreadable, unsent-or-not records will be sent again", "error", err)
		q.quarantineFile(cursorFile, err.Error())
	default:
		for _, r := range acked {
			q.acked.add(r.lo, r.hi)
		}
	}
	var high uint64
	if len(q.segs) > 0 {
		high = q.segs[len(q.segs)-1].last
		q.acked.dropBelow(q.segs[0].first)
	}
	if n := len(q.acked); n > 0 {
		high = max(high, q.acked[n-1].hi)
	}
	if seqLost || q.seq.Last() < high {
		// The seq file was lost or is behind the data: skip a block.
		q.log.Warn("sequence restarted above the queued data", "from", high+seqBlock+1)
		q.seq.atLeast(high + seqBlock)
	}
	// Segments whose records were all acknowledged before the restart.
	for _, s := range slices.Clone(q.segs) {
		if q.acked.covers(s.first, s.last) {
			q.removeSegment(s)
		}
	}
	if len(q.segs) > 0 {
		q.signalCompact()
	}
	return nil
}

// loadRaw scans a raw segment left by a previous run. A clean one is kept as
// it is; a damaged one is rewritten compressed from its good records, and
// the original goes to quarantine/.
func (q *Queue) loadRaw(s *segment) *segment {
	data, err := os.ReadFile(s.path)
	if err != nil {
		q.quarantineFile(filepath.Base(s.path), err.Error())
		return nil
	}
	name := filepath.Base(s.path)
	if len(data) < len(rawHeader) && strings.HasPrefix(rawHeader, string(data)) {
		// Created, then the power went: nothing was in it.
		os.Remove(s.path)
		return nil
	}
	if !strings.HasPrefix(string(data), rawHeader) {
		q.quarantineFile(name, "bad segment header")
		return nil
	}
	var recs []Record
	var dmg []damage
	prev := s.first - 1
	var settled []Record
	scanRecords(data[len(rawHeader):], func(r Record, off int) {
		if r.Seq <= prev && (len(recs) > 0 || len(settled) > 0) || r.Seq < s.first {
			dmg = append(dmg, damage{int64(off + len(rawHeader)), 0, fmt.Sprintf("record seq %d out of order", r.Seq)})
			return
		}
		if r.through != 0 {
			// Acknowledged (or counted lost) before it was written.
			settled = append(settled, r)
			prev = r.through
			return
		}
		recs = append(recs, r)
		prev = r.Seq
	}, func(from, to int, why string) {
		dmg = append(dmg, damage{int64(from + len(rawHeader)), int64(to - from), why})
	})
	for _, m := range settled {
		q.acked.add(m.Seq, m.through)
	}
	if len(recs) == 0 {
		if len(dmg) > 0 {
			q.noteDamage(s, dmg)
			q.quarantineFile(name, "no readable record")
		} else {
			os.Remove(s.path)
		}
		return nil
	}
	s.last = recs[len(recs)-1].Seq
	// Records missing between good ones were never written (an append
	// failed and was counted then), or were damaged.
	if len(dmg) == 0 {
		s.sealed = true
		return s
	}
	q.noteDamage(s, dmg)
	// Rewrite the good records, then quarantine the original.
	out, err := q.rewrite(slices.Values(recs))
	if err != nil {
		q.log.Error("cannot rewrite damaged segment; keeping it as it is", "segment", name, "error", err)
		s.damaged = true
		return s
	}
	// Numbers missing between the good records are lost; acknowledging
	// them lets the queue move past them.
	var lost uint64
	p := s.first - 1
	for _, r := range recs {
		if r.Seq > p+1 {
			n := r.Seq - p - 1 - q.acked.count(p+1, r.Seq-1)
			lost += n
			q.acked.add(p+1, r.Seq-1)
		}
		p = r.Seq
	}
	q.stats.Lost += lost
	q.quarantineFile(name, fmt.Sprintf("%d damaged region(s); %d good records kept in %s", len(dmg), len(recs), filepath.Base(out.path)))
	return out
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

// checkZip reads a compressed segment's header only: reading every block of
// a day's backlog at start would delay polling; damage inside is found and
// reported when the segment is replayed.
func (q *Queue) checkZip(s *segment) bool {
	f, err := os.Open(s.path)
	if err != nil {
		q.quarantineFile(filepath.Base(s.path), err.Error())
		return false
	}
	defer f.Close()
	h := make([]byte, len(zipHeader))
	if n, _ := f.ReadAt(h, 0); n < len(h) || string(h) != zipHeader {
		f.Close()
		q.quarantineFile(filepath.Base(s.path), "bad segment header")
		return false
	}
	return true
}

func (q *Queue) quarantineFile(name, reason string) {
	dst, err := quarantine(q.o.Dir, name)
	if err != nil {
		q.log.Error("cannot quarantine file", "file", name, "reason", reason, "error", err)
		return
	}
	q.stats.Quarantined++
	q.log.Warn("file quarantined", "file", name, "to", dst, "reason", reason)
	q.trimQuarantine()
}

// trimQuarantine deletes the oldest quarantined files beyond QuarantineBytes.
func (q *Queue) trimQuarantine() {
	dir := filepath.Join(q.o.Dir, quarantineDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		files = append(files, file{e.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if total <= q.o.QuarantineBytes {
			break
		}
		if os.Remove(filepath.Join(dir, f.name)) == nil {
			total -= f.size
			q.log.Warn("quarantine full: deleted oldest file", "file", f.name, "bytes", f.size)
		}
	}
}

func (q *Queue) noteDamage(s *segment, dmg []damage) {
	for _, d := range dmg {
		q.stats.Damaged++
		q.log.Warn("damaged queue data skipped", "segment", filepath.Base(s.path), "offset", d.offset, "bytes", d.length, "reason", d.reason)
	}
	if len(dmg) > 0 {
		s.damaged = true
	}
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

// flushLocked writes, in order, the records kept only in memory that are
// not acknowledged: all of them up to seq upTo, and after those the ones
// appended at least minAge ago; mu is held. A record that cannot be
// written is counted as lost.
func (q *Queue) flushLocked(upTo uint64, minAge time.Duration) {
	i := sort.Search(len(q.tail), func(i int) bool { return q.tail[i].Seq > q.flushed })
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

// popTail drops the oldest record kept in memory; mu is held.
func (q *Queue) popTail() {
	q.tailBytes -= len(q.tail[0].Payload)
	q.tailFirst = q.tail[0].Seq + 1
	q.tail[0] = tailRec{} // let the payload go now, not when the array does
	q.tail = q.tail[1:]
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
		for len(q.tail) > 0 && q.acked.has(q.tail[0].Seq) {
			q.popTail()
		}
		return
	}
	q.acked.add(seq, seq)
	q.stats.Acked++
	q.cursorDirty = true
	for len(q.tail) > 0 && q.acked.has(q.tail[0].Seq) {
		q.popTail()
	}
	if s.sealed && q.acked.covers(s.first, s.last) {
		q.removeSegment(s)
	}
}

// markLost records numbers that turned out to be unreadable; mu is held.
func (q *Queue) markLost(s *segment, lo, hi uint64, why string) {
	if hi < lo {
		return
	}
	n := (hi - lo + 1) - q.acked.count(lo, hi)
	if n == 0 {
		return
	}
	q.stats.Lost += n
	q.acked.add(lo, hi)
	q.cursorDirty = true
	s.damaged = true
	q.log.Warn("queued records lost", "segment", filepath.Base(s.path), "from", lo, "to", hi, "records", n, "reason", why)
	if s.sealed && !s.removed && q.acked.covers(s.first, s.last) {
		q.removeSegment(s)
	}
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
	for i := sort.Search(len(q.tail), func(i int) bool { return q.tail[i].Seq > q.flushed }); i < len(q.tail); i++ {
		if !q.acked.has(q.tail[i].Seq) {
			return q.tail[i].Seq
		}
	}
	return q.seq.Last() + 1
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

// unwrittenLocked counts the unacknowledged records kept in memory only
// (write-behind); mu is held.
func (q *Queue) unwrittenLocked() uint64 {
	var n uint64
	for i := sort.Search(len(q.tail), func(i int) bool { return q.tail[i].Seq > q.flushed }); i < len(q.tail); i++ {
		if !q.acked.has(q.tail[i].Seq) {
			n++
		}
	}
	return n
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

func (q *Queue) signalCompact() {
	select {
	case q.compact <- struct{}{}:
	default:
	}
}

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

func (q *Queue) compactOne(s *segment) error {
	r, err := openSegReader(s.path, false)
	if err != nil {
		return err
	}
	defer r.close()
	// Only unacknowledged records are kept, one at a time: most of a
	// segment sealed while the broker is up was delivered already.
	kept := 0
	prev := s.first - 1
	out, err := q.rewrite(func(yield func(Record) bool) {
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
			kept++
			if !yield(rec) {
				return
			}
		}
	})
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
	q.mu.Lock()
	defer q.mu.Unlock()
	if s.removed {
		os.Remove(out.path)
		return nil
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
	return nil
}

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
