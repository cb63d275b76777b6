package derived

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry/telemetrytest"
)

const testSite = "plant-t"

// energyConfig is one 10 t/h grate (grade-3 limit 80 %) on device
// boiler1, alerted after 2 h below the limit.
func energyConfig(t *testing.T, extra string) *config.Energy {
	t.Helper()
	doc := `mqtt: {broker: "tcp://127.0.0.1:1"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
energy:
  timezone: Asia/Shanghai
  idle: 0s
` + extra + `  electricity_primary: [{from: 2026-01-01, kgce_per_kwh: 0.3}]
  alerts: {below_limit_for: 2h}
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
        o2:             {device: boiler1, point: o2}
        exhaust_temp:   {device: boiler1, point: exhaust_temp}
      cold_air_c: 20
      coal: {ash: 23, lhv: [{from: 2026-01-01, lhv: 20000}]}
      losses:
        {m: 0.4, n: 3.6, q3_coef: 3.2, carbon_heat: 32866, slag_heat: 560, slag_fraction: 0.8, fly_ash_fraction: 0.2,
         q5_rated: 1.7, carbon: [{from: 2026-01-01, slag: 15, fly_ash: 25}]}
  meters: []
`
	c, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c.Energy
}

// pubs records what was published. Each alert must be one by the wire
// contract (telemetry.DecodeAlert), fit its documented JSON Schema
// (docs/alert.schema.json) and come on its site's alert topic, else the
// engine's cycle fails with the error.
type pubs struct {
	mu  sync.Mutex
	got []telemetry.Alert
}

var alertSchema = sync.OnceValues(func() (*jsonschema.Schema, error) { return telemetrytest.Compile("alert.schema.json") })

func (p *pubs) Publish(_ context.Context, topic string, payload []byte) error {
	a, err := telemetry.DecodeAlert(payload)
	if err != nil {
		return err
	}
	s, err := alertSchema()
	if err != nil {
		return err
	}
	if err := telemetrytest.Check(s, payload); err != nil {
		return fmt.Errorf("alert %s: %w", payload, err)
	}
	if want := telemetry.AlertTopic(a.Site); topic != want {
		return fmt.Errorf("alert %s on %s, want %s", payload, topic, want)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, *a)
	return nil
}

func startStore(t *testing.T) (*store.Store, *consoletest.Writer) {
	t.Helper()
	in := servicetest.StartInflux(t)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	return st, &consoletest.Writer{URL: in.URL, Bucket: in.Bucket}
}

// writeRaw writes 30-s samples of device boiler1 in [from, to), skipping
// the gaps; coal(t) is the coal feed in t/h: at 10 t/h of 1.25 MPa(g)
// steam, 1.5 t/h gives about 90 % and 1.9 t/h about 71 %.
func writeRaw(ctx context.Context, w *consoletest.Writer, from, to time.Time, coal func(time.Time) float64, gaps [][2]time.Time) error {
next:
	for t := from; t.Before(to); t = t.Add(30 * time.Second) {
		for _, g := range gaps {
			if !t.Before(g[0]) && t.Before(g[1]) {
				continue next
			}
		}
		line := fmt.Sprintf("boiler,device=boiler1,gateway=gw-t,profile=szl-chain-grate-plc,site=%s "+
			"steam_flow=10,steam_pressure=1.25,feedwater_temp=20,coal_feed=%.3f,exhaust_temp=160,o2=8,_seq=%di %d",
			testSite, coal(t), t.Unix()/30, t.Unix())
		if err := w.Add(ctx, line); err != nil {
			return err
		}
	}
	return w.Flush(ctx)
}

// cycles runs the engine until it has nothing left to close.
func cycles(ctx context.Context, t *testing.T, r *Runner) {
	t.Helper()
	for range 6 {
		if err := r.Cycle(ctx); err != nil {
			t.Fatalf("cycle: %v", err)
		}
	}
}

