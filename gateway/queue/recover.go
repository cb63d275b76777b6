package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Recovery at Open: what a crash or power loss left in the directory is
// read back. Torn records are skipped and counted, damaged raw segments are
// rewritten from their good records, unusable files go to quarantine/, and
// the sequence restarts above everything known.

// load reads the directory: segments, cursor, foreign files.
func (q *Queue) load(seqLost bool) error {
	raws, zips, err := q.listSegments()
	if err != nil {
		return err
	}
	q.keepReadable(raws, zips)
	for _, s := range q.segs {
		q.stats.Bytes += s.size
	}
	q.restoreAcked()
	q.restartSequence(seqLost)
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

// listSegments finds the raw and compressed segment files, removes what our
// own interrupted writes left and quarantines what is not a queue file.
func (q *Queue) listSegments() (raws, zips []*segment, err error) {
	entries, err := os.ReadDir(q.o.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("queue: %w", err)
	}
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
			return nil, nil, fmt.Errorf("queue: %w", err)
		}
		s := &segment{first: first, last: last, path: filepath.Join(q.o.Dir, name), size: info.Size(), compressed: compressed, sealed: true}
		if compressed {
			zips = append(zips, s)
		} else {
			raws = append(raws, s)
		}
	}
	return raws, zips, nil
}

// keepReadable puts the segments that can be used into q.segs, in order.
func (q *Queue) keepReadable(raws, zips []*segment) {
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
}

// restoreAcked adds the cursor's acknowledged numbers.
func (q *Queue) restoreAcked() {
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
}

// restartSequence moves the sequence a block above every number the queue
// holds if the seq file was lost or is behind the data, so no number is
// used twice.
func (q *Queue) restartSequence(seqLost bool) {
	var high uint64
	if len(q.segs) > 0 {
		high = q.segs[len(q.segs)-1].last
		q.acked.dropBelow(q.segs[0].first)
	}
	if n := len(q.acked); n > 0 {
		high = max(high, q.acked[n-1].hi)
	}
	if seqLost || q.seq.Last() < high {
		q.log.Warn("sequence restarted above the queued data", "from", high+seqBlock+1)
		q.seq.atLeast(high + seqBlock)
	}
}

// loadRaw scans a raw segment left by a previous run. A clean one is kept as
// it is; a damaged one is rewritten compressed from its good records, and
// the original goes to quarantine/.
func (q *Queue) loadRaw(s *segment) *segment {
	data, ok := q.readRaw(s)
	if !ok {
		return nil
	}
	name := filepath.Base(s.path)
	recs, settled, dmg := scanRaw(s.first, data)
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
	q.stats.Lost += q.settleMissing(s.first, recs)
	q.quarantineFile(name, fmt.Sprintf("%d damaged region(s); %d good records kept in %s", len(dmg), len(recs), filepath.Base(out.path)))
	return out
}

// readRaw reads a raw segment whole; false if there is nothing to scan (the
// file is empty, unreadable or not a raw segment).
func (q *Queue) readRaw(s *segment) ([]byte, bool) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		q.quarantineFile(filepath.Base(s.path), err.Error())
		return nil, false
	}
	if len(data) < len(rawHeader) && strings.HasPrefix(rawHeader, string(data)) {
		// Created, then the power went: nothing was in it.
		os.Remove(s.path)
		return nil, false
	}
	if !strings.HasPrefix(string(data), rawHeader) {
		q.quarantineFile(filepath.Base(s.path), "bad segment header")
		return nil, false
	}
	return data, true
}

// scanRaw splits a raw segment's bytes (header included) into its records
// in order, its settled-range markers, and its damaged regions; a record
// out of order is damage.
func scanRaw(first uint64, data []byte) (recs, settled []Record, dmg []damage) {
	prev := first - 1
	scanRecords(data[len(rawHeader):], func(r Record, off int) {
		if r.Seq <= prev && (len(recs) > 0 || len(settled) > 0) || r.Seq < first {
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
	return recs, settled, dmg
}

// settleMissing acknowledges the numbers missing from first up to the last
// of recs, which lets the queue move past them, and returns how many of
// them were not acknowledged already: those are lost.
func (q *Queue) settleMissing(first uint64, recs []Record) uint64 {
	var lost uint64
	p := first - 1
	for _, r := range recs {
		if r.Seq > p+1 {
			n := r.Seq - p - 1 - q.acked.count(p+1, r.Seq-1)
			lost += n
			q.acked.add(p+1, r.Seq-1)
		}
		p = r.Seq
	}
	return lost
}

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
