package derived

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// exactConfig is one 10 t/h grate whose steam and coal inputs are on device
// boiler1 (gateway gw-b) and whose flue gas analyser is device flue1
// (gateway gw-f), a coal counter on boiler1 and an electricity meter on
// meter1 (gateway gw-m), computed from since. min_coverage is low so that
// a month that began with the test still has an efficiency value to
// compare. rated_load_share 0.9: the steam flow (7.5..10.5 t/h) puts about
// half the hours below it, so the rated-load values (rated_hours,
// rated_pct) and the below-limit run that counts only rated-load hours are
// compared too.
func exactConfig(t *testing.T, since time.Time) *config.Energy {
	t.Helper()
	return exactConfigAt(t, since, testSite, "")
}

// exactConfigAt is exactConfig at site, each boiler's and meter's name
// ending in tag.
func exactConfigAt(t *testing.T, since time.Time, site, tag string) *config.Energy {
	t.Helper()
	doc := `mqtt: {broker: "tcp://127.0.0.1:1"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
energy:
  timezone: Asia/Shanghai
  idle: 0s
  since: ` + since.Format(time.RFC3339) + `
  min_coverage: 0.02
  electricity_primary: [{from: 2026-01-01, kgce_per_kwh: 0.3}]
  alerts: {below_limit_for: 2h, exhaust_max_c: 168, exhaust_for: 20m}
  boilers:
    - name: b0001` + tag + `
      site: ` + site + `
      rated_steam: 10
      rated_load_share: 0.9
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
    - {name: coal-b1` + tag + `, site: ` + site + `, device: boiler1, point: coal_total, energy_type: coal, unit: t, interval: 30s, lhv_from: b0001` + tag + `}
    - {name: power-b1` + tag + `, site: ` + site + `, device: meter1, point: ep_import, energy_type: electricity, unit: kWh, interval: 90s}
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
	t0   time.Time
	site string // testSite if empty
	// skip leaves out device's samples in [from, to): an outage.
	skip func(device string, t time.Time) bool
}

// lines returns the line-protocol lines of the samples in [from, to).
func (sc scenario) lines(from, to time.Time) []string {
	var out []string
	site := sc.site
	if site == "" {
		site = testSite
	}
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
				site, 9+1.5*math.Sin(2*math.Pi*x/5), 1.25+0.05*math.Sin(x/3), feed, total, sec/30, sec))
		case sec%30 == 10 && (sc.skip == nil || !sc.skip("flue1", t)):
			out = append(out, fmt.Sprintf("flue,device=flue1,gateway=gw-f,profile=p,site=%s o2=%.3f,exhaust_temp=%.2f,_seq=%di %d",
				site, 8+1.2*math.Sin(2*math.Pi*x/11), 160+9*math.Sin(2*math.Pi*x/13), sec/30, sec))
		}
		if sec%90 == 0 && (sc.skip == nil || !sc.skip("meter1", t)) {
			// 300 kW with a slow swing; the counter reads to 0.01 kWh.
			kwh := 5e4 + 300*x + 40*math.Sin(2*math.Pi*x/9)
			out = append(out, fmt.Sprintf("electricity_meter,device=meter1,gateway=gw-m,profile=p,site=%s ep_import=%.2f,_seq=%di %d",
				site, kwh, sec/90, sec))
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
// kill -9. Its alerts go to pub.
func newRunner(t *testing.T, cfg *config.Energy, st Store, w *consoletest.Writer, pub *pubs) *Runner {
	t.Helper()
	r, err := New(Options{Config: cfg, Store: st, Publisher: pub, Delete: InfluxQL(w.URL, "", st.Bucket())})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// positions are where each boiler and meter of r has computed to.
func positions(r *Runner) string {
	var b strings.Builder
	for _, x := range r.Engine().Boilers {
		fmt.Fprintf(&b, "%s=%d ", x.Cfg.Name, x.Next().Unix())
	}
	for _, x := range r.Engine().Meters {
		fmt.Fprintf(&b, "%s=%d ", x.Cfg.Name, x.Next().Unix())
	}
	return b.String()
}

// drain runs r's cycles until it has nothing left to compute: at least
// three (a late recomputation goes back and forward again in one), then
// until a cycle leaves every position where it was (a cycle computes at
// most maxChunksPerCycle chunks, and a month takes many). It returns the
// first cycle error, if any (the runner was killed, see crashingStore).
func drain(ctx context.Context, r *Runner) error {
	prev := positions(r)
	for i := 0; i < 1000; i++ {
		if err := r.Cycle(ctx); err != nil {
			return err
		}
		cur := positions(r)
		if i >= 2 && cur == prev {
			return nil
		}
		prev = cur
	}
	return fmt.Errorf("still computing after 1000 cycles: %s", prev)
}

func mustDrain(ctx context.Context, t *testing.T, r *Runner) {
	t.Helper()
	if err := drain(ctx, r); err != nil {
		t.Fatalf("cycle: %v", err)
	}
}

// errKilled is what a crashingStore returns once its budget is spent.
var errKilled = errors.New("killed in the middle of its writes")

// crashingStore passes a runner's write requests through to the store
// until budget of them have gone through; the next one writes only the
// first half of its points and fails, and so does every one after it: the
// process died in the middle of a cycle's writes (kill -9 between or
// inside the requests), or InfluxDB refused writes for a while. died
// describes the write that failed first.
type crashingStore struct {
	*store.Store
	mu      sync.Mutex
	budget  int
	written int // points that went through
	died    string
}

func (c *crashingStore) Write(ctx context.Context, pts ...*write.Point) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(pts)
	if c.budget <= 0 {
		n /= 2
	}
	if n > 0 {
		if err := c.Store.Write(ctx, pts[:n]...); err != nil {
			return err
		}
		c.written += n
	}
	if c.budget <= 0 {
		if c.died == "" {
			c.died = fmt.Sprintf("%d of %d points (%s at %s)", n, len(pts), pts[0].Name(), pts[0].Time().UTC().Format("01-02T15:04Z"))
		}
		return errKilled
	}
	c.budget--
	return nil
}

// crashRun computes whatever the store holds with a chain of runners, the
// i-th killed in the middle of its writes after budgets[i] write requests
// (see crashingStore), then a last one that finishes. With transient, it
// is one runner throughout, whose writes fail for a cycle after each
// budget and then work again (InfluxDB down for a moment while the
// collector keeps running). It returns how many runners failed mid-cycle
// and in which writes.
func crashRun(ctx context.Context, t *testing.T, cfg *config.Energy, st *store.Store, w *consoletest.Writer, pub *pubs,
	budgets []int, transient bool) (int, []string) {
	t.Helper()
	loc := cfg.Location
	cs := &crashingStore{Store: st}
	r := newRunner(t, cfg, cs, w, pub)
	failed := 0
	var died []string
	for _, b := range budgets {
		cs.mu.Lock()
		cs.budget, cs.died = b, ""
		cs.mu.Unlock()
		err := drain(ctx, r)
		switch {
		case errors.Is(err, errKilled):
			failed++
			died = append(died, fmt.Sprintf("%s: %v", cs.died, err))
			t.Logf("died after %d writes, at %s, in the next: %s (%v)", b,
				r.Engine().Boilers[0].Next().In(loc).Format("01-02 15:04"), cs.died, err)
		case err != nil:
			t.Fatalf("cycle: %v", err)
		}
		if !transient {
			cs = &crashingStore{Store: st}
			r = newRunner(t, cfg, cs, w, pub)
		}
	}
	cs.mu.Lock()
	cs.budget = math.MaxInt
	cs.mu.Unlock()
	mustDrain(ctx, t, r)
	return failed, died
}

// published are the alerts published, one line each, in order of since.
func published(p *pubs) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, a := range p.got {
		out = append(out, fmt.Sprintf("%s %s since %s at %s: %v", a.Boiler, a.Kind, a.Since, a.At, a.Value))
	}
	sort.Strings(out)
	return out
}

// checkPublished compares the alerts published with the uninterrupted
// run's: each episode once, except that a process killed after the broker
// took an alert and before its event was stored publishes it again when it
// starts (QoS 1 is at least once anyway: a subscriber tells a repeat by
// boiler, kind and since). Such repeats must be identical, and at most
// repeats of them.
func checkPublished(t *testing.T, want []string, p *pubs, repeats int, what string) {
	t.Helper()
	got := published(p)
	var once []string
	for i, a := range got {
		if i == 0 || a != got[i-1] {
			once = append(once, a)
		}
	}
	if strings.Join(once, "\n") != strings.Join(want, "\n") || len(got)-len(once) > repeats {
		t.Errorf("%s: published %d alerts (%d repeated, at most %d may be), want the uninterrupted run's %d:\n%s\nwant:\n%s",
			what, len(got), len(got)-len(once), repeats, len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) > len(once) {
		t.Logf("%s: %d alerts published again after a kill between their publication and their event's write", what, len(got)-len(once))
	}
}

// results are every stored result of the engine, by measurement, tags,
// field and time. They are read a day at a time: a month's million values
// in one query outlast the client's 30-s timeout on a busy machine.
func results(ctx context.Context, t *testing.T, st *store.Store) map[string]any {
	t.Helper()
	meas := store.OneOf("_measurement", MeasEfficiency, MeasEnergy, MeasQuality, MeasEvents)
	// Where the results are: from the first to the last stored window
	// (progress points are at the days computed).
	first, last := storedSpan(ctx, t, st, meas)
	out := map[string]any{}
	bounds := []time.Time{time.Unix(0, 0)}
	for d := first.Truncate(24 * time.Hour); !d.After(last); d = d.Add(24 * time.Hour) {
		bounds = append(bounds, d)
	}
	bounds = append(bounds, last.Add(time.Nanosecond))
	for i := 0; i+1 < len(bounds); i++ {
		if !bounds[i].Before(bounds[i+1]) {
			continue
		}
		res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => %s)`,
			store.FluxString(st.Bucket()), store.FluxTime(bounds[i]), store.FluxTime(bounds[i+1]), meas))
		if err != nil {
			t.Fatal(err)
		}
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
		err = res.Err()
		res.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// storedSpan is the time of the first and the last point matching cond
