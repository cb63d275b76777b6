package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/atomicfile"
)

// Damage and quarantine: files the queue cannot use move to quarantine/
// (bounded by QuarantineBytes), damaged regions are counted and logged, and
// numbers found unreadable are counted as lost and treated as settled.

const quarantineDir = "quarantine"

// quarantine moves a file the queue cannot use out of its way, keeping it
// for inspection.
func quarantine(dir, name string) (string, error) {
	qdir := filepath.Join(dir, quarantineDir)
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(qdir, name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = filepath.Join(qdir, fmt.Sprintf("%s.%d", name, i))
	}
	if err := os.Rename(filepath.Join(dir, name), dst); err != nil {
		return "", err
	}
	return dst, atomicfile.SyncDir(dir)
}

// quarantineFile moves the directory's file name to quarantine/, counts
// and logs it.
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

// noteDamage counts and logs the damaged regions found in segment s, which
// then goes to quarantine/ rather than being deleted when done.
func (q *Queue) noteDamage(s *segment, dmg []damage) {
	for _, d := range dmg {
		q.stats.Damaged++
		q.log.Warn("damaged queue data skipped", "segment", filepath.Base(s.path), "offset", d.offset, "bytes", d.length, "reason", d.reason)
	}
	if len(dmg) > 0 {
		s.damaged = true
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
