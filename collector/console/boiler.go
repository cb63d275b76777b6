package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// Derived measurements and their fields, as the efficiency and energy
// engine writes them (docs/efficiency.md, collector/derived). The console
// asks only for these, and tolerates any of them missing.
var derivedFields = map[string][]string{
	"boiler_efficiency": {"direct", "indirect", "q2", "q3", "q4", "q5", "q6", "alpha", "load", "limit", "grade", "samples",
		"coverage", "minutes", "steam_t", "coal_t", "heat_out_gj", "heat_in_gj", "exhaust", "standby",
		"rated_hours", "rated_pct", "rated_out_gj", "rated_in_gj"},
	"energy": {"native", "unit", "kgce", "kgce_primary", "resets", "gaps", "wraps", "suspect", "coverage", "fallback_minutes",
		"coefficient_minutes", "last_known_minutes", "estimated"},
	"energy_intensity": {"kgce", "product", "product_unit", "kgce_per_unit"},
	"data_quality":     {"reason", "direct_ok", "indirect_ok", "received", "expected", "completeness", "flagged", "estimated"},
	"events":           {"message", "value", "limit", "confirmed_at", "ended_at"},
}

// DerivedFields returns the derived measurements and the fields the
// console and the Grafana dashboards read from them.
func DerivedFields() map[string][]string {
	out := map[string][]string{}
	for k, v := range derivedFields {
		out[k] = append([]string(nil), v...)
	}
	return out
}

var (
	effColumns  = []Column{{Key: "direct", Unit: "%", Kind: "number"}, {Key: "indirect", Unit: "%", Kind: "number"}, {Key: "limit", Unit: "%", Kind: "number"}, {Key: "alert", Unit: "%", Kind: "number"}}
	lossColumns = []Column{{Key: "q2", Unit: "%", Kind: "number"}, {Key: "q3", Unit: "%", Kind: "number"}, {Key: "q4", Unit: "%", Kind: "number"}, {Key: "q5", Unit: "%", Kind: "number"}, {Key: "q6", Unit: "%", Kind: "number"}}
	outColumns  = []Column{{Key: "steam_flow", Unit: "t/h", Kind: "number"}, {Key: "coal_feed", Unit: "t/h", Kind: "number"}}
	flueColumns = []Column{{Key: "exhaust_temp", Unit: "°C", Kind: "number"}, {Key: "o2", Unit: "%", Kind: "number"}}
	evtColumns  = []Column{{Key: "time", Kind: "time"}, {Key: "kind", Kind: "text"}, {Key: "message", Kind: "text"}, {Key: "value", Kind: "number"}, {Key: "limit", Unit: "%", Kind: "number"}}
)

// boilerView: efficiency (direct, indirect, the grade-3 limit, alerts),
// the losses q2..q6, steam output and coal feed, exhaust temperature and
// O2 of one boiler over a range.
func (c *Console) boilerView(ctx context.Context, r *http.Request) (*viewResponse, error) {
	q := r.URL.Query()
	siteID, err := name(q, "site", true)
	if err != nil {
		return nil, err
	}
	bname, err := name(q, "boiler", true)
	if err != nil {
		return nil, err
	}
	site, err := c.knownSite(ctx, siteID)
	if err != nil {
		return nil, err
	}
	rng, err := parseRange(q, site.loc, c.now(), "24h")
	if err != nil {
		return nil, err
	}
	b, err := c.boiler(ctx, siteID, bname)
	if err != nil {
		return nil, err
	}
	return c.boilerData(ctx, site, b, rng)
}

// rollupSpan: beyond it the output and flue-gas charts come from the
// engine's period values (steam_t, coal_t, exhaust, alpha of
// boiler_efficiency) instead of the raw samples. InfluxDB 1.8 does not push
// windowed aggregates down to storage, so averaging a month of raw samples
// in Flux takes seconds; the engine has already done it once.
const rollupSpan = 48 * time.Hour

var rollupFields = []string{"steam_t", "coal_t", "exhaust", "alpha"}

