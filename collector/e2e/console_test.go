package e2e

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/boilerwatch/boilerwatch/collector/console/consoletest"
	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

const (
	consoleSite = "plant-console"
	consolePW   = "审计-2026"
	// consoleRun is how long the pipeline runs before the browser looks:
	// at ×360 about four simulated hours, so the engine has closed
	// minutes, quarter hours and hours.
	consoleRun = 40 * time.Second
)

// chromiumPath finds Debian's chromium; missing, it fails in CI and skips
// elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	servicetest.Missing(t, "chromium", "apt-get install -y chromium (or make deps as root)")
	return ""
}

// artifacts is where the screenshots go: $BW_ARTIFACTS, else the test's
// temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BW_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConsoleBrowser runs the pipeline (simulator, gateway, collector with
// its efficiency engine and console, InfluxDB) on a simulated morning at
// ×360, adds two weeks of earlier derived values, and drives the console in
// a real browser: login, every page with its charts drawn from data, the
// language switch, a CSV download checked against InfluxDB, and a
// screenshot of each page.
func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the pipeline and a browser for about a minute")
	}
	chrome := chromiumPath(t)
	dir := t.TempDir()
	shots := artifacts(t)
	t.Logf("screenshots go to %s", shots)
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	influx := servicetest.StartInflux(t)
	root := servicetest.RepoRoot(t)
	loc := mustLoc(t, "Asia/Shanghai")
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, loc)

	sc, err := os.ReadFile(filepath.Join(root, "simulator/scenarios/fouling-day.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	simAddr := freeAddr(t)
	scenario := write(t, filepath.Join(dir, "scenario.yaml"), strings.ReplaceAll(string(sc), "127.0.0.1:5020", simAddr))

	hash, err := password.Hash(consolePW, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	broker := freeAddr(t)
	httpAddr := freeAddr(t)
	colCfg := write(t, filepath.Join(dir, "collector.yaml"), collectorConfig{embedded: broker, clientID: "bw-collector-console", influx: influx,
		extra: fmt.Sprintf(`http: {listen: %s}
console:
  users:
    - {name: auditor, role: auditor, password_hash: "%s"}
    - {name: outsider, role: auditor, password_hash: "%s", sites: [plant-elsewhere]}
  sites:
    - {id: %s, title: "济南一号锅炉房"}
    - {id: plant-elsewhere}
`, httpAddr, hash, hash, consoleSite) + fmt.Sprintf(energyConfig, consoleSite)}.yaml())
	collector := servicetest.StartProcess(t, bins["collector"], "-config", colCfg, "-report", "10s")
	collector.WaitLog(t, "status watcher subscribed", 20*time.Second)
	servicetest.WaitTCP(t, httpAddr, 10*time.Second)

	anchor := time.Now().Add(4 * time.Second).Truncate(time.Second)
	simProc := servicetest.StartProcess(t, bins["simulator"], "-config", scenario, "-anchor", anchor.Format(time.RFC3339Nano))
	servicetest.WaitTCP(t, simAddr, 10*time.Second)
	gwCfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: consoleSite, id: "gw-console", broker: "tcp://" + broker,
		queueDir: filepath.Join(dir, "queue"), devices: gwDevices(simAddr, 100*time.Millisecond)}.yaml())
	gateway := servicetest.StartProcess(t, bins["gateway"], "-config", gwCfg,
		"-clock", fmt.Sprintf("anchor=%s,start=%s,rate=%d", anchor.Format(time.RFC3339Nano), start.Format(time.RFC3339), rate))

	// Two earlier weeks of derived values, as the engine would have
	// written them, for the daily energy and data-quality pages (the
	// pipeline's own day is not over yet).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := &consoletest.Writer{URL: influx.URL, Bucket: influx.Bucket}
	if err := consoletest.WriteDerived(ctx, w, consoletest.Derived{Site: consoleSite, Boiler: "boiler1", Limit: 80,
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), To: time.Date(2026, 1, 14, 0, 0, 0, 0, loc), Loc: loc,
		Periods: []string{"1h", "1d"},
		Meters: []consoletest.Meter{
			{Name: "coal-b1", EnergyType: "coal", Unit: "t", Rate: 1.2, KgcePerUnit: 682.4, Completeness: 99.2},
			{Name: "power-b1", EnergyType: "electricity", Unit: "kWh", Rate: 60, KgcePerUnit: 0.1229, Completeness: 86, ResetDay: 5},
			{Name: "steam-b1", EnergyType: "steam", Unit: "t", Rate: 7.5, KgcePerUnit: 95, Completeness: 100},
		}}); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(consoleRun)
	for time.Now().Before(deadline) {
		if !simProc.Running() || !gateway.Running() || !collector.Running() {
			t.Fatal("a process stopped while the pipeline ran")
		}
		time.Sleep(time.Second)
	}
	st := store.Open(store.Config{URL: influx.URL, Bucket: influx.Bucket})
	t.Cleanup(st.Close)
	waitMinutes(t, st, 60)

	b := newBrowser(t, chrome, shots, "http://"+httpAddr)
	b.login(t, "auditor", consolePW)
	site := "site=" + consoleSite
	morning := "&start=2026-01-15T00:00&stop=2026-01-15T04:00"
	b.page(t, "overview", "#/overview?"+site, nil)
	if !b.has(t, `document.querySelector('#card-gateways .badge.online') !== null && document.body.innerText.includes('gw-console')`) {
		t.Error("overview: gateway gw-console is not shown online")
	}
	b.page(t, "boiler", "#/boiler?"+site+"&boiler=boiler1"+morning, []string{"efficiency", "losses", "output", "flue"})
	b.page(t, "energy", "#/energy?"+site+"&period=1d&start=2026-01-01&stop=2026-01-16", []string{"by_type", "unit_consumption"})
	b.page(t, "energy-15m", "#/energy?"+site+"&period=15m"+morning, []string{"by_type"})
	b.page(t, "quality", "#/quality?"+site+"&start=2026-01-01&stop=2026-01-16", []string{"completeness"})
	// The fleet: the gateway online, its config version with when it was
	// applied (its status's config_applied), the CSV link.
	b.page(t, "fleet", "#/fleet", nil)
	row := fmt.Sprintf(`document.querySelector('tr[data-gateway="%s/gw-console"]')`, consoleSite)
	if !b.has(t, row+` !== null && `+row+`.dataset.state === 'online' && `+row+`.querySelector('td.cfg .muted') !== null && `+row+`.querySelector('td.cfg .muted').innerText.includes('生效') && document.querySelector('#csv-fleet') !== null`) {
		dump, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#card-fleet') ? document.querySelector('#card-fleet').innerText : document.body.innerText.slice(0, 2000)`))
		t.Errorf("fleet: gateway gw-console not shown online with its config's applied time:\n%s", dump)
	}

	// Language: English, then back to Chinese, the default.
	b.do(t, chromedp.Click(chromedp.CSS("#lang")))
	b.wait(t, `document.documentElement.lang === 'en' && window.bwState.ready && document.querySelector('#nav').innerText.includes('Data quality')`)
	b.shot(t, "quality-en")
	b.do(t, chromedp.Click(chromedp.CSS("#lang")))
	b.wait(t, `document.documentElement.lang === 'zh-CN' && window.bwState.ready && document.querySelector('#nav').innerText.includes('数据质量')`)

	// CSV: the steam chart of the simulated morning, downloaded by the
	// browser, against the raw samples in InfluxDB.
	b.page(t, "boiler", "#/boiler?"+site+"&boiler=boiler1"+morning, []string{"output"})
	csvPath := b.download(t, "#csv-output")
	checkSteamCSV(t, st, csvPath, time.Date(2026, 1, 15, 0, 0, 0, 0, loc), time.Date(2026, 1, 15, 4, 0, 0, 0, loc))

	// The printable report of the month.
	b.navigate(t, "/report?"+site+"&month=2026-01")
	b.wait(t, `document.querySelector('#statement') !== null`)
	if !b.has(t, `document.body.innerText.includes('月度能效审计报告') && document.body.innerText.includes('power-b1') && document.querySelector('#report-energy') !== null`) {
		t.Error("report: title, meters or energy table missing")
	}
	b.cjkDrawn(t, "h1")
	b.shot(t, "report")

	// A user scoped to another site sees nothing of this one: not in the
	// overview, and its boiler page and report are refused.
	if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	b.login(t, "outsider", consolePW)
	b.navigate(t, "/#/overview")
	if st, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`window.bwState && window.bwState.ready && window.bwState.view === 'overview'`, chromedp.WithPollingTimeout(30*time.Second))); err != nil || !st {
		dump, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + ' ' + JSON.stringify(window.bwState) + ' ' + document.body.innerHTML.slice(0, 3000)`))
		t.Fatalf("scoped user: the overview did not load (%v): %s", err, dump)
	}
	if !b.has(t, `!document.body.innerText.includes('gw-console') && !document.body.innerText.includes('济南一号锅炉房')`) {
		t.Error("scoped user: the overview shows another site")
	}
	b.shot(t, "scoped-overview")
	b.navigate(t, "/#/boiler?"+site+"&boiler=boiler1"+morning)
	b.wait(t, `window.bwState && window.bwState.ready && window.bwState.view === 'boiler'`)
	if msg, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.bwState.error`)); !strings.Contains(msg, "not found") {
		t.Errorf("scoped user: another site's boiler page shows error %q, want not found", msg)
	}
	b.navigate(t, "/report?"+site+"&month=2026-01")
	b.wait(t, `document.readyState === 'complete'`)
	if !b.has(t, `document.body.innerText.includes('not found') && !document.body.innerText.includes('power-b1')`) {
		t.Error("scoped user: another site's report is shown")
	}
	gateway.Stop(10 * time.Second)
	simProc.Stop(10 * time.Second)
}

