package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// TestScale is make scale (docs/scaling.md): for each N of BW_SCALE_N
// (default 250,500,1000,2000), simulator/cmd/loadgen plays N gateways
// against real Mosquitto (deploy/mosquitto's settings, a login per
// gateway and the shipped ACL) and bin/collector, with its energy engine
// and console on, writing to InfluxDB 1.8, for BW_SCALE_DURATION (default
// 2m, 3m, 5m and 10m for the four N). It prints one table and the
// TARGET lines, or writes them to BW_SCALE_REPORT when set; the report's
// last line is "scale: N gateways, ingest p99 X s, engine lag Y s,
// overview Z s" for the largest N. BW_SCALE_LOGS=dir keeps there each
// N's collector log with every energy cycle. Runs only with BW_SCALE=1;
// BW_SCALE_ENGINE=off leaves the energy engine out, to see ingest alone.
//
// What is measured, after a warm-up (a fifth of the run, at least 30 s):
//   - msg/s, values/s: the collector's bw_collector_messages_total and
//     bw_collector_values_total over the steady part.
//   - ingest lag: every second, InfluxQL asks for the newest sample of 20
//     probe gateways (ones whose link never drops); each newly seen
//     sample's lag is the time the answer came minus its timestamp, the
//     gateway's publish time — an upper bound by up to the 1 s polling
//     and the query itself.
//   - engine lag: every 5 s, now minus the engine's progress (the end of
//     its last closed minute, engine_progress) of the probes' sites,
//     the worst subject but for those of gateways whose link is cut; it
//     includes the configured 30 s grace and up to a minute of window.
//     Every 5 s, not 15: a minute's last meters close within seconds of
//     each other, and a sparser sample misses the peak.
//   - overview and boiler page: GET /api/overview (first page) and
//     /api/boiler over 30 days, logged in, at half and nine tenths of the
//     run; the slower of the two.
//   - CPU: /proc utime+stime over the steady part, in % of one core;
//     RSS: peak (VmHWM) at the end.
func TestScale(t *testing.T) {
	if os.Getenv("BW_SCALE") == "" {
		t.Skip("set BW_SCALE=1 (make scale) to measure the collector at province scale")
	}
	ns := []int{250, 500, 1000, 2000}
	if s := os.Getenv("BW_SCALE_N"); s != "" {
		ns = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 20000 {
				t.Fatalf("BW_SCALE_N: %q: want numbers 1…20000, comma-separated", f)
			}
			ns = append(ns, n)
		}
	}
	var bins map[string]string
	if dir := os.Getenv("BW_SCALE_BIN"); dir != "" {
		bins = map[string]string{"collector": filepath.Join(dir, "collector"), "loadgen": filepath.Join(dir, "loadgen")}
	} else {
		bins = servicetest.Build(t, "collector/cmd/collector", "simulator/cmd/loadgen")
	}
	var rows []scaleRow
	for _, n := range ns {
		d := scaleDuration(t, n)
		t.Run(fmt.Sprint(n), func(t *testing.T) { rows = append(rows, scaleRun(t, bins, n, d)) })
	}
	if len(rows) == 0 {
		return
	}
	report := scaleReport(rows)
	path := os.Getenv("BW_SCALE_REPORT")
	if path == "" {
		fmt.Print(report)
		return
	}
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
}

// scaleDuration is BW_SCALE_DURATION, or by default longer runs for more
// gateways: the 2,000-gateway run is the 10 minutes.
func scaleDuration(t *testing.T, n int) time.Duration {
	if s := os.Getenv("BW_SCALE_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute || d > time.Hour {
			t.Fatalf("BW_SCALE_DURATION: %q: want 1m…1h", s)
		}
		return d
	}
	switch {
	case n >= 2000:
		return 10 * time.Minute
	case n >= 1000:
		return 5 * time.Minute
	case n >= 500:
		return 3 * time.Minute
	}
	return 2 * time.Minute
}