func (c *Console) boilerData(ctx context.Context, site siteInfo, b boilerInfo, rng timeRange) (*viewResponse, error) {
	period := pickPeriod(rng.Span())
	window := pickWindow(rng.Span())
	useRollup := rng.Span() > rollupSpan
	effFields := []string{"direct", "indirect", "limit", "q2", "q3", "q4", "q5", "q6"}
	if useRollup {
		effFields = append(effFields, rollupFields...)
	}
	var effRows, rawRows, evtRows []row
	var rated map[string]any
	err := parallel(
		func() (err error) {
			rated, err = c.ratedSummary(ctx, site, b, rng)
			return err
		},
		func() (err error) {
			flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop),
				store.And(store.Eq("_measurement", "boiler_efficiency"), store.Eq("site", site.ID), store.Eq("boiler", b.Name), store.Eq("period", period)),
				store.OneOf("_field", effFields...))
			effRows, err = queryRows(ctx, c.opts.Store, flux)
			return err
		},
		func() (err error) {
			if useRollup {
				return nil
			}
			rawRows, err = c.rawInputs(ctx, site.ID, b, rng, window, "steam_flow", "coal_feed", "exhaust_temp", "o2")
			return err
		},
		func() (err error) {
			evtRows, err = c.events(ctx, site.ID, rng)
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	v := &viewResponse{Site: site, Start: rng.Start.Unix(), Stop: rng.Stop.Unix(), Preset: rng.Preset,
		Info: map[string]any{"boiler": b, "period": period}}
	if rated != nil {
		v.Info["rated"] = rated
	}

	eff, loss := newSeries(effColumns...), newSeries(lossColumns...)
	out, flue := newSeries(outColumns...), newSeries(flueColumns...)
	hours := periodDur(period).Hours()
	rolled := false
	for _, r := range effRows {
		f, ok := r.Float()
		if !ok {
			continue
		}
		switch r.Field {
		case "q2", "q3", "q4", "q5", "q6":
			loss.set(r.Time, r.Field, f)
		case "steam_t", "coal_t":
			// Tonnes in the period over its length: the mean flow.
			h := hours
			if period == "1mo" {
				lt := r.Time.In(site.loc)
				h = lt.AddDate(0, 1, 0).Sub(lt).Hours()
			}
			key := map[string]string{"steam_t": "steam_flow", "coal_t": "coal_feed"}[r.Field]
			out.set(r.Time, key, f/h)
			rolled = true
		case "exhaust":
			flue.set(r.Time, "exhaust_temp", f)
			rolled = true
		case "alpha":
			// α = 21/(21 − O₂), so O₂ = 21·(1 − 1/α): the O₂ of the
			// period's mean excess air.
			if f > 0 {
				flue.set(r.Time, "o2", 21*(1-1/f))
				rolled = true
			}
		default:
			eff.set(r.Time, r.Field, f)
		}
	}
	if useRollup && !rolled {
		// No engine values (it is off, or has not reached this range):
		// average the raw samples after all, slow as it is.
		rawRows, err = c.rawInputs(ctx, site.ID, b, rng, window, "steam_flow", "coal_feed", "exhaust_temp", "o2")
		if err != nil {
			return nil, err
		}
		useRollup = false
	}
	if b.Limit != nil {
		// The configured limit holds where the engine wrote none (or
		// before it ran), so the line spans the chart.
		for _, row := range eff.at {
			if row[eff.idx["limit"]] == nil {
				row[eff.idx["limit"]] = *b.Limit
			}
		}
	}
	if len(eff.at) == 0 {
		v.Notes = append(v.Notes, "no_efficiency")
	}
	// Alerts sit on the efficiency chart's time axis: each at the start
	// of the period containing it, drawn at the limit line.
	events := c.boilerEvents(evtRows, b.Name)
	for _, e := range events {
		t := energy.Floor(e.Time, energy.Period(period), site.loc)
		y := e.Limit
		if y == nil {
			y = b.Limit
		}
		if y != nil {
			eff.set(t, "alert", *y)
		}
	}
	for _, r := range rawRows {
		f, ok := r.Float()
		if !ok {
			continue
		}
		in := r.Tags["input"]
		f *= b.inputs[in].Factor
		switch in {
		case "steam_flow", "coal_feed":
			out.set(r.Time, in, f)
		case "exhaust_temp", "o2":
			flue.set(r.Time, in, f)
		}
	}
	ef, lf := eff.frame("efficiency"), loss.frame("losses")
	ef.Window, lf.Window = period, period
	of, ff := out.frame("output"), flue.frame("flue")
	of.Window, ff.Window = window.String(), window.String()
	if useRollup {
		of.Window, ff.Window = period, period
		v.Notes = append(v.Notes, "rollup")
	}
	v.Info["window"] = of.Window
	if of.Rows() == 0 && ff.Rows() == 0 {
		v.Notes = append(v.Notes, "no_raw")
	}
	v.Frames = []Frame{ef, lf, of, ff, eventFrame(events)}
	return v, nil
}

