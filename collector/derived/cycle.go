package derived

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/cluster"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// A cycle's queries are shared by the sites: InfluxDB 1.8 answers each
// Flux query at a cost of its own, so one query per site and cycle bounds
// an engine to a few dozen sites (docs/scaling.md). The watermarks of all
// sites whose computing is about as far come from one query, and the raw
// samples of many sites' closing minutes from one query each.
const (
	// maxSitesPerQuery bounds the predicate a query carries and, for the
	// raw samples, the data one answer holds.
	maxSitesPerQuery = 50
	// batchSpan bounds the time one shared raw-sample query covers: sites
	// catching up read their chunk alone, as one site's hours are data
	// enough for one answer.
	batchSpan = 20 * time.Minute
	// watermarkSpread bounds how much longer a shared watermark query
	// reads for one site than its own would.
	watermarkSpread = 10 * time.Minute
)

// cycleStats are where a cycle's time went (logged when it was long).
type cycleStats struct {
	start, watermarks, samples, writes time.Duration
	sampleQueries, rows, chunks        int
}

// siteRound is a site's part of a cycle: the subjects this collector
// computes there and the chunk of minutes they close next.
type siteRound struct {
	site string
	subs []*subject
	// limit: each subject closing minutes, up to where; from: the first
	// of them; end: where this chunk stops; qTo: the samples read end
	// here (counters need readings past the chunk's end).
	limit         map[*subject]time.Time
	from, end     time.Time
	qTo           time.Time
	want          map[energy.Key]span // key → the samples read
	start         time.Time           // the earliest of want
	out           energy.Output
	watermarkFrom time.Time
}

