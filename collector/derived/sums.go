package derived

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// MeasSums holds the exact additive parts of every closed aggregate window
// (15 min, hour, day, month) of each boiler and meter: what a restart or a
// recomputation of late data rebuilds the windows still open from, so that
// they come out to the last bit as an uninterrupted run's (see
// energy.Restore). Floats are written in full (shortest exact decimal).
const MeasSums = "engine_sums"

func boilerSubject(name string) string { return "boiler/" + name }
func meterSubject(name string) string  { return "meter/" + name }

func sumsPoint(site, subject string, p energy.Period, start time.Time) *write.Point {
	return write.NewPointWithMeasurement(MeasSums).AddTag("site", site).AddTag("subject", subject).
		AddTag("period", string(p)).SetTime(start)
}

func boilerSumsPoint(r *energy.Result) *write.Point {
	s := &r.Sums
	p := sumsPoint(r.Site, boilerSubject(r.Boiler), r.Period, r.Start).
		AddField("minutes", int64(s.Minutes)).AddField("direct", int64(s.Direct)).AddField("indirect", int64(s.Indirect)).
		AddField("standby", int64(s.Standby)).AddField("samples", int64(s.Samples)).
		AddField("heat_out", s.HeatOut).AddField("heat_in", s.HeatIn).AddField("w", s.W).
		AddField("alpha", s.Alpha).AddField("alpha_n", int64(s.AlphaN)).AddField("load", s.Load).AddField("load_n", int64(s.LoadN)).
		AddField("exh", s.Exh).AddField("exh_n", int64(s.ExhN)).AddField("steam_t", s.SteamT).AddField("coal_t", s.CoalT)
	for i, q := range s.WQ {
		p.AddField(fmt.Sprintf("wq%d", i+2), q)
	}
	if r.Period != energy.Quarter {
		// The rated-load hours' sums (an hour's own, a day's, a month's):
		// a restart rebuilds the open day's and month's from them.
		p.AddField("rated_hours", int64(s.RatedHours)).AddField("rated_out", s.RatedOut).AddField("rated_in", s.RatedIn)
	}
	return p
}

func meterSumsPoint(r *energy.MeterResult) *write.Point {
	return sumsPoint(r.Site, meterSubject(r.Meter), r.Period, r.Start).
		AddField("native", r.Native).AddField("kgce", r.Kgce).AddField("kgce_primary", r.KgcePrimary).
		AddField("has_primary", r.HasPrimary).AddField("resets", int64(r.Resets)).AddField("gaps", int64(r.Gaps)).
		AddField("fallback", int64(r.Fallback)).AddField("fallback_coef", int64(r.FallbackCoef)).
		AddField("wraps", int64(r.Wraps)).AddField("suspect", int64(r.Suspect)).
		AddField("covered", r.Covered).AddField("received", int64(r.Received))
}

// sumsPoints are the MeasSums points of the aggregate windows in out.
func sumsPoints(out *energy.Output) []*write.Point {
	var pts []*write.Point
	for i := range out.Efficiency {
		if out.Efficiency[i].Period != energy.Minute {
			pts = append(pts, boilerSumsPoint(&out.Efficiency[i]))
		}
	}
	for i := range out.Energy {
		pts = append(pts, meterSumsPoint(&out.Energy[i]))
	}
	return pts
}

// fields are one stored window's fields.
type fields map[string]any

func (f fields) float(k string) float64 {
	v, _ := f[k].(float64)
	return v
}

func (f fields) int(k string) int {
	v, _ := f[k].(int64)
	return int(v)
}

func (f fields) boilerSums() energy.Sums {
	s := energy.Sums{Minutes: f.int("minutes"), Direct: f.int("direct"), Indirect: f.int("indirect"), Standby: f.int("standby"),
		Samples: f.int("samples"), HeatOut: f.float("heat_out"), HeatIn: f.float("heat_in"), W: f.float("w"),
		Alpha: f.float("alpha"), AlphaN: f.int("alpha_n"), Load: f.float("load"), LoadN: f.int("load_n"),
		Exh: f.float("exh"), ExhN: f.int("exh_n"), SteamT: f.float("steam_t"), CoalT: f.float("coal_t"),
		RatedHours: f.int("rated_hours"), RatedOut: f.float("rated_out"), RatedIn: f.float("rated_in")}
	for i := range s.WQ {
		s.WQ[i] = f.float(fmt.Sprintf("wq%d", i+2))
	}
	return s
}

