package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/gateway/queue"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The status's queue carries the stamp of the oldest sample still queued,
// and none once the broker acknowledged everything.
func TestQueueStatusOldest(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.Open(queue.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var seqs []uint64
	for _, ts := range []int64{1718000001000, 1718000002000} {
		seq, err := q.Append(func(seq uint64) ([]byte, error) {
			m := &telemetry.Message{V: telemetry.Version, Site: "s", Gateway: "g", Seq: seq, Boot: "0123456789abcdef",
				Samples: []telemetry.Sample{
					{Device: "b", Class: "boiler", Profile: "p", TS: ts + 500, Values: map[string]telemetry.Value{"x": telemetry.Number(1)}},
					{Device: "m", Class: "boiler", Profile: "p", TS: ts, Values: map[string]telemetry.Value{"x": telemetry.Number(1)}},
				}}
			return json.Marshal(m)
		})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if qs := queueStatus(q, log); qs.Pending != 2 || qs.OldestTS != 1718000001000 {
		t.Errorf("two queued: pending %d oldest_ts %d, want 2 and 1718000001000", qs.Pending, qs.OldestTS)
	}
	q.Ack(seqs[0])
	if qs := queueStatus(q, log); qs.Pending != 1 || qs.OldestTS != 1718000002000 {
		t.Errorf("first acknowledged: pending %d oldest_ts %d, want 1 and 1718000002000", qs.Pending, qs.OldestTS)
	}
	q.Ack(seqs[1])
	if qs := queueStatus(q, log); qs.Pending != 0 || qs.OldestTS != 0 {
		t.Errorf("all acknowledged: pending %d oldest_ts %d, want 0 and none", qs.Pending, qs.OldestTS)
	}
}

// config_applied at start is when the config file was written, or the
// start when the file is newer or unreadable.
func TestConfigApplied(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := os.Chtimes(f, written, written); err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	if got := configApplied(f, started); !got.Equal(written) {
		t.Errorf("older file: %v, want %v", got, written)
	}
	if got := configApplied(f, written.Add(-time.Hour)); !got.Equal(written.Add(-time.Hour)) {
		t.Errorf("file newer than the start: %v, want the start", got)
	}
	if got := configApplied(filepath.Join(t.TempDir(), "none.yaml"), started); !got.Equal(started) {
		t.Errorf("no file: %v, want the start", got)
	}
}
