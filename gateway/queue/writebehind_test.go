package queue

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// segFiles lists the queue directory's segment files.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "seg-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// With the broker acknowledging promptly, write-behind writes no record,
// no cursor, and one sequence block: what was acknowledged in memory never
// reaches the disk.
func TestWriteBehindOnlineWritesNothing(t *testing.T) {
	t.Parallel()
	// Fake time: the write-behind ticker runs without real waits.
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		q := mustOpen(t, Options{Dir: dir, WriteBehind: 100 * time.Millisecond, Logger: testLogger(io.Discard)})
		live := q.NewReader(1)
		defer live.Close()
		const n = 20 * 300 // five minutes of a 20-device site
		for i := range n {
			appendN(t, q, 1)
			rec, ok, err := live.Next(^uint64(0))
			if err != nil || !ok {
				t.Fatalf("live %d: ok=%v err=%v", i, ok, err)
			}
			q.Ack(rec.Seq)
			if i%2000 == 0 {
				time.Sleep(120 * time.Millisecond) // let the write-behind ticker run
			}
		}
		time.Sleep(150 * time.Millisecond)
		if files := segFiles(t, dir); len(files) != 0 {
			t.Errorf("segment files %v, want none", files)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, cursorFile)); !os.IsNotExist(err) {
			t.Errorf("cursor file written (%v), want none", err)
		}
		if q.cursorWrites != 0 || q.seq.writes != 1 {
			t.Errorf("cursor written %d times, sequence %d times; want 0 and 1 for %d records", q.cursorWrites, q.seq.writes, n)
		}
		if st := q.Stats(); st.Pending != 0 || st.Acked != n || st.Bytes != 0 {
			t.Errorf("stats %+v", st)
		}
		// The next start numbers on above everything.
		q2 := mustOpen(t, Options{Dir: dir, WriteBehind: 100 * time.Millisecond, Logger: testLogger(io.Discard)})
		if got := appendN(t, q2, 1)[0]; got <= n {
			t.Fatalf("seq after restart %d, want > %d", got, n)
		}
		if got := drain(t, q2); len(got) != 1 {
			t.Fatalf("after restart pending %v, want only the new record", got)
		}
	})
}

// With the broker gone, records reach the disk within the window: a kill
// -9 (a snapshot of the directory) one window after they were appended
// finds them all, in order, and the acknowledged ones in between are
// neither sent again nor counted lost.
func TestWriteBehindOutageReachesDiskWithinWindow(t *testing.T) {
	t.Parallel()
	// Fake time: "within the window" is exact, and costs no real wait.
	synctest.Test(t, func(t *testing.T) {
		const w = 200 * time.Millisecond
		dir := t.TempDir()
		q := mustOpen(t, Options{Dir: dir, WriteBehind: w, Logger: testLogger(io.Discard)})
		seqs := appendN(t, q, 300)
		// The broker acknowledged some of them at once (a link going down
		// loses the last few acknowledgements, not all).
		for _, s := range seqs {
			if s%3 == 0 || s > 250 {
				q.Ack(s)
			}
		}
		if files := segFiles(t, dir); len(files) != 0 {
			t.Fatalf("written before the window: %v", files)
		}
		time.Sleep(w + 50*time.Millisecond)
		crashed := snapshot(t, dir)
		var want []uint64
		for _, s := range seqs {
			if s%3 != 0 && s <= 250 {
				want = append(want, s)
			}
		}
		if st := q.Stats(); st.Pending != uint64(len(want)) {
			t.Fatalf("pending %d, want %d", st.Pending, len(want))
		}
		q2 := mustOpen(t, Options{Dir: crashed, WriteBehind: w, Logger: testLogger(io.Discard)})
		if got := drain(t, q2); !slices.Equal(got, want) {
			t.Fatalf("after kill -9: %d records %v..., want %d", len(got), got[:min(5, len(got))], len(want))
		}
		if st := q2.Stats(); st.Lost != 0 || st.Damaged != 0 || st.Pending != uint64(len(want)) {
			t.Fatalf("after kill -9: %+v; want nothing lost or damaged, %d pending", st, len(want))
		}
		// A live reader of the running queue still gets everything once.
		if got := drain(t, q); !slices.Equal(got, want) {
			t.Fatalf("reading the running queue: %d records, want %d", len(got), len(want))
		}
	})
}

// Records younger than the window are in memory only: a kill -9 loses
// them (the documented window), Close writes them.
func TestWriteBehindCloseWritesUnacknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, WriteBehind: time.Hour, Logger: testLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, q, 100)
	q.Ack(5)
	if got := drain(t, mustOpen(t, Options{Dir: snapshot(t, dir), Logger: testLogger(io.Discard)})); len(got) != 0 {
		t.Fatalf("a kill -9 inside the window left %d records; the window is in memory", len(got))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := mustOpen(t, Options{Dir: dir, WriteBehind: time.Hour, Logger: testLogger(io.Discard)})
	got := drain(t, q2)
	if len(got) != 99 || got[0] != 1 || got[4] != 6 || got[98] != 100 {
		t.Fatalf("after Close and Open: %d records %v...", len(got), got[:min(6, len(got))])
	}
	if st := q2.Stats(); st.Lost != 0 || st.Pending != 99 {
		t.Fatalf("stats %+v", st)
	}
}

