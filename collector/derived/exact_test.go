package derived

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// exactConfig is one 10 t/h grate whose steam and coal inputs are on device
// boiler1 (gateway gw-b) and whose flue gas analyser is device flue1
// (gateway gw-f), a coal counter on boiler1 and an electricity meter on
// meter1 (gateway gw-m). min_coverage is low so that a month that began
// with the test still has an efficiency value to compare.
func exactConfig(t *testing.T) *config.Energy {
	t.Helper()
	doc := `mqtt: {broker: "tcp://127.0.0.1:1"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
energy:
  timezone: Asia/Shanghai
  idle: 0s
  since: 2026-01-29T00:00:00+08:00
  min_coverage: 0.02
  electricity_primary: [{from: 2026-01-01, kgce_per_kwh: 0.3}]
  alerts: {below_limit_for: 2h, exhaust_max_c: 168, exhaust_for: 20m}
  boilers:
    - name: b0001
      site: plant-t
      rated_steam: 10
      firing: layered
      fuel: bituminous_ii
      points:
        steam_flow:     {device: boiler1, point: steam_flow}
        steam_pressure: {device: boiler1, point: steam_pressure}
        feedwater_temp: {device: boiler1, point: feedwater_temp}
        coal_feed:      {device: boiler1, point: coal_feed}
        o2:             {device: flue1, point: o2}
        exhaust_temp:   {device: flue1, point: exhaust_temp}
      cold_air_c: 20
      coal: {ash: 23, lhv: [{from: 2026-01-01, lhv: 20000}]}
      losses:
        {m: 0.4, n: 3.6, q3_coef: 3.2, carbon_heat: 32866, slag_heat: 560, slag_fraction: 0.8, fly_ash_fraction: 0.2,
         q5_rated: 1.7, carbon: [{from: 2026-01-01, slag: 15, fly_ash: 25}]}
  meters:
    - {name: coal-b1, site: plant-t, device: boiler1, point: coal_total, energy_type: coal, unit: t, interval: 30s, lhv_from: b0001}
    - {name: power-b1, site: plant-t, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 90s}
`
	c, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c.Energy
}

// scenario is the raw data of the exactness tests: a deterministic function
// of time, so any part of it can be written at any moment.
type scenario struct {
	t0 time.Time
	// skip leaves out device's samples in [from, to): an outage.
	skip func(device string, t time.Time) bool
}

// lines returns the line-protocol lines of the samples in [from, to).
func (sc scenario) lines(from, to time.Time) []string {
	var out []string
	h := func(t time.Time) float64 { return t.Sub(sc.t0).Hours() }
	for t := sc.t0; t.Before(to); t = t.Add(10 * time.Second) {
		if t.Before(from) {
			continue
		}
		x := h(t)
		sec := t.Unix()
		switch {
		case sec%30 == 0 && (sc.skip == nil || !sc.skip("boiler1", t)):
			// The coal counter is the integral of the feed: 1.6 t/h ± 0.35 t/h
			// over 7 h, so hours dip below the grade-3 limit and recover.
			w := 2 * math.Pi / 7
			feed := 1.6 + 0.35*math.Sin(w*x)
			total := 1000 + 1.6*x + 0.35/w*(1-math.Cos(w*x))
			out = append(out, fmt.Sprintf("boiler,device=boiler1,gateway=gw-b,profile=p,site=%s "+
				"steam_flow=%.4f,steam_pressure=%.4f,feedwater_temp=20,coal_feed=%.5f,coal_total=%.6f,_seq=%di %d",
				testSite, 9+1.5*math.Sin(2*math.Pi*x/5), 1.25+0.05*math.Sin(x/3), feed, total, sec/30, sec))
		case sec%30 == 10 && (sc.skip == nil || !sc.skip("flue1", t)):
			out = append(out, fmt.Sprintf("flue,device=flue1,gateway=gw-f,profile=p,site=%s o2=%.3f,exhaust_temp=%.2f,_seq=%di %d",
				testSite, 8+1.2*math.Sin(2*math.Pi*x/11), 160+9*math.Sin(2*math.Pi*x/13), sec/30, sec))
		}
		if sec%90 == 0 && (sc.skip == nil || !sc.skip("meter1", t)) {
			// 300 kW with a slow swing; the counter reads to 0.01 kWh.
			kwh := 5e4 + 300*x + 40*math.Sin(2*math.Pi*x/9)
			out = append(out, fmt.Sprintf("electricity_meter,device=meter1,gateway=gw-m,profile=p,site=%s ep_import=%.2f,_seq=%di %d",
				testSite, kwh, sec/90, sec))
		}
	}
	return out
}

