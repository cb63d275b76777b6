package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Querier runs Flux queries; *store.Store is one.
type Querier interface {
	Query(ctx context.Context, flux string) (*api.QueryTableResult, error)
	Bucket() string
}

// GapOptions configure gap detection.
type GapOptions struct {
	// FillWithin is how long a gap in a gateway's sequence numbers may stay
	// open before it is reported: replayed backlog fills gaps late, and
	// only what is still missing then is lost. Default 5 minutes.
	FillWithin time.Duration
	// Lookup, when set, is asked which numbers of an overdue gap InfluxDB
	// holds: with a shared subscription each collector sees only part of
	// the stream, and the rest was written by the others. InfluxLookup
	// makes one.
	Lookup SeqLookup
	// Writer receives the event points.
	Writer Writer
	Logger *slog.Logger
}

// GapStats count what the tracker found.
type GapStats struct {
	Gaps       atomic.Uint64 // gaps reported
	Missing    atomic.Uint64 // messages missing in reported gaps
	LateFilled atomic.Uint64 // messages that arrived after their gap was reported
	Duplicates atomic.Uint64 // messages seen again (redelivery, replay)
}

// Gaps tracks the sequence numbers of each gateway and boot, and reports
// those that stay missing: a log line, a counter, and an InfluxDB point in
// measurement "events" (tags site, gateway; fields kind="seq_gap", from,
// to, boot) timed at the sample before the gap, so that two collectors
// reporting the same gap write the same point.
//
// Everything is keyed by (boot, seq), never by time: a gateway's clock may
// step backwards (an NTP correction) or forwards, so a later message can
// carry an earlier stamp. Stamps serve only to bound where InfluxDB is
// searched, and that window covers the stamps on both sides of a gap
// whatever their order.
type Gaps struct {
	o     GapOptions
	log   *slog.Logger
	Stats GapStats

	mu      sync.Mutex
	streams map[streamKey]*stream
}

type streamKey struct{ site, gateway, boot string }

// run is a range of consecutive numbers seen, with the stamps of the
// messages at its ends; noticed is when the gap before it (if any) was
// first seen.
type run struct {
	lo, hi     uint64
	loTS, hiTS stamps
	noticed    time.Time
}

// stamps are the source timestamps (Unix ms) of one message: its first
// sample's, which times the gap events (the same for every collector), and
// the earliest and latest of all its samples, which bound the lookup: the
// samples of one poll need not be in order.
type stamps struct{ first, min, max int64 }

// stampsOf a message with at least one sample.
func stampsOf(m *telemetry.Message) stamps {
	st := stamps{first: m.Samples[0].TS, min: m.Samples[0].TS, max: m.Samples[0].TS}
	for _, s := range m.Samples[1:] {
		st.min, st.max = min(st.min, s.TS), max(st.max, s.TS)
	}
	return st
}

// stampAt is the stamps of a message with a single timestamp.
func stampAt(ts int64) stamps { return stamps{ts, ts, ts} }

type stream struct {
	runs     []run
	reported []run // gaps already reported, to recognise late arrivals
	last     time.Time
}

