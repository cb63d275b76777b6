package console

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Limits of the raw gap scan: it reads every sample, which InfluxDB 1.8
// cannot reduce in storage, so it covers at most gapScanSpan.
const (
	gapScanSpan = 48 * time.Hour
	defaultGap  = time.Minute
)

var qualityKnown = []string{"completeness", "received", "expected", "flagged", "estimated"}

// qualityView: completeness per meter per day, gaps in the raw data, and
// meter resets.
func (c *Console) qualityView(ctx context.Context, r *http.Request) (*viewResponse, error) {
	q := r.URL.Query()
	siteID, err := name(q, "site", true)
	if err != nil {
		return nil, err
	}
	gap := defaultGap
	if s := q.Get("gap"); s != "" {
		secs, err := strconv.Atoi(s)
		if err != nil || secs < 2 || secs > 86400 {
			return nil, badf("gap %q: want the shortest silence to report, in seconds, 2 to 86400", truncate(s, 20))
		}
		gap = time.Duration(secs) * time.Second
	}
	site, err := c.knownSite(ctx, siteID)
	if err != nil {
		return nil, err
	}
	rng, err := parseRange(q, site.loc, c.now(), "month")
	if err != nil {
		return nil, err
	}
	v := &viewResponse{Site: site, Start: rng.Start.Unix(), Stop: rng.Stop.Unix(), Preset: rng.Preset, Info: map[string]any{"gap_seconds": int(gap / time.Second), "min_completeness": 90}}
	var dq, gaps, lasts []row
	var resets []meterRow
	gapStart := rng.Start
	if now := c.now(); rng.Stop.After(now) {
		// The scan looks back from now when the range reaches into the
		// future (today, this month).
		if now.Sub(rng.Start) > gapScanSpan {
			gapStart = now.Add(-gapScanSpan)
		}
	} else if rng.Span() > gapScanSpan {
		gapStart = rng.Stop.Add(-gapScanSpan)
	}
	if gapStart.After(rng.Start) {
		v.Notes = append(v.Notes, "gaps_last_48h")
	}
	err = parallel(
		func() (err error) {
			flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(rng.Start), store.FluxTime(rng.Stop),
				store.And(store.Eq("_measurement", "data_quality"), store.Eq("site", site.ID), store.Eq("period", "1d"), store.Eq("kind", "completeness")))
			dq, err = queryRows(ctx, c.opts.Store, flux)
			return err
		},
		func() (err error) {
			// elapsed() gives each sample the seconds since the previous
			// one of its series; a sample after a long silence marks the
			// end of a gap.
			flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> elapsed(unit: 1s)
  |> filter(fn: (r) => r.elapsed >= %d)`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(gapStart), store.FluxTime(rng.Stop),
				store.And(store.Eq("site", site.ID), store.Eq("_field", telemetry.FieldSeq)), int(gap/time.Second))
			gaps, err = queryRows(ctx, c.opts.Store, flux)
			return err
		},
		func() (err error) {
			// A device silent up to the end of the range has a gap that
			// no later sample closes yet.
			flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> last()`,
				store.FluxString(c.opts.Store.Bucket()), store.FluxTime(gapStart), store.FluxTime(rng.Stop),
				store.And(store.Eq("site", site.ID), store.Eq("_field", telemetry.FieldSeq)))
			lasts, err = queryRows(ctx, c.opts.Store, flux)
			return err
		},
		func() (err error) {
			resets, err = c.energyRows(ctx, site.ID, "1d", rng)
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	if len(dq) == 0 {
		v.Notes = append(v.Notes, "no_quality")
	}
	end := rng.Stop
	if now := c.now(); now.Before(end) {
		end = now
	}
	for _, r := range lasts {
		if silent := end.Sub(r.Time); silent >= gap {
			r.Extra = map[string]any{"elapsed": int64(silent / time.Second), "ongoing": true}
			r.Time = end
			gaps = append(gaps, r)
		}
	}
	v.Frames = qualityFrames(dq, gaps, resets)
	return v, nil
}

