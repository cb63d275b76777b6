package derived

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/store"
)

// hourRow is a stored hourly boiler_efficiency window.
type hourRow struct {
	start              time.Time
	direct, load, lim  float64
	hasDirect, hasLoad bool
	rated              int64
}

// storedHours reads boiler b0001's stored hourly windows, in time order.
func storedHours(ctx context.Context, t *testing.T, st *store.Store) []hourRow {
	t.Helper()
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 0, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(st.Bucket()), store.And(store.Eq("_measurement", MeasEfficiency), store.Eq("boiler", "b0001"), store.Eq("period", "1h")),
		store.OneOf("_field", "direct", "load", "limit", "rated_hours")))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	by := map[int64]*hourRow{}
	for res.Next() {
		rec := res.Record()
		h := by[rec.Time().UnixMilli()]
		if h == nil {
			h = &hourRow{start: rec.Time()}
			by[rec.Time().UnixMilli()] = h
		}
		switch rec.Field() {
		case "direct":
			h.direct, h.hasDirect = rec.Value().(float64)
		case "load":
			h.load, h.hasLoad = rec.Value().(float64)
		case "limit":
			h.lim, _ = rec.Value().(float64)
		case "rated_hours":
			h.rated, _ = rec.Value().(int64)
		}
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	var out []hourRow
	for _, h := range by {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// TestRatedLoadAcrossRestarts: with exactConfig's rated_load_share 0.9 the
// exactness scenario's hours alternate between rated-load hours and hours
// below it (the steam flow swings 7.5..10.5 t/h over 5 h), with hours
// below the limit of both kinds. Runners killed (a) at the start of a
// rated-load hour below the limit that follows a lower-load hour also
// below it (the restored below-limit run must not count that hour), (b) at
// midnight (the month's rated-load sums rebuilt from its stored days) and
// (c) mid-hour mid-day (the day's from its stored hours) store every
// value, rated_pct and rated_hours included, and publish every alert as an
// uninterrupted run does.
func TestRatedLoadAcrossRestarts(t *testing.T) {
	t.Parallel()
	loc := mustShanghai(t)
	t0 := time.Date(2026, 1, 30, 0, 0, 0, 0, loc)
	end := time.Date(2026, 2, 1, 1, 0, 0, 0, loc)
	cfg := exactConfig(t, t0) // rated_load_share 0.9
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sc := scenario{t0: t0}
	want, wantPub := reference(ctx, t, cfg, sc, end)

	// The reference is not trivial: hours of both kinds, days and the
	// month with a rated-load efficiency that differs from all hours'.
	kinds := map[int64]int{}
	for k, v := range want {
		if strings.Contains(k, "period=1h") && strings.Contains(k, " rated_hours ") {
			kinds[v.(int64)]++
		}
	}
	if kinds[0] < 5 || kinds[1] < 5 {
		t.Fatalf("hours by rated_hours: %v, want both kinds", kinds)
	}
	for _, p := range []string{"1d", "1mo"} {
		n := 0
		for k, v := range want {
			if !strings.Contains(k, "boiler_efficiency,boiler=b0001,period="+p+",") || !strings.Contains(k, " rated_pct ") {
				continue
			}
			n++
			all, ok := want[strings.Replace(k, " rated_pct ", " direct ", 1)].(float64)
			if !ok || math.Abs(all-v.(float64)) < 0.1 {
				t.Errorf("%s: rated-load %v, all hours %v: should differ", k, v, all)
			}
		}
		if n == 0 {
			t.Errorf("no %s rated_pct stored", p)
		}
	}

	// (a): where a restored run that counted every hour would differ.
	var st0 *store.Store
	{
		st, w := startStore(t)
		if err := sc.write(ctx, w, t0, upto(end)); err != nil {
			t.Fatal(err)
		}
		mustDrain(ctx, t, newRunner(t, cfg, st, w, &pubs{}))
		st0 = st
	}
	var kill time.Time
	hs := storedHours(ctx, t, st0)
	for i := 1; i < len(hs); i++ {
		p, h := hs[i-1], hs[i]
		if p.hasDirect && p.direct < p.lim && p.rated == 0 && h.hasDirect && h.direct < h.lim && h.rated == 1 {
			kill = h.start
			break
		}
	}
	if kill.IsZero() {
		t.Fatal("no rated-load hour below the limit after a lower-load hour below it")
	}
	kills := []time.Time{kill, time.Date(2026, 1, 31, 0, 0, 0, 0, loc), time.Date(2026, 1, 31, 15, 37, 0, 0, loc), end}
	t.Logf("kills at %v", kills)
	st, w := startStore(t)
	pub := &pubs{}
	from := t0
	for _, k := range kills {
		if err := sc.write(ctx, w, from, upto(k)); err != nil {
			t.Fatal(err)
		}
		from = upto(k)
		r := newRunner(t, cfg, st, w, pub)
		mustDrain(ctx, t, r)
		if n := r.Engine().Boilers[0].Next(); !n.Equal(k) {
			t.Fatalf("engine stopped at %v, want %v", n.In(loc), k)
		}
	}
	reportDiffs(t, same(want, results(ctx, t, st)), "after the kills")
	checkPublished(t, wantPub, pub, 0, "after the kills")
}