// The records kept in memory are bounded by TailBytes: beyond it the
// oldest are written at once, whatever the window.
func TestWriteBehindMemoryFullWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := mustOpen(t, Options{Dir: dir, WriteBehind: time.Hour, TailBytes: 4000, Logger: testLogger(io.Discard)})
	appendN(t, q, 500)
	q.mu.Lock()
	b, n := q.tailBytes, len(q.tail)
	q.mu.Unlock()
	if b > 4000 {
		t.Fatalf("memory holds %d records, %d bytes (limit 4000)", n, b)
	}
	if files := segFiles(t, dir); len(files) == 0 {
		t.Fatal("nothing written with memory full")
	}
	if got := drain(t, q); len(got) != 500 || got[0] != 1 || got[499] != 500 {
		t.Fatalf("read %d records", len(got))
	}
	q.Close()
	q2 := mustOpen(t, Options{Dir: dir, Logger: testLogger(io.Discard)})
	if got := drain(t, q2); len(got) != 500 {
		t.Fatalf("after Close and Open: %d records", len(got))
	}
}

// Settled-range markers survive compaction and a damaged record next to
// them: acknowledged numbers are not lost, damaged ones are.
func TestWriteBehindCompactionAndDamage(t *testing.T) {
	t.Parallel()
	// Fake time: the rounds a window apart cost no real wait.
	synctest.Test(t, func(t *testing.T) {
		const w = 40 * time.Millisecond
		dir := t.TempDir()
		q := mustOpen(t, Options{Dir: dir, WriteBehind: w, SegmentBytes: 16 << 10, Logger: testLogger(io.Discard)})
		var want []uint64
		for round := range 20 {
			seqs := appendN(t, q, 100)
			for _, s := range seqs {
				if s%2 == 0 || round%4 == 0 {
					q.Ack(s)
				} else {
					want = append(want, s)
				}
			}
			time.Sleep(w)
		}
		waitFor(t, func() bool { return q.Stats().Compacted >= 2 })
		if got := drain(t, q); !slices.Equal(got, want) {
			t.Fatalf("read %d records, want %d", len(got), len(want))
		}
		if st := q.Stats(); st.Lost != 0 || st.Damaged != 0 || st.Pending != uint64(len(want)) {
			t.Fatalf("stats %+v, want %d pending, none lost", st, len(want))
		}
		q.Close()
		q2 := mustOpen(t, Options{Dir: dir, WriteBehind: w, Logger: testLogger(io.Discard)})
		if got := drain(t, q2); !slices.Equal(got, want) {
			t.Fatalf("after reopen read %d records, want %d", len(got), len(want))
		}
		if st := q2.Stats(); st.Lost != 0 || st.Damaged != 0 {
			t.Fatalf("after reopen %+v", st)
		}
	})
}

// A record damaged in a raw segment written behind is counted lost; the
// settled numbers around it are not.
func TestWriteBehindDamagedRawSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, WriteBehind: time.Hour, Logger: testLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, q, 30)
	for s := uint64(1); s <= 30; s++ {
		if s%5 == 0 {
			q.Ack(s)
		}
	}
	q.Close() // writes 24 records and 5 markers
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("segments %v", files)
	}
	path := filepath.Join(dir, files[0])
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside the payload of record 12.
	needle := []byte(`"seq":12,`)
	i := strings.Index(string(data), string(needle))
	if i < 0 {
		t.Fatal("record 12 not found")
	}
	data[i+2] ^= 0x20
	os.WriteFile(path, data, 0o644)
	q2 := mustOpen(t, Options{Dir: dir, Logger: testLogger(io.Discard)})
	got := drain(t, q2)
	var want []uint64
	for s := uint64(1); s <= 30; s++ {
		if s%5 != 0 && s != 12 {
			want = append(want, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := q2.Stats(); st.Lost != 1 || st.Damaged != 1 {
		t.Fatalf("stats %+v, want 1 lost, 1 damaged", st)
	}
}

// Sequence blocks: a gateway at 20 records/s writes the seq file a few
// times a day, not every 50 s.
func TestSequenceBlockWrites(t *testing.T) {
	t.Parallel()
	s, err := OpenSequence(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const perDay = 20 * 86400
	for range perDay / 10 { // a tenth of a day
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if s.writes > 3 {
		t.Fatalf("%d seq writes for a tenth of a day at 20/s, want ≤ 3 (≤ 20 a day)", s.writes)
	}
	t.Logf("seq file: %d writes for %d numbers (%.0f a day at 20 records/s)", s.writes, perDay/10, float64(s.writes)*10)
}
