package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

const (
	testSite   = "plant-t"
	boilerName = "boiler1"
	testPW     = "correct horse 电池"
)

// fixture is a console over a real InfluxDB 1.8 holding three days of
// 10-s raw boiler samples and five weeks of derived values, with a clock
// stopped at 2026-01-15 10:30 Shanghai time.
type fixture struct {
	url   string // InfluxDB's
	st    *store.Store
	con   *Console
	srv   *httptest.Server
	start time.Time
	// shift moves the console's clock (nanoseconds past start); atomic,
	// since the server's goroutines read it.
	shift atomic.Int64
	loc   *time.Location
}

func (f *fixture) now() time.Time { return f.start.Add(time.Duration(f.shift.Load())) }

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func testUsers(t testing.TB) []config.ConsoleUser {
	t.Helper()
	h, err := password.Hash(testPW, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return []config.ConsoleUser{{Name: "auditor", Role: "auditor", PasswordHash: h}, {Name: "root", Role: "admin", PasswordHash: h}}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	in := servicetest.StartInflux(t)
	loc := shanghai(t)
	f := &fixture{loc: loc, start: time.Date(2026, 1, 15, 10, 30, 0, 0, loc), url: in.URL}
	now := f.start
	f.st = store.Open(store.Config{URL: in.URL, Bucket: in.Bucket})
	t.Cleanup(f.st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.st.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	w := &consoletest.Writer{URL: in.URL, Bucket: in.Bucket}
	if err := consoletest.BoilerRaw(ctx, w, testSite, "gw-t", boilerName, now.Add(-72*time.Hour), now, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := consoletest.WriteDerived(ctx, w, seedDerived(testSite, boilerName, now.AddDate(0, 0, -35), now, loc)); err != nil {
		t.Fatal(err)
	}
	f.con = newTestConsole(t, f.st, f.now)
	f.srv = httptest.NewServer(f.con.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func seedDerived(site, boiler string, from, to time.Time, loc *time.Location) consoletest.Derived {
	return consoletest.Derived{Site: site, Boiler: boiler, Limit: 80, From: from, To: to, Loc: loc,
		Meters: []consoletest.Meter{
			{Name: "coal-b1", EnergyType: "coal", Unit: "t", Rate: 1.2, KgcePerUnit: 714.3, Completeness: 99.5},
			{Name: "power-b1", EnergyType: "electricity", Unit: "kWh", Rate: 80, KgcePerUnit: 0.1229, Completeness: 85, ResetDay: 3},
			{Name: "steam-b1", EnergyType: "steam", Unit: "t", Rate: 7, KgcePerUnit: 0, Completeness: 100},
		}}
}

func newTestConsole(t testing.TB, st *store.Store, now func() time.Time) *Console {
	t.Helper()
	loc := shanghai(t)
	con, err := New(Options{Store: st, Now: now, Config: config.Console{
		Users: testUsers(t), Location: loc, SecureCookie: "auto",
		Sites: []config.ConsoleSite{{ID: testSite, Title: "测试电厂", Location: loc}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return con
}

// login returns a client holding a session of user.
func (f *fixture) login(t *testing.T, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := f.postLogin(t, c, user, testPW, f.srv.URL)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", user, resp.Status)
	}
	return c
}

func (f *fixture) postLogin(t *testing.T, c *http.Client, user, pw, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{"user": {user}, "password": {pw}, "next": {"/#/energy"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", map[bool]string{true: "same-origin", false: "cross-site"}[origin == f.srv.URL])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func get(t *testing.T, c *http.Client, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func (f *fixture) view(t *testing.T, c *http.Client, path string) *viewResponse {
	t.Helper()
	code, _, body := get(t, c, f.srv.URL+path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var v viewResponse
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return &v
}

func frameOf(t *testing.T, v *viewResponse, id string) *Frame {
	t.Helper()
	f := v.frame(id)
	if f == nil {
		t.Fatalf("no frame %q", id)
	}
	return f
}

func column(t *testing.T, f *Frame, key string) []any {
	t.Helper()
	for i, c := range f.Columns {
		if c.Key == key {
			return f.Data[i]
		}
	}
	t.Fatalf("frame %s has no column %q", f.ID, key)
	return nil
}

func nonNull(col []any) int {
	n := 0
	for _, v := range col {
		if v != nil {
			n++
		}
	}
	return n
}

// TestConsole runs the console's HTTP surface against one InfluxDB.
func TestConsole(t *testing.T) {
	f := newFixture(t)
	c := f.login(t, "auditor")
	t.Run("bad input", func(t *testing.T) { testBadInput(t, f, c) })
	t.Run("auth", func(t *testing.T) { testAuth(t, f) })
	t.Run("boiler", func(t *testing.T) { testBoiler(t, f, c) })
	t.Run("csv", func(t *testing.T) { testCSV(t, f, c) })
	t.Run("energy", func(t *testing.T) { testEnergy(t, f, c) })
	t.Run("quality", func(t *testing.T) { testQuality(t, f, c) })
	t.Run("overview", func(t *testing.T) { testOverview(t, f, c) })
	t.Run("report", func(t *testing.T) { testReport(t, f, c) })
	t.Run("rated load", func(t *testing.T) { testRated(t, f, c) })
	t.Run("scope", func(t *testing.T) { testScope(t, f) })
	// Last: it adds sites.
	t.Run("status flood", func(t *testing.T) { testStatusFlood(t, f, c) })
}

// testScope runs scoped users against the real data: plant-t's engineer
// gets its boiler, CSV and report; plant-u's gets 404 for each of them,
// with no query sent, and lists without plant-t.
func testScope(t *testing.T, f *fixture) {
	loc := shanghai(t)
	cs := &countingStore{next: f.st}
	con, err := New(Options{Store: cs, Now: f.now, Config: config.Console{
		Users: []config.ConsoleUser{quickUser(t, "t-engineer", testSite), quickUser(t, "u-engineer", "plant-u")}, Location: loc,
		Sites: []config.ConsoleSite{{ID: testSite, Title: "测试电厂", Location: loc}, {ID: "plant-u", Location: loc}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	o := &offline{con: con, srv: srv, store: cs}
	own, other := o.login(t, "t-engineer"), o.login(t, "u-engineer")
	for _, route := range scopedRoutes {
		path := fmt.Sprintf(route, testSite)
		before := cs.count()
		if code, _, body := get(t, other, srv.URL+path); code != http.StatusNotFound || cs.count() != before {
			t.Errorf("plant-u's engineer: %s: %d after %d queries, want 404 and none: %.100s", path, code, cs.count()-before, body)
		}
		if code, _, body := get(t, own, srv.URL+path); code != http.StatusOK {
			t.Errorf("plant-t's engineer: %s: %d %.200s", path, code, body)
		}
	}
	// Plant-t's engineer sees the data.
	code, _, body := get(t, own, srv.URL+"/api/boiler?site="+testSite+"&boiler="+boilerName+"&range=1h")
	var v viewResponse
	if err := json.Unmarshal(body, &v); code != http.StatusOK || err != nil {
		t.Fatalf("%d %v", code, err)
	}
	if n := nonNull(column(t, frameOf(t, &v, "output"), "steam_flow")); n < 360 {
		t.Errorf("plant-t's engineer sees %d steam values in an hour, want 360", n)
	}
	for _, tc := range []struct {
		c    *http.Client
		path string
		want string
	}{
		{own, "/api/sites", `"id":"plant-t"`},
		{other, "/api/sites", `"id":"plant-u"`},
		{own, "/api/overview", `"id":"plant-t"`},
		{other, "/api/overview", `"id":"plant-u"`},
	} {
		code, _, body := get(t, tc.c, srv.URL+tc.path)
		var l struct{ Sites []struct{ ID string } }
		if err := json.Unmarshal(body, &l); code != http.StatusOK || err != nil || len(l.Sites) != 1 || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %.300s, want only %s", tc.path, code, body, tc.want)
		}
	}
}

// testStatusFlood times the overview with 50 invented sites in the status
// book (they cost no query), then with 50 sites that have data (seven
// queries each, at most overviewQueries at a time).
func testStatusFlood(t *testing.T, f *fixture, c *http.Client) {
	timeOverview := func() (time.Duration, int) {
		t.Helper()
		best := time.Hour
		var n int
		for range 3 {
			start := time.Now()
			code, _, body := get(t, c, f.srv.URL+"/api/overview")
			if d := time.Since(start); d < best {
				best = d
			}
			var o struct{ Sites []overviewSite }
			if err := json.Unmarshal(body, &o); code != http.StatusOK || err != nil {
				t.Fatalf("%d %v %.200s", code, err, body)
			}
			n = len(o.Sites)
		}
		return best, n
	}
	base, n0 := timeOverview()
	for i := range 50 {
		f.con.status.put(fmt.Sprintf("invented-%02d", i), telemetry.Status{V: telemetry.Version, Gateway: "gw-1", State: "online"}, f.now())
	}
	flooded, n1 := timeOverview()
	t.Logf("overview: %d site(s) %v; with 50 invented status-only sites (%d sites) %v", n0, base, n1, flooded)
	if n1 != n0+50 {
		t.Errorf("%d sites with 50 invented ones, want %d", n1, n0+50)
	}
	ctx := context.Background()
	w := &consoletest.Writer{URL: f.url, Bucket: f.st.Bucket()}
	for i := range 50 {
		if err := w.Add(ctx, fmt.Sprintf("boiler,site=data-%02d,gateway=gw-1,device=b1,profile=p _seq=1i,load=50 %d", i, f.now().Unix()-60)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f.con.tagsMu.Lock()
	f.con.tags = nil // see the new sites now, not in tagsTTL
	f.con.tagsMu.Unlock()
	withData, n2 := timeOverview()
	t.Logf("overview with 50 more sites that have data (%d sites): %v", n2, withData)
	if n2 < n1+50 { // and the site the flux literal test wrote
		t.Errorf("%d sites with 50 more that have data, want %d or more", n2, n1+50)
	}
}

func testBadInput(t *testing.T, f *fixture, c *http.Client) {
	b := "/api/boiler?site=" + testSite + "&boiler=" + boilerName
	for _, tc := range []struct {
		name, path, want string
	}{
		{"no site", "/api/boiler?boiler=boiler1", "site is missing"},
		{"no boiler", "/api/boiler?site=" + testSite, "boiler is missing"},
		{"unknown site", "/api/boiler?site=nowhere&boiler=boiler1", `unknown site "nowhere"`},
		{"unknown boiler", "/api/boiler?site=" + testSite + "&boiler=boiler9", `unknown boiler "boiler9"`},
		{"quote in a site", "/api/boiler?site=" + url.QueryEscape(`a" or r._field != "`) + "&boiler=boiler1", "is not a valid name"},
		{"interpolation in a boiler", "/api/boiler?site=" + testSite + "&boiler=" + url.QueryEscape("${v1.databases()}"), "is not a valid name"},
		{"newline in a meter site", "/api/energy?site=" + url.QueryEscape("a\nb"), "is not a valid name"},
		{"reserved name", "/api/quality?site=_internal", "is not a valid name"},
		{"long name", "/api/quality?site=" + strings.Repeat("a", 65), "is not a valid name"},
		{"reversed range", b + "&start=2026-01-10&stop=2026-01-09", "empty or reversed"},
		{"huge range", b + "&start=2001-01-01&stop=2026-01-01", "at most 400 days"},
		{"year 1970", b + "&start=1970-01-01&stop=1970-01-02", "within 2000-01-01"},
		{"bad time", b + "&start=" + url.QueryEscape(`now()) |> drop(columns: ["x"]`) + "&stop=2026-01-01", "is not a time"},
		{"bad preset", b + "&range=forever", "want one of"},
		{"bad format", b + "&format=xml", `format "xml"`},
		{"unknown frame", b + "&format=csv&frame=nope", `frame "nope": want one of efficiency, losses, output, flue, events`},
		{"bad period", "/api/energy?site=" + testSite + "&period=1y", `period "1y"`},
		{"15 minutes over a month", "/api/energy?site=" + testSite + "&period=15m&range=30d", "at most 10 days"},
		{"bad gap", "/api/quality?site=" + testSite + "&gap=0", "gap"},
		{"bad month", "/report?site=" + testSite + "&month=2026-13", "write it as 2026-01"},
		{"unknown site in overview", "/api/overview?site=nowhere", `unknown site "nowhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := get(t, c, f.srv.URL+tc.path)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.want) {
				t.Errorf("error %q (%v), want it to contain %q", body, err, tc.want)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func testAuth(t *testing.T, f *fixture) {
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, path string
		code       int
		location   string
	}{
		{"api without session", "/api/overview", http.StatusUnauthorized, ""},
		{"unknown api without session", "/api/nothing", http.StatusUnauthorized, ""},
		{"page without session", "/report?site=plant-t", http.StatusSeeOther, "/login?next=%2Freport%3Fsite%3Dplant-t"},
		{"index without session", "/", http.StatusSeeOther, "/login?next=%2F"},
		{"app script without session", "/assets/app.js", http.StatusSeeOther, "/login?next=%2Fassets%2Fapp.js"},
		{"login form is public", "/login", http.StatusOK, ""},
		{"login style is public", "/assets/login.css", http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := get(t, plain, f.srv.URL+tc.path)
			if code != tc.code || h.Get("Location") != tc.location {
				t.Errorf("GET %s: %d Location %q, want %d %q (%s)", tc.path, code, h.Get("Location"), tc.code, tc.location, body)
			}
			if h.Get("Content-Security-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: security headers missing: %v", tc.path, h)
			}
		})
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: plain.CheckRedirect}
	for _, tc := range []struct {
		name, user, pw, origin string
		code                   int
	}{
		{"wrong password", "auditor", "guess", f.srv.URL, http.StatusUnauthorized},
		{"unknown user", "mallory", testPW, f.srv.URL, http.StatusUnauthorized},
		{"cross-origin post", "auditor", testPW, "https://evil.example", http.StatusForbidden},
		{"same origin", "auditor", testPW, f.srv.URL, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.postLogin(t, c, tc.user, tc.pw, tc.origin)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			var ck *http.Cookie
			for _, x := range resp.Cookies() {
				if x.Name == cookieName {
					ck = x
				}
			}
			if tc.code != http.StatusSeeOther {
				if ck != nil {
					t.Errorf("a failed login set a session cookie")
				}
				return
			}
			if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", ck)
			}
			if loc := resp.Header.Get("Location"); loc != "/#/energy" {
				t.Errorf("redirect to %q", loc)
			}
		})
	}
	if code, _, body := get(t, c, f.srv.URL+"/api/me"); code != http.StatusOK || !strings.Contains(string(body), `"role":"auditor"`) {
		t.Fatalf("/api/me after login: %d %s", code, body)
	}
	// Behind a TLS proxy the cookie is Secure.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/login", strings.NewReader(url.Values{"user": {"root"}, "password": {testPW}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cks := resp.Cookies(); len(cks) != 1 || !cks[0].Secure {
		t.Errorf("cookies behind https: %v, want one Secure cookie", cks)
	}
	// Logout needs a same-origin POST, and ends the session.
	out, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/logout", nil)
	out.Header.Set("Origin", "https://evil.example")
	out.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := c.Do(out); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site logout: %v %v", resp, err)
	}
	out.Header.Set("Origin", f.srv.URL)
	out.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err := c.Do(out); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", resp, err)
	}
	if code, _, _ := get(t, c, f.srv.URL+"/api/me"); code != http.StatusUnauthorized {
		t.Errorf("/api/me after logout: %d", code)
	}
	// A session expires after its TTL.
	c2 := f.login(t, "auditor")
	f.shift.Store(int64(13 * time.Hour))
	code, _, _ := get(t, c2, f.srv.URL+"/api/me")
	f.shift.Store(0)
	if code != http.StatusUnauthorized {
		t.Errorf("/api/me 13 h after login: %d, want 401", code)
	}
}

func testBoiler(t *testing.T, f *fixture, c *http.Client) {
	for _, tc := range []struct {
		name, rng    string
		period       string
		window       string
		rollup       bool
		minEff, minP int
	}{
		{"hour from raw samples", "1h", "1m", "5s", false, 60, 360},
		{"day from raw samples", "24h", "15m", "2m0s", false, 96, 720},
		{"30 days from the engine's hours", "30d", "1h", "1h", true, 700, 700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := f.view(t, c, "/api/boiler?site="+testSite+"&boiler="+boilerName+"&range="+tc.rng)
			if v.Info["period"] != tc.period {
				t.Errorf("period %v, want %s", v.Info["period"], tc.period)
			}
			eff := frameOf(t, v, "efficiency")
			if n := nonNull(column(t, eff, "direct")); n < tc.minEff || n > maxPoints {
				t.Errorf("%d direct values, want %d..%d", n, tc.minEff, maxPoints)
			}
			if n := nonNull(column(t, eff, "limit")); n == 0 {
				t.Error("no limit line")
			}
			out := frameOf(t, v, "output")
			if n := nonNull(column(t, out, "steam_flow")); n < tc.minP || n > maxPoints {
				t.Errorf("%d steam values, want %d..%d", n, tc.minP, maxPoints)
			}
			if n := nonNull(column(t, frameOf(t, v, "flue"), "o2")); n < tc.minP || n > maxPoints {
				t.Errorf("%d O2 values, want %d..%d", n, tc.minP, maxPoints)
			}
			if n := nonNull(column(t, frameOf(t, v, "losses"), "q4")); n < tc.minEff {
				t.Errorf("%d q4 values", n)
			}
			rolled := strings.Contains(fmt.Sprint(v.Notes), "rollup")
			if rolled != tc.rollup || out.Window != map[bool]string{true: tc.period, false: tc.window}[tc.rollup] {
				t.Errorf("notes %v, output window %q", v.Notes, out.Window)
			}
		})
	}
	// The alerts of the range are in the events table and on the chart.
	v := f.view(t, c, "/api/boiler?site="+testSite+"&boiler="+boilerName+"&range=7d")
	if n := frameOf(t, v, "events").Rows(); n != 7 {
		t.Errorf("%d events in 7 days, want 7 (one a day)", n)
	}
	if n := nonNull(column(t, frameOf(t, v, "efficiency"), "alert")); n != 7 {
		t.Errorf("%d alert markers, want 7", n)
	}
}

// testCSV downloads the steam chart of the last hour and checks every row
// against the raw samples: 5-s windows of 10-s data hold one sample each.
func testCSV(t *testing.T, f *fixture, c *http.Client) {
	code, h, body := get(t, c, f.srv.URL+"/api/boiler?site="+testSite+"&boiler="+boilerName+"&range=1h&format=csv&frame=output")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	if cd := h.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, ".csv") {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"time (Asia/Shanghai)", "steam_flow (t/h)", "coal_feed (t/h)"}; strings.Join(recs[0], "|") != strings.Join(want, "|") {
		t.Fatalf("header %q, want %q", recs[0], want)
	}
	if len(recs) < 300 {
		t.Fatalf("%d rows", len(recs))
	}
	for _, r := range recs[1:] {
		ts, err := time.Parse(time.RFC3339, r[0])
		if err != nil {
			t.Fatal(err)
		}
		steam, _ := strconv.ParseFloat(r[1], 64)
		want := 7 + 2*consoletest.Wave(ts)
		if d := steam - want; d > 0.006 || d < -0.006 {
			t.Errorf("%s: steam %s, raw sample %.2f", r[0], r[1], want)
		}
	}
}

func testEnergy(t *testing.T, f *fixture, c *http.Client) {
	v := f.view(t, c, "/api/energy?site="+testSite+"&period=1d&start=2026-01-01&stop=2026-01-15")
	bt := frameOf(t, v, "by_type")
	if bt.Rows() != 14 {
		t.Errorf("%d days, want 14", bt.Rows())
	}
	for _, typ := range []string{"coal", "electricity", "steam"} {
		if n := nonNull(column(t, bt, typ)); n != 14 {
			t.Errorf("%s: %d days", typ, n)
		}
	}
	tot := frameOf(t, v, "totals")
	if tot.Rows() != 3 || tot.Columns[4].Unit != "kgce" {
		t.Fatalf("totals: %+v", tot)
	}
	// The coal total is the sum of the seeded days.
	var want float64
	for d := 1; d < 15; d++ {
		day := time.Date(2026, 1, d, 0, 0, 0, 0, f.loc)
		want += 1.2 * 24 * (1 + 0.2*consoletest.Wave(day)) * 714.3
	}
	if got := column(t, tot, "kgce")[0].(float64); got < want*0.999 || got > want*1.001 {
		t.Errorf("coal kgce %.1f, want %.1f", got, want)
	}
	if n := nonNull(column(t, frameOf(t, v, "unit_consumption"), testSite)); n != 14 {
		t.Errorf("unit consumption on %d days", n)
	}
	v = f.view(t, c, "/api/energy?site="+testSite+"&period=15m&range=today")
	if n := frameOf(t, v, "meters").Rows(); n != 3*42 {
		t.Errorf("%d quarter-hour rows today until 10:30, want %d", n, 3*42)
	}
}

func testQuality(t *testing.T, f *fixture, c *http.Client) {
	v := f.view(t, c, "/api/quality?site="+testSite+"&range=month")
	comp := frameOf(t, v, "completeness")
	if comp.Rows() != 14 || len(comp.Columns) != 4 {
		t.Fatalf("completeness: %d days, %d columns", comp.Rows(), len(comp.Columns))
	}
	if got := column(t, comp, "power-b1")[0]; got != 85.0 {
		t.Errorf("power-b1 completeness %v, want 85", got)
	}
	resets := frameOf(t, v, "resets")
	found := false
	for i := range resets.Rows() {
		if column(t, resets, "meter")[i] == "power-b1" && column(t, resets, "resets")[i] == 1.0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no reset of power-b1 on Jan 3: %+v", resets.Data)
	}
	// The raw data ends at the fixture's now: no gap; moved ahead by an
	// hour, the console sees the device silent since.
	if n := frameOf(t, v, "gaps").Rows(); n != 0 {
		t.Errorf("%d gaps", n)
	}
	f.shift.Store(int64(time.Hour))
	v = f.view(t, c, "/api/quality?site="+testSite+"&range=today")
	f.shift.Store(0)
	g := frameOf(t, v, "gaps")
	if g.Rows() != 1 || column(t, g, "device")[0] != boilerName || column(t, g, "end")[0] != nil {
		t.Errorf("gaps %+v, want boiler1's ongoing one", g.Data)
	}
}

func testOverview(t *testing.T, f *fixture, c *http.Client) {
	code, _, body := get(t, c, f.srv.URL+"/api/overview")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	var o struct{ Sites []overviewSite }
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Sites) != 1 || o.Sites[0].Title != "测试电厂" {
		t.Fatalf("sites %+v", o.Sites)
	}
	s := o.Sites[0]
	if len(s.Boilers) != 1 || s.Boilers[0].Direct == nil || s.Boilers[0].Limit == nil || *s.Boilers[0].Limit != 80 || s.Boilers[0].Load == nil {
		t.Errorf("boilers %+v", s.Boilers)
	}
	if len(s.Gateways) != 1 || len(s.Gateways[0].Devices) != 1 {
		t.Fatalf("gateways %+v", s.Gateways)
	}
	d := s.Gateways[0].Devices[0]
	// 10-s samples since midnight until 10:30, at the rate of the last 10
	// minutes: complete.
	if d.LastSample == nil || d.Completeness == nil || *d.Completeness < 99 {
		t.Errorf("device %+v", d)
	}
}

func testReport(t *testing.T, f *fixture, c *http.Client) {
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"zh-CN", []string{"月度能效审计报告", "2026-01", "测试电厂", "boiler1", "power-b1", "低于 90%", "审核人签字", "size: A4", "本月尚未结束：效率为已结束的 14 天的汇总", "<td>电</td>",
			// The fixture's alert of each day, 10:00–13:00; today's not over
			// (no end recorded): 15 days of January, none of December.
			"有低于限定值告警的天数", `<td class="n episode-days">15</td>`, `<table class="data" id="report-episodes">`,
			`<tr><td>boiler1</td><td>2026-01-01</td><td>10:00–13:00</td><td class="n">3</td></tr>`,
			`<tr><td>boiler1</td><td>2026-01-14</td><td>10:00–13:00</td><td class="n">3</td></tr>`,
			`<tr><td>boiler1</td><td>2026-01-15</td><td>10:00–未记录结束</td><td class="n">≥ 0</td></tr>`}},
		{"en", []string{"Monthly energy audit report", "Data-quality statement", "power-b1 fell below 90 %",
			"Days alerted below limit", "Below-limit episodes", "10:00–no end recorded"}},
	} {
		code, _, body := get(t, c, f.srv.URL+"/report?site="+testSite+"&month=2026-01&lang="+tc.lang)
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, body)
		}
		_, _, css := get(t, c, f.srv.URL+"/assets/report.css")
		page := string(body) + string(css)
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s report lacks %q", tc.lang, w)
			}
		}
		if n := strings.Count(page, "<tr><td>boiler1</td><td>2026-"); n != 15 {
			t.Errorf("%s report: %d below-limit episode rows, want 15 (January's)", tc.lang, n)
		}
	}
}
