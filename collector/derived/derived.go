// Package derived runs the efficiency and energy engine (package energy)
// against InfluxDB: it reads the raw samples the collector wrote, computes
// every window whose data is complete, writes boiler_efficiency, energy,
// energy_intensity, data_quality and events, and publishes alerts
// (telemetry.Alert on telemetry.AlertTopic).
//
// It works from the stored samples rather than from the live MQTT stream:
// what it computes is exactly what InfluxDB holds, replayed (historical)
// samples are computed like live ones, and after a restart or for late
// samples (Late) it computes again from the quarter hour concerned, the
// windows still open there rebuilt from stored exact sums (MeasSums), so
// no figure depends on when the collector restarted or data arrived.
// Windows are by sample time and close by a watermark taken from the data
// (see Run).
package derived

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Store is where samples come from and results go (collector/store).
type Store interface {
	Write(ctx context.Context, points ...*write.Point) error
	Query(ctx context.Context, flux string) (*api.QueryTableResult, error)
	// Samples reads raw samples: with InfluxQL on InfluxDB 1.x, which
	// returns a cycle's million rows in half the time its Flux takes.
	Samples(ctx context.Context, f store.SampleFilter, each func(store.Sample)) error
	Bucket() string
}

// Publisher sends an alert; it returns once the broker has it (QoS 1).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Options configure a Runner.
type Options struct {
	Config    *config.Energy
	Store     Store
	Publisher Publisher // nil: alerts are only written as events
	Logger    *slog.Logger
	// Now is the wall clock (for idle closing); nil is time.Now.
	Now func() time.Time
	// OnEfficiency, if set, is called with every efficiency window written,
	// and OnCycleError with every cycle that failed: the collector counts
	// them for monitoring.
	OnEfficiency func(*energy.Result)
	OnCycleError func(error)
	// Delete runs an InfluxQL DELETE (InfluxQL builds one): windows
	// computed again for late data lose their stale data_quality records.
	// nil: they are kept (logged).
	Delete func(ctx context.Context, influxql string) error
	// Cluster, if set, shares the boilers and meters with other
	// collectors: this runner computes those it owns, each after it has
	// owned it for Handover (docs/collectors.md). nil: all of them.
	Cluster  Membership
	Handover time.Duration
	// Written says Late is told of every raw sample written to the store
	// (the collector's ingest, the only writer of raw samples): the
	// watermarks come from what it was told, and InfluxDB is asked only for
	// subjects without one yet (after a start) or told of a sample stamped
	// ahead of the clock. Ignored with Cluster, where other collectors
	// write samples too.
	Written bool
	// Measurements are those raw samples are stored in (the ingest's
	// classes); the engine's raw-sample reads name them, as InfluxDB 1.8
	// would otherwise go through the engine's own series too, several
	// times the raw ones (docs/scaling.md). Empty: any measurement. A
	// class no longer configured is no longer read, not even to compute
	// old minutes again.
	Measurements []string
}

// subject is a boiler or a meter with its watermark.
type subject struct {
	site    string
	devices []string
	keys    []energy.Key
	next    func() time.Time
	start   func(time.Time)
	advance func(time.Time, energy.Data, *energy.Output)
	name    string         // for progress and logs: "boiler/<name>" or "meter/<name>"
	boiler  *energy.Boiler // nil for a meter
	// For a start part-way: the windows open there, rebuilt from stored
	// children, and the counters' last readings before it.
	spans       func(time.Time) []energy.Span
	restore     func(energy.Period, time.Time, []fields)
	counterKeys []energy.Key
	baseline    func(energy.Key, energy.Sample)
	// margin is how far before a late sample minutes may change: a
	// counter spreads a delta back to the previous reading (at most
	// max_gap before), a steam meter uses pressure read up to max_gap
	// before a minute.
	margin time.Duration
	// back is how far before the first minute of a chunk its samples are
	// read: a steam meter's pressure (and temperature) up to the runner's
	// lookBack; nothing else reads before the minute it computes (counters
	// keep their last reading, restored by baselines after a start).
	back time.Duration

	wm      time.Time // newest sample of its devices
	wmMoved time.Time // wall time the watermark last advanced
	started bool
	// written is the newest sample of its devices Late was told of
	// (Options.Written); guarded by Runner.mu.
	written time.Time

	// Guarded by Runner.mu (Late runs on the ingest's goroutine).
	done    time.Time // Next after the last advance
	closing time.Time // the minutes being closed now end here
	dirty   time.Time // earliest late sample not yet recomputed
	// markers are the stored late markers being recomputed, cleared once
	// computing is back at redo (where it was when they came).
	markers []time.Time
	redo    time.Time

	// With Options.Cluster: the unit of ownership (units), since when
	// this collector owns it (zero: it does not), whether it computes it
	// (owned for the handover time), and the newest sample of its devices
	// this collector wrote while not computing it.
	unit    string
	ownedAt time.Time
	active  bool
	seen    time.Time
	// peerNext is the progress its owner stored, read every cycle while
	// this collector does not compute it.
	peerNext time.Time
}

