package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

// BenchmarkBoilerAPI30d times the boiler page's API call for 30 days on a
// real InfluxDB 1.8 holding a month of 10-s boiler samples (259,200 wide
// points per site):
//
//   - engine: the site also has the engine's derived values, as a site
//     running the efficiency engine does; the charts come from its hourly
//     values. The console promises an answer in under 1 s here, and the
//     benchmark fails above that.
//   - raw-only: no engine; the console averages the raw samples with
//     aggregateWindow, which InfluxDB 1.8 does not push down to storage.
//     Reported, not bounded: it is the fallback.
func BenchmarkBoilerAPI30d(b *testing.B) {
	in := servicetest.StartInflux(b)
	loc := shanghai(b)
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, loc)
	st := store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	b.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := st.EnsureDatabase(ctx); err != nil {
		b.Fatal(err)
	}
	w := &consoletest.Writer{URL: in.URL, Bucket: in.Bucket, Batch: 20000}
	start := time.Now()
	for _, site := range []string{"plant-engine", "plant-raw"} {
		if err := consoletest.BoilerRaw(ctx, w, site, "gw-1", boilerName, now.AddDate(0, 0, -30), now, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	if err := consoletest.WriteDerived(ctx, w, seedDerived("plant-engine", boilerName, now.AddDate(0, 0, -31), now, loc)); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d lines in %.1f s", w.Lines, time.Since(start).Seconds())

	con := newTestConsole(b, st, func() time.Time { return now })
	srv := httptest.NewServer(con.Handler())
	b.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"user": {"auditor"}, "password": {testPW}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()

	for _, bc := range []struct {
		name, site string
		bound      time.Duration
	}{
		{"engine", "plant-engine", time.Second},
		{"raw-only", "plant-raw", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u := srv.URL + "/api/boiler?site=" + bc.site + "&boiler=" + boilerName + "&range=30d"
			var points int
			for b.Loop() {
				resp, err := c.Get(u)
				if err != nil {
					b.Fatal(err)
				}
				var v viewResponse
				err = json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %v", resp.Status, err)
				}
				points = 0
				for _, f := range v.Frames {
					if f.Rows() > maxPoints {
						b.Fatalf("frame %s has %d rows", f.ID, f.Rows())
					}
					points += f.Rows()
				}
				if out := v.frame("output"); out == nil || out.Rows() < 700 {
					b.Fatalf("output frame: %+v", out)
				}
				if bc.site == "plant-raw" && strings.Contains(strings.Join(v.Notes, ","), "rollup") {
					b.Fatal("raw-only site answered from rollups")
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Milliseconds()), "ms/call")
			b.ReportMetric(float64(points), "rows/call")
			if bc.bound > 0 && per > bc.bound {
				b.Errorf("30-day boiler API took %s per call, want under %s", per, bc.bound)
			}
		})
	}
}
