package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
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
	t.Parallel()
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
	// stepped is a gateway clock stepped by d (NTP) just before message
	// from was stamped.
	stepped := func(from uint64, d time.Duration) func(uint64) int64 {
		return func(seq uint64) int64 {
			if seq >= from {
				return tsOf(seq) + d.Milliseconds()
			}
			return tsOf(seq)
		}
	}
	tests := []struct {
		name      string
		observed  []obs
		stamp     func(seq uint64) int64 // the gateway's clock; default tsOf
		influx    map[uint64]bool        // numbers written by another collector
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
			name:     "clock stepped back an hour inside a gap",
			observed: seqs("b1", 0, 1, 2, 6, 7),
			stamp:    stepped(4, -time.Hour),
			influx:   map[uint64]bool{3: true, 5: true},
			checkAt:  6 * time.Minute,
			want:     []event{{4, 4, "b1", tsOf(3)}},
		},
		{
			name:     "clock stepped back a day at the message after the gap",
			observed: seqs("b1", 0, 1, 2, 6, 7),
			stamp:    stepped(6, -24*time.Hour),
			influx:   map[uint64]bool{3: true},
			checkAt:  6 * time.Minute,
			want:     []event{{4, 5, "b1", tsOf(3)}},
		},
		{
			name:     "clock stepped back inside one of two gaps",
			observed: seqs("b1", 0, 1, 3, 4, 8),
			stamp:    stepped(6, -10*time.Minute),
			influx:   map[uint64]bool{6: true},
			checkAt:  6 * time.Minute,
			want:     []event{{2, 2, "b1", tsOf(1)}, {5, 5, "b1", tsOf(4)}, {7, 7, "b1", stepped(6, -10*time.Minute)(6)}},
		},
		{
			name:     "clock stepped forward a year inside a gap",
			observed: seqs("b1", 0, 1, 2, 6, 7),
			stamp:    stepped(4, 365*24*time.Hour),
			influx:   map[uint64]bool{3: true, 4: true, 5: true},
			checkAt:  6 * time.Minute,
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
			stamp := tt.stamp
			if stamp == nil {
				stamp = tsOf
			}
			w := &memWriter{}
			lookup := func(_ context.Context, site, gw string, from, to uint64, start, stop time.Time) (map[uint64]int64, error) {
				if tt.lookupErr {
					return nil, errors.New("connection refused")
				}
				if site != "s1" || gw != "gw" || stop.Before(start) {
					t.Errorf("lookup %s/%s %d..%d in %s..%s", site, gw, from, to, start, stop)
				}
				// The window must hold every number the lookup asks
				// for, whatever order the clock stamped them in.
				for s := from; s <= to; s++ {
					if ts := stamp(s); ts < start.UnixMilli() || ts > stop.UnixMilli() {
						t.Errorf("lookup %d..%d in %s..%s misses %d stamped %s", from, to, start, stop, s, time.UnixMilli(ts).UTC())
					}
				}
				out := map[uint64]int64{}
				for s := range tt.influx {
					if s >= from && s <= to {
						out[s] = stamp(s)
					}
				}
				return out, nil
			}
			g := NewGaps(GapOptions{Lookup: lookup, Writer: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for _, o := range tt.observed {
				g.observe(streamKey{"s1", "gw", o.boot}, o.seq, stampAt(stamp(o.seq)), t0.Add(o.at))
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
	t.Parallel()
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
		g.observe(k, s, stampAt(t0.UnixMilli()+int64(s)), t0)
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
	g.observe(k, 3, stampAt(t0.UnixMilli()+3), t0.Add(8*time.Minute))
	if g.Stats.LateFilled.Load() != 1 {
		t.Fatalf("LateFilled = %d, want 1", g.Stats.LateFilled.Load())
	}
}

// TestGapLookupClockStepsBack runs gap detection against a real InfluxDB
// for a gateway whose clock is stepped back an hour by NTP in the middle of
// a gap: messages 1 and 2 are stamped before the step, 3, 4, 6 and 7 after
// it. This collector saw 1, 2, 6 and 7; another one (shared subscription)
// wrote 3 and 4; 5 is lost. The lookup must find 3 and 4 although their
// stamps are earlier than those on both sides of the gap, and 5 must be
// reported, once. Before gap detection was keyed by sequence, the lookup
// asked for the range [stamp of 2 − 1 min, stamp of 6 + 1 min), which is
// empty, and the check was postponed forever.
func TestGapLookupClockStepsBack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts InfluxDB")
	}
	influx := servicetest.StartInflux(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	defer st.Close()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}

	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	step := -time.Hour // applied to every stamp from message 3 on
	stamp := func(seq uint64) int64 {
		at := t0.Add(time.Duration(seq) * time.Second)
		if seq >= 3 {
			at = at.Add(step)
		}
		return at.UnixMilli()
	}
	message := func(seq uint64) *telemetry.Message {
		return &telemetry.Message{V: telemetry.Version, Site: "s1", Gateway: "gw", Seq: seq, Boot: "b",
			Samples: []telemetry.Sample{{Device: "boiler1", Profile: "p", Class: "boiler", TS: stamp(seq),
				Values: map[string]telemetry.Value{"steam_flow": telemetry.Number(float64(seq))}}}}
	}
	// Everything but 5 is in InfluxDB, whoever wrote it.
	for _, seq := range []uint64{1, 2, 3, 4, 6, 7} {
		if err := st.WriteLines(ctx, AppendLines(nil, message(seq))); err != nil {
			t.Fatal(err)
		}
	}

	var logs syncBuffer
	w := &memWriter{}
	g := NewGaps(GapOptions{Lookup: InfluxLookup(st), Writer: w, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	k := streamKey{"s1", "gw", "b"}
	for _, seq := range []uint64{1, 2, 6, 7} {
		g.observe(k, seq, stampAt(stamp(seq)), t0)
	}
	for _, when := range []time.Duration{6 * time.Minute, 7 * time.Minute} {
		g.Check(ctx, t0.Add(when))
	}
	if got, want := w.events(t), []event{{5, 5, "b", stamp(4)}}; !slices.Equal(got, want) {
		t.Errorf("events %+v, want %+v\nlog:\n%s", got, want, logs.String())
	}
	if n, m := g.Stats.Gaps.Load(), g.Stats.Missing.Load(); n != 1 || m != 1 {
		t.Errorf("Stats: %d gaps, %d missing; want 1, 1", n, m)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestGapWindowCoversEverySample: the lookup window spans all samples of
// the messages beside a gap, not only their first: the clock may step
// between two devices' answers within one poll.
func TestGapWindowCoversEverySample(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixMilli()
	msg := func(seq uint64, ts ...int64) *telemetry.Message {
		m := &telemetry.Message{V: telemetry.Version, Site: "s1", Gateway: "gw", Seq: seq, Boot: "b"}
		for _, x := range ts {
			m.Samples = append(m.Samples, telemetry.Sample{Device: "d", Profile: "p", Class: "boiler", TS: x,
				Values: map[string]telemetry.Value{"x": telemetry.Number(1)}})
		}
		return m
	}
	hour := time.Hour.Milliseconds()
	var start, stop time.Time
	calls := 0
	g := NewGaps(GapOptions{Writer: &memWriter{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Lookup: func(_ context.Context, _, _ string, _, _ uint64, a, b time.Time) (map[uint64]int64, error) {
			calls++
			start, stop = a, b
			return nil, nil
		}})
	g.Observe(msg(1, t0))
	g.Observe(msg(2, t0+1000, t0-2*hour)) // stepped back between its two devices
	g.Observe(msg(4, t0-2*hour+3000, t0+3*hour))
	g.Check(context.Background(), time.Now().Add(time.Hour))
	if calls != 1 {
		t.Fatalf("lookup called %d times, want 1", calls)
	}
	for _, ts := range []int64{t0 + 1000, t0 - 2*hour, t0 - 2*hour + 3000, t0 + 3*hour} {
		if ts < start.UnixMilli() || ts > stop.UnixMilli() {
			t.Errorf("window %s..%s misses the sample stamped %s", start, stop, time.UnixMilli(ts).UTC())
		}
	}
	if g.Stats.Gaps.Load() != 1 || g.Stats.Missing.Load() != 1 {
		t.Errorf("Stats: %d gaps, %d missing; want 1, 1", g.Stats.Gaps.Load(), g.Stats.Missing.Load())
	}
}
