package queue

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// logBuf collects a queue's log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func payloadFor(seq uint64) []byte {
	return fmt.Appendf(nil, `{"v":1,"seq":%d,"samples":[{"device":"boiler1","values":{"o2":{"v":%d.5,"q":"good"}}}]}`, seq, seq%97)
}

func mustOpen(t *testing.T, o Options) *Queue {
	t.Helper()
	q, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func appendN(t testing.TB, q *Queue, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		seq, err := q.Append(func(seq uint64) ([]byte, error) { return payloadFor(seq), nil })
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// drain reads every unacknowledged record and checks each payload.
func drain(t *testing.T, q *Queue) []uint64 {
	t.Helper()
	r := q.NewReader(0)
	defer r.Close()
	var got []uint64
	for {
		rec, ok, err := r.Next(^uint64(0))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		if !bytes.Equal(rec.Payload, payloadFor(rec.Seq)) {
			t.Fatalf("seq %d: payload %q", rec.Seq, rec.Payload)
		}
		got = append(got, rec.Seq)
	}
}

// snapshot copies the queue directory as a kill -9 would leave it: what was
// written is in the files, fsynced or not.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestAppendAckReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q, err := Open(Options{Dir: dir, Logger: testLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	seqs := appendN(t, q, 50)
	if seqs[0] != 1 || seqs[49] != 50 {
		t.Fatalf("seqs %d..%d, want 1..50", seqs[0], seqs[49])
	}
	// Acknowledge out of order: the tail (live) and some of the head.
	for _, s := range []uint64{50, 49, 48, 1, 2, 3, 10} {
		q.Ack(s)
	}
	if st := q.Stats(); st.Pending != 43 || st.Appended != 50 || st.Acked != 7 {
		t.Fatalf("stats %+v, want 43 pending of 50, 7 acked", st)
	}
	if fp := q.FirstPending(); fp != 4 {
		t.Fatalf("FirstPending = %d, want 4", fp)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := mustOpen(t, Options{Dir: dir, Logger: testLogger(io.Discard)})
	got := drain(t, q2)
	var want []uint64
	for s := uint64(4); s <= 47; s++ {
		if s != 10 {
			want = append(want, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after reopen got %v, want %v", got, want)
	}
	next := appendN(t, q2, 1)[0]
	if next <= 50 {
		t.Fatalf("seq after reopen %d, want > 50", next)
	}
}

func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := mustOpen(t, Options{Dir: dir, SyncEvery: 1 << 40, SyncRecords: 1 << 30, Logger: testLogger(io.Discard)})
	appendN(t, q, 200)
	for s := uint64(1); s <= 100; s++ {
		q.Ack(s)
	}
	// Nothing was fsynced and the cursor was not saved: a kill -9 now.
	crashed := snapshot(t, dir)
	q2 := mustOpen(t, Options{Dir: crashed, Logger: testLogger(io.Discard)})
	got := drain(t, q2)
	if len(got) != 200 || got[0] != 1 || got[199] != 200 {
		t.Fatalf("after kill -9: %d records %v..., want all 200 (acks since the last cursor save come again)", len(got), got[:min(3, len(got))])
	}
}

func TestReaderLiveAndBacklog(t *testing.T) {
	t.Parallel()
	q := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 2048, TailBytes: 256, Logger: testLogger(io.Discard)})
	appendN(t, q, 40) // backlog: several segments, beyond the tail cache
	boundary := q.LastSeq()
	back := q.NewReader(q.FirstPending())
	defer back.Close()
	live := q.NewReader(boundary + 1)
	defer live.Close()
	var gotBack, gotLive []uint64
	for i := range 40 {
		appendN(t, q, 1)
		rec, ok, err := live.Next(^uint64(0))
		if err != nil || !ok {
			t.Fatalf("live %d: ok=%v err=%v", i, ok, err)
		}
		gotLive = append(gotLive, rec.Seq)
		q.Ack(rec.Seq)
		if rec, ok, err := back.Next(boundary); err != nil {
			t.Fatal(err)
		} else if ok {
			gotBack = append(gotBack, rec.Seq)
			q.Ack(rec.Seq)
		}
	}
	if len(gotBack) != 40 || gotBack[0] != 1 || gotBack[39] != 40 || !slices.IsSorted(gotBack) {
		t.Fatalf("backlog %v", gotBack)
	}
	if len(gotLive) != 40 || gotLive[0] != 41 || gotLive[39] != 80 {
		t.Fatalf("live %v", gotLive)
	}
	if st := q.Stats(); st.Pending != 0 || st.Segments > 1 {
		t.Fatalf("after acking everything: %+v, want 0 pending and at most the active segment", st)
	}
}

func TestCompactionKeepsEveryRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := mustOpen(t, Options{Dir: dir, SegmentBytes: 16 << 10, Logger: testLogger(io.Discard)})
	appendN(t, q, 2000)
	waitFor(t, func() bool { return q.Stats().Compacted >= 5 })
	zips, _ := filepath.Glob(filepath.Join(dir, "*.z"))
	if len(zips) == 0 {
		t.Fatal("no compressed segment")
	}
	got := drain(t, q)
	if len(got) != 2000 || got[0] != 1 || got[1999] != 2000 {
		t.Fatalf("read %d records", len(got))
	}
	for _, s := range got {
		q.Ack(s)
	}
	if st := q.Stats(); st.Pending != 0 {
		t.Fatalf("pending %d after acking all", st.Pending)
	}
}