// ratedFigure is a day's or a month's efficiency of the boiler's method
// over its rated-load hours (mean load ≥ rated_load_share), beside the
// same method over all its hours.
type ratedFigure struct {
	Start int64 `json:"start"`
	// Pct is nil when no hour of the window was a rated-load hour with a
	// value.
	Pct   *float64 `json:"rated_pct"`
	Hours float64  `json:"rated_hours"`
	All   *float64 `json:"all_hours_pct"`
	// Partial: a month not yet closed, summed from its Days so far.
	Partial bool `json:"partial,omitempty"`
	Days    int  `json:"days,omitempty"`
}

// ratedFields are the day and month fields ratedOf and monthRated read.
var ratedFields = []string{"direct", "indirect", "heat_out_gj", "heat_in_gj", "minutes", "q2", "q3", "q4", "q5", "q6",
	"rated_pct", "rated_hours", "rated_out_gj", "rated_in_gj"}

// ratedOf is the figure of one stored day or month.
func ratedOf(start time.Time, m map[string]float64, method string) ratedFigure {
	f := ratedFigure{Start: start.Unix(), Hours: m["rated_hours"]}
	if v, ok := m["rated_pct"]; ok {
		f.Pct = &v
	}
	if v, ok := m[method]; ok {
		f.All = &v
	}
	return f
}

// monthRated sums up a month without a monthly value yet from its days,
// as the engine does: Σ output / Σ fuel heat of the rated-load hours; all
// hours as the report's monthFromDays.
func monthRated(start time.Time, days map[int64]map[string]float64, method string) ratedFigure {
	f := ratedFigure{Start: start.Unix(), Partial: true, Days: len(days)}
	var out, in float64
	for _, m := range days {
		f.Hours += m["rated_hours"]
		out += m["rated_out_gj"]
		in += m["rated_in_gj"]
	}
	if in > 0 {
		v := 100 * out / in
		f.Pct = &v
	}
	var rb reportBoiler
	monthFromDays(&rb, days)
	f.All = rb.Direct
	if method == "indirect" {
		f.All = rb.Indirect
	}
	return f
}

// ratedShare is the boiler's configured rated_load_share (nil without the
// energy configuration).
func (c *Console) ratedShare(site, boiler string) *float64 {
	if e := c.opts.Energy; e != nil {
		for _, b := range e.Boilers {
			if b.Site == site && b.Name == boiler && b.RatedLoadShare > 0 {
				v := b.RatedLoadShare
				return &v
			}
		}
	}
	return nil
}

// ratedSummary is the rated-load efficiency of the last day closed before
// the range's end and of its month (summed from its days while it is
// open), beside all hours': GB 24500 limits are for rated-load tests, so
// the hourly efficiency against the limit is an operating indication and
// these are the closer comparison. nil when no day is stored.
func (c *Console) ratedSummary(ctx context.Context, site siteInfo, b boilerInfo, rng timeRange) (map[string]any, error) {
	method := b.Method
	if method == "" {
		method = "direct"
	}
	from := energy.Floor(rng.Stop.Add(-24*time.Hour), energy.Month, site.loc)
	rows, err := queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(c.opts.Store.Bucket()), store.FluxTime(from), store.FluxTime(rng.Stop),
		store.And(store.Eq("_measurement", "boiler_efficiency"), store.Eq("site", site.ID), store.Eq("boiler", b.Name), store.OneOf("period", "1d", "1mo")),
		store.OneOf("_field", ratedFields...)))
	if err != nil {
		return nil, err
	}
	win := map[string]map[int64]map[string]float64{"1d": {}, "1mo": {}}
	for _, r := range rows {
		f, ok := r.Float()
		p := r.Tags["period"]
		// Only windows over by the range's end: InfluxDB 1.8 returns
		// the points at a range's stop too (influxdata/influxdb#19966).
		if !ok || win[p] == nil || r.Time.Before(from) || energy.Floor(r.Time, energy.Period(p), site.loc).AddDate(0, 0, 1).After(rng.Stop) {
			continue
		}
		if win[p][r.Time.Unix()] == nil {
			win[p][r.Time.Unix()] = map[string]float64{}
		}
		win[p][r.Time.Unix()][r.Field] = f
	}
	var last int64
	found := false
	for t := range win["1d"] {
		if !found || t > last {
			last, found = t, true
		}
	}
	if !found {
		return nil, nil
	}
	day := time.Unix(last, 0)
	month := energy.Floor(day, energy.Month, site.loc)
	out := map[string]any{"method": method, "day": ratedOf(day, win["1d"][last], method)}
	if m, ok := win["1mo"][month.Unix()]; ok {
		out["month"] = ratedOf(month, m, method)
	} else {
		days := map[int64]map[string]float64{}
		for t, m := range win["1d"] {
			if !time.Unix(t, 0).Before(month) {
				days[t] = m
			}
		}
		out["month"] = monthRated(month, days, method)
	}
	if share := c.ratedShare(site.ID, b.Name); share != nil {
		out["share"] = *share
	}
	return out, nil
}