// Runner is the engine's service loop.
type Runner struct {
	o        Options
	eng      *energy.Engine
	log      *slog.Logger
	subjects []*subject
	byDevice map[string][]*subject // site + "\x00" + device
	bySite   map[string][]*subject
	sites    []string
	lookBack time.Duration

	mu sync.Mutex // the subjects' late-data fields

	// ready is signalled by Late when a sample written lets a subject
	// close a minute (Options.Written): Run starts a cycle then rather
	// than at its next tick.
	ready chan struct{}

	stats *cycleStats // the running cycle's

	// sent are the alerts published whose event is not stored yet (its
	// write failed): the next try stores the event without publishing the
	// alert again.
	sent map[sentAlert]bool
}

type sentAlert struct {
	site, boiler, kind string
	since              int64
}

// chunk bounds the data time one query covers, so catching up after a long
// outage proceeds in steps of bounded memory.
const chunk = 6 * time.Hour

// maxChunksPerCycle keeps a cycle short while catching up.
const maxChunksPerCycle = 8

// New prepares a runner.
func New(o Options) (*Runner, error) {
	eng, err := energy.New(o.Config)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Runner{o: o, eng: eng, log: o.Logger.With("component", "energy"), lookBack: lookBack, sent: map[sentAlert]bool{},
		ready: make(chan struct{}, 1)}
	sites := map[string]bool{}
	for _, b := range eng.Boilers {
		s := &subject{site: b.Cfg.Site, keys: b.Keys(), next: b.Next, start: b.Start, advance: b.Advance, name: boilerSubject(b.Cfg.Name), boiler: b,
			spans: b.Spans, counterKeys: b.CounterKeys(), baseline: b.BaselineKey, margin: boilerMargin}
		s.restore = func(p energy.Period, start time.Time, fs []fields) {
			sums := make([]energy.Sums, len(fs))
			for i, f := range fs {
				sums[i] = f.boilerSums()
			}
			b.Restore(p, start, sums)
		}
		r.subjects = append(r.subjects, s)
		sites[s.site] = true
	}
	for _, m := range eng.Meters {
		s := &subject{site: m.Cfg.Site, keys: m.Keys(), next: m.Next, start: m.Start, advance: m.Advance, name: meterSubject(m.Cfg.Name),
			spans: m.Spans, counterKeys: m.CounterKeys(), baseline: m.BaselineKey, margin: max(m.Cfg.MaxGap.Duration, time.Minute)}
		s.restore = func(p energy.Period, start time.Time, fs []fields) {
			rs := make([]energy.MeterResult, len(fs))
			for i, f := range fs {
				rs[i] = f.meterResult()
			}
			m.Restore(p, start, rs)
		}
		r.lookBack = max(r.lookBack, m.LookBack())
		if m.Cfg.Steam != nil {
			s.back = -1 // r.lookBack, once known
		}
		r.subjects = append(r.subjects, s)
		sites[s.site] = true
	}
	r.bySite = map[string][]*subject{}
	for _, s := range r.subjects {
		if s.back < 0 {
			s.back = r.lookBack
		}
		r.bySite[s.site] = append(r.bySite[s.site], s)
	}
	r.byDevice = map[string][]*subject{}
	for _, s := range r.subjects {
		seen := map[string]bool{}
		for _, k := range s.keys {
			if !seen[k.Device] {
				seen[k.Device] = true
				s.devices = append(s.devices, k.Device)
				r.byDevice[s.site+"\x00"+k.Device] = append(r.byDevice[s.site+"\x00"+k.Device], s)
			}
		}
	}
	for s := range sites {
		r.sites = append(r.sites, s)
	}
	r.units()
	sort.Strings(r.sites)
	return r, nil
}