func (sc scenario) write(ctx context.Context, w *consoletest.Writer, from, to time.Time) error {
	for _, l := range sc.lines(from, to) {
		if err := w.Add(ctx, l); err != nil {
			return err
		}
	}
	return w.Flush(ctx)
}

// upto is where data is written to so that the engine closes exactly the
// minutes before at: the newest sample is grace (2 min) past at.
func upto(at time.Time) time.Time { return at.Add(2*time.Minute + time.Second) }

// newRunner is a runner with nothing in memory: a new process after a
// kill -9.
func newRunner(t *testing.T, cfg *config.Energy, st *store.Store, w *consoletest.Writer) *Runner {
	t.Helper()
	r, err := New(Options{Config: cfg, Store: st, Publisher: &pubs{}, Delete: InfluxQL(w.URL, "", st.Bucket())})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// results are every stored result of the engine, by measurement, tags,
// field and time.
func results(ctx context.Context, t *testing.T, st *store.Store) map[string]any {
	t.Helper()
	var meas []string
	for _, m := range []string{MeasEfficiency, MeasEnergy, MeasQuality, MeasEvents} {
		meas = append(meas, fmt.Sprintf("r._measurement == %q", m))
	}
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %q) |> range(start: 0) |> filter(fn: (r) => %s)`,
		st.Bucket(), strings.Join(meas, " or ")))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	out := map[string]any{}
	for res.Next() {
		rec := res.Record()
		var tags []string
		for k, v := range rec.Values() {
			if s, ok := v.(string); ok && !strings.HasPrefix(k, "_") && k != "result" {
				tags = append(tags, k+"="+s)
			}
		}
		sort.Strings(tags)
		k := fmt.Sprintf("%s,%s %s %s", rec.Measurement(), strings.Join(tags, ","), rec.Field(), rec.Time().UTC().Format("01-02T15:04"))
		out[k] = rec.Value()
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// same reports the differences of got from want: floats to 1e-9
// relative, everything else exactly.
func same(want, got map[string]any) []string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing, want %v", k, w))
		case isFloat(w) && isFloat(g):
			a, b := w.(float64), g.(float64)
			if a != b && math.Abs(a-b) > 1e-9*math.Max(math.Abs(a), math.Abs(b)) {
				diffs = append(diffs, fmt.Sprintf("%s: %v, want %v (%+.3g %%)", k, b, a, 100*(b-a)/a))
			}
		case w != g:
			diffs = append(diffs, fmt.Sprintf("%s: %v, want %v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %v, want none", k, g))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func isFloat(v any) bool { _, ok := v.(float64); return ok }

// reference computes the scenario without interruption.
func reference(ctx context.Context, t *testing.T, cfg *config.Energy, sc scenario, end time.Time) map[string]any {
	t.Helper()
	st, w := startStore(t)
	if err := sc.write(ctx, w, sc.t0, upto(end)); err != nil {
		t.Fatal(err)
	}
	cycles(ctx, t, newRunner(t, cfg, st, w))
	return results(ctx, t, st)
}

func reportDiffs(t *testing.T, diffs []string, what string) {
	t.Helper()
	if len(diffs) == 0 {
		return
	}
	byPeriod := map[string]int{}
	for _, d := range diffs {
		for _, p := range []string{"period=15m", "period=1h", "period=1d", "period=1mo", "period=1m,"} {
			if strings.Contains(d, p) {
				byPeriod[strings.TrimSuffix(strings.TrimPrefix(p, "period="), ",")]++
			}
		}
	}
	show := diffs
	if len(show) > 40 {
		show = show[:40]
	}
	t.Errorf("%s: %d values differ from the uninterrupted run (by period: %v):\n%s", what, len(diffs), byPeriod, strings.Join(show, "\n"))
}

// TestExactAcrossRestartsAndLateData runs three days that end a month
// (29 January to 1 February, Asia/Shanghai) and compares, value by value,
// every stored result with an uninterrupted run of the same data:
//   - killed three times (a new Runner on the same store, nothing kept in
//     memory): mid-hour, on an hour mid-day and at midnight mid-month;
//   - with a 2-hour outage of the gateway of the boiler's steam and coal
//     inputs while its flue-gas analyser and the electricity meter kept
//     reporting, replayed after the engine had passed it (and once with a
//     kill between the replay and the engine's next cycle).
func TestExactAcrossRestartsAndLateData(t *testing.T) {
	loc := mustShanghai(t)
	at := func(d, h, m int) time.Time { return time.Date(2026, 1, d, h, m, 0, 0, loc) }
	cfg := exactConfig(t)
	t0, end := at(29, 0, 0), at(32, 1, 0) // 1 February 01:00
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	want := reference(ctx, t, cfg, scenario{t0: t0}, end)
	if len(want) < 1000 {
		t.Fatalf("reference run stored only %d values", len(want))
	}

	t.Run("three kills", func(t *testing.T) {
		st, w := startStore(t)
		sc := scenario{t0: t0}
		from := t0
		for _, kill := range []time.Time{at(29, 10, 37), at(30, 13, 0), at(31, 0, 0), end} {
			if err := sc.write(ctx, w, from, upto(kill)); err != nil {
				t.Fatal(err)
			}
			from = upto(kill)
			r := newRunner(t, cfg, st, w)
			cycles(ctx, t, r)
			if n := r.Engine().Boilers[0].Next(); !n.Equal(kill) {
				t.Fatalf("engine stopped at %v, want %v", n.In(loc), kill)
			}
		}
		reportDiffs(t, same(want, results(ctx, t, st)), "after three kills")
	})

	outage := [2]time.Time{at(30, 14, 0), at(30, 16, 0)}
	inOutage := func(device string, t time.Time) bool {
		return device == "boiler1" && !t.Before(outage[0]) && t.Before(outage[1])
	}
	for _, tc := range []struct {
		name string
		kill bool // a new runner between the replay and its next cycle
	}{
		{"2-hour outage replayed", false},
		{"2-hour outage replayed, killed before the next cycle", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, w := startStore(t)
			live := scenario{t0: t0, skip: inOutage}
			passed := at(30, 18, 0)
			if err := live.write(ctx, w, t0, upto(passed)); err != nil {
				t.Fatal(err)
			}
			r := newRunner(t, cfg, st, w)
			cycles(ctx, t, r)
			if n := r.Engine().Boilers[0].Next(); !n.Equal(passed) {
				t.Fatalf("engine at %v, want %v", n.In(loc), passed)
			}
			// The gateway's queue is replayed: written late, and the
			// ingest tells the engine what it wrote.
			backlog := scenario{t0: t0, skip: func(d string, t time.Time) bool { return !inOutage(d, t) }}
			if err := backlog.write(ctx, w, outage[0], outage[1]); err != nil {
				t.Fatal(err)
			}
			for ts := outage[0]; ts.Before(outage[1]); ts = ts.Add(30 * time.Second) {
				r.Late(ctx, testSite, "boiler1", ts)
			}
			if tc.kill {
				r = newRunner(t, cfg, st, w)
			}
			cycles(ctx, t, r)
			if err := live.write(ctx, w, upto(passed), upto(end)); err != nil {
				t.Fatal(err)
			}
			cycles(ctx, t, r)
			reportDiffs(t, same(want, results(ctx, t, st)), "after the replay")
		})
	}
}
