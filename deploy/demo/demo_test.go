package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// TestDemo runs the demo as a user does — the demo binary with the
// gateway, collector and simulator it starts, on InfluxDB 1.8 — with a
// shorter history (BW_DEMO_BACKFILL, default 4h: the shortest that always
// holds a whole clock hour for the upset, whatever minute the run starts;
// the code path of the 24 h one), logs in to the console with the credentials it printed, finds
// the efficiency and energy series of the filled history and the
// below-limit alert of its upset hour, takes a screenshot of the boiler
// page (BW_DEMO_SCREENSHOT: where; with Chromium), and stops it as Ctrl-C
// does: every process it started must be gone.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline for about a minute")
	}
	backfill := 4 * time.Hour
	if v := os.Getenv("BW_DEMO_BACKFILL"); v != "" {
		var err error
		if backfill, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BW_DEMO_BACKFILL=%q: %v", v, err)
		}
	}
	root := servicetest.RepoRoot(t)
	influxd := os.Getenv("BW_INFLUXD")
	if influxd == "" {
		influxd = filepath.Join(root, ".deps", "bin", "influxd")
	}
	if _, err := os.Stat(influxd); err != nil {
		servicetest.Missing(t, "InfluxDB 1.8 ("+influxd+")", "make deps")
	}
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector", "deploy/demo")
	dir := t.TempDir()
	offset := freeOffset(t)
	cmd := exec.Command(bins["demo"], "-dir", dir, "-bin", filepath.Dir(bins["collector"]), "-influxd", influxd,
		"-port-offset", strconv.Itoa(offset), "-backfill", backfill.String(), "-every", "2s")
	cmd.Dir = root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
			}
		}
	})

	// Read what it prints until it runs in real time.
	var (
		log      strings.Builder
		pids     = map[string]int{}
		consoleU string
		pw       string
		filled   bool
	)
	startedRe := regexp.MustCompile(`^started (\S+)\s+pid (\d+)`)
	loginRe := regexp.MustCompile(`Console: (http://\S+)\s+user (\S+)\s+password (\S+)`)
	deadline := time.After(backfill/300 + 3*time.Minute)
	for running := false; !running; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo stopped: %v\n%s", <-exited, log.String())
			}
			log.WriteString(l + "\n")
			if m := startedRe.FindStringSubmatch(l); m != nil {
				pid, _ := strconv.Atoi(m[2])
				pids[m[1]+"#"+m[2]] = pid
			}
			if m := loginRe.FindStringSubmatch(l); m != nil && pw == "" {
				consoleU, pw = m[1], m[3]
				if m[2] != "auditor" {
					t.Errorf("login user %q, want auditor", m[2])
				}
			}
			filled = filled || strings.HasPrefix(l, "History filled in")
			running = strings.HasPrefix(l, "Pipeline running")
		case <-deadline:
			t.Fatalf("the demo did not reach real time:\n%s", log.String())
		}
	}
	t.Logf("demo up in real time after %s:\n%s", time.Since(began).Round(time.Second), log.String())
	if !filled || !strings.Contains(log.String(), "history: simulated ") {
		t.Errorf("no history progress or end printed")
	}
	if got, err := os.ReadFile(filepath.Join(dir, "collector.yaml")); err != nil || !strings.Contains(string(got), "pbkdf2-sha256$") || strings.Contains(string(got), pw) {
		t.Errorf("generated collector.yaml: %v; want the password's hash and not the password", err)
	}

	// The console, with the printed login.
	c := login(t, consoleU, "auditor", pw)
	loc, _ := time.LoadLocation(zone)
	from := began.Add(-backfill).In(loc)
	span := fmt.Sprintf("start=%s&stop=%s", url.QueryEscape(from.Format(time.RFC3339)), url.QueryEscape(began.Add(time.Minute).In(loc).Format(time.RFC3339)))
	var boiler, energy apiAnswer
	wait := time.Now().Add(90 * time.Second)
	for {
		boiler = getJSON(t, c, consoleU+"api/boiler?site="+site+"&boiler=boiler1&"+span)
		energy = getJSON(t, c, consoleU+"api/energy?site="+site+"&period=15m&"+span)
		direct, indirect := boiler.count("efficiency", "direct"), boiler.count("efficiency", "indirect")
		kinds := boiler.texts("events", "kind")
		kgce := 0
		for _, col := range energy.columns("by_type") {
			kgce += energy.count("by_type", col)
		}
		ok := direct >= 4 && indirect >= 4 && kgce >= 8 && strings.Contains(strings.Join(kinds, ","), "efficiency_below_limit")
		if ok || time.Now().After(wait) {
			t.Logf("%s: history %s: %d direct and %d indirect efficiency values (%s), %d energy values by type, events %v",
				time.Since(began).Round(time.Second), backfill, direct, indirect, boiler.Info["period"], kgce, kinds)
			if !ok {
				t.Fatalf("want efficiency by both methods, energy in kgce and the below-limit alert over the filled history; got the above\nboiler: %.2000s", boiler.raw)
			}
			break
		}
		time.Sleep(2 * time.Second)
	}
	if min, ok := boiler.min("efficiency", "direct"); !ok || min >= 80 {
		t.Errorf("the lowest direct efficiency is %.2f %% (%v): the upset hour should be below the 80 %% limit", min, ok)
	}
	if max, ok := boiler.max("efficiency", "direct"); !ok || max < 80 {
		t.Errorf("the highest direct efficiency is %.2f %%: the boiler should meet the limit outside the upset", max)
	}

	reportShowsUpset(t, c, consoleU, boiler, loc)

	// The summary line: last hour's efficiency by both methods, today's kgce.
	summaryRe := regexp.MustCompile(`η \d\d:\d\d–\d\d:\d\d direct [\d.]+ %, indirect [\d.]+ % .*today \d+ kgce used`)
	for seen := false; !seen; {
		select {
		case l := <-lines:
			log.WriteString(l + "\n")
			seen = summaryRe.MatchString(l)
		case <-time.After(30 * time.Second):
			t.Fatalf("no summary line with the last hour's efficiency and today's kgce:\n%s", log.String())
		}
	}

	if chrome := chromium(); chrome != "" {
		shot := os.Getenv("BW_DEMO_SCREENSHOT")
		if shot == "" {
			shot = filepath.Join(t.TempDir(), "demo-boiler.png")
		} else if !filepath.IsAbs(shot) {
			shot = filepath.Join(root, shot)
		}
		screenshot(t, chrome, consoleU, pw, "#/boiler?site="+site+"&boiler=boiler1&range=24h", shot)
		t.Logf("%s: screenshot of the boiler page: %s", time.Since(began).Round(time.Second), shot)
	} else if os.Getenv("BW_DEMO_SCREENSHOT") != "" {
		t.Fatal("BW_DEMO_SCREENSHOT needs chromium (apt-get install -y chromium)")
	}

	// Ctrl-C: the demo stops every process it started.
	stopped = true
	cmd.Process.Signal(os.Interrupt)
	go func() {
		for l := range lines {
			log.WriteString(l + "\n")
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the demo exited with %v after Ctrl-C", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the demo did not stop within 60 s of Ctrl-C")
	}
	t.Logf("%s: stopped", time.Since(began).Round(time.Second))
	if len(pids) < 5 {
		t.Errorf("the demo started %d processes, want influxd, collector, simulator and two gateways: %v", len(pids), pids)
	}
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s is still running after Ctrl-C (kill 0: %v)", name, err)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// reportShowsUpset: the monthly report of the upset's month lists its day
// and hour among the below-limit episodes (the day's efficiency stays over
// the limit), and counts the day for boiler1.
func reportShowsUpset(t *testing.T, c *http.Client, base string, boiler apiAnswer, loc *time.Location) {
	t.Helper()
	var since time.Time
	times := boiler.col("events", "time")
	for i, k := range boiler.col("events", "kind") {
		if sec, ok := times[i].(float64); ok && k == "efficiency_below_limit" {
			since = time.Unix(int64(sec), 0).In(loc)
		}
	}
	if since.IsZero() {
		t.Fatalf("no time for the below-limit alert in the events frame: %.2000s", boiler.raw)
	}
	page := string(getBody(t, c, base+"report?site="+site+"&month="+since.Format("2006-01")+"&lang=en"))
	row := fmt.Sprintf("<tr><td>boiler1</td><td>%s</td><td>%s–", since.Format("2006-01-02"), since.Format("15:04"))
	if !strings.Contains(page, `id="report-episodes"`) || !strings.Contains(page, row) || !strings.Contains(page, `<td class="n episode-days">1</td>`) {
		i := max(0, strings.Index(page, "<h2>1."))
		t.Errorf("the report of %s does not list the upset (%s) among the below-limit episodes (want %q and 1 day):\n%.4000s", since.Format("2006-01"), since.Format("2006-01-02 15:04"), row, page[i:])
		return
	}
	t.Logf("the report lists the upset of %s among the below-limit episodes", since.Format("2006-01-02 15:04"))
}