// Engine is the computation, for inspection.
func (r *Runner) Engine() *energy.Engine { return r.eng }

// Run computes until ctx is done, every Config.Every. A boiler's or
// meter's minute closes when a sample of its devices at least Grace past
// the minute's end is in InfluxDB (the watermark comes from the data, so
// replayed and accelerated data close windows at their own pace), or when
// its data has stopped for Idle of wall time. When the ingest tells the
// engine what it writes (Options.Written), a cycle also starts as soon as
// a minute can close, after gathering the others that close with it: the
// tick alone would add up to Every to every minute's lag
// (docs/scaling.md).
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.o.Config.Every.Duration)
	defer t.Stop()
	for {
		err := r.Cycle(ctx)
		if errors.Is(err, errHandover) {
			r.log.Info("cluster: ownership changed during the cycle; starting again from stored progress")
			err = nil
		}
		if err != nil && ctx.Err() == nil {
			r.log.Warn("energy cycle failed, retrying next cycle", "error", err)
			if r.o.OnCycleError != nil {
				r.o.OnCycleError(err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.ready:
			if err != nil {
				// A failing InfluxDB is retried at the tick, not at
				// every sample.
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
				break
			}
			gather := time.NewTimer(min(gatherReady, r.o.Config.Every.Duration))
			select {
			case <-ctx.Done():
				gather.Stop()
				return nil
			case <-gather.C:
			}
		}
		// This cycle sees every sample written so far.
		select {
		case <-r.ready:
		default:
		}
	}
}

// gatherReady is how long a cycle waits after the first subject can close
// a minute, for the others that close the same minute: every gateway polls
// at its own phase and the ingest writes in batches, so one minute's
// samples arrive over a second or two; closing them in one cycle reads
// their data in one set of queries.
const gatherReady = 2 * time.Second

// restart makes subs start again from what is stored on their next
// cycle, as after a kill -9: a cycle that failed may have advanced them in
// memory past windows whose results, sums, alerts or progress it did not
// write (InfluxDB refusing writes for a moment), or left them half rewound
// (a failed query while starting or going back for late data); going on
// from there would lose those windows for good. Late samples seen but whose
// marker may not be stored are kept (dirty).
func (r *Runner) restart(subs []*subject) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range subs {
		if !s.started {
			continue
		}
		for _, m := range s.markers {
			if s.dirty.IsZero() || m.Before(s.dirty) {
				s.dirty = m
			}
		}
		s.started, s.markers = false, nil
	}
}

// lookBack is how far before a chunk a steam meter's samples are read at
// least: it uses the last pressure read within its max_gap, or the last
// enthalpy difference within steam.estimate_within, before a minute (the
// runner reads the longest Meter.LookBack back, if longer).
const lookBack = 15 * time.Minute

