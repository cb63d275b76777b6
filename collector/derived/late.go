package derived

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// MeasLate records late samples still to be recomputed: one point per
// subject at the minute of the earliest late sample seen in a cycle,
// pending=true until computing has been back over it, then pending=false.
// It is written before the ingest acknowledges the late message (Late runs
// in ingest's Observe), so a crash cannot lose it: the next start begins
// at the earliest pending marker.
const MeasLate = "engine_late"

// Late tells the engine that a sample of device stamped t was written to
// InfluxDB. If a subject reading that device has already computed (or is
// computing) the minute of t, the windows from there on are computed
// again on its next cycle: minutes, then their quarter hours, hours, days
// and months, rebuilt from stored children (see energy.Restore), and the
// alerts, which are raised once per episode (see alert). A gateway's
// replayed backlog (historical messages) behind the engine is the usual
// case. It is safe to call from any goroutine; only the first late sample
// of a subject per cycle costs a (synchronous, small) write.
func (r *Runner) Late(ctx context.Context, site, device string, t time.Time) {
	m := energy.Floor(t, energy.Minute, r.o.Config.Location)
	var pts []*write.Point
	ready := false
	r.mu.Lock()
	for _, s := range r.byDevice[site+"\x00"+device] {
		if t.After(s.written) {
			ready = ready || r.closes(s, t)
			s.written = t
		}
		if r.o.Cluster != nil && !s.active {
			if r.lateElsewhere(s, t, m) {
				// At the sample's own time: the owner clears what it
				// computed again by writing the same point, which must not
				// clear a later sample's marker.
				pts = append(pts, latePoint(site, s.name, t, true))
			}
			continue
		}
		// Not started: its progress is unknown yet, so any sample may be
		// behind it (the marker costs a redundant recomputation at most).
		if s.started && !m.Before(maxTime(s.done, s.closing)) {
			continue
		}
		if !s.dirty.IsZero() && !m.Before(s.dirty) {
			continue
		}
		s.dirty = m
		s.markers = append(s.markers, m)
		pts = append(pts, latePoint(site, s.name, m, true))
	}
	r.mu.Unlock()
	if ready {
		select {
		case r.ready <- struct{}{}:
		default:
		}
	}
	if len(pts) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.o.Store.Write(wctx, pts...); err != nil {
		// Still recomputed by this process; only a crash before then
		// would miss it.
		r.log.Warn("late-data marker not stored", "site", site, "device", device, "at", m, "error", err)
	}
}

// closes reports whether s's devices' newest sample, now at t, lets it
// close a minute it could not before: its next minute ends Grace before t
// or earlier (Run starts a cycle). Only with Options.Written on one
// collector, where the watermarks are what Late is told; r.mu held.
func (r *Runner) closes(s *subject, t time.Time) bool {
	if !r.o.Written || r.o.Cluster != nil || !s.started {
		return false
	}
	at := maxTime(s.done, s.closing).Add(time.Minute + r.o.Config.Grace.Duration)
	return s.written.Before(at) && !t.Before(at)
}

func latePoint(site, subject string, at time.Time, pending bool) *write.Point {
	return write.NewPointWithMeasurement(MeasLate).AddTag("site", site).AddTag("subject", subject).
		SetTime(at).AddField("pending", pending)
}

// lateStart is where a subject computes again for a late sample at t: the
// quarter hour containing the earliest minute the sample can change.
func (r *Runner) lateStart(s *subject, t time.Time) time.Time {
	return energy.Floor(t.Add(-s.margin), energy.Quarter, r.o.Config.Location)
}

// storedLate reads the pending late markers of sites since start (a Flux
// time, 0 for all): [site][subject] → times, oldest first. One query for
// all the sites.
func (r *Runner) storedLate(ctx context.Context, sites []string, start string) (map[string]map[string][]time.Time, error) {
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(r.o.Store.Bucket()), start, store.And(store.Eq("_measurement", MeasLate), store.Matches("site", sites...), store.Eq("_field", "pending")))
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("late markers query: %w", err)
	}
	defer res.Close()
	out := map[string]map[string][]time.Time{}
	for res.Next() {
		rec := res.Record()
		if p, _ := rec.Value().(bool); p {
			site, _ := rec.ValueByKey("site").(string)
			name, _ := rec.ValueByKey("subject").(string)
			if out[site] == nil {
				out[site] = map[string][]time.Time{}
			}
			out[site][name] = append(out[site][name], rec.Time())
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("late markers query: %w", err)
	}
	for _, bySubject := range out {
		for _, ts := range bySubject {
			sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		}
	}
	return out, nil
}