// freeOffset finds a port offset at which every port of the demo is free.
func freeOffset(t *testing.T) int {
	t.Helper()
	base := []int{18086, 18088, 11883, 18080, 5020}
	for off := 2000 + os.Getpid()%500*10; off < 40000; off += 17 {
		free := true
		for _, p := range base {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+off))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return off
		}
	}
	t.Fatal("no free ports for the demo")
	return 0
}

func login(t *testing.T, base, user, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.PostForm(base+"login", url.Values{"user": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	if resp.StatusCode != http.StatusOK || len(jar.Cookies(u)) == 0 {
		t.Fatalf("login with the printed password: %s, cookies %v", resp.Status, jar.Cookies(u))
	}
	return c
}

type apiAnswer struct {
	Frames []struct {
		ID      string `json:"id"`
		Columns []struct {
			Key  string `json:"key"`
			Kind string `json:"kind"`
		} `json:"columns"`
		Data [][]any `json:"data"`
	} `json:"frames"`
	Info map[string]any `json:"info"`
	raw  string
}

// getBody is the body of a 200 answer to GET u.
func getBody(t *testing.T, c *http.Client, u string) []byte {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	return body
}

func getJSON(t *testing.T, c *http.Client, u string) apiAnswer {
	t.Helper()
	body := getBody(t, c, u)
	var a apiAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	a.raw = string(body)
	return a
}

func (a apiAnswer) col(frame, key string) []any {
	for _, f := range a.Frames {
		if f.ID != frame {
			continue
		}
		for i, c := range f.Columns {
			if c.Key == key && i < len(f.Data) {
				return f.Data[i]
			}
		}
	}
	return nil
}

func (a apiAnswer) columns(frame string) []string {
	var out []string
	for _, f := range a.Frames {
		if f.ID == frame {
			for _, c := range f.Columns {
				if c.Kind == "number" {
					out = append(out, c.Key)
				}
			}
		}
	}
	return out
}

func (a apiAnswer) count(frame, key string) int {
	n := 0
	for _, v := range a.col(frame, key) {
		if _, ok := v.(float64); ok {
			n++
		}
	}
	return n
}

func (a apiAnswer) texts(frame, key string) []string {
	var out []string
	for _, v := range a.col(frame, key) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (a apiAnswer) min(frame, key string) (float64, bool) {
	m, ok := 0.0, false
	for _, v := range a.col(frame, key) {
		if f, isF := v.(float64); isF && (!ok || f < m) {
			m, ok = f, true
		}
	}
	return m, ok
}

func (a apiAnswer) max(frame, key string) (float64, bool) {
	m, ok := 0.0, false
	for _, v := range a.col(frame, key) {
		if f, isF := v.(float64); isF && (!ok || f > m) {
			m, ok = f, true
		}
	}
	return m, ok
}

func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshot logs in with a real browser, opens a console page, waits
// until its charts are drawn and saves it as PNG.
func screenshot(t *testing.T, chrome, base, pw, hash, path string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), "auditor"), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#nav a"))); err != nil {
		t.Fatal(err)
	}
	// In English, for the README (and Debian's chromium may have no CJK
	// font); the browser remembers the choice.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#lang"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.documentElement.lang === 'en'`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("language switch: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+hash)); err != nil {
		t.Fatal(err)
	}
	ready := `window.bwState && window.bwState.ready && window.bwState.view === 'boiler' && !window.bwState.error && window.bwCharts.length >= 4`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](ready, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.bwState)`))
		t.Fatalf("boiler page: %v (%s)", err, state)
	}
	// The charts draw in the next frames.
	time.Sleep(time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEventHour: the upset takes 14:00 local when a whole hour of it lies
// in the history (30 min after its start, 45 min before now), else the
// latest whole hour that does, else none.
func TestEventHour(t *testing.T) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct{ from, now, want string }{
		{"2026-12-03 06:46", "2026-12-04 06:46", "2026-12-03 14:00"},
		{"2026-12-03 15:10", "2026-12-04 15:10", "2026-12-04 13:00"}, // today's 14:00 not over long enough
		{"2026-12-03 15:10", "2026-12-04 15:50", "2026-12-04 14:00"},
		{"2026-12-04 03:48", "2026-12-04 06:48", "2026-12-04 05:00"},
		{"2026-12-04 03:48", "2026-12-04 05:30", ""},
		// A 3 h history that starts between :30 and :45 holds no whole
		// hour with both margins (CI saw it at 06:38); 4 h always does.
		{"2026-12-04 06:38", "2026-12-04 09:38", ""},
		{"2026-12-04 06:38", "2026-12-04 10:38", "2026-12-04 08:00"},
		{"2026-12-04 06:31", "2026-12-04 10:31", "2026-12-04 08:00"},
		{"2026-12-04 06:44", "2026-12-04 10:44", "2026-12-04 08:00"},
		{"2026-12-04 06:59", "2026-12-04 10:59", "2026-12-04 09:00"},
	} {
		got, ok := eventHour(at(tc.from), at(tc.now), loc)
		if tc.want == "" {
			if ok {
				t.Errorf("%s..%s: event at %s, want none", tc.from, tc.now, got)
			}
			continue
		}
		if !ok || !got.Equal(at(tc.want)) {
			t.Errorf("%s..%s: event at %s (%v), want %s", tc.from, tc.now, got.Format("2006-01-02 15:04"), ok, tc.want)
		}
	}
}

// TestEventHourEveryMinute: TestDemo's 4 h history has an upset hour
// whatever minute it starts at.
func TestEventHourEveryMinute(t *testing.T) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 4, 6, 0, 0, 0, loc)
	for m := 0; m < 60; m++ {
		from := base.Add(time.Duration(m) * time.Minute)
		if _, ok := eventHour(from, from.Add(4*time.Hour), loc); !ok {
			t.Errorf("a 4 h history from %s has no upset hour", from.Format("15:04"))
		}
	}
}

// TestPrintGrafana: with a grafana-server on the PATH the demo says how to
// provision deploy/grafana, and pointing it at the demo's InfluxDB; without
// one it says nothing.
func TestPrintGrafana(t *testing.T) {
	capture := func() string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		old := os.Stdout
		os.Stdout = w
		printGrafana("http://127.0.0.1:18086")
		os.Stdout = old
		w.Close()
		b, _ := io.ReadAll(r)
		return string(b)
	}
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	if _, err := os.Stat("/usr/share/grafana"); err != nil {
		if out := capture(); out != "" {
			t.Errorf("without Grafana it printed %q", out)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "grafana-server"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := capture()
	for _, want := range []string{"provisioning/datasources/boilerwatch.yaml", "provisioning/dashboards/boilerwatch.yaml", "/var/lib/grafana/dashboards/boilerwatch", "BW_INFLUX_URL=http://127.0.0.1:18086"} {
		if !strings.Contains(out, want) {
			t.Errorf("Grafana hint lacks %q:\n%s", want, out)
		}
	}
}