// boilerMargin: a boiler's counters spread a delta over at most 5 minutes
// (energy's counter gap for efficiency).
const boilerMargin = 5 * time.Minute

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// emit writes the results of outs (one per site), publishes the alerts,
// records the ends of episodes, and then records progress: progress last,
// so that what a restart skips has had its alerts and ends stored.
func (r *Runner) emit(ctx context.Context, outs []*energy.Output, subs []*subject) error {
	// The sums with the results, both before progress: a restart rebuilds
	// the windows open at its progress from them.
	var pts []*write.Point
	for _, out := range outs {
		pts = append(append(pts, Points(out)...), sumsPoints(out)...)
	}
	if err := r.write(ctx, pts); err != nil {
		return err
	}
	// In time order: an episode's end must be stored before the next
	// episode of the same kind is checked against it.
	type step struct {
		at  time.Time
		ev  *energy.Event
		end *energy.End
	}
	var steps []step
	for _, out := range outs {
		for i := range out.Events {
			steps = append(steps, step{at: out.Events[i].At, ev: &out.Events[i]})
		}
		for i := range out.Ends {
			steps = append(steps, step{at: out.Ends[i].At, end: &out.Ends[i]})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	for _, st := range steps {
		var err error
		if st.ev != nil {
			err = r.alert(ctx, st.ev)
		} else {
			err = r.end(ctx, st.end)
		}
		if err != nil {
			return err
		}
	}
	pts = nil
	for _, s := range subs {
		if !s.next().IsZero() {
			day := energy.Floor(s.next(), energy.Day, r.o.Config.Location)
			pts = append(pts, write.NewPointWithMeasurement(MeasProgress).AddTag("site", s.site).AddTag("subject", s.name).
				SetTime(day).AddField("next", s.next().UnixMilli()))
		}
	}
	if err := r.write(ctx, pts); err != nil {
		return err
	}
	if r.o.OnEfficiency != nil {
		for _, out := range outs {
			for i := range out.Efficiency {
				r.o.OnEfficiency(&out.Efficiency[i])
			}
		}
	}
	return nil
}

func (r *Runner) write(ctx context.Context, pts []*write.Point) error {
	const batch = 5000
	for i := 0; i < len(pts); i += batch {
		if err := r.o.Store.Write(ctx, pts[i:min(i+batch, len(pts))]...); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

// alert publishes and records an event once per episode. The events
// measurement is the record of episodes: an event at or before e.Since
// that had not ended by e.Since is the same episode, seen from a later
// start (after a restart computing resumes at midnight, with the run
// before it rebuilt only from stored windows), and is not sent again.
func (r *Runner) alert(ctx context.Context, e *energy.Event) error {
	last, err := boilerEpisodes(r.o.Store).Last(ctx, e.Site, e.Boiler, e.Kind, e.Since.Add(time.Millisecond))
	if err != nil {
		return err
	}
	if prev, ok := last[EpisodeKey{e.Site, e.Boiler, e.Kind}]; ok && (prev.Ended.IsZero() || prev.Ended.After(e.Since)) {
		if !prev.Since.Equal(e.Since) {
			r.log.Info("alert already raised for this episode", "site", e.Site, "boiler", e.Boiler, "kind", e.Kind,
				"since", prev.Since.In(r.o.Config.Location), "computed_since", e.Since.In(r.o.Config.Location))
		}
		return nil
	}
	loc := r.o.Config.Location
	key := sentAlert{e.Site, e.Boiler, e.Kind, e.Since.UnixMilli()}
	if !r.sent[key] {
		if !r.owns(e.Site, e.Boiler) {
			// Its new owner resumes the episode from what is stored, and
			// raises the alert if this event is not among it.
			return errHandover
		}
		if r.o.Publisher != nil {
			// An alert the contract refuses (a bug: the configuration's
			// names follow the contract's rule) is logged and recorded,
			// not published: computing it again cannot make it valid.
			if payload, err := alertPayload(e, loc); err != nil {
				r.log.Error("alert not published", "site", e.Site, "boiler", e.Boiler, "kind", e.Kind, "error", err)
			} else if err := r.o.Publisher.Publish(ctx, telemetry.AlertTopic(e.Site), payload); err != nil {
				return fmt.Errorf("publish alert %s/%s: %w", e.Boiler, e.Kind, err)
			}
		}
		r.log.Warn("alert", "site", e.Site, "boiler", e.Boiler, "kind", e.Kind, "since", e.Since.In(loc), "message", e.Message)
		// Published, not yet recorded: if the event's write fails, this
		// process stores it on its next try without publishing again (a
		// process killed before the write publishes it again when it
		// starts: at least once, as QoS 1 is anyway).
		r.sent[key] = true
	}
	if err := r.o.Store.Write(ctx, boilerEpisodes(r.o.Store).StartPoint(e.Site, e.Boiler, e.Kind, e.Since, e.At, e.Message, e.Value, e.Limit)); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	delete(r.sent, key)
	return nil
}

// end records on the episode's event when it ended (field ended_at). The
// episode's event is the last one at or before end.Since: the alert
// either wrote it there or found an earlier one of the same episode.
func (r *Runner) end(ctx context.Context, end *energy.End) error {
	eps := boilerEpisodes(r.o.Store)
	last, err := eps.Last(ctx, end.Site, end.Boiler, end.Kind, end.Since.Add(time.Millisecond))
	if err != nil {
		return err
	}
	prev, ok := last[EpisodeKey{end.Site, end.Boiler, end.Kind}]
	if !ok || (!prev.Ended.IsZero() && !prev.Ended.After(end.Since)) {
		return nil // no open event of this episode (its write failed): nothing to close
	}
	if err := r.o.Store.Write(ctx, eps.EndPoint(end.Site, end.Boiler, end.Kind, prev.Since, end.At)); err != nil {
		return fmt.Errorf("write episode end: %w", err)
	}
	return nil
}

// alertPayload is the wire form of an alert (telemetry.Alert), its times
// in the site's zone.
func alertPayload(e *energy.Event, loc *time.Location) ([]byte, error) {
	a := telemetry.Alert{V: telemetry.Version, Site: e.Site, Boiler: e.Boiler, Kind: e.Kind,
		Since: e.Since.In(loc).Format(time.RFC3339), At: e.At.In(loc).Format(time.RFC3339),
		Value: e.Value, Limit: e.Limit, Message: e.Message}
	payload, err := a.Encode()
	if err != nil {
		return nil, fmt.Errorf("alert %s/%s since %s: %w", e.Boiler, e.Kind, a.Since, err)
	}
	return payload, nil
}

// startSubjects places each new subject: at the quarter hour its
// progress had reached, else at Config.Since, else 24 h before now; earlier
// if late samples behind its progress are still to be recomputed (stored
// markers, see Late). The windows open there (hour, day, month) are
// rebuilt from their stored closed children and each counter gets its last
// reading before it, so every window comes out as an uninterrupted run's.
// stored is what is stored for them (storedStarts).
func (r *Runner) startSubjects(ctx context.Context, site string, subs []*subject, stored *starts) error {
	var todo []*subject
	for _, s := range subs {
		if !s.started {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	progress, late := stored.progress[site], stored.late[site]
	cfg := r.o.Config
	type group struct {
		at            time.Time
		resumed, late bool
		subs          []*subject
	}
	groups := map[[3]int64]*group{}
	var order [][3]int64
	for _, s := range todo {
		at := cfg.SinceTime
		p, resumed := progress[s.name]
		if resumed {
			at = energy.Floor(p, energy.Quarter, cfg.Location)
		} else if at.IsZero() {
			at = r.o.Now().Add(-24 * time.Hour)
		}
		r.mu.Lock()
		s.markers = append(s.markers, late[s.name]...)
		first := s.dirty
		for _, m := range late[s.name] {
			if first.IsZero() || m.Before(first) {
				first = m
			}
		}
		s.dirty, s.redo = time.Time{}, p
		r.mu.Unlock()
		late := false
		if resumed && !first.IsZero() {
			if q := r.lateStart(s, first); q.Before(at) {
				late = true
				r.log.Info("late samples to recompute", "subject", s.name, "from", q.In(cfg.Location), "progress", p.In(cfg.Location))
				at = q
			}
		}
		k := [3]int64{at.UnixMilli(), 0, 0}
		if resumed {
			k[1] = 1
		}
		if late {
			k[2] = 1
		}
		if groups[k] == nil {
			groups[k] = &group{at: at, resumed: resumed, late: late}
			order = append(order, k)
		}
		groups[k].subs = append(groups[k].subs, s)
		r.mu.Lock() // Late reads it
		s.started = true
		r.mu.Unlock()
	}
	for _, k := range order {
		g := groups[k]
		if g.late {
			if err := r.purgeQuality(ctx, site, g.at, g.subs); err != nil {
				return err
			}
		}
		if err := r.rewind(ctx, site, g.at, g.resumed, g.subs); err != nil {
			return err
		}
		for _, s := range g.subs {
			r.log.Info("energy engine starts", "subject", s.name, "from", s.next())
		}
	}
	return nil
}

// starts is what startSubjects needs stored: progress and pending late
// markers, [site][subject].
type starts struct {
	progress map[string]map[string]time.Time
	late     map[string]map[string][]time.Time
}

// storedStarts reads, for the subjects of subs not started, their progress
// and pending late markers: two queries for all their sites.
func (r *Runner) storedStarts(ctx context.Context, subs []*subject) (*starts, error) {
	var todo []*subject
	for _, s := range subs {
		if !s.started {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return &starts{}, nil
	}
	sites := sitesOf(todo)
	progress, err := r.storedProgress(ctx, sites, "0")
	if err != nil {
		return nil, err
	}
	late, err := r.storedLate(ctx, sites, "0")
	if err != nil {
		return nil, err
	}
	return &starts{progress: progress, late: late}, nil
}

// storedProgress reads the progress of the subjects of sites stored since
// start (a Flux time: 0 for all): [site][subject] → where it goes on. One
// query for all the sites: a cycle's cost must not grow with their number.
func (r *Runner) storedProgress(ctx context.Context, sites []string, start string) (map[string]map[string]time.Time, error) {
	progress := map[string]map[string]time.Time{}
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s) |> filter(fn: (r) => %s) |> last()`,
		store.FluxString(r.o.Store.Bucket()), start, store.And(store.Eq("_measurement", MeasProgress), store.Matches("site", sites...), store.Eq("_field", "next")))
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		site, _ := rec.ValueByKey("site").(string)
		name, _ := rec.ValueByKey("subject").(string)
		if ms, ok := rec.Value().(int64); ok {
			if progress[site] == nil {
				progress[site] = map[string]time.Time{}
			}
			progress[site][name] = time.UnixMilli(ms)
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("progress query: %w", err)
	}
	return progress, nil
}

// rewind starts subs at at: counters from their last reading before it,
// and, when resuming (something was computed before at), the windows open
// at at rebuilt from their stored closed children and the alert episodes
// from the stored windows and events.
func (r *Runner) rewind(ctx context.Context, site string, at time.Time, resuming bool, subs []*subject) error {
	var boilers []*subject
	for _, s := range subs {
		s.start(at)
		r.mu.Lock()
		s.done, s.closing = s.next(), time.Time{}
		r.mu.Unlock()
		if s.boiler != nil && !s.next().IsZero() {
			boilers = append(boilers, s)
		}
	}
	if at.IsZero() || !at.Before(time.Now()) {
		return nil // nothing stored before a start still ahead
	}
	if err := r.baselines(ctx, site, at, subs); err != nil {
		return err
	}
	if resuming {
		if err := r.restore(ctx, site, at, subs); err != nil {
			return err
		}
	}
	// A boiler that starts again part-way must not raise an episode's
	// alert a second time, nor date it later than it began.
	if len(boilers) > 0 {
		return r.resume(ctx, site, at, boilers)
	}
	return nil
}

// resume restores the alert episodes of boilers starting at at from what
// is stored: the last event before at is an episode still open if it had
// not ended by then, and the stored windows just before at rebuild a run
// that had not yet lasted long enough to alert.
func (r *Runner) resume(ctx context.Context, site string, at time.Time, subs []*subject) error {
	last, err := boilerEpisodes(r.o.Store).Last(ctx, site, "", "", at)
	if err != nil {
		return err
	}
	// The stored windows each episode needs: need−1 of them before at.
	back := map[energy.Period]time.Duration{}
	for _, s := range subs {
		for _, sp := range s.boiler.Episodes() {
			p := episodePeriod(sp)
			back[p] = max(back[p], time.Duration(sp.Need-1)*sp.Step)
		}
	}
	// values[period][boiler][field][window start, ms]
	values := map[energy.Period]map[string]map[string]map[int64]float64{}
	// A start inside an hour (a restart at its quarter hour) resumes the
	// hourly episodes at the hour's start: that hour is computed again.
	atP := func(p energy.Period) time.Time { return energy.Floor(at, p, r.o.Config.Location) }
	for p, d := range back {
		if d <= 0 {
			continue
		}
		v, err := r.storedWindows(ctx, site, p, atP(p).Add(-d), atP(p))
		if err != nil {
			return err
		}
		values[p] = v
	}
	for _, s := range subs {
		b := s.boiler
		for _, sp := range b.Episodes() {
			p := episodePeriod(sp)
			at := atP(p)
			field := map[string]string{energy.KindBelowLimit: b.Cfg.Method, energy.KindExhaustHigh: "exhaust", energy.KindExcessAirHigh: "alpha"}[sp.Kind]
			got := values[p][b.Cfg.Name][field]
			// An hour's mean load (%, stored as written): under the
			// rated_load basis it decides whether the hour counts.
			loads := values[p][b.Cfg.Name]["load"]
			var prior []energy.Window
			for t := at.Add(-time.Duration(sp.Need-1) * sp.Step); t.Before(at); t = t.Add(sp.Step) {
				v, ok := got[t.UnixMilli()]
				prior = append(prior, energy.Window{Start: t, Has: ok, Value: v, Load: loads[t.UnixMilli()] / 100})
			}
			var open time.Time
			if ep, ok := last[EpisodeKey{site, b.Cfg.Name, sp.Kind}]; ok && (ep.Ended.IsZero() || !ep.Ended.Before(at)) {
				// Ended at or after at: computing again from at sees the
				// end again and records it.
				open = ep.Since
				r.log.Info("alert episode still open", "subject", s.name, "kind", sp.Kind, "since", open.In(r.o.Config.Location))
			}
			b.Resume(sp.Kind, open, prior)
		}
	}
	return nil
}

func episodePeriod(sp energy.EpisodeSpec) energy.Period {
	if sp.Step == time.Hour {
		return energy.Hour
	}
	return energy.Minute
}

// storedWindows reads the efficiency fields the alerts watch of a site's
// windows of period p in [from, to), and their mean load.
func (r *Runner) storedWindows(ctx context.Context, site string, p energy.Period, from, to time.Time) (map[string]map[string]map[int64]float64, error) {
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)
  |> keep(columns: ["_time", "_value", "_field", "boiler"])`,
		store.FluxString(r.o.Store.Bucket()), store.FluxTime(from), store.FluxTime(to),
		store.And(store.Eq("_measurement", MeasEfficiency), store.Eq("site", site), store.Eq("period", string(p))),
		store.OneOf("_field", "direct", "indirect", "exhaust", "alpha", "load"))
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("stored windows query: %w", err)
	}
	defer res.Close()
	out := map[string]map[string]map[int64]float64{}
	for res.Next() {
		rec := res.Record()
		b, _ := rec.ValueByKey("boiler").(string)
		v, ok := rec.Value().(float64)
		if !ok {
			continue
		}
		if out[b] == nil {
			out[b] = map[string]map[int64]float64{}
		}
		if out[b][rec.Field()] == nil {
			out[b][rec.Field()] = map[int64]float64{}
		}
		out[b][rec.Field()][rec.Time().UnixMilli()] = v
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("stored windows query: %w", err)
	}
	return out, nil
}

// query reads the good samples of keys in [from, to).
func (r *Runner) query(ctx context.Context, site string, keys []energy.Key, from, to time.Time, suffix string) (energy.Data, error) {
	devs, fields := map[string]bool{}, map[string]bool{}
	want := map[energy.Key]bool{}
	for _, k := range keys {
		devs[k.Device], fields[k.Point], want[k] = true, true, true
	}
	list := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)%s
  |> keep(columns: ["_time", "_value", "_field", "device"])`,
		store.FluxString(r.o.Store.Bucket()), store.FluxTime(from), store.FluxTime(to),
		store.And(store.Eq("site", site), store.OneOf("device", list(devs)...)), store.OneOf("_field", list(fields)...), suffix)
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	d := energy.Data{}
	for res.Next() {
		rec := res.Record()
		dev, _ := rec.ValueByKey("device").(string)
		k := energy.Key{Device: dev, Point: rec.Field()}
		if !want[k] {
			continue
		}
		if v, ok := sampleValue(rec.Value()); ok {
			d[k] = append(d[k], energy.Sample{T: rec.Time(), V: v})
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("samples query: %w", err)
	}
	sortSamples(d)
	return d, nil
}

// sampleValue is a stored value as an input: numbers only.
func sampleValue(x any) (float64, bool) {
	switch v := x.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}

// sortSamples merges, in time order, the series (gateways, profiles) that
// may carry one key.
func sortSamples(d energy.Data) {
	for k, s := range d {
		sort.SliceStable(s, func(i, j int) bool { return s[i].T.Before(s[j].T) })
		d[k] = s
	}
}