// NewGaps creates a tracker; Run reports.
func NewGaps(o GapOptions) *Gaps {
	if o.FillWithin <= 0 {
		o.FillWithin = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Gaps{o: o, log: o.Logger.With("component", "gaps"), streams: map[streamKey]*stream{}}
}

// Observe records a message that was written.
func (g *Gaps) Observe(m *telemetry.Message) {
	if len(m.Samples) == 0 {
		return
	}
	g.observe(streamKey{m.Site, m.Gateway, m.Boot}, m.Seq, stampsOf(m), time.Now())
}

func (g *Gaps) observe(k streamKey, seq uint64, ts stamps, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.streams[k]
	if s == nil {
		s = &stream{}
		g.streams[k] = s
	}
	s.last = now
	for _, r := range s.reported {
		if seq >= r.lo && seq <= r.hi {
			g.Stats.LateFilled.Add(1)
			g.log.Info("message of a reported gap arrived", "site", k.site, "gateway", k.gateway, "boot", k.boot, "seq", seq)
		}
	}
	s.add(run{lo: seq, hi: seq, loTS: ts, hiTS: ts, noticed: now}, &g.Stats.Duplicates)
}

// add merges r into the sorted runs. The merged run keeps the age of the
// gap below the lowest run it absorbs: that gap is only smaller now.
func (s *stream) add(r run, dups *atomic.Uint64) {
	touches := func(x run) bool { return x.lo <= r.hi || x.lo-1 == r.hi } // x.lo ≤ r.hi+1 without overflow
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].hi >= r.lo || s.runs[i].hi+1 == r.lo })
	if i < len(s.runs) && s.runs[i].lo <= r.lo && s.runs[i].hi >= r.hi {
		if dups != nil {
			dups.Add(r.hi - r.lo + 1)
		}
		return
	}
	m := r
	j := i
	for ; j < len(s.runs) && touches(s.runs[j]); j++ {
		x := s.runs[j]
		if j == i {
			m.noticed = x.noticed
		}
		if x.lo < m.lo {
			m.lo, m.loTS = x.lo, x.loTS
		}
		if x.hi > m.hi {
			m.hi, m.hiTS = x.hi, x.hiTS
		}
	}
	s.runs = append(s.runs[:i], append([]run{m}, s.runs[j:]...)...)
}

// gap is a hole between two runs.
type gap struct {
	from, to uint64
	before   stamps // of the message before the gap
	after    stamps // of the message after it
	noticed  time.Time
}

// Run checks for overdue gaps until ctx ends.
func (g *Gaps) Run(ctx context.Context) {
	every := min(max(g.o.FillWithin/10, time.Second), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.Check(ctx, now)
		}
	}
}

// Check reports the gaps older than FillWithin at now.
func (g *Gaps) Check(ctx context.Context, now time.Time) {
	due := map[streamKey][]gap{}
	g.mu.Lock()
	for k, s := range g.streams {
		for i := 1; i < len(s.runs); i++ {
			prev, r := s.runs[i-1], s.runs[i]
			if now.Sub(r.noticed) >= g.o.FillWithin {
				due[k] = append(due[k], gap{from: prev.hi + 1, to: r.lo - 1, before: prev.hiTS, after: r.loTS, noticed: r.noticed})
			}
		}
		// A stream quiet for long with nothing open is done (the gateway
		// restarted under a new boot id); its state goes.
		if len(s.runs) <= 1 && now.Sub(s.last) > 3*g.o.FillWithin {
			delete(g.streams, k)
		}
	}
	g.mu.Unlock()
	for k, gaps := range due {
		found := map[uint64]int64{}
		if g.o.Lookup != nil {
			var err error
			found, err = g.lookup(ctx, k, gaps)
			if err != nil {
				// InfluxDB is down: ask again at the next check rather than
				// report a gap that may not be one.
				g.log.Warn("gap check postponed: cannot query InfluxDB", "site", k.site, "gateway", k.gateway, "error", err)
				continue
			}
		}
		g.settle(ctx, k, gaps, found)
	}
}

// settle fills gaps with what InfluxDB holds and reports the rest.
func (g *Gaps) settle(ctx context.Context, k streamKey, gaps []gap, found map[uint64]int64) {
	var events []*write.Point
	g.mu.Lock()
	s := g.streams[k]
	if s == nil {
		g.mu.Unlock()
		return
	}
	for _, gp := range gaps {
		// Walk the numbers InfluxDB holds inside the gap; between them is
		// what is missing.
		var have []uint64
		for seq := range found {
			if seq >= gp.from && seq <= gp.to {
				have = append(have, seq)
			}
		}
		sort.Slice(have, func(i, j int) bool { return have[i] < have[j] })
		next, before := gp.from, gp.before.first
		for _, seq := range have {
			if seq > next {
				events = append(events, g.report(k, next, seq-1, before, s))
			}
			next, before = seq+1, found[seq]
		}
		if next <= gp.to {
			events = append(events, g.report(k, next, gp.to, before, s))
		}
		// The gap is settled: found numbers are written, the rest reported.
		s.add(run{lo: gp.from, hi: gp.to, loTS: gp.before, hiTS: gp.after, noticed: gp.noticed}, nil)
	}
	g.mu.Unlock()
	if len(events) > 0 && g.o.Writer != nil {
		if err := g.o.Writer.Write(ctx, events...); err != nil {
			g.log.Error("writing gap events", "events", len(events), "error", err)
		}
	}
}

