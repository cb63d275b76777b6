package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// influxTap sits between the collector and InfluxDB and times every
// request by what it is: the engine's queries by their shape, the
// console's, raw and derived writes. It is how make scale says which of
// InfluxDB's work is the engine's (docs/scaling.md).
type influxTap struct {
	URL string
	mu  sync.Mutex
	by  map[string]*tapClass
}

type tapClass struct {
	n     int
	total time.Duration
	max   time.Duration
}

func startInfluxTap(t *testing.T, target string) *influxTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &influxTap{by: map[string]*tapClass{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		class := tapKind(r.URL.Path, body)
		t0 := time.Now()
		proxy.ServeHTTP(w, r)
		d := time.Since(t0)
		tap.mu.Lock()
		c := tap.by[class]
		if c == nil {
			c = &tapClass{}
			tap.by[class] = c
		}
		c.n++
		c.total += d
		c.max = max(c.max, d)
		tap.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	tap.URL = srv.URL
	return tap
}

// tapKind names a request by the queries collector/derived and
// collector/console send (their distinctive clauses) and what a write
// carries.
func tapKind(path string, body []byte) string {
	s := string(body)
	switch {
	case strings.HasSuffix(path, "/write"):
		if strings.Contains(s, "boiler_efficiency,") || strings.Contains(s, "engine_progress,") || strings.Contains(s, "data_quality,") || strings.HasPrefix(s, "energy,") {
			return "write: engine results"
		}
		return "write: raw samples"
	case !strings.HasSuffix(path, "/query"):
		return "other " + path
	case path == "/query":
		// InfluxQL: the engine's raw samples on 1.x (store.Samples), its
		// deletes of data_quality, creating the database.
		form, _ := url.ParseQuery(s)
		if q := form.Get("q"); strings.HasPrefix(q, "SELECT ") && strings.HasSuffix(q, " GROUP BY *") {
			return "engine: raw samples"
		}
		return "InfluxQL: other"
	case strings.Contains(s, "engine_progress"):
		return "engine: progress"
	case strings.Contains(s, `keep(columns: [\"_time\", \"device\"`):
		return "engine: watermarks"
	case strings.Contains(s, `keep(columns: [\"_time\", \"_value\", \"_field\", \"device\"`):
		return "engine: raw samples"
	case strings.Contains(s, `keep(columns: [\"_time\", \"_value\", \"_field\", \"boiler\"])`):
		return "engine: stored windows"
	case strings.Contains(s, `keep(columns: [\"_time\", \"_value\", \"_field\", \"subject\"])`):
		return "engine: sums"
	case strings.Contains(s, `\"pending\"`):
		return "engine: late markers"
	case strings.Contains(s, "range(start: 0, stop:"):
		return "engine: episodes"
	case strings.Contains(s, "tagValues"):
		return "tag values (console, engine)"
	}
	return "console: other queries"
}

// report is one line per kind: count, mean, max and total time, most
// total time first.
func (tap *influxTap) report(span time.Duration) string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	kinds := make([]string, 0, len(tap.by))
	for k := range tap.by {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return int(tap.by[b].total - tap.by[a].total) })
	var b strings.Builder
	for _, k := range kinds {
		c := tap.by[k]
		fmt.Fprintf(&b, "  %-30s %7d requests %7.3f s mean %7.2f s max %8.1f s total (%.0f %% of the run)\n",
			k, c.n, c.total.Seconds()/float64(c.n), c.max.Seconds(), c.total.Seconds(), 100*c.total.Seconds()/span.Seconds())
	}
	return b.String()
}
