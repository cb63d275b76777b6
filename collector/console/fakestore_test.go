package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
)

// countingStore is a Querier that counts every query, tracks how many run
// at once, and delegates to next (nil: every query finds nothing). It is
// how tests prove that a refused request queried nothing.
type countingStore struct {
	next Querier
	// hold keeps each query open this long, so that concurrency shows.
	hold    time.Duration
	n       atomic.Int64
	mu      sync.Mutex
	running int
	peak    int
	queries []string
}

func (s *countingStore) Bucket() string {
	if s.next != nil {
		return s.next.Bucket()
	}
	return "test/autogen"
}

func (s *countingStore) Query(ctx context.Context, flux string) (*api.QueryTableResult, error) {
	s.n.Add(1)
	s.mu.Lock()
	s.running++
	s.peak = max(s.peak, s.running)
	s.queries = append(s.queries, flux)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	}()
	if s.hold > 0 {
		time.Sleep(s.hold)
	}
	if s.next != nil {
		return s.next.Query(ctx, flux)
	}
	return api.NewQueryTableResult(io.NopCloser(strings.NewReader(""))), nil
}

func (s *countingStore) count() int64 { return s.n.Load() }

func (s *countingStore) peakRunning() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// fakeClock is a settable clock for the console.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func stringsReader(s string) io.Reader    { return strings.NewReader(s) }
func urlEscape(s string) string           { return url.QueryEscape(s) }
func urlParse(s string) (*url.URL, error) { return url.Parse(s) }

// quickUser is a console user with a cheap hash (tests compute many).
func quickUser(t testing.TB, name string, sites ...string) config.ConsoleUser {
	t.Helper()
	h, err := password.Hash(testPW, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return config.ConsoleUser{Name: name, Role: "auditor", PasswordHash: h, Sites: sites}
}

// offline is a console over a fake store, without InfluxDB.
type offline struct {
	con   *Console
	srv   *httptest.Server
	store *countingStore
	clock *fakeClock
}

func newOffline(t *testing.T, cfg config.Console, store Querier) *offline {
	t.Helper()
	o := &offline{store: &countingStore{next: store}, clock: newFakeClock(time.Date(2026, 1, 15, 2, 30, 0, 0, time.UTC))}
	cfg.Location = time.UTC
	con, err := New(Options{Store: o.store, Config: cfg, Now: o.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	o.con = con
	o.srv = httptest.NewServer(con.Handler())
	t.Cleanup(o.srv.Close)
	return o
}

// post logs in as user with pw; from sets the client address through a
// trusted proxy's X-Forwarded-For when not empty.
func (o *offline) post(t *testing.T, c *http.Client, user, pw, from string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, o.srv.URL+"/login", strings.NewReader(url.Values{"user": {user}, "password": {pw}, "next": {"/#/overview"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (o *offline) login(t *testing.T, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp := o.post(t, c, user, testPW, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", user, resp.Status)
	}
	return c
}

// tagStore answers the console's tag lookups (v1.tagValues) from fixed
// lists, and every other query with nothing: enough for the console to
// know sites and boilers without InfluxDB.
type tagStore struct {
	sites   []string
	boilers []string // raw boiler devices, at every site
}

func (s *tagStore) Bucket() string { return "test/autogen" }

func (s *tagStore) Query(_ context.Context, flux string) (*api.QueryTableResult, error) {
	var vals []string
	switch {
	case strings.Contains(flux, "v1.tagValues") && strings.Contains(flux, `tag: "site"`):
		vals = s.sites
	case strings.Contains(flux, "v1.tagValues") && strings.Contains(flux, `tag: "device"`) && strings.Contains(flux, `r._measurement == "boiler"`):
		vals = s.boilers
	}
	var b strings.Builder
	if len(vals) > 0 {
		b.WriteString("#datatype,string,long,string\n#group,false,false,false\n#default,_result,,\n,result,table,_value\n")
		for _, v := range vals {
			b.WriteString(",,0," + v + "\n")
		}
	}
	return api.NewQueryTableResult(io.NopCloser(strings.NewReader(b.String()))), nil
}