// recomputeLate sends every subject of the site with late samples behind
// its progress back to where they change its windows.
func (r *Runner) recomputeLate(ctx context.Context, site string, subs []*subject) error {
	groups := map[int64][]*subject{}
	r.mu.Lock()
	for _, s := range subs {
		if !s.started || s.dirty.IsZero() {
			continue
		}
		q := r.lateStart(s, s.dirty)
		s.dirty = time.Time{}
		if !q.Before(s.next()) {
			continue
		}
		if s.next().After(s.redo) {
			s.redo = s.next()
		}
		groups[q.UnixMilli()] = append(groups[q.UnixMilli()], s)
	}
	r.mu.Unlock()
	starts := make([]int64, 0, len(groups))
	for k := range groups {
		starts = append(starts, k)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, k := range starts {
		at := time.UnixMilli(k)
		for _, s := range groups[k] {
			r.log.Info("late samples: computing again", "subject", s.name, "from", at.In(r.o.Config.Location), "was_at", s.next().In(r.o.Config.Location))
		}
		if err := r.purgeQuality(ctx, site, at, groups[k]); err != nil {
			return err
		}
		if err := r.rewind(ctx, site, at, true, groups[k]); err != nil {
			return err
		}
	}
	return nil
}

// clearLate marks the stored late markers of subjects that have computed
// again up to where they were as done.
func (r *Runner) clearLate(ctx context.Context, subs []*subject) error {
	var pts []*write.Point
	r.mu.Lock()
	for _, s := range subs {
		if len(s.markers) == 0 || !s.dirty.IsZero() || s.next().Before(s.redo) {
			continue
		}
		for _, m := range s.markers {
			pts = append(pts, latePoint(s.site, s.name, m, false))
		}
		s.markers = nil
	}
	r.mu.Unlock()
	if err := r.write(ctx, pts); err != nil {
		return fmt.Errorf("clear late markers: %w", err)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// InfluxQL returns a function that runs an InfluxQL statement on InfluxDB
// 1.8's /query endpoint against the bucket's database (Options.Delete).
// token is "user:password" or empty, as for the store.
func InfluxQL(baseURL, token, bucket string) func(ctx context.Context, q string) error {
	db, _, _ := strings.Cut(bucket, "/")
	return func(ctx context.Context, q string) error {
		form := url.Values{"db": {db}, "q": {q}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/query", strings.NewReader(form.Encode()))
		if err != nil {
			return fmt.Errorf("influxql: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user, pass, ok := strings.Cut(token, ":"); ok {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("influxql %q: %w", q, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"error"`) {
			return fmt.Errorf("influxql %q: %s: %s", q, resp.Status, body)
		}
		return nil
	}
}

// purgeQuality deletes the data_quality records of subs from the windows
// they compute again at at on: a window that late data gave a value has no
// record any more, as in a run that had the data in time. (Results and
// sums are overwritten by the recomputation itself.)
func (r *Runner) purgeQuality(ctx context.Context, site string, at time.Time, subs []*subject) error {
	if r.o.Delete == nil {
		r.log.Warn("no InfluxQL access: data_quality records of recomputed windows are kept", "site", site)
		return nil
	}
	loc := r.o.Config.Location
	for _, s := range subs {
		kind, name, _ := strings.Cut(s.name, "/")
		for _, p := range []energy.Period{energy.Minute, energy.Quarter, energy.Hour, energy.Day, energy.Month} {
			q := fmt.Sprintf(`DELETE FROM %q WHERE "site" = '%s' AND %q = '%s' AND "period" = '%s' AND time >= '%s'`,
				MeasQuality, quoteQL(site), kind, quoteQL(name), p, energy.Floor(at, p, loc).UTC().Format(time.RFC3339Nano))
			if err := r.o.Delete(ctx, q); err != nil {
				// InfluxDB 2.x has no InfluxQL DELETE: the figures are
				// still recomputed; only stale records stay.
				r.log.Warn("data_quality of recomputed windows not purged", "subject", s.name, "period", p, "error", err)
				return nil
			}
		}
	}
	return nil
}

func quoteQL(s string) string { return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) }