// report logs and counts one missing range and returns its event; g.mu is held.
func (g *Gaps) report(k streamKey, from, to uint64, beforeTS int64, s *stream) *write.Point {
	n := to - from + 1
	g.Stats.Gaps.Add(1)
	g.Stats.Missing.Add(n)
	g.log.Warn("sequence gap: messages missing", "site", k.site, "gateway", k.gateway, "boot", k.boot,
		"from", from, "to", to, "messages", n, "after_ts", beforeTS, "fill_within", g.o.FillWithin)
	s.reported = append(s.reported, run{lo: from, hi: to})
	if len(s.reported) > 100 {
		s.reported = s.reported[1:]
	}
	return write.NewPointWithMeasurement("events").
		AddTag("site", k.site).AddTag("gateway", k.gateway).
		AddField("kind", "seq_gap").AddField("from", int64(from)).AddField("to", int64(to)).
		AddField("boot", k.boot).
		SetTime(time.UnixMilli(beforeTS))
}

// SeqLookup returns the sequence numbers from..to of a gateway that InfluxDB
// holds, with their samples' timestamps (Unix ms), searching samples
// timestamped between start and stop, both included; the caller passes
// start ≤ stop.
type SeqLookup func(ctx context.Context, site, gateway string, from, to uint64, start, stop time.Time) (map[uint64]int64, error)

// lookup asks which numbers of the gaps are written. The numbers decide;
// the time window only narrows the search, so it spans every stamp of the
// messages on both sides of every gap, earliest to latest: after a clock
// stepped back the message after a gap carries an earlier stamp than the
// one before it, and the missing ones lie anywhere between the two.
func (g *Gaps) lookup(ctx context.Context, k streamKey, gaps []gap) (map[uint64]int64, error) {
	from, to := gaps[0].from, gaps[0].to
	start, stop := gaps[0].before.min, gaps[0].before.max
	for _, gp := range gaps {
		from, to = min(from, gp.from), max(to, gp.to)
		start = min(start, gp.before.min, gp.after.min)
		stop = max(stop, gp.before.max, gp.after.max)
	}
	// Messages are numbered in the order polls finish; a sample's
	// timestamp may precede its neighbour's by up to a poll's duration.
	// The slack also keeps the window non-empty when all stamps are equal.
	const slack = time.Minute
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return g.o.Lookup(ctx, k.site, k.gateway, from, to, time.UnixMilli(start).Add(-slack), time.UnixMilli(stop).Add(slack))
}

// InfluxLookup finds sequence numbers in the _seq field of the raw points.
func InfluxLookup(q Querier) SeqLookup {
	return func(ctx context.Context, site, gateway string, from, to uint64, start, stop time.Time) (map[uint64]int64, error) {
		// Flux refuses an empty range ("cannot query an empty range") and
		// its stop is exclusive: search [earlier, later + 1 ms) whatever
		// order the bounds came in, so the window is never empty and
		// includes both bounds.
		if stop.Before(start) {
			start, stop = stop, start
		}
		stop = stop.Add(time.Millisecond)
		flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s and r._value >= %d and r._value <= %d)
  |> keep(columns: ["_time", "_value"])`,
			store.FluxString(q.Bucket()), store.FluxTime(start), store.FluxTime(stop),
			store.And(store.Eq("_field", FieldSeq), store.Eq("site", site), store.Eq("gateway", gateway)), from, to)
		res, err := q.Query(ctx, flux)
		if err != nil {
			return nil, fmt.Errorf("looking up %s/%s seq %d..%d in %s..%s: %w", site, gateway, from, to,
				start.UTC().Format(time.RFC3339Nano), stop.UTC().Format(time.RFC3339Nano), err)
		}
		defer res.Close()
		found := map[uint64]int64{}
		for res.Next() {
			r := res.Record()
			if v, ok := r.Value().(int64); ok && v >= 0 {
				found[uint64(v)] = r.Time().UnixMilli()
			}
		}
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("looking up %s/%s seq %d..%d: reading the result: %w", site, gateway, from, to, err)
		}
		return found, nil
	}
}