func periodDur(p string) time.Duration {
	for _, x := range periods {
		if x.Tag == p {
			return x.Dur
		}
	}
	return time.Hour
}

// rawInputs reads the named inputs of a boiler from its raw devices,
// averaged over windows of w. Each row's tag "input" names the input.
//
// keep() before aggregateWindow matters on InfluxDB 1.8: without the tag
// columns Flux windows about twice as fast (it copies fewer columns per
// row); windowed aggregates are not pushed down to storage there.
func (c *Console) rawInputs(ctx context.Context, site string, b boilerInfo, rng timeRange, w time.Duration, inputs ...string) ([]row, error) {
	byDevice := map[string]map[string]string{} // device → point → input
	for _, in := range inputs {
		ref, ok := b.inputs[in]
		if !ok {
			continue
		}
		if byDevice[ref.Device] == nil {
			byDevice[ref.Device] = map[string]string{}
		}
		byDevice[ref.Device][ref.Point] = in
	}
	devices := sortedKeys(byDevice)
	results := make([][]row, len(devices))
	fns := make([]func() error, len(devices))
	for i, dev := range devices {
		points := sortedKeys(byDevice[dev])
		fns[i] = func() error {
			flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)
  |> keep(columns: ["_time", "_value", "_field"])
  |> aggregateWindow(every: %s, fn: mean, createEmpty: false, timeSrc: "_start")`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop), store.And(store.Eq("site", site), store.Eq("device", dev)),
				store.OneOf("_field", points...), fluxDuration(w))
			rows, err := queryRows(ctx, c.opts.Store, flux)
			if err != nil {
				return err
			}
			for j := range rows {
				rows[j].Tags["input"] = byDevice[dev][rows[j].Field]
			}
			results[i] = rows
			return nil
		}
	}
	if err := parallel(fns...); err != nil {
		return nil, err
	}
	var out []row
	for _, rs := range results {
		out = append(out, rs...)
	}
	return out, nil
}

// event is one alert of the events measurement.
type event struct {
	Time          time.Time
	Kind, Message string
	Boiler        string
	Value, Limit  *float64
}

// events reads the site's events in a range.
func (c *Console) events(ctx context.Context, site string, rng timeRange) ([]row, error) {
	flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop), store.And(store.Eq("_measurement", "events"), store.Eq("site", site)))
	return queryRows(ctx, c.opts.Store, flux)
}

// collectEvents joins the fields of each event (one row per field) by
// time and series.
func collectEvents(rows []row) []event {
	byKey := map[string]*event{}
	var keys []string
	for _, r := range rows {
		k := r.Time.String() + "|" + r.Tags["boiler"] + "|" + r.Tags["kind"] + "|" + r.Tags["gateway"] + "|" + r.Tags["meter"]
		e := byKey[k]
		if e == nil {
			e = &event{Time: r.Time, Kind: r.Tags["kind"], Boiler: r.Tags["boiler"]}
			byKey[k] = e
			keys = append(keys, k)
		}
		switch r.Field {
		case "kind":
			if s, ok := r.Value.(string); ok {
				e.Kind = s
			}
		case "message":
			if s, ok := r.Value.(string); ok {
				e.Message = s
			}
		case "value", "limit":
			if f, ok := r.Float(); ok {
				if r.Field == "value" {
					e.Value = &f
				} else {
					e.Limit = &f
				}
			}
		}
	}
	out := make([]event, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// boilerEvents are the events of one boiler, plus the site's events that
// name no boiler (a gateway offline concerns every boiler behind it).
func (c *Console) boilerEvents(rows []row, boiler string) []event {
	var out []event
	for _, e := range collectEvents(rows) {
		if e.Boiler == "" || e.Boiler == boiler {
			out = append(out, e)
		}
	}
	return out
}

func eventFrame(events []event) Frame {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{e.Time.Unix(), e.Kind, e.Message, ptrVal(e.Value), ptrVal(e.Limit)}
	}
	return tableFrame("events", evtColumns, rows)
}

func ptrVal(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