// scaleRow is one N's measurements.
type scaleRow struct {
	N                         int
	Duration                  time.Duration
	MsgRate, ValueRate        float64
	Published, Stored         float64 // messages, whole run
	LagP50, LagP99            float64 // s
	LagFirst, LagLast         float64 // p50 of the steady part's first and last third, s
	LagSamples                int
	EngineLag, EngineLagFirst float64 // s: worst and first in the steady part
	EngineLast                float64 // s: the last sample
	Overview, Boiler30d       float64 // s
	OverviewBytes             int
	CollectorCPU, InfluxCPU   float64 // % of one core
	MosquittoCPU, LoadgenCPU  float64
	CollectorRSS, InfluxRSS   float64 // MB, peak
	Replayed                  int64
	WriteMean, WriteRate      float64 // InfluxDB writes: mean s, writes/s
	BoilerMinutes             float64 // the engine's boiler-minutes computed a second
	Engine                    bool
	Requests                  string // the collector's InfluxDB requests by kind, whole run
	Errors                    []string
}

const (
	scaleProbes  = 20
	scaleUser    = "auditor"
	scaleConsole = "scale-console-pw"
	scaleMQTTPW  = "scale-mqtt-pw"
)

func scaleRun(t *testing.T, bins map[string]string, n int, dur time.Duration) scaleRow {
	row := scaleRow{N: n, Duration: dur}
	dir := t.TempDir()
	influx := servicetest.StartInflux(t)

	// Mosquitto as deployed: deploy/mosquitto's settings, a password per
	// gateway (its identity site/gateway) and the shipped ACL.
	root := servicetest.RepoRoot(t)
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "mosquitto", "conf.d", "boilerwatch.conf"))
	if err != nil {
		t.Fatal(err)
	}
	hash, err := password.Hash(scaleConsole, password.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	tap := startInfluxTap(t, influx.URL)
	// The children inherit the passwords from the environment.
	t.Setenv("BW_SCALE_MQTT_PASSWORD", scaleMQTTPW)
	t.Setenv("BW_LOADGEN_PASSWORD", scaleMQTTPW)
	head := write(t, filepath.Join(dir, "head.yaml"), fmt.Sprintf(`mqtt: {broker: %q, client_id: bw-scale-collector, username: collector, password_env: BW_SCALE_MQTT_PASSWORD}
influxdb: {url: %q, bucket: %q, create_database: true}
ingest: {data_dir: data}
http: {listen: %q}
metrics: {listen: %q}
console:
  users:
    - {name: %s, role: auditor, password_hash: %q}
`, "{{broker}}", tap.URL, influx.Bucket, httpAddr, metricsAddr, scaleUser, hash))
	cfg, passwd := filepath.Join(dir, "collector.yaml"), filepath.Join(dir, "passwd")
	engineOn := os.Getenv("BW_SCALE_ENGINE") != "off"
	if out, err := exec.Command(bins["loadgen"], "-n", fmt.Sprint(n), "-collector-config", cfg, "-collector-head", head,
		"-passwd", passwd, "-password-env", "BW_LOADGEN_PASSWORD", fmt.Sprintf("-engine=%t", engineOn)).CombinedOutput(); err != nil {
		t.Fatalf("loadgen -collector-config: %v: %s", err, out)
	}
	f, err := os.OpenFile(passwd, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "collector:%s\n", scaleMQTTPW)
	f.Close()
	if out, err := exec.Command("mosquitto_passwd", "-U", passwd).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd -U: %v: %s", err, out)
	}
	mq := servicetest.StartMosquittoConf(t, "listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file "+passwd+
		"\nacl_file "+filepath.Join(root, "deploy", "mosquitto", "boilerwatch.acl")+
		"\nlog_dest stderr\nlog_type error\nlog_type warning\n"+string(conf)+"persistence_location {{dir}}/\n")

	// The broker's address is known only now.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, cfg, strings.Replace(string(data), "{{broker}}", mq.URL, 1))
	collArgs := []string{"-config", cfg}
	var coll *servicetest.Process
	if keep := os.Getenv("BW_SCALE_LOGS"); keep != "" {
		// The collector's log with every energy cycle (debug), kept once
		// the collector has stopped (cleanups run last first).
		collArgs = append(collArgs, "-log-level", "debug")
		t.Cleanup(func() {
			data, err := os.ReadFile(coll.Log)
			if err == nil {
				err = os.WriteFile(filepath.Join(keep, fmt.Sprintf("collector-%d.log", n)), data, 0o644)
			}
			if err != nil {
				t.Errorf("BW_SCALE_LOGS: %v", err)
			}
		})
	}
	coll = servicetest.StartProcess(t, bins["collector"], collArgs...)
	servicetest.WaitTCP(t, httpAddr, time.Minute)
	servicetest.WaitTCP(t, metricsAddr, time.Minute)

	stats := filepath.Join(dir, "loadgen.json")
	start := time.Now()
	lg := servicetest.StartProcess(t, bins["loadgen"], "-broker", mq.URL, "-n", fmt.Sprint(n), "-duration", dur.String(),
		"-password-env", "BW_LOADGEN_PASSWORD", "-probe", fmt.Sprint(scaleProbes), "-stats", stats,
		"-outage-at", (dur / 3).String(), "-outage-for", "60s")
	var plan loadgenStats
	eventually(t, 30*time.Second, func() string {
		data, err := os.ReadFile(stats)
		if err != nil || json.Unmarshal(data, &plan) != nil || len(plan.Probes) == 0 {
			return "the loadgen's plan (probes) is not written yet"
		}
		return ""
	})

	web := scaleLogin(t, "http://"+httpAddr)
	warm := max(30*time.Second, dur/5)
	type sample struct {
		at  time.Duration
		lag float64
	}
	var lags []sample
	var engine []sample
	seen := map[string]time.Time{}
	type counters struct {
		at                                    time.Time
		msgs, vals, writeSum, writeN, minutes float64
		coll, infl, mosq, load                time.Duration
		ok                                    bool
		collPid, inflPid, mosqPid, lgPid      int
	}
	var steady0, last counters
	read := func() counters {
		c := counters{at: time.Now(), collPid: coll.Pid(), inflPid: influx.Pid(), mosqPid: mq.Pid(), lgPid: lg.Pid()}
		m := scrape(t, "http://"+metricsAddr+"/metrics")
		c.msgs, c.vals = m["bw_collector_messages_total"], m["bw_collector_values_total"]
		c.writeSum, c.writeN = m[`bw_collector_influxdb_write_seconds_sum{result="ok"}`], m[`bw_collector_influxdb_write_seconds_count{result="ok"}`]
		c.minutes = m[`bw_collector_efficiency_computations_total{period="1m"}`]
		c.coll, c.infl, c.mosq = procCPU(t, c.collPid), procCPU(t, c.inflPid), procCPU(t, c.mosqPid)
		// The loadgen may end any moment: then its last reading stands.
		c.load = last.load
		if d, err := readProcCPU(c.lgPid); err == nil {
			c.load = d
		}
		c.ok = true
		return c
	}
	// Without the engine a boiler is known by its device, as loadgen names it.
	boiler := plan.boiler(0)
	if !engineOn {
		boiler = plan.gateway(0) + "-boiler"
	}
	pages := func() {
		ov, size := scaleGet(t, web, "http://"+httpAddr+"/api/overview?page=1")
		bo, _ := scaleGet(t, web, "http://"+httpAddr+"/api/boiler?"+url.Values{"site": {plan.site(0)}, "boiler": {boiler}, "range": {"30d"}}.Encode())
		row.Overview, row.Boiler30d, row.OverviewBytes = max(row.Overview, ov), max(row.Boiler30d, bo), size
		t.Logf("N=%d at %s: overview %.2f s (%d bytes), 30-day boiler page %.2f s", n, time.Since(start).Round(time.Second), ov, size, bo)
	}
	probeRe := regexp.QuoteMeta(plan.gateway(0))
	for _, p := range plan.Probes[1:] {
		probeRe += "|" + regexp.QuoteMeta(p[strings.IndexByte(p, '/')+1:])
	}
	var sites []string
	for _, p := range plan.Probes {
		s := p[:strings.IndexByte(p, '/')]
		if !slices.Contains(sites, s) {
			sites = append(sites, s)
		}
	}
	siteRe := strings.Join(sites, "|")
	cut := map[string]bool{}
	for _, g := range plan.Outage {
		cut[g] = true
	}
	db := strings.Split(influx.Bucket, "/")[0]
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	pagesAt := []time.Duration{dur / 2, dur * 9 / 10}
	for k := 0; lg.Running(); k++ {
		<-tick.C
		el := time.Since(start)
		if !steady0.ok && el >= warm {
			steady0 = read()
		}
		if steady0.ok && k%5 == 0 {
			last = read()
		}
		if len(pagesAt) > 0 && el >= pagesAt[0] {
			pagesAt = pagesAt[1:]
			pages()
		}
		// Ingest: each probe's newest stored sample.
		for _, r := range influxRows(t, influx.URL, db, `SELECT last("_seq") FROM "boiler" WHERE time > now() - 5m AND "gateway" =~ /^(`+probeRe+`)$/ GROUP BY "gateway"`) {
			got := time.Now()
			if ts := r.time; ts.After(seen[r.tags["gateway"]]) {
				if !seen[r.tags["gateway"]].IsZero() && el >= warm {
					lags = append(lags, sample{el, got.Sub(ts).Seconds()})
				}
				seen[r.tags["gateway"]] = ts
			}
		}
		if engineOn && k%5 == 0 && el >= warm {
			// Engine: the probes' sites' subjects, the one furthest behind,
			// but for those of a gateway whose link the load cuts: they
			// close the outage's minutes once its backlog is replayed, a
			// lag of their data, not of the engine.
			worst := time.Since(start) // no progress yet: behind since the start
			var subjects int
			for _, r := range influxRows(t, influx.URL, db, `SELECT last("next") FROM "engine_progress" WHERE time > now() - 3d AND "site" =~ /^(`+siteRe+`)$/ GROUP BY "site", "subject"`) {
				if cut[r.tags["site"]+"/"+subjectGateway(r.tags["subject"])] {
					continue
				}
				subjects++
				if ms, ok := r.value.(float64); ok {
					if d := time.Since(time.UnixMilli(int64(ms))); subjects == 1 || d > worst {
						worst = d
					}
				}
			}
			engine = append(engine, sample{el, worst.Seconds()})
		}
	}
	if !steady0.ok || !last.ok || last.at.Sub(steady0.at) < 10*time.Second {
		t.Fatalf("the run (%s) ended before its steady part (after %s) could be measured", dur, warm)
	}
	span := last.at.Sub(steady0.at).Seconds()
	pct := func(a, b time.Duration) float64 { return 100 * (b - a).Seconds() / span }
	row.MsgRate, row.ValueRate = (last.msgs-steady0.msgs)/span, (last.vals-steady0.vals)/span
	if w := last.writeN - steady0.writeN; w > 0 {
		row.WriteMean, row.WriteRate = (last.writeSum-steady0.writeSum)/w, w/span
	}
	row.BoilerMinutes = (last.minutes - steady0.minutes) / span
	row.Requests = tap.report(time.Since(start))
	row.Engine = engineOn
	row.CollectorCPU, row.InfluxCPU = pct(steady0.coll, last.coll), pct(steady0.infl, last.infl)
	row.MosquittoCPU, row.LoadgenCPU = pct(steady0.mosq, last.mosq), pct(steady0.load, last.load)
	row.CollectorRSS, row.InfluxRSS = mb(peakRSS(t, coll.Pid())), mb(peakRSS(t, influx.Pid()))

	var all []float64
	var first, lastThird []float64
	third := (dur - warm) / 3
	for _, s := range lags {
		all = append(all, s.lag)
		switch {
		case s.at < warm+third:
			first = append(first, s.lag)
		case s.at >= warm+2*third:
			lastThird = append(lastThird, s.lag)
		}
	}
	row.LagSamples = len(all)
	row.LagP50, row.LagP99 = quantile(all, 0.5), quantile(all, 0.99)
	row.LagFirst, row.LagLast = quantile(first, 0.5), quantile(lastThird, 0.5)
	for i, s := range engine {
		if i == 0 {
			row.EngineLagFirst = s.lag
		}
		row.EngineLag = max(row.EngineLag, s.lag)
		row.EngineLast = s.lag
	}

	// The loadgen's own counts, and the collector's whole-run total.
	data, err = os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	var done loadgenStats
	if err := json.Unmarshal(data, &done); err != nil {
		t.Fatal(err)
	}
	row.Published, row.Replayed = float64(done.Published), done.Replayed
	time.Sleep(5 * time.Second) // the last acknowledged messages reach InfluxDB
	row.Stored = scrape(t, "http://"+metricsAddr+"/metrics")["bw_collector_messages_total"]
	if done.Failed > 0 || done.ConnectErrors > 0 {
		// Publishes in flight when a link drops fail and are sent again
		// on the next one, as the gateway's queue does; connect errors are
		// the broker refusing or not answering.
		row.Errors = append(row.Errors, fmt.Sprintf("loadgen: %d publishes failed with their link and were sent again, %d connect errors", done.Failed, done.ConnectErrors))
	}
	t.Logf("N=%d: %+v", n, row)
	return row
}