// storedEvents are the since times of the stored events of a kind.
func storedEvents(ctx context.Context, t *testing.T, st *store.Store, kind string) []time.Time {
	t.Helper()
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 0) |> filter(fn: (r) => %s)`,
		store.FluxString(st.Bucket()), store.And(store.Eq("_measurement", MeasEvents), store.Eq("kind", kind), store.Eq("_field", "message"))))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var out []time.Time
	for res.Next() {
		out = append(out, res.Record().Time())
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func fmtTimes(ts []time.Time, loc *time.Location) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.In(loc).Format("01-02 15:04")
	}
	return strings.Join(s, ", ")
}

// TestAlertOncePerEpisodeAcrossRestart runs the below-limit alert on real
// InfluxDB, kills the engine (a new Runner on the same store, nothing
// carried over in memory) part-way through and lets the new one finish:
// each episode must be written and published exactly once, and an episode
// that really ended must still let the next one alert.
func TestAlertOncePerEpisodeAcrossRestart(t *testing.T) {
	t.Parallel()
	loc := mustShanghai(t)
	d0 := func(h int) time.Time { return time.Date(2026, 1, 30, h, 0, 0, 0, loc) }
	const good, bad = 1.5, 1.9
	// below returns a coal feed that is bad in the given hour ranges.
	below := func(ranges ...[2]time.Time) func(time.Time) float64 {
		return func(t time.Time) float64 {
			for _, r := range ranges {
				if !t.Before(r[0]) && t.Before(r[1]) {
					return bad
				}
			}
			return good
		}
	}
	end := d0(24 + 8)
	tests := []struct {
		name string
		coal func(time.Time) float64
		gaps [][2]time.Time
		kill time.Time   // data written before the first engine stops
		want []time.Time // episode starts
	}{
		{"episode continues across the restart",
			below([2]time.Time{d0(15), end}), nil, d0(24 + 2), []time.Time{d0(15)}},
		{"restart while the episode was not yet confirmed",
			below([2]time.Time{d0(23), end}), nil, d0(24 + 0), []time.Time{d0(23)}},
		{"episode ends after the restart, a new one follows",
			below([2]time.Time{d0(15), d0(24 + 3)}, [2]time.Time{d0(24 + 4), end}), nil, d0(24 + 2), []time.Time{d0(15), d0(24 + 4)}},
		{"episode ended before the restart day, a new one after",
			below([2]time.Time{d0(15), d0(20)}, [2]time.Time{d0(24 + 1), end}), nil, d0(24 + 2), []time.Time{d0(15), d0(24 + 1)}},
		{"episode ended on the restart day before the kill",
			below([2]time.Time{d0(15), d0(24 + 1)}, [2]time.Time{d0(24 + 2), end}), nil, d0(24 + 3), []time.Time{d0(15), d0(24 + 2)}},
		{"a data gap across midnight does not end the episode",
			below([2]time.Time{d0(15), end}), [][2]time.Time{{d0(22), d0(24 + 1)}}, d0(24 + 2), []time.Time{d0(15)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, w := startStore(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := energyConfig(t, "  since: 2026-01-30T10:00:00+08:00\n")
			pub := &pubs{}
			run := func(upto time.Time) {
				if err := writeRaw(ctx, w, d0(10), upto.Add(3*time.Minute), tc.coal, tc.gaps); err != nil {
					t.Fatal(err)
				}
				// A new runner: what the killed one had in memory is gone.
				r, err := New(Options{Config: cfg, Store: st, Publisher: pub, Now: func() time.Time { return upto }})
				if err != nil {
					t.Fatal(err)
				}
				cycles(ctx, t, r)
			}
			run(tc.kill)
			run(end)
			got := storedEvents(ctx, t, st, energy.KindBelowLimit)
			if fmtTimes(got, loc) != fmtTimes(tc.want, loc) {
				t.Errorf("events since %s, want %s", fmtTimes(got, loc), fmtTimes(tc.want, loc))
			}
			var published []time.Time
			for _, a := range pub.got {
				ts, err := time.Parse(time.RFC3339, a.Since)
				if err != nil {
					t.Fatal(err)
				}
				published = append(published, ts)
			}
			if fmtTimes(published, loc) != fmtTimes(tc.want, loc) {
				t.Errorf("published since %s, want %s", fmtTimes(published, loc), fmtTimes(tc.want, loc))
			}
		})
	}
}

func mustShanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestSinceInTheFuture: a since still ahead (allowed up to a day ahead)
// must not make every cycle fail with InfluxDB's "cannot query an empty
// range"; the engine waits and computes nothing before it.
func TestSinceInTheFuture(t *testing.T) {
	t.Parallel()
	st, w := startStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	// Samples up to now, so the watermark query has data to look at.
	if err := writeRaw(ctx, w, now.Add(-time.Hour), now, func(time.Time) float64 { return 1.5 }, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ahead time.Duration
	}{
		{"a minute ahead", time.Minute},
		{"an hour ahead", time.Hour},
		{"a day ahead", 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := energyConfig(t, fmt.Sprintf("  since: %s\n", now.Add(tc.ahead).Format(time.RFC3339)))
			r, err := New(Options{Config: cfg, Store: st})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := r.Cycle(ctx); err != nil {
					t.Fatalf("cycle: %v", err)
				}
			}
			if n := r.Engine().Boilers[0].Next(); n.Before(now.Add(tc.ahead).Truncate(time.Minute)) {
				t.Errorf("engine at %v, before since", n)
			}
		})
	}
}