func (f fields) meterResult() energy.MeterResult {
	hp, _ := f["has_primary"].(bool)
	return energy.MeterResult{Native: f.float("native"), Kgce: f.float("kgce"), KgcePrimary: f.float("kgce_primary"),
		HasPrimary: hp, Resets: f.int("resets"), Gaps: f.int("gaps"), Fallback: f.int("fallback"), FallbackCoef: f.int("fallback_coef"),
		Wraps: f.int("wraps"), Suspect: f.int("suspect"),
		Covered: f.float("covered"), Received: f.int("received")}
}

// storedSums reads the MeasSums windows of period p in [from, to) of a
// site: [subject][window start, ms] → fields.
func (r *Runner) storedSums(ctx context.Context, site string, p energy.Period, from, to time.Time) (map[string]map[int64]fields, error) {
	flux := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> keep(columns: ["_time", "_value", "_field", "subject"])`,
		store.FluxString(r.o.Store.Bucket()), store.FluxTime(from), store.FluxTime(to),
		store.And(store.Eq("_measurement", MeasSums), store.Eq("site", site), store.Eq("period", string(p))))
	res, err := r.o.Store.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("stored sums query: %w", err)
	}
	defer res.Close()
	out := map[string]map[int64]fields{}
	for res.Next() {
		rec := res.Record()
		s, _ := rec.ValueByKey("subject").(string)
		if out[s] == nil {
			out[s] = map[int64]fields{}
		}
		ms := rec.Time().UnixMilli()
		if out[s][ms] == nil {
			out[s][ms] = fields{}
		}
		out[s][ms][rec.Field()] = rec.Value()
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("stored sums query: %w", err)
	}
	return out, nil
}

// restore rebuilds the windows of subs open at at from their stored
// closed children (all subs start at at).
func (r *Runner) restore(ctx context.Context, site string, at time.Time, subs []*subject) error {
	type query struct {
		p        energy.Period
		from, to int64
	}
	cache := map[query]map[string]map[int64]fields{}
	for _, s := range subs {
		for _, sp := range s.spans(at) {
			q := query{sp.Child, sp.Start.UnixMilli(), sp.To.UnixMilli()}
			got, ok := cache[q]
			if !ok {
				var err error
				if got, err = r.storedSums(ctx, site, sp.Child, sp.Start, sp.To); err != nil {
					return err
				}
				cache[q] = got
			}
			var children []fields
			missing := 0
			for t := sp.Start; t.Before(sp.To); t = energy.Next(t, sp.Child) {
				// A child not stored was never computed (before
				// energy.since): it adds nothing, as in the run that
				// began there.
				if f, ok := got[s.name][t.UnixMilli()]; ok {
					children = append(children, f)
				} else {
					missing++
				}
			}
			if missing > 0 {
				r.log.Debug("stored windows missing: never computed", "subject", s.name,
					"period", sp.Parent, "start", sp.Start.In(r.o.Config.Location), "missing", missing)
			}
			s.restore(sp.Parent, sp.Start, children)
		}
	}
	return nil
}

// baselines gives each counter of subs its last reading before at (within
// baselineWindow), as an uninterrupted run's counter had it.
func (r *Runner) baselines(ctx context.Context, site string, at time.Time, subs []*subject) error {
	var keys []energy.Key
	for _, s := range subs {
		keys = append(keys, s.counterKeys...)
	}
	if len(keys) == 0 {
		return nil
	}
	d, err := r.query(ctx, site, keys, at.Add(-baselineWindow), at, "|> last()")
	if err != nil {
		return fmt.Errorf("counter baselines: %w", err)
	}
	for _, s := range subs {
		for _, k := range s.counterKeys {
			if xs := d[k]; len(xs) > 0 {
				s.baseline(k, xs[len(xs)-1])
			} else {
				r.log.Debug("no counter reading before the start", "subject", s.name, "key", k, "at", at, slog.Duration("within", baselineWindow))
			}
		}
	}
	return nil
}

// baselineWindow bounds how far back a counter's last reading is looked
// for: a counter silent longer than this books its first reading after a
// start as a baseline, not as use.
const baselineWindow = 35 * 24 * time.Hour
