package console

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// listEnergy is an energy config with one boiler per name=device pair.
func listEnergy(t *testing.T, boilers map[string]string) *config.Energy {
	t.Helper()
	var b strings.Builder
	for _, name := range sortedKeys(boilers) {
		dev := boilers[name]
		fmt.Fprintf(&b, `
    - name: %s
      site: %s
      rated_steam: 10
      firing: layered
      fuel: bituminous_ii
      points:
        steam_flow:     {device: %[3]s, point: steam_flow}
        steam_pressure: {device: %[3]s, point: steam_pressure}
        feedwater_temp: {device: %[3]s, point: feedwater_temp}
        coal_feed:      {device: %[3]s, point: coal_feed}
      cold_air_c: 20
      coal: {ash: 23, lhv: [{from: 2026-01-01, lhv: 20000}]}
      losses:
        {m: 0.4, n: 3.6, q3_coef: 3.2, carbon_heat: 32866, slag_heat: 560, slag_fraction: 0.8, fly_ash_fraction: 0.2,
         q5_rated: 1.7, carbon: [{from: 2026-01-01, slag: 15, fly_ash: 25}]}`, name, testSite, dev)
	}
	doc := `mqtt: {broker: "tcp://127.0.0.1:1"}
influxdb: {url: "http://127.0.0.1:1", bucket: b}
energy:
  timezone: Asia/Shanghai
  electricity_primary: [{from: 2026-01-01, kgce_per_kwh: 0.3}]
  boilers:` + b.String() + `
  meters: []
`
	c, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c.Energy
}

// TestOverviewListsBoilerOnce: a configured boiler whose name differs from
// its device's (b0001 on device boiler1) is one boiler, not also a second
// one discovered from the device's raw data; a device no configured boiler
// reads is still discovered.
func TestOverviewListsBoilerOnce(t *testing.T) {
	in := servicetest.StartInflux(t)
	loc := shanghai(t)
	now := time.Date(2026, 1, 15, 10, 30, 0, 0, loc)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	w := &consoletest.Writer{URL: in.URL, Bucket: in.Bucket}
	for _, dev := range []string{"boiler1", "boiler2"} {
		if err := consoletest.BoilerRaw(ctx, w, testSite, "gw-t", dev, now.Add(-30*time.Minute), now, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The engine's hour of b0001, tagged with the configured name.
	if err := w.Add(ctx, fmt.Sprintf("boiler_efficiency,site=%s,boiler=b0001,period=1h direct=81.5,limit=80 %d", testSite, now.Add(-90*time.Minute).Truncate(time.Hour).Unix())); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		boilers map[string]string // configured name → device
		want    string
	}{
		{"renamed", map[string]string{"b0001": "boiler1"}, "b0001, boiler2"},
		{"same name", map[string]string{"boiler1": "boiler1"}, "boiler1, b0001, boiler2"},
		{"both renamed", map[string]string{"b0001": "boiler1", "b0002": "boiler2"}, "b0001, b0002"},
		{"no energy config", nil, "b0001, boiler1, boiler2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			con := newTestConsole(t, st, func() time.Time { return now })
			if tc.boilers != nil {
				con.opts.Energy = listEnergy(t, tc.boilers)
			}
			sites, err := con.sites(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sites {
				if s.ID != testSite {
					continue
				}
				ov, err := con.overviewSites(ctx, []siteInfo{s})
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, b := range ov[0].Boilers {
					names = append(names, b.Name)
				}
				if got := strings.Join(names, ", "); got != tc.want {
					t.Errorf("overview boilers %s, want %s", got, tc.want)
				}
			}
		})
	}
}