func qualityFrames(dq, gaps []row, energy []meterRow) []Frame {
	// Completeness per meter per day: one chart column per meter, and a
	// table with every field the engine wrote.
	var meters []string
	fields := map[string]bool{}
	type key struct {
		t     int64
		meter string
	}
	cells := map[key]map[string]any{}
	for _, r := range dq {
		m := r.Tags["meter"]
		if m == "" {
			m = r.Tags["device"]
		}
		if !slices.Contains(meters, m) {
			meters = append(meters, m)
		}
		k := key{r.Time.Unix(), m}
		if cells[k] == nil {
			cells[k] = map[string]any{}
		}
		if f, ok := r.Float(); ok {
			cells[k][r.Field] = f
			fields[r.Field] = true
		}
	}
	slices.Sort(meters)
	cols := make([]Column, len(meters))
	for i, m := range meters {
		cols[i] = Column{Key: m, Unit: "%", Kind: "number"}
	}
	chart := newSeries(cols...)
	var fieldOrder []string
	for _, f := range qualityKnown {
		if fields[f] {
			fieldOrder = append(fieldOrder, f)
			delete(fields, f)
		}
	}
	fieldOrder = append(fieldOrder, sortedKeys(fields)...)
	tableCols := []Column{{Key: "time", Kind: "time"}, {Key: "meter", Kind: "text"}}
	for _, f := range fieldOrder {
		col := Column{Key: f, Kind: "number"}
		if f == "completeness" || f == "estimated" {
			col.Unit = "%"
		}
		tableCols = append(tableCols, col)
	}
	keys := make([]key, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.t != b.t {
			return int(a.t - b.t)
		}
		if a.meter < b.meter {
			return -1
		}
		if a.meter > b.meter {
			return 1
		}
		return 0
	})
	var tableRows [][]any
	for _, k := range keys {
		row := []any{k.t, k.meter}
		for _, f := range fieldOrder {
			row = append(row, cells[k][f])
		}
		tableRows = append(tableRows, row)
		if v, ok := cells[k]["completeness"]; ok {
			chart.set(time.Unix(k.t, 0), k.meter, v)
		}
	}

	gapCols := []Column{{Key: "device", Kind: "text"}, {Key: "gateway", Kind: "text"}, {Key: "start", Kind: "time"}, {Key: "end", Kind: "time"}, {Key: "duration", Unit: "s", Kind: "number"}}
	var gapRows [][]any
	for _, r := range gaps {
		secs, _ := r.Extra["elapsed"].(int64)
		if secs <= 0 {
			continue
		}
		var endAt any = r.Time.Unix()
		if r.Extra["ongoing"] == true {
			endAt = nil
		}
		gapRows = append(gapRows, []any{r.Tags["device"], r.Tags["gateway"], r.Time.Unix() - secs, endAt, secs})
	}
	slices.SortFunc(gapRows, func(a, b []any) int { return int(a[2].(int64) - b[2].(int64)) })

	// Counter resets, the silences the engine booked across, rollovers
	// booked and readings flagged for the auditor (energy's daily counts).
	resetCols := []Column{{Key: "time", Kind: "time"}, {Key: "meter", Kind: "text"}, {Key: "energy_type", Kind: "text"}, {Key: "resets", Kind: "number"}, {Key: "gaps", Kind: "number"},
		{Key: "wraps", Kind: "number"}, {Key: "suspect", Kind: "number"}}
	var resetRows [][]any
	count := func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return *p
	}
	for _, m := range energy {
		if count(m.resets)+count(m.gaps)+count(m.wraps)+count(m.suspect) > 0 {
			resetRows = append(resetRows, []any{m.time.Unix(), m.meter, m.energyType, ptrVal(m.resets), ptrVal(m.gaps), ptrVal(m.wraps), ptrVal(m.suspect)})
		}
	}
	return []Frame{chart.frame("completeness"), tableFrame("days", tableCols, tableRows), tableFrame("gaps", gapCols, gapRows), tableFrame("resets", resetCols, resetRows)}
}