// loadgenStats is the loadgen's -stats file: its plan at the start, its
// counts at the end.
type loadgenStats struct {
	Published     int64    `json:"published"`
	Failed        int64    `json:"failed"`
	Replayed      int64    `json:"replayed"`
	ConnectErrors int64    `json:"connect_errors"`
	Probes        []string `json:"probes"`
	Outage        []string `json:"outage"` // site/gateway of each whose link is cut
}

func (s loadgenStats) gateway(i int) string {
	p := s.Probes[i]
	return p[strings.IndexByte(p, '/')+1:]
}
func (s loadgenStats) site(i int) string { return s.Probes[i][:strings.IndexByte(s.Probes[i], '/')] }

// boiler is the probe's boiler, as loadgen names it (b + the gateway's number).
func (s loadgenStats) boiler(i int) string { return "b" + s.gateway(i)[1:] }

// subjectGateway is the gateway of an engine subject as loadgen names them:
// "boiler/b00021" and "meter/g00021-m01" are g00021's.
func subjectGateway(subject string) string {
	kind, name, _ := strings.Cut(subject, "/")
	if kind == "boiler" {
		return "g" + strings.TrimPrefix(name, "b")
	}
	gw, _, _ := strings.Cut(name, "-")
	return gw
}

// scaleLogin logs in to the console and returns a client with the session.
func scaleLogin(t *testing.T, base string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute}
	resp, err := c.PostForm(base+"/login", url.Values{"user": {scaleUser}, "password": {scaleConsole}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if u, _ := url.Parse(base); len(jar.Cookies(u)) == 0 {
		t.Fatalf("console login: %s, no session cookie", resp.Status)
	}
	return c
}

// scaleGet times a GET to the end of its body.
func scaleGet(t *testing.T, c *http.Client, u string) (float64, int) {
	t.Helper()
	t0 := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0).Seconds()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %.300s", u, resp.Status, err, body)
	}
	return d, len(body)
}