// (first and last of each series, the earliest and the latest of them).
func storedSpan(ctx context.Context, t *testing.T, st *store.Store, cond string) (first, last time.Time) {
	t.Helper()
	for _, f := range []string{"first", "last"} {
		res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 0, stop: 2100-01-01T00:00:00Z)
  |> filter(fn: (r) => %s) |> %s()`, store.FluxString(st.Bucket()), cond, f))
		if err != nil {
			t.Fatal(err)
		}
		for res.Next() {
			ts := res.Record().Time()
			if f == "first" && (first.IsZero() || ts.Before(first)) {
				first = ts
			}
			if f == "last" && ts.After(last) {
				last = ts
			}
		}
		err = res.Err()
		res.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if first.IsZero() {
		t.Fatal("no results stored")
	}
	return first, last
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

// reference computes the scenario without interruption: the stored
// results and the alerts published.
func reference(ctx context.Context, t *testing.T, cfg *config.Energy, sc scenario, end time.Time) (map[string]any, []string) {
	t.Helper()
	st, w := startStore(t)
	if err := sc.write(ctx, w, sc.t0, upto(end)); err != nil {
		t.Fatal(err)
	}
	cs := &crashingStore{Store: st, budget: math.MaxInt}
	pub := &pubs{}
	mustDrain(ctx, t, newRunner(t, cfg, cs, w, pub))
	t.Logf("uninterrupted run: %d points in %d writes", cs.written, math.MaxInt-cs.budget)
	return results(ctx, t, st), published(pub)
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

// exactSpan is the stretch TestExactAcrossRestartsAndLateData runs.
type exactSpan struct {
	t0, end time.Time   // data and computing from t0 (energy.since) to end
	kills   []time.Time // a new runner once computing has reached each
	// crashes are the mid-write kills: the i-th runner dies in its
	// crashes[i]+1-th write request (see crashRun).
	crashes []int
	outage  [2]time.Time // boiler1's gateway down...
	passed  time.Time    // ...and replayed once computing is here
	// lateCrash: a runner killed in this write request (1: the first) of
	// the recomputation the replay causes.
	lateCrash int
	timeout   time.Duration
}

// exactSpanFromEnv is the default span (make test: three days that end a
// month, about 40 s) or, with BW_EXACT_SPAN=month (make exact-month), the
// whole month of January.
func exactSpanFromEnv(t *testing.T, loc *time.Location) exactSpan {
	at := func(d, h, m int) time.Time { return time.Date(2026, 1, d, h, m, 0, 0, loc) }
	switch v := os.Getenv("BW_EXACT_SPAN"); v {
	case "", "days":
		return exactSpan{t0: at(29, 0, 0), end: at(32, 1, 0),
			// mid-hour, on an hour mid-day, at midnight
			kills:   []time.Time{at(29, 10, 37), at(30, 13, 0), at(31, 0, 0)},
			crashes: []int{0, 1, 2, 3, 5, 8, 13, 21},
			outage:  [2]time.Time{at(30, 14, 0), at(30, 16, 0)}, passed: at(30, 18, 0), lateCrash: 1,
			timeout: 4 * time.Minute}
	case "month":
		return exactSpan{t0: at(1, 0, 0), end: at(32, 1, 0),
			// mid-hour, on an hour mid-day, mid-month at noon and at
			// midnight
			kills:   []time.Time{at(3, 10, 37), at(9, 13, 0), at(15, 12, 0), at(16, 0, 0)},
			crashes: []int{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89},
			outage:  [2]time.Time{at(20, 14, 0), at(20, 16, 0)}, passed: at(20, 18, 0), lateCrash: 1,
			timeout: 40 * time.Minute}
	default:
		t.Fatalf("BW_EXACT_SPAN=%q: want days (the default) or month", v)
		return exactSpan{}
	}
}

// TestExactAcrossRestartsAndLateData computes a span of synthetic data
// (by default three days that end a month, 29 January to 1 February 01:00
// Asia/Shanghai; BW_EXACT_SPAN=month the whole of January) and compares,
// value by value, every stored result and the alerts published with an
// uninterrupted run of the same data:
//   - killed between cycles (a new Runner on the same store, nothing kept
//     in memory): mid-hour, on an hour mid-day and mid-month;
//   - killed in the middle of a cycle's writes, a chain of runners each
//     dying after a different number of points (the last write in part);
//   - InfluxDB refusing writes in the middle of cycles while the same
//     runner goes on;
//   - with a 2-hour outage of the gateway of the boiler's steam and coal
//     inputs while its flue-gas analyser and the electricity meter kept
//     reporting, replayed after the engine had passed it (and with a kill
//     between the replay and the engine's next cycle, or in the middle of
//     the recomputation's writes).
func TestExactAcrossRestartsAndLateData(t *testing.T) {
	t.Parallel()
	loc := mustShanghai(t)
	sp := exactSpanFromEnv(t, loc)
	t0, end := sp.t0, sp.end
	cfg := exactConfig(t, t0)
	ctx, cancel := context.WithTimeout(context.Background(), sp.timeout)
	defer cancel()
	began := time.Now()
	want, wantPub := reference(ctx, t, cfg, scenario{t0: t0}, end)
	t.Logf("%s to %s: %d values, %d alerts, uninterrupted run in %v", t0.In(loc).Format("01-02 15:04"),
		end.In(loc).Format("01-02 15:04"), len(want), len(wantPub), time.Since(began).Round(time.Second))
	if len(want) < 1000 {
		t.Fatalf("reference run stored only %d values", len(want))
	}
	if len(wantPub) == 0 {
		t.Fatalf("reference run published no alert: the scenario should raise some")
	}

	t.Run("killed between cycles", func(t *testing.T) {
		st, w := startStore(t)
		sc := scenario{t0: t0}
		pub := &pubs{}
		from := t0
		for _, kill := range append(sp.kills, end) {
			if err := sc.write(ctx, w, from, upto(kill)); err != nil {
				t.Fatal(err)
			}
			from = upto(kill)
			r := newRunner(t, cfg, st, w, pub)
			mustDrain(ctx, t, r)
			if n := r.Engine().Boilers[0].Next(); !n.Equal(kill) {
				t.Fatalf("engine stopped at %v, want %v", n.In(loc), kill)
			}
		}
		reportDiffs(t, same(want, results(ctx, t, st)), "after the kills")
		checkPublished(t, wantPub, pub, 0, "after the kills")
	})

	for _, tc := range []struct {
		name      string
		transient bool
	}{
		{"killed in the middle of its writes", false},
		{"writes refused in the middle of cycles, same runner", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, w := startStore(t)
			if err := (scenario{t0: t0}).write(ctx, w, t0, upto(end)); err != nil {
				t.Fatal(err)
			}
			pub := &pubs{}
			n, died := crashRun(ctx, t, cfg, st, w, pub, sp.crashes, tc.transient)
			if n < len(sp.crashes)-1 {
				t.Errorf("only %d of %d runners failed in a cycle", n, len(sp.crashes))
			}
			// Among them, some in the middle of an alert's writes, and
			// some in the results' and the progress's.
			ds := strings.Join(died, "\n")
			for _, what := range []string{"write event:", "write episode end:", "(" + MeasProgress + " ", "(" + MeasEfficiency + " "} {
				if !strings.Contains(ds, what) {
					t.Errorf("no failure in %q among:\n%s", what, ds)
				}
			}
			repeats := strings.Count(ds, "write event:")
			if tc.transient {
				repeats = 0 // the same process: it knows what it published
			}
			reportDiffs(t, same(want, results(ctx, t, st)), tc.name)
			checkPublished(t, wantPub, pub, repeats, tc.name)
		})
	}

	outage := sp.outage
	inOutage := func(device string, t time.Time) bool {
		return device == "boiler1" && !t.Before(outage[0]) && t.Before(outage[1])
	}
	for _, tc := range []struct {
		name  string
		kill  bool // a new runner between the replay and its next cycle
		crash int  // ...that dies in this write request (1: the first; 0: never)
	}{
		{"2-hour outage replayed", false, 0},
		{"2-hour outage replayed, killed before the next cycle", true, 0},
		{"2-hour outage replayed, killed in the middle of the recomputation", false, sp.lateCrash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, w := startStore(t)
			pub := &pubs{}
			live := scenario{t0: t0, skip: inOutage}
			passed := sp.passed
			if err := live.write(ctx, w, t0, upto(passed)); err != nil {
				t.Fatal(err)
			}
			cs := &crashingStore{Store: st, budget: math.MaxInt}
			r := newRunner(t, cfg, cs, w, pub)
			mustDrain(ctx, t, r)
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
				r = newRunner(t, cfg, st, w, pub)
			}
			if tc.crash > 0 {
				cs.mu.Lock()
				cs.budget = tc.crash - 1
				cs.mu.Unlock()
				if err := drain(ctx, r); !errors.Is(err, errKilled) {
					t.Fatalf("the recomputation did not fail after %d writes: %v", tc.crash, err)
				}
				t.Logf("killed after %d writes of the recomputation, in the next: %s", tc.crash, cs.died)
				r = newRunner(t, cfg, st, w, pub)
			}
			mustDrain(ctx, t, r)
			if err := live.write(ctx, w, upto(passed), upto(end)); err != nil {
				t.Fatal(err)
			}
			mustDrain(ctx, t, r)
			reportDiffs(t, same(want, results(ctx, t, st)), "after the replay")
			checkPublished(t, wantPub, pub, 0, "after the replay")
		})
	}
}
