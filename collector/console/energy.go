package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/store"
)

// energyPeriods are the national monitoring rhythm's periods and the
// longest range each may cover in one answer (about maxPoints values per
// meter).
var energyPeriods = map[string]time.Duration{
	"15m": 10 * 24 * time.Hour,
	"1d":  maxSpan,
	"1mo": maxSpan,
}

// meterRow is one meter's consumption in one period.
type meterRow struct {
	time              time.Time
	meter, energyType string
	native, kgce      *float64
	kgcePrimary       *float64
	unit              string
	resets, gaps      *float64
	wraps, suspect    *float64
	// Estimated minutes (kgce not from the minute's own metered values),
	// of them by the reference coefficient and by the last known steam
	// enthalpy; estimated is their share of the period, %.
	estMin, coefMin, lastKnownMin *float64
	estimated                     *float64
}

// estimates fills in what rows written before the engine told estimates
// apart lack: their fallback_minutes were all by coefficient.
func (m *meterRow) estimates() {
	if m.estMin != nil && m.coefMin == nil && m.lastKnownMin == nil {
		m.coefMin = m.estMin
	}
}

// energyRows reads the energy measurement of a site for a period tag.
func (c *Console) energyRows(ctx context.Context, site, period string, rng timeRange) ([]meterRow, error) {
	flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop),
		store.And(store.Eq("_measurement", "energy"), store.Eq("site", site), store.Eq("period", period)),
		store.OneOf("_field", derivedFields["energy"]...))
	rows, err := queryRows(ctx, c.opts.Store, flux)
	if err != nil {
		return nil, err
	}
	units := map[string]string{}
	for _, m := range c.meters(site) {
		units[m.Name] = m.Unit
	}
	byKey := map[string]*meterRow{}
	var keys []string
	for _, r := range rows {
		k := r.Time.String() + "|" + r.Tags["meter"]
		m := byKey[k]
		if m == nil {
			m = &meterRow{time: r.Time, meter: r.Tags["meter"], energyType: r.Tags["energy_type"], unit: units[r.Tags["meter"]]}
			byKey[k] = m
			keys = append(keys, k)
		}
		switch r.Field {
		case "unit":
			if s, ok := r.Value.(string); ok {
				m.unit = s
			}
		case "native", "kgce", "kgce_primary", "resets", "gaps", "wraps", "suspect", "fallback_minutes", "coefficient_minutes", "last_known_minutes", "estimated":
			f, ok := r.Float()
			if !ok {
				continue
			}
			switch r.Field {
			case "native":
				m.native = &f
			case "kgce":
				m.kgce = &f
			case "kgce_primary":
				m.kgcePrimary = &f
			case "resets":
				m.resets = &f
			case "gaps":
				m.gaps = &f
			case "wraps":
				m.wraps = &f
			case "suspect":
				m.suspect = &f
			case "fallback_minutes":
				m.estMin = &f
			case "coefficient_minutes":
				m.coefMin = &f
			case "last_known_minutes":
				m.lastKnownMin = &f
			case "estimated":
				m.estimated = &f
			}
		}
	}
	out := make([]meterRow, 0, len(keys))
	for _, k := range keys {
		byKey[k].estimates()
		out = append(out, *byKey[k])
	}
	slices.SortStableFunc(out, func(a, b meterRow) int {
		if c := a.time.Compare(b.time); c != 0 {
			return c
		}
		if a.energyType != b.energyType {
			if a.energyType < b.energyType {
				return -1
			}
			return 1
		}
		if a.meter < b.meter {
			return -1
		}
		if a.meter > b.meter {
			return 1
		}
		return 0
	})
	return out, nil
}