// Cycle does one round over the sites: placing subjects that start,
// late data, watermarks, closed windows, writes, alerts. Queries that
// every cycle makes are shared by the sites (peers' progress and late
// markers, watermarks, raw samples); only a subject starting or going
// back for late data queries for its site alone.
func (r *Runner) Cycle(ctx context.Context) (err error) {
	began := time.Now()
	var st cycleStats
	r.stats = &st
	defer func() {
		// A cycle longer than every: the engine falls behind; where its
		// time went says which query to look at. Every cycle that closed
		// minutes is logged at debug level (make scale keeps them).
		took := time.Since(began)
		msg, level := "energy cycle", slog.LevelDebug
		if took > r.o.Config.Every.Duration {
			msg, level = "energy cycle longer than every", slog.LevelInfo
		}
		if err == nil && (st.chunks > 0 || level == slog.LevelInfo) {
			r.log.Log(ctx, level, msg, "took", took.Round(time.Millisecond), "starting", st.start.Round(time.Millisecond),
				"watermarks", st.watermarks.Round(time.Millisecond), "samples", st.samples.Round(time.Millisecond), "sample_queries", st.sampleQueries,
				"sample_rows", st.rows, "writes", st.writes.Round(time.Millisecond), "site_chunks", st.chunks)
		}
	}()
	var view cluster.View
	if r.o.Cluster != nil {
		view = r.o.Cluster.View()
	}
	rounds := make([]*siteRound, 0, len(r.sites))
	var active []*subject
	for _, site := range r.sites {
		subs := r.bySite[site]
		if r.o.Cluster != nil {
			subs = r.assign(subs, view)
		}
		rounds = append(rounds, &siteRound{site: site, subs: subs})
		active = append(active, subs...)
	}
	if r.o.Cluster != nil {
		if err := r.peerProgress(ctx, r.subjects); err != nil {
			return err
		}
	}
	t := time.Now()
	stored, err := r.storedStarts(ctx, active)
	if err != nil {
		return err
	}
	for _, rd := range rounds {
		if err := r.startSubjects(ctx, rd.site, rd.subs, stored); err != nil {
			r.restart(rd.subs)
			return fmt.Errorf("site %s: %w", rd.site, err)
		}
	}
	if r.o.Cluster != nil {
		if err := r.peerLate(ctx, active); err != nil {
			return err
		}
	}
	for _, rd := range rounds {
		if err := r.recomputeLate(ctx, rd.site, rd.subs); err != nil {
			r.restart(rd.subs)
			return fmt.Errorf("site %s: %w", rd.site, err)
		}
	}
	st.start = time.Since(t)
	t = time.Now()
	now := r.o.Now()
	if err := r.watermarks(ctx, rounds, now); err != nil {
		return err
	}
	st.watermarks = time.Since(t)
	for range maxChunksPerCycle {
		var todo []*siteRound
		for _, rd := range rounds {
			if r.plan(rd, now) {
				todo = append(todo, rd)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		if err := r.computeAll(ctx, batches(todo, func(rd *siteRound) (time.Time, time.Time) { return rd.start, rd.qTo }, batchSpan), view); err != nil {
			return err
		}
	}
	return nil
}

// fetched is a batch's samples, read ahead.
type fetched struct {
	data          map[string]energy.Data
	queries, rows int
	err           error
}

// computeAll computes the batches in turn, reading the next one's samples
// while this one's are read, computed and written: a cycle at 200 sites
// is mostly waiting for InfluxDB to return a million raw rows, which it
// can do on its second core meanwhile (docs/scaling.md). The batches'
// plans and watermarks are made before; computing one changes nothing
// another reads.
func (r *Runner) computeAll(ctx context.Context, bs [][]*siteRound, view cluster.View) error {
	ctx, cancel := context.WithCancel(ctx)
	var pending []chan fetched
	defer func() {
		cancel()
		for _, ch := range pending {
			<-ch // a read still going: ended by cancel
		}
	}()
	read := func(batch []*siteRound) chan fetched {
		ch := make(chan fetched, 1)
		go func() { ch <- r.samples(ctx, batch) }()
		return ch
	}
	for i, batch := range bs {
		if i == 0 {
			pending = append(pending, read(batch))
		}
		if i+1 < len(bs) {
			pending = append(pending, read(bs[i+1]))
		}
		t := time.Now()
		f := <-pending[0]
		pending = pending[1:]
		r.stats.samples += time.Since(t)
		r.stats.sampleQueries += f.queries
		r.stats.rows += f.rows
		if err := r.compute(ctx, batch, f, view); err != nil {
			return err
		}
	}
	return nil
}

// span is the time of a key's samples a chunk reads, [from, to); counter
// says it ends at the round's qTo rather than at its end.
type span struct {
	from, to time.Time
	counter  bool
}

// plan sets the site's next chunk; false if no subject has a minute to
// close.
func (r *Runner) plan(rd *siteRound, now time.Time) bool {
	cfg := r.o.Config
	// Each subject may close minutes up to its own limit.
	rd.limit = map[*subject]time.Time{}
	var from, to time.Time
	for _, s := range rd.subs {
		if s.wm.IsZero() {
			continue
		}
		l := energy.Floor(s.wm.Add(-cfg.Grace.Duration), energy.Minute, cfg.Location)
		if r.idle(s, now) {
			l = energy.Floor(s.wm, energy.Minute, cfg.Location).Add(time.Minute)
		}
		if !l.After(s.next()) {
			continue
		}
		rd.limit[s] = l
		r.mu.Lock()
		s.closing = minTime(l, s.next().Add(chunk))
		r.mu.Unlock()
		if from.IsZero() || s.next().Before(from) {
			from = s.next()
		}
		if l.After(to) {
			to = l
		}
	}
	if len(rd.limit) == 0 {
		return false
	}
	end := to
	if end.Sub(from) > chunk {
		end = from.Add(chunk)
	}
	var latest time.Time
	for s := range rd.limit {
		if s.wm.After(latest) {
			latest = s.wm
		}
	}
	// Counters spread a delta over the minutes between two readings: read
	// past the chunk's end (up to the watermark) so the last minutes'
	// deltas are known. Every other input is read for the chunk's minutes
	// only.
	qTo := end.Add(cfg.Grace.Duration + time.Minute)
	if latest.Before(qTo) {
		qTo = latest.Add(time.Millisecond)
	}
	rd.want = map[energy.Key]span{}
	rd.start = from
	for s := range rd.limit {
		// A minute reads its own samples (counters keep their last
		// reading); a steam meter also the pressure read before it.
		e := from.Add(-s.back)
		for _, k := range s.keys {
			w, ok := rd.want[k]
			if !ok || e.Before(w.from) {
				w.from = e
			}
			w.counter = w.counter || slices.Contains(s.counterKeys, k)
			rd.want[k] = w
		}
		if e.Before(rd.start) {
			rd.start = e
		}
	}
	for k, w := range rd.want {
		w.to = end
		if w.counter {
			w.to = qTo
		}
		rd.want[k] = w
	}
	rd.from, rd.end, rd.qTo = from, end, qTo
	return true
}

// batches groups rounds, in the order of their start, into groups of at
// most maxSitesPerQuery whose [start, stop) spans at most span together.
func batches(rounds []*siteRound, bounds func(*siteRound) (time.Time, time.Time), span time.Duration) [][]*siteRound {
	sorted := append([]*siteRound(nil), rounds...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, _ := bounds(sorted[i])
		b, _ := bounds(sorted[j])
		return a.Before(b)
	})
	var out [][]*siteRound
	var cur []*siteRound
	var first, last time.Time
	for _, rd := range sorted {
		start, stop := bounds(rd)
		if len(cur) > 0 && (len(cur) >= maxSitesPerQuery || maxTime(last, stop).Sub(first) > span) {
			out = append(out, cur)
			cur = nil
		}
		if len(cur) == 0 {
			first, last = start, stop
		}
		cur = append(cur, rd)
		last = maxTime(last, stop)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// compute closes the batch's chunk of minutes from its samples (f) and
// writes the results. On an error, the samples' included, the batch's
// subjects start again from what is stored (restart).
func (r *Runner) compute(ctx context.Context, batch []*siteRound, f fetched, view cluster.View) (err error) {
	var subs []*subject
	names := make([]string, len(batch))
	for i, rd := range batch {
		subs = append(subs, rd.subs...)
		names[i] = rd.site
	}
	defer func() {
		if err != nil {
			r.restart(subs)
			err = fmt.Errorf("sites %s: %w", strings.Join(names, ", "), err)
		}
	}()
	if f.err != nil {
		return f.err
	}
	data := f.data
	r.stats.chunks += len(batch)
	t := time.Now()
	defer func() { r.stats.writes += time.Since(t) }()
	outs := make([]*energy.Output, len(batch))
	for i, rd := range batch {
		rd.out = energy.Output{}
		for s, l := range rd.limit {
			s.advance(minTime(l, rd.end), data[rd.site], &rd.out)
		}
		r.eng.Relate(&rd.out)
		outs[i] = &rd.out
	}
	if r.o.Cluster != nil && !r.o.Cluster.View().Same(view) {
		return errHandover
	}
	if err := r.emit(ctx, outs, subs); err != nil {
		return err
	}
	r.mu.Lock()
	for _, rd := range batch {
		for s := range rd.limit {
			s.done = s.next()
		}
	}
	r.mu.Unlock()
	return r.clearLate(ctx, subs)
}

// samples reads the good samples each round of the batch wants, in its
// span: counters in one query, to the rounds' qTo, and the other inputs in
// another, to their ends. [site] → samples.
func (r *Runner) samples(ctx context.Context, batch []*siteRound) fetched {
	f := fetched{data: map[string]energy.Data{}}
	for _, counter := range []bool{true, false} {
		if f.err = r.readSamples(ctx, batch, counter, &f); f.err != nil {
			return f
		}
	}
	for _, d := range f.data {
		sortSamples(d)
	}
	return f
}

// readSamples adds to f the samples of the batch's counters (counter) or
// of its other inputs.
func (r *Runner) readSamples(ctx context.Context, batch []*siteRound, counter bool, f *fetched) error {
	var start, stop time.Time
	sites, devs, fields := map[string]*siteRound{}, map[string]bool{}, map[string]bool{}
	for _, rd := range batch {
		for k, w := range rd.want {
			if w.counter != counter {
				continue
			}
			sites[rd.site] = rd
			devs[k.Device], fields[k.Point] = true, true
			if start.IsZero() || w.from.Before(start) {
				start = w.from
			}
			stop = maxTime(stop, w.to)
		}
	}
	if len(sites) == 0 {
		return nil
	}
	q := store.SampleFilter{Sites: slices.Sorted(maps.Keys(sites)), Fields: slices.Sorted(maps.Keys(fields)), Measurements: r.o.Measurements,
		Start: start, Stop: stop}
	if len(sites) == 1 || r.few(batch, devs, fields) {
		// The devices closing a minute: a site's own, or of many sites
		// when most of theirs are not (a cycle for the meters whose
		// reading past a minute came after the others'). Otherwise the
		// fields narrow enough, and a device list of thousands would be a
		// predicate as long.
		q.Devices = slices.Sorted(maps.Keys(devs))
	}
	f.queries++
	out := f.data
	return r.o.Store.Samples(ctx, q, func(smp store.Sample) {
		f.rows++
		rd := sites[smp.Site]
		if rd == nil {
			return
		}
		k := energy.Key{Device: smp.Device, Point: smp.Field}
		w, ok := rd.want[k]
		if !ok || w.counter != counter || smp.Time.Before(w.from) || !smp.Time.Before(w.to) {
			return
		}
		if out[smp.Site] == nil {
			out[smp.Site] = energy.Data{}
		}
		out[smp.Site][k] = append(out[smp.Site][k], energy.Sample{T: smp.Time, V: smp.Value})
	})
}

// few reports whether devs are at most half of the devices the batch's
// sites read fields from: reading only theirs costs InfluxDB their series,
// not every series of the sites.
func (r *Runner) few(batch []*siteRound, devs, fields map[string]bool) bool {
	all := map[string]bool{}
	for _, rd := range batch {
		for _, s := range r.bySite[rd.site] {
			for _, k := range s.keys {
				if fields[k.Point] {
					all[rd.site+"\x00"+k.Device] = true
				}
			}
		}
	}
	return 2*len(devs) <= len(all)
}

// watermarks moves each subject's watermark to the newest sample of its
// devices: one query for the sites whose subjects are about as far.
func (r *Runner) watermarks(ctx context.Context, rounds []*siteRound, now time.Time) error {
	// Samples count once their time has come (never one stamped ahead of
	// the wall clock). A start still ahead (energy.since up to a day in
	// the future) has nothing to look at yet: querying would be an empty
	// range, which InfluxDB refuses.
	stop := time.Now()
	var todo []*siteRound
	for _, rd := range rounds {
		var from time.Time
		for _, s := range rd.subs {
			w := s.wm
			if w.IsZero() {
				w = s.next()
			}
			if from.IsZero() || w.Before(from) {
				from = w
			}
		}
		if len(rd.subs) == 0 || !from.Before(stop) || !r.mayClose(rd.subs, stop, now) || r.told(rd.subs, stop) {
			continue
		}
		rd.watermarkFrom = from
		todo = append(todo, rd)
	}
	bounds := func(rd *siteRound) (time.Time, time.Time) { return rd.watermarkFrom, rd.watermarkFrom }
	for _, group := range batches(todo, bounds, watermarkSpread) {
		if err := r.watermarkGroup(ctx, group, stop); err != nil {
			return err
		}
	}
	return nil
}

// mayClose reports whether a newer watermark could let one of subs close
// a minute now (stop: the wall clock watermarks stop at). A subject closes
// its next minute once a sample Grace past its end is stored, and no
// sample counts before its time has come: before next + 1 min + Grace on
// the wall clock none can, so its watermark need not be read yet — the
// sites' minutes close together, so most cycles read none. A subject with
// no watermark yet, or whose data may have stopped for Idle at now (which
// its watermark decides), is always read.
func (r *Runner) mayClose(subs []*subject, stop, now time.Time) bool {
	cfg := r.o.Config
	for _, s := range subs {
		if s.wm.IsZero() || !stop.Before(s.next().Add(time.Minute+cfg.Grace.Duration)) {
			return true
		}
		if r.idle(s, now) {
			return true
		}
	}
	return false
}

// idle: the data of s's devices stopped for Config.Idle at now, so it
// closes the minute of its watermark without waiting out the grace.
func (r *Runner) idle(s *subject, now time.Time) bool {
	idle := r.o.Config.Idle.Duration
	return idle > 0 && now.Sub(s.wmMoved) >= idle
}

// told moves the watermarks of subs to the newest samples Late was told of
// (Options.Written), if it can: each has a watermark already and no sample
// ahead of stop. False: they must be read.
func (r *Runner) told(subs []*subject, stop time.Time) bool {
	if !r.o.Written || r.o.Cluster != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		if s.wm.IsZero() || s.written.After(stop) {
			return false
		}
	}
	now := r.o.Now()
	for _, s := range subs {
		if s.written.After(s.wm) {
			s.wm, s.wmMoved = s.written, now
		}
	}
	return true
}

func (r *Runner) watermarkGroup(ctx context.Context, group []*siteRound, stop time.Time) error {
	sites := map[string]*siteRound{}
	from := group[0].watermarkFrom
	devs := map[string]bool{}
	for _, rd := range group {
		sites[rd.site] = rd
		if rd.watermarkFrom.Before(from) {
			from = rd.watermarkFrom
		}
		for _, s := range rd.subs {
			for _, d := range s.devices {
				devs[d] = true
			}
		}
	}
	where := store.And(store.Matches("site", slices.Sorted(maps.Keys(sites))...), store.Eq("_field", telemetry.FieldSeq))
	if len(group) == 1 {
		where = store.And(where, store.OneOf("device", slices.Sorted(maps.Keys(devs))...))
	}
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> last() |> keep(columns: ["_time", "device", "site"])`, store.FluxString(r.o.Store.Bucket()), store.FluxTime(from), store.FluxTime(stop), where)
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return err
	}
	newest := map[string]map[string]time.Time{}
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey("site").(string)
		d, _ := rec.ValueByKey("device").(string)
		rd := sites[site]
		// Before the site's own start: not in what its own query reads.
		if rd == nil || rec.Time().Before(rd.watermarkFrom) {
			continue
		}
		if newest[site] == nil {
			newest[site] = map[string]time.Time{}
		}
		if rec.Time().After(newest[site][d]) {
			newest[site][d] = rec.Time()
		}
	}
	res.Close()
	if err := res.Err(); err != nil {
		return fmt.Errorf("watermark query: %w", err)
	}
	now := r.o.Now()
	for _, rd := range group {
		for _, s := range rd.subs {
			w := s.wm
			for _, d := range s.devices {
				if t := newest[rd.site][d]; t.After(w) {
					w = t
				}
			}
			if w.After(s.wm) || s.wmMoved.IsZero() {
				s.wmMoved = now
			}
			s.wm = w
		}
	}
	return nil
}