// A segment sealed while most of it was delivered keeps only the rest:
// every unacknowledged record is read back, and no acknowledged one.
func TestCompactionKeepsOnlyUnacknowledged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	q := mustOpen(t, Options{Dir: dir, SegmentBytes: 16 << 10, Logger: testLogger(io.Discard)})
	seqs := appendN(t, q, 2000)
	for _, s := range seqs {
		if s%10 != 0 {
			q.Ack(s)
		}
	}
	appendN(t, q, 200) // seals the last segment, which then compacts too
	waitFor(t, func() bool { return q.Stats().Compacted >= 3 })
	got := drain(t, q)
	if len(got) != 400 || got[0] != 10 || got[199] != 2000 || got[200] != 2001 || got[399] != 2200 {
		t.Fatalf("read %d records: %v...", len(got), got[:min(5, len(got))])
	}
	if st := q.Stats(); st.Lost != 0 || st.Pending != 400 {
		t.Fatalf("stats %+v: want 400 pending, none lost", st)
	}
}

func TestFullQueueDropsOldest(t *testing.T) {
	t.Parallel()
	logs := &logBuf{}
	q := mustOpen(t, Options{Dir: t.TempDir(), SegmentBytes: 8 << 10, MaxBytes: 40 << 10, Logger: testLogger(logs)})
	appendN(t, q, 3000)
	waitFor(t, func() bool { return q.Stats().Bytes <= 40<<10 })
	st := q.Stats()
	if st.Dropped == 0 || st.Dropped+st.Pending != 3000 {
		t.Fatalf("stats %+v: want dropped + pending = 3000, dropped > 0", st)
	}
	got := drain(t, q)
	if got[len(got)-1] != 3000 || uint64(len(got)) != st.Pending {
		t.Fatalf("kept %d records ending %d; want the newest %d", len(got), got[len(got)-1], st.Pending)
	}
	if !strings.Contains(logs.String(), "queue full: oldest segment dropped") {
		t.Error("no log line for the drop")
	}
}

func TestAppendFailureIsCountedAsLost(t *testing.T) {
	t.Parallel()
	q := mustOpen(t, Options{Dir: t.TempDir(), Logger: testLogger(io.Discard)})
	appendN(t, q, 3)
	seq, err := q.Append(func(uint64) ([]byte, error) { return nil, fmt.Errorf("cannot encode") })
	if err == nil || seq != 4 {
		t.Fatalf("Append = %d, %v; want seq 4 and an error", seq, err)
	}
	appendN(t, q, 2)
	if got := drain(t, q); !slices.Equal(got, []uint64{1, 2, 3, 5, 6}) {
		t.Fatalf("got %v", got)
	}
	if st := q.Stats(); st.Lost != 1 || st.Pending != 5 {
		t.Fatalf("stats %+v, want 1 lost, 5 pending", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		sleep()
	}
	t.Fatal("condition not met within 5 s")
}

// The in-memory tail holds only what is not yet acknowledged, within
// TailBytes: a gateway that delivers keeps nothing, one cut off from its
// broker keeps a bounded window and serves the rest from disk.
func TestTailMemory(t *testing.T) {
	t.Parallel()
	q := mustOpen(t, Options{Dir: t.TempDir(), TailBytes: 1000, Logger: testLogger(io.Discard)})
	live := q.NewReader(1)
	defer live.Close()
	for i := range 50 {
		appendN(t, q, 1)
		rec, ok, err := live.Next(^uint64(0))
		if err != nil || !ok {
			t.Fatalf("live %d: ok=%v err=%v", i, ok, err)
		}
		q.Ack(rec.Seq)
		q.mu.Lock()
		n, b := len(q.tail), q.tailBytes
		q.mu.Unlock()
		if n != 0 || b != 0 {
			t.Fatalf("after acking record %d the tail holds %d records, %d bytes", rec.Seq, n, b)
		}
	}
	// The broker stops acknowledging.
	appendN(t, q, 200)
	q.mu.Lock()
	n, b, first := len(q.tail), q.tailBytes, q.tailFirst
	last := q.tail[n-1].Seq
	q.mu.Unlock()
	if b > 1000 || last != 250 {
		t.Fatalf("unacknowledged tail: %d records, %d bytes (limit 1000)", n, b)
	}
	// Everything is still delivered, the start from disk.
	back := q.NewReader(51)
	defer back.Close()
	for want := uint64(51); want <= 250; want++ {
		rec, ok, err := back.Next(^uint64(0))
		if err != nil || !ok || rec.Seq != want || string(rec.Payload) != string(payloadFor(want)) {
			t.Fatalf("record %d (tail from %d): %d ok=%v err=%v", want, first, rec.Seq, ok, err)
		}
	}
}

// Oldest is the lowest unacknowledged record, from memory or disk, and
// nothing once every record is acknowledged.
func TestOldest(t *testing.T) {
	q, err := Open(Options{Dir: t.TempDir(), Logger: testLogger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, ok, err := q.Oldest(); ok || err != nil {
		t.Fatalf("empty queue: ok %v, err %v", ok, err)
	}
	var seqs []uint64
	for i := range 3 {
		seq, err := q.Append(func(seq uint64) ([]byte, error) { return []byte(fmt.Sprintf("r%d", i)), nil })
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	q.Ack(seqs[0])
	rec, ok, err := q.Oldest()
	if !ok || err != nil || rec.Seq != seqs[1] || string(rec.Payload) != "r1" {
		t.Fatalf("Oldest = %d %q, %v, %v; want %d \"r1\"", rec.Seq, rec.Payload, ok, err, seqs[1])
	}
	q.Ack(seqs[1])
	q.Ack(seqs[2])
	if rec, ok, err := q.Oldest(); ok || err != nil {
		t.Errorf("all acknowledged: Oldest = %d, %v, %v", rec.Seq, ok, err)
	}
}