// energyView: consumption per energy type and per meter, in native units
// and kgce, for 15-minute, daily or monthly periods, and the unit
// consumption (kgce per t of steam).
func (c *Console) energyView(ctx context.Context, r *http.Request) (*viewResponse, error) {
	q := r.URL.Query()
	siteID, err := name(q, "site", true)
	if err != nil {
		return nil, err
	}
	period := q.Get("period")
	if period == "" {
		period = "1d"
	}
	limit, ok := energyPeriods[period]
	if !ok {
		return nil, badf("period %q: want 15m, 1d or 1mo", truncate(period, 20))
	}
	site, err := c.knownSite(ctx, siteID)
	if err != nil {
		return nil, err
	}
	rng, err := parseRange(q, site.loc, c.now(), "month")
	if err != nil {
		return nil, err
	}
	if rng.Span() > limit {
		return nil, badf("15-minute values cover at most %.0f days at once (asked: %.1f days); choose daily values", limit.Hours()/24, rng.Span().Hours()/24)
	}
	var rows []meterRow
	var intensity []row
	err = parallel(
		func() (err error) {
			rows, err = c.energyRows(ctx, site.ID, period, rng)
			return err
		},
		func() (err error) {
			intensity, err = queryRows(ctx, c.opts.Store, fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop),
				store.And(store.Eq("_measurement", "energy_intensity"), store.Eq("site", site.ID), store.Eq("period", period)),
				store.OneOf("_field", "kgce_per_unit", "product_unit")))
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	v := &viewResponse{Site: site, Start: rng.Start.Unix(), Stop: rng.Stop.Unix(), Preset: rng.Preset, Info: map[string]any{"period": period}}
	if len(rows) == 0 {
		v.Notes = append(v.Notes, "no_energy")
	}
	v.Frames = energyFrames(rows, c.unitConsumptionSpecs(site.ID, rows))
	if uc := intensityFrame(intensity); uc.Rows() > 0 {
		// The engine's own ratio, per boiler as configured, replaces the
		// console's estimate.
		for i := range v.Frames {
			if v.Frames[i].ID == "unit_consumption" {
				v.Frames[i] = uc
			}
		}
	}
	for i := range v.Frames {
		v.Frames[i].Window = period
	}
	return v, nil
}

// ucSpec is one unit-consumption ratio: the kgce of Energy meters over the
// tonnes of steam of Product meters.
type ucSpec struct {
	Name    string
	Energy  []string
	Product []string
}

