package derived

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// countingStore counts the engine's watermark and raw-sample queries.
type countingStore struct {
	Store
	mu                  sync.Mutex
	watermarks, samples int
}

func (c *countingStore) Query(ctx context.Context, flux string) (*api.QueryTableResult, error) {
	c.mu.Lock()
	switch {
	case strings.Contains(flux, `keep(columns: ["_time", "device"`):
		c.watermarks++
	case strings.Contains(flux, `keep(columns: ["_time", "_value", "_field", "device"`):
		c.samples++
	}
	c.mu.Unlock()
	return c.Store.Query(ctx, flux)
}

func (c *countingStore) Samples(ctx context.Context, f store.SampleFilter, each func(store.Sample)) error {
	c.mu.Lock()
	c.samples++
	c.mu.Unlock()
	return c.Store.Samples(ctx, f, each)
}

func (c *countingStore) reset() (watermarks, samples int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	watermarks, samples = c.watermarks, c.samples
	c.watermarks, c.samples = 0, 0
	return watermarks, samples
}

// steamMeterConfig is a steam meter at site whose counter is meter1's and
// whose pressure is boiler1's: when boiler1 is out, its minutes use the
// last pressure read before them (estimate_within), up to an hour back.
func steamMeterConfig(t *testing.T, site string) config.Meter {
	t.Helper()
	doc := `mqtt: {broker: "tcp://127.0.0.1:1"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
energy:
  timezone: Asia/Shanghai
  meters:
    - {name: steam-m1, site: ` + site + `, device: meter1, point: ep_import, energy_type: steam, unit: t, interval: 90s,
       steam: {pressure: {device: boiler1, point: steam_pressure}, reference_c: 20}}
`
	c, err := config.Parse("steam.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c.Energy.Meters[0]
}

// TestSitesShareQueries: one runner computing three sites, whose
// watermark and raw-sample queries are shared by the sites, stores exactly
// what a runner for each site alone stores from the same data, though it
// computes as the data arrives (ten minutes at a time, one site an hour
// behind the others for a while, another with a 20-minute outage of its
// boiler's gateway replayed half an hour later and a steam meter
// estimating over it), and a cycle that closes minutes at every site costs
// one watermark query and two raw-sample queries (counters, other inputs)
// for the sites whose minutes are about as far. The shared runner names
// the raw measurements (Options.Measurements); the references read from
// any.
func TestSitesShareQueries(t *testing.T) {
	t.Parallel()
	loc := mustShanghai(t)
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, loc)
	end := t0.Add(3 * time.Hour)
	outage := [2]time.Time{t0.Add(20 * time.Minute), t0.Add(40 * time.Minute)}
	inOutage := func(device string, t time.Time) bool {
		return device == "boiler1" && !t.Before(outage[0]) && t.Before(outage[1])
	}
	sites := []struct {
		site, tag string
		live      scenario
		behind    time.Duration // its data arrives this much later (until the end)
	}{
		{testSite, "", scenario{t0: t0}, 0},
		{"plant-u", "-u", scenario{t0: t0, site: "plant-u", skip: inOutage}, 0},
		{"plant-v", "-v", scenario{t0: t0, site: "plant-v"}, time.Hour},
	}
	configs := make([]*config.Energy, len(sites))
	all := exactConfig(t, t0)
	all.Boilers, all.Meters = nil, nil
	for i, s := range sites {
		configs[i] = exactConfigAt(t, t0, s.site, s.tag)
		if s.site == "plant-u" {
			configs[i].Meters = append(configs[i].Meters, steamMeterConfig(t, s.site))
		}
		all.Boilers = append(all.Boilers, configs[i].Boilers...)
		all.Meters = append(all.Meters, configs[i].Meters...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Each site alone, on all its data at once.
	refStore, refW := startStore(t)
	for i, s := range sites {
		sc := s.live
		sc.skip = nil
		if err := sc.write(ctx, refW, t0, upto(end)); err != nil {
			t.Fatal(err)
		}
		mustDrain(ctx, t, newRunner(t, configs[i], refStore, refW, &pubs{}))
	}
	want := results(ctx, t, refStore)

	// All sites in one runner, as the data arrives, reading the raw
	// samples from their measurements by name (the references from any).
	st, w := startStore(t)
	cs := &countingStore{Store: st}
	r := newRunner(t, all, cs, w, &pubs{})
	r.o.Measurements = []string{"boiler", "electricity_meter", "flue"}
	written := make([]time.Time, len(sites))
	for i := range written {
		written[i] = t0
	}
	backlog := scenario{t0: t0, site: "plant-u", skip: func(d string, t time.Time) bool { return !inOutage(d, t) }}
	for at := t0.Add(10 * time.Minute); !at.After(end); at = at.Add(10 * time.Minute) {
		for i, s := range sites {
			to := upto(at.Add(-s.behind))
			if at.Equal(end) {
				to = upto(end)
			}
			if !to.After(written[i]) {
				continue
			}
			if err := s.live.write(ctx, w, written[i], to); err != nil {
				t.Fatal(err)
			}
			written[i] = to
		}
		if at.Equal(outage[1].Add(30 * time.Minute)) {
			// The gateway's queue is replayed, before the episodes it
			// changes have raised their alerts (an alert once published is
			// not taken back).
			if err := backlog.write(ctx, w, outage[0], outage[1]); err != nil {
				t.Fatal(err)
			}
			for ts := outage[0]; ts.Before(outage[1]); ts = ts.Add(30 * time.Second) {
				r.Late(ctx, "plant-u", "boiler1", ts)
			}
		}
		mustDrain(ctx, t, r)
	}
	reportDiffs(t, same(want, results(ctx, t, st)), "three sites in one runner")

	// Five more minutes at every site: one cycle closes them all.
	cs.reset()
	for i, s := range sites {
		if err := s.live.write(ctx, w, written[i], upto(end.Add(5*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range r.Engine().Boilers {
		if n := b.Next(); !n.Equal(end.Add(5 * time.Minute)) {
			t.Errorf("%s at %v, want %v", b.Cfg.Name, n.In(loc), end.Add(5*time.Minute).In(loc))
		}
	}
	// The steam meter's site reads an hour back: its own two; the other
	// sites share two.
	if wm, samples := cs.reset(); wm != 1 || samples != 4 {
		t.Errorf("a cycle closing minutes at %d sites made %d watermark and %d raw-sample queries, want 1 and 4 (the steam meter's site alone)",
			len(sites), wm, samples)
	}
}

// TestMayClose: a site's watermark is read only when one of its subjects
// could close a minute with a newer one.
func TestMayClose(t *testing.T) {
	next := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	grace := 30 * time.Second
	closable := next.Add(time.Minute + grace) // the first wall time a sample can close next's minute
	for _, tc := range []struct {
		name      string
		wm        time.Time
		stop, now time.Time
		idle      time.Duration
		moved     time.Time
		want      bool
	}{
		{"no watermark yet", time.Time{}, next, next, 0, time.Time{}, true},
		{"before next's minute can close", next.Add(40 * time.Second), closable.Add(-time.Millisecond), closable, 0, next, false},
		{"once it can", next.Add(40 * time.Second), closable, closable, 0, next, true},
		{"idle off, data stopped long ago", next.Add(40 * time.Second), next.Add(time.Minute), next.Add(time.Hour), 0, next, false},
		{"idle reached", next.Add(40 * time.Second), next.Add(time.Minute), next.Add(time.Hour), 10 * time.Minute, next, true},
		{"idle not reached", next.Add(40 * time.Second), next.Add(time.Minute), next.Add(5 * time.Minute), 10 * time.Minute, next, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Energy{}
			cfg.Grace.Duration, cfg.Idle.Duration = grace, tc.idle
			r := &Runner{o: Options{Config: cfg}}
			s := &subject{next: func() time.Time { return next }, wm: tc.wm, wmMoved: tc.moved}
			if got := r.mayClose([]*subject{s}, tc.stop, tc.now); got != tc.want {
				t.Errorf("mayClose = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWrittenWatermarks: told of every sample written (Options.Written),
// the runner reads the watermarks once, after its start, and then closes
// minutes by what it was told, as far as reading them would.
func TestWrittenWatermarks(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, st, w, sc, at := writtenScenario(ctx, t)
	loc := cfg.Location
	cs := &countingStore{Store: st}
	r, err := New(Options{Config: cfg, Store: cs, Written: true})
	if err != nil {
		t.Fatal(err)
	}
	mustDrain(ctx, t, r)
	if wm, _ := cs.reset(); wm == 0 {
		t.Fatalf("no watermark read after the start")
	}
	for step := range 3 {
		from := upto(at)
		at = at.Add(5 * time.Minute)
		if err := sc.write(ctx, w, from, upto(at)); err != nil {
			t.Fatal(err)
		}
		tell(ctx, r, from, upto(at))
		mustDrain(ctx, t, r)
		if n := r.Engine().Boilers[0].Next(); !n.Equal(at) {
			t.Errorf("step %d: boiler at %v, want %v", step, n.In(loc), at.In(loc))
		}
		if wm, samples := cs.reset(); wm != 0 || samples == 0 {
			t.Errorf("step %d: %d watermark and %d raw-sample queries, want none and some", step, wm, samples)
		}
	}
}

// writtenScenario is the test scenario's config and a store holding its
// first 30 minutes, which end at at, for a runner told of what is written
// (Options.Written).
func writtenScenario(ctx context.Context, t *testing.T) (cfg *config.Energy, st *store.Store, w *consoletest.Writer, sc scenario, at time.Time) {
	t.Helper()
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, mustShanghai(t))
	cfg = exactConfig(t, t0)
	st, w = startStore(t)
	sc = scenario{t0: t0}
	at = t0.Add(30 * time.Minute)
	if err := sc.write(ctx, w, t0, upto(at)); err != nil {
		t.Fatal(err)
	}
	return cfg, st, w, sc, at
}

// tell tells r what the ingest would after writing the scenario's samples
// in [from, to): each device's, as written.
func tell(ctx context.Context, r *Runner, from, to time.Time) {
	for ts := from.Truncate(10 * time.Second); ts.Before(to); ts = ts.Add(10 * time.Second) {
		switch sec := ts.Unix(); {
		case sec%30 == 0:
			r.Late(ctx, testSite, "boiler1", ts)
		case sec%30 == 10:
			r.Late(ctx, testSite, "flue1", ts)
		}
		if ts.Unix()%90 == 0 {
			r.Late(ctx, testSite, "meter1", ts)
		}
	}
}

// TestCycleWhenAMinuteCanClose: told of every sample written
// (Options.Written), Run starts a cycle as soon as a sample lets a minute
// close, not at its next tick (an hour here); samples stored but not told
// of start none.
func TestCycleWhenAMinuteCanClose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, st, w, sc, at := writtenScenario(ctx, t)
	loc := cfg.Location
	cfg.Every.Duration = time.Hour
	closed := make(chan time.Time, 1000)
	r, err := New(Options{Config: cfg, Store: st, Written: true, OnEfficiency: func(res *energy.Result) {
		if res.Period == energy.Minute {
			closed <- res.Start
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		r.Run(runCtx)
	}()
	defer func() {
		stop()
		<-ran
	}()
	// closedUpTo waits up to d for the minute before end to close and
	// returns the end of the last minute closed by then.
	var last time.Time
	closedUpTo := func(end time.Time, d time.Duration) time.Time {
		timeout := time.After(d)
		for !last.Equal(end) {
			select {
			case m := <-closed:
				last = m.Add(time.Minute)
			case <-timeout:
				return last
			}
		}
		return last
	}
	// The first cycle, at the start, reads the watermarks.
	if got := closedUpTo(at, time.Minute); !got.Equal(at) {
		t.Fatalf("after the start: minutes closed up to %v, want %v", got.In(loc), at.In(loc))
	}
	from := upto(at)
	at = at.Add(5 * time.Minute)
	if err := sc.write(ctx, w, from, upto(at)); err != nil {
		t.Fatal(err)
	}
	if got := closedUpTo(at, 3*time.Second); !got.Equal(at.Add(-5 * time.Minute)) {
		t.Fatalf("stored but not told of: minutes closed up to %v, want none past %v", got.In(loc), at.Add(-5*time.Minute).In(loc))
	}
	tell(ctx, r, from, upto(at))
	if got := closedUpTo(at, 30*time.Second); !got.Equal(at) {
		t.Errorf("told of the samples: minutes closed up to %v within 30 s, want %v (every is an hour)", got.In(loc), at.In(loc))
	}
}
