package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

type memWriter struct {
	mu     sync.Mutex
	points []*write.Point
	fail   error
}

func (w *memWriter) Write(_ context.Context, pts ...*write.Point) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.points = append(w.points, pts...)
	return nil
}

// event is a seq_gap point as fields.
type event struct {
	from, to int64
	boot     string
	ts       int64
}

func (w *memWriter) events(t *testing.T) []event {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []event
	for _, p := range w.points {
		if p.Name() != "events" {
			t.Fatalf("point in %q, want events", p.Name())
		}
		var e event
		tags := map[string]string{}
		for _, tg := range p.TagList() {
			tags[tg.Key] = tg.Value
		}
		if tags["site"] != "s1" || tags["gateway"] != "gw" {
			t.Errorf("event tags %v", tags)
		}
		for _, f := range p.FieldList() {
			switch f.Key {
			case "kind":
				if f.Value != "seq_gap" {
					t.Errorf("kind %v", f.Value)
				}
			case "from":
				e.from = f.Value.(int64)
			case "to":
				e.to = f.Value.(int64)
			case "boot":
				e.boot = f.Value.(string)
			}
		}
		e.ts = p.Time().UnixMilli()
		out = append(out, e)
	}
	return out
}

func TestGaps(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	type obs struct {
		boot string
		seq  uint64
		at   time.Duration // after t0, wall clock of arrival
	}
	seqs := func(boot string, at time.Duration, ss ...uint64) []obs {
		var out []obs
		for _, s := range ss {
			out = append(out, obs{boot, s, at})
		}
		return out
	}
	// ts of a message: seq seconds after t0, so events can be checked.
	tsOf := func(seq uint64) int64 { return t0.Add(time.Duration(seq) * time.Second).UnixMilli() }
	tests := []struct {
		name      string
		observed  []obs
		influx    map[uint64]bool // numbers written by another collector
		lookupErr bool
		checkAt   time.Duration
		want      []event
		dups      uint64
	}{
		{
			name:     "contiguous",
			observed: seqs("b1", 0, 1, 2, 3, 4, 5),
			checkAt:  time.Hour,
		},
		{
			name:     "gap filled by replay within the window",
			observed: append(seqs("b1", 0, 1, 2, 6, 7), seqs("b1", 4*time.Minute, 3, 4, 5)...),
			checkAt:  10 * time.Minute,
		},
		{
			name:     "gap not filled",
			observed: seqs("b1", 0, 1, 2, 6, 7),
			checkAt:  6 * time.Minute,
			want:     []event{{3, 5, "b1", tsOf(2)}},
		},
		{
			name:     "gap not yet overdue",
			observed: seqs("b1", 0, 1, 2, 6, 7),
			checkAt:  4 * time.Minute,
		},
		{
			name:     "shared subscription: the other collector wrote most of it",
			observed: seqs("b1", 0, 1, 2, 9, 10),
			influx:   map[uint64]bool{3: true, 4: true, 6: true, 8: true},
			checkAt:  6 * time.Minute,
			want:     []event{{5, 5, "b1", tsOf(4)}, {7, 7, "b1", tsOf(6)}},
		},
		{
			name:      "InfluxDB down: nothing reported yet",
			observed:  seqs("b1", 0, 1, 2, 6),
			lookupErr: true,
			checkAt:   6 * time.Minute,
		},
		{
			name:     "a new boot is a new stream, not a gap",
			observed: append(seqs("b1", 0, 1, 2, 3), seqs("b2", time.Second, 1004, 1005)...),
			checkAt:  time.Hour,
		},
		{
			name:     "gaps in two boots",
			observed: append(seqs("b1", 0, 1, 3), seqs("b2", 0, 1004, 1006)...),
			checkAt:  time.Hour,
			want:     []event{{2, 2, "b1", tsOf(1)}, {1005, 1005, "b2", tsOf(1004)}},
		},
		{
			name:     "redelivered messages are duplicates, not gaps",
			observed: seqs("b1", 0, 1, 2, 2, 3, 1, 4),
			checkAt:  time.Hour,
			dups:     2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &memWriter{}
			lookup := func(_ context.Context, site, gw string, from, to uint64, start, stop time.Time) (map[uint64]int64, error) {
				if tt.lookupErr {
					return nil, errors.New("connection refused")
				}
				if site != "s1" || gw != "gw" || start.UnixMilli() > tsOf(from) || stop.UnixMilli() < tsOf(to) {
					t.Errorf("lookup %s/%s %d..%d in %s..%s", site, gw, from, to, start, stop)
				}
				out := map[uint64]int64{}
				for s := range tt.influx {
					if s >= from && s <= to {
						out[s] = tsOf(s)
					}
				}
				return out, nil
			}
			g := NewGaps(GapOptions{Lookup: lookup, Writer: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for _, o := range tt.observed {
				g.observe(streamKey{"s1", "gw", o.boot}, o.seq, tsOf(o.seq), t0.Add(o.at))
			}
			g.Check(context.Background(), t0.Add(tt.checkAt))
			got := w.events(t)
			slices.SortFunc(got, func(a, b event) int { return int(a.from - b.from) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %+v\nwant   %+v", got, tt.want)
			}
			if n := g.Stats.Gaps.Load(); n != uint64(len(tt.want)) {
				t.Errorf("Stats.Gaps = %d, want %d", n, len(tt.want))
			}
			if n := g.Stats.Duplicates.Load(); n != tt.dups {
				t.Errorf("Stats.Duplicates = %d, want %d", n, tt.dups)
			}
			// A second check reports nothing again.
			g.Check(context.Background(), t0.Add(tt.checkAt))
			if !tt.lookupErr && len(w.events(t)) != len(tt.want) {
				t.Errorf("gaps reported twice: %+v", w.events(t))
			}
		})
	}
}

// TestGapReportedLaterWhenInfluxReturns: a postponed check reports once
// InfluxDB answers, and a message of a reported gap arriving afterwards is
// counted as filled late.
func TestGapReportedLaterWhenInfluxReturns(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	down := true
	w := &memWriter{}
	g := NewGaps(GapOptions{Writer: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Lookup: func(context.Context, string, string, uint64, uint64, time.Time, time.Time) (map[uint64]int64, error) {
			if down {
				return nil, errors.New("down")
			}
			return nil, nil
		}})
	k := streamKey{"s1", "gw", "b"}
	for _, s := range []uint64{1, 2, 5} {
		g.observe(k, s, t0.UnixMilli()+int64(s), t0)
	}
	g.Check(context.Background(), t0.Add(6*time.Minute))
	if g.Stats.Gaps.Load() != 0 {
		t.Fatal("reported while InfluxDB was down")
	}
	down = false
	g.Check(context.Background(), t0.Add(7*time.Minute))
	if g.Stats.Gaps.Load() != 1 || g.Stats.Missing.Load() != 2 || len(w.events(t)) != 1 {
		t.Fatalf("after InfluxDB returned: %d gaps, %d missing, %d events; want 1, 2, 1", g.Stats.Gaps.Load(), g.Stats.Missing.Load(), len(w.events(t)))
	}
	g.observe(k, 3, t0.UnixMilli()+3, t0.Add(8*time.Minute))
	if g.Stats.LateFilled.Load() != 1 {
		t.Fatalf("LateFilled = %d, want 1", g.Stats.LateFilled.Load())
	}
}