// unitConsumptionSpecs are the boilers' configured ratios, or else one
// for the site: every meter that is not steam or water, over the steam
// meters.
func (c *Console) unitConsumptionSpecs(site string, rows []meterRow) []ucSpec {
	var out []ucSpec
	if e := c.opts.Energy; e != nil {
		for _, b := range e.Boilers {
			if b.Site == site && b.UnitConsumption != nil {
				out = append(out, ucSpec{Name: b.Name, Energy: b.UnitConsumption.Energy, Product: []string{b.UnitConsumption.Product}})
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	s := ucSpec{Name: site}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.meter] {
			continue
		}
		seen[r.meter] = true
		switch r.energyType {
		case "steam":
			s.Product = append(s.Product, r.meter)
		case "water":
		default:
			s.Energy = append(s.Energy, r.meter)
		}
	}
	if len(s.Product) == 0 || len(s.Energy) == 0 {
		return nil
	}
	return []ucSpec{s}
}

// tonnes converts a steam meter's native amount to t.
func tonnes(v float64, unit string) float64 {
	if unit == "kg" {
		return v / 1000
	}
	return v
}

func energyFrames(rows []meterRow, specs []ucSpec) []Frame {
	var types []string
	for _, r := range rows {
		if !slices.Contains(types, r.energyType) {
			types = append(types, r.energyType)
		}
	}
	slices.Sort(types)
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Key: t, Unit: "kgce", Kind: "number"}
	}
	byType := newSeries(cols...)
	sums := map[int64]map[string]float64{}
	for _, r := range rows {
		if r.kgce == nil {
			continue
		}
		ts := r.time.Unix()
		if sums[ts] == nil {
			sums[ts] = map[string]float64{}
		}
		sums[ts][r.energyType] += *r.kgce
	}
	for ts, m := range sums {
		for t, v := range m {
			byType.set(time.Unix(ts, 0), t, v)
		}
	}

	meterCols := []Column{{Key: "time", Kind: "time"}, {Key: "meter", Kind: "text"}, {Key: "energy_type", Kind: "text"},
		{Key: "native", Kind: "number"}, {Key: "unit", Kind: "text"}, {Key: "kgce", Unit: "kgce", Kind: "number"},
		{Key: "kgce_primary", Unit: "kgce", Kind: "number"}, {Key: "resets", Kind: "number"}, {Key: "gaps", Kind: "number"},
		{Key: "estimated", Unit: "%", Kind: "number"}, {Key: "last_known_minutes", Unit: "min", Kind: "number"}, {Key: "coefficient_minutes", Unit: "min", Kind: "number"}}
	meterRows := make([][]any, len(rows))
	type total struct {
		energyType, unit string
		native, kgce     float64
		resets           float64
		// minutes estimated by last known enthalpy and by coefficient;
		// has: any row told.
		lastKnown, coef float64
		has             bool
	}
	totals := map[string]*total{}
	for i, r := range rows {
		meterRows[i] = []any{r.time.Unix(), r.meter, r.energyType, ptrVal(r.native), r.unit, ptrVal(r.kgce), ptrVal(r.kgcePrimary), ptrVal(r.resets), ptrVal(r.gaps),
			ptrVal(r.estimated), ptrVal(r.lastKnownMin), ptrVal(r.coefMin)}
		t := totals[r.meter]
		if t == nil {
			t = &total{energyType: r.energyType, unit: r.unit}
			totals[r.meter] = t
		}
		if r.estMin != nil {
			t.has = true
			if r.lastKnownMin != nil {
				t.lastKnown += *r.lastKnownMin
			}
			if r.coefMin != nil {
				t.coef += *r.coefMin
			}
		}
		if r.native != nil {
			t.native += *r.native
		}
		if r.kgce != nil {
			t.kgce += *r.kgce
		}
		if r.resets != nil {
			t.resets += *r.resets
		}
	}
	totalCols := []Column{{Key: "meter", Kind: "text"}, {Key: "energy_type", Kind: "text"}, {Key: "native", Kind: "number"},
		{Key: "unit", Kind: "text"}, {Key: "kgce", Unit: "kgce", Kind: "number"}, {Key: "resets", Kind: "number"},
		{Key: "last_known_minutes", Unit: "min", Kind: "number"}, {Key: "coefficient_minutes", Unit: "min", Kind: "number"}}
	var totalRows [][]any
	for _, m := range sortedKeys(totals) {
		t := totals[m]
		var lk, co any
		if t.has {
			lk, co = t.lastKnown, t.coef
		}
		totalRows = append(totalRows, []any{m, t.energyType, t.native, t.unit, t.kgce, t.resets, lk, co})
	}

	ucCols := make([]Column, len(specs))
	for i, s := range specs {
		ucCols[i] = Column{Key: s.Name, Unit: "kgce/t", Kind: "number"}
	}
	uc := newSeries(ucCols...)
	type acc struct{ kgce, steam float64 }
	for _, s := range specs {
		per := map[int64]*acc{}
		for _, r := range rows {
			ts := r.time.Unix()
			a := per[ts]
			if a == nil {
				a = &acc{}
				per[ts] = a
			}
			switch {
			case slices.Contains(s.Energy, r.meter) && r.kgce != nil:
				a.kgce += *r.kgce
			case slices.Contains(s.Product, r.meter) && r.native != nil:
				a.steam += tonnes(*r.native, r.unit)
			}
		}
		for ts, a := range per {
			// A period without steam has no unit consumption (not ∞).
			if a.steam > 0 {
				uc.set(time.Unix(ts, 0), s.Name, a.kgce/a.steam)
			}
		}
	}
	return []Frame{byType.frame("by_type"), tableFrame("meters", meterCols, meterRows), tableFrame("totals", totalCols, totalRows), uc.frame("unit_consumption")}
}

// intensityFrame is the engine's energy_intensity: kgce per unit of
// product, one column per boiler.
func intensityFrame(rows []row) Frame {
	units := map[string]string{}
	for _, r := range rows {
		if r.Field == "product_unit" {
			if s, ok := r.Value.(string); ok {
				units[r.Tags["boiler"]] = s
			}
		}
	}
	var boilers []string
	for _, r := range rows {
		if r.Field == "kgce_per_unit" && !slices.Contains(boilers, r.Tags["boiler"]) {
			boilers = append(boilers, r.Tags["boiler"])
		}
	}
	slices.Sort(boilers)
	cols := make([]Column, len(boilers))
	for i, b := range boilers {
		u := units[b]
		if u == "" {
			u = "t"
		}
		cols[i] = Column{Key: b, Unit: "kgce/" + u, Kind: "number"}
	}
	s := newSeries(cols...)
	for _, r := range rows {
		if f, ok := r.Float(); ok && r.Field == "kgce_per_unit" {
			s.set(r.Time, r.Tags["boiler"], f)
		}
	}
	return s.frame("unit_consumption")
}