// influxRow is one series' first row of an InfluxQL answer.
type influxRow struct {
	tags  map[string]string
	time  time.Time
	value any
}

// influxRows runs an InfluxQL query and returns each series' first row.
func influxRows(t *testing.T, base, db, q string) []influxRow {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"db": {db}, "q": {q}, "epoch": {"ms"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(r.Results) == 0 || r.Results[0].Error != "" {
		t.Fatalf("%s: %+v", q, r.Results)
	}
	var out []influxRow
	for _, s := range r.Results[0].Series {
		if len(s.Values) == 0 || len(s.Values[0]) < 2 {
			continue
		}
		ms, _ := s.Values[0][0].(float64)
		out = append(out, influxRow{tags: s.Tags, time: time.UnixMilli(int64(ms)), value: s.Values[0][1]})
	}
	return out
}

// quantile is the q-quantile of xs (nearest rank); NaN for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, cmp.Compare)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// scaleReport is the table, the targets and the summary line.
func scaleReport(rows []scaleRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%6s %6s %8s %9s %9s %9s %9s %7s %8s %8s %7s %7s %7s %7s %7s %7s\n",
		"N", "run", "msg/s", "values/s", "lag p50", "lag p99", "lag 1st", "last", "engine", "overview", "boiler", "coll", "coll", "influx", "influx", "mosq")
	fmt.Fprintf(&b, "%6s %6s %8s %9s %9s %9s %9s %7s %8s %8s %7s %7s %7s %7s %7s %7s\n",
		"", "", "", "", "s", "s", "p50 s", "p50 s", "lag s", "s", "30d s", "CPU %", "RSS MB", "CPU %", "RSS MB", "CPU %")
	for _, r := range rows {
		fmt.Fprintf(&b, "%6d %6s %8.0f %9.0f %9.2f %9.2f %9.2f %7.2f %8.0f %8.2f %7.2f %7.0f %7.0f %7.0f %7.0f %7.0f\n",
			r.N, r.Duration, r.MsgRate, r.ValueRate, r.LagP50, r.LagP99, r.LagFirst, r.LagLast, r.EngineLag, r.Overview, r.Boiler30d,
			r.CollectorCPU, r.CollectorRSS, r.InfluxCPU, r.InfluxRSS, r.MosquittoCPU)
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "N=%d: %.0f messages published (%d replayed after the outage), %.0f stored; %d lag samples; loadgen CPU %.0f %%; overview %d bytes\n",
			r.N, r.Published, r.Replayed, r.Stored, r.LagSamples, r.LoadgenCPU, r.OverviewBytes)
		fmt.Fprintf(&b, "N=%d: InfluxDB writes %.1f/s, mean %.3f s; ", r.N, r.WriteRate, r.WriteMean)
		if r.Engine {
			fmt.Fprintf(&b, "engine %.1f boiler-minutes/s computed (%.1f/s due), lag first %.0f s, last %.0f s\n", r.BoilerMinutes, float64(r.N)/60, r.EngineLagFirst, r.EngineLast)
		} else {
			fmt.Fprintf(&b, "energy engine off (BW_SCALE_ENGINE=off)\n")
		}
		fmt.Fprintf(&b, "N=%d: the collector's InfluxDB requests over the whole run, by kind:\n%s", r.N, r.Requests)
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "N=%d: %s\n", r.N, e)
		}
	}
	top := rows[len(rows)-1]
	for _, r := range rows {
		if r.N > top.N {
			top = r
		}
	}
	met := func(ok bool) string {
		if ok {
			return "TARGET MET"
		}
		return "TARGET MISSED"
	}
	fmt.Fprintf(&b, "%s: ingest p99 < 5 s at %d gateways (target is at 2000): %.2f s\n", met(top.LagP99 >= 0 && top.LagP99 < 5 && top.N >= 2000), top.N, top.LagP99)
	fmt.Fprintf(&b, "%s: engine minute-close lag < 2 min at %d gateways: %.0f s\n", met(top.EngineLag < 120), top.N, top.EngineLag)
	fmt.Fprintf(&b, "%s: overview < 2 s at %d gateways: %.2f s\n", met(top.Overview < 2), top.N, top.Overview)
	grow := top.LagLast <= top.LagFirst+1 && top.EngineLast <= top.EngineLagFirst+60
	fmt.Fprintf(&b, "%s: no growth of lag over the %s run at %d gateways: ingest p50 %.2f → %.2f s, engine %.0f → %.0f s\n",
		met(grow), top.Duration, top.N, top.LagFirst, top.LagLast, top.EngineLagFirst, top.EngineLast)
	fmt.Fprintf(&b, "scale: %d gateways, ingest p99 %.1f s, engine lag %.0f s, overview %.2f s\n", top.N, top.LagP99, top.EngineLag, top.Overview)
	return b.String()
}