// waitMinutes waits until the engine has written n one-minute efficiency
// values for the simulated morning.
func waitMinutes(t *testing.T, st *store.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: 2026-01-14T16:00:00Z, stop: 2026-01-15T16:00:00Z)
  |> filter(fn: (r) => %s) |> count()`, store.FluxString(st.Bucket()),
			store.And(store.Eq("_measurement", "boiler_efficiency"), store.Eq("site", consoleSite), store.Eq("period", "1m"), store.Eq("_field", "direct"))))
		got := int64(0)
		if err == nil {
			for res.Next() {
				got, _ = res.Record().Value().(int64)
			}
			res.Close()
		}
		cancel()
		if got >= int64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine wrote %d one-minute efficiency values (%v), want %d", got, err, n)
		}
		time.Sleep(time.Second)
	}
}

// tab is one headless Chromium page with downloads allowed into a
// directory.
type tab struct {
	ctx   context.Context
	base  string
	shots string
	dl    string
}

func newBrowser(t *testing.T, chrome, shots, base string) *tab {
	t.Helper()
	// The machine has no network but loopback: every background service
	// of the browser is off, and its profile is fresh.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	b := &tab{ctx: ctx, base: base, shots: shots, dl: t.TempDir()}
	// Start the browser before configuring it.
	b.do(t, chromedp.Navigate("about:blank"))
	on := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: b.dl, EventsEnabled: &on,
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func (b *tab) navigate(t *testing.T, path string) {
	t.Helper()
	b.do(t, chromedp.Navigate(b.base+path))
}

// wait polls a JavaScript condition.
func (b *tab) wait(t *testing.T, cond string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", cond, err)
	}
}

func (b *tab) has(t *testing.T, cond string) bool {
	t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](cond))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (b *tab) login(t *testing.T, user, pw string) {
	t.Helper()
	b.navigate(t, "/")
	b.do(t, chromedp.WaitVisible(chromedp.CSS("#user")))
	if loc, err := chromedp.Run(b.ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "/login") {
		t.Fatalf("without a session / went to %q (%v), want the login form", loc, err)
	}
	b.shot(t, "login")
	b.do(t, chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#nav a")))
}

// chartInfo is what the page says about one uPlot chart: its points per
// series, and how many of its canvas pixels are saturated colour (the
// series; axes and grid are grey).
type chartInfo struct {
	ID     string `json:"id"`
	Points []int  `json:"points"`
	Ink    int    `json:"ink"`
}

const chartsJS = `window.bwCharts.map(c => {
  const cv = c.u.ctx.canvas, px = c.u.ctx.getImageData(0, 0, cv.width, cv.height).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) {
    const mx = Math.max(px[i], px[i+1], px[i+2]), mn = Math.min(px[i], px[i+1], px[i+2]);
    if (px[i+3] > 0 && mx - mn > 60) ink++;
  }
  return {id: c.id, points: c.u.data.slice(1).map(s => s.filter(v => v != null).length), ink};
})`

// page opens a view, waits for it, checks that each named chart has data
// and is drawn, and saves a screenshot.
func (b *tab) page(t *testing.T, name, hash string, charts []string) {
	t.Helper()
	view := strings.SplitN(strings.TrimPrefix(hash, "#/"), "?", 2)[0]
	b.navigate(t, "/"+hash)
	b.wait(t, fmt.Sprintf(`window.bwState && window.bwState.ready && window.bwState.view === %q`, view))
	if msg, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.bwState.error`)); msg != "" {
		t.Fatalf("%s: the page shows an error: %s", name, msg)
	}
	infos, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]chartInfo](chartsJS))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]chartInfo{}
	for _, c := range infos {
		byID[c.ID] = c
	}
	for _, id := range charts {
		c, ok := byID[id]
		if !ok {
			t.Errorf("%s: chart %s not drawn (charts: %v)", name, id, infos)
			continue
		}
		total := 0
		for _, n := range c.Points {
			total += n
		}
		if total == 0 || c.Ink < 200 {
			t.Errorf("%s: chart %s has %v points and %d coloured pixels, want data drawn", name, id, c.Points, c.Ink)
		}
	}
	t.Logf("%s: charts %v", name, infos)
	b.shot(t, name)
}

func (b *tab) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// download clicks a link and returns the downloaded file.
func (b *tab) download(t *testing.T, sel string) string {
	t.Helper()
	// Download events belong to the browser, not to the page. The
	// subscription starts when BrowserEvents returns, so the click cannot
	// outrun it.
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	events := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	b.do(t, chromedp.Click(chromedp.CSS(sel)))
	var ev browser.EventDownloadProgress
	for e, err := range events {
		if err != nil {
			t.Fatalf("download via %s: %v", sel, err)
		}
		if e.State != browser.DownloadProgressStateInProgress {
			ev = e
			break
		}
	}
	if ev.State != browser.DownloadProgressStateCompleted {
		t.Fatalf("download via %s: %s", sel, ev.State)
	}
	p := ev.FilePath
	if p == "" {
		p = filepath.Join(b.dl, ev.GUID)
	}
	return p
}

// checkSteamCSV compares each row of the downloaded steam chart with the
// mean of the raw steam_flow samples InfluxDB holds in that row's window.
func checkSteamCSV(t *testing.T, st *store.Store, path string, from, to time.Time) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := "time (Asia/Shanghai)|steam_flow (t/h)|coal_feed (t/h)"; strings.Join(recs[0], "|") != want {
		t.Fatalf("CSV header %q, want %q", recs[0], want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)`,
		store.FluxString(st.Bucket()), store.FluxTime(from), store.FluxTime(to),
		store.And(store.Eq("site", consoleSite), store.Eq("device", "boiler1"), store.Eq("_field", "steam_flow"))))
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		t time.Time
		v float64
	}
	var raw []sample
	for res.Next() {
		if v, ok := res.Record().Value().(float64); ok {
			raw = append(raw, sample{res.Record().Time(), v})
		}
	}
	res.Close()
	// The window is the spacing of the rows: pickWindow(4 h) = 15 s.
	const window = 15 * time.Second
	means := map[int64][2]float64{}
	for _, s := range raw {
		k := s.t.Truncate(window).Unix()
		m := means[k]
		means[k] = [2]float64{m[0] + s.v, m[1] + 1}
	}
	if len(recs)-1 != len(means) || len(means) < 200 {
		t.Fatalf("CSV has %d rows, InfluxDB %d windows with steam samples (%d samples)", len(recs)-1, len(means), len(raw))
	}
	for _, r := range recs[1:] {
		ts, err := time.Parse(time.RFC3339, r[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := strconv.ParseFloat(r[1], 64)
		m, ok := means[ts.Unix()]
		if err != nil || !ok {
			t.Errorf("row %v: no raw samples in its window", r)
			continue
		}
		if want := m[0] / m[1]; got < want-1e-9 || got > want+1e-9 {
			t.Errorf("%s: CSV %v, InfluxDB mean %v", r[0], got, want)
		}
	}
	t.Logf("CSV: %d rows equal the means of %d raw samples", len(recs)-1, len(raw))
}
