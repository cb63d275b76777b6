// Command demo runs the whole pipeline on one machine — InfluxDB, the
// simulator, a collector with its embedded broker, its efficiency and energy
// engine and its auditors' console, and a gateway — with a day of history,
// and prints what arrives until Ctrl-C, which stops everything it started.
//
// On the first start it fills the previous 24 hours through the real path:
// the simulator runs simulator/scenarios/demo.yaml from 24 h ago at ×360
// with -catch-up, the gateway stamps its polls in the same simulated time
// (-clock ...,catch_up=true), and once simulated time has reached real time
// both go on in real time. A rerun fills only the time since the last
// sample it finds in InfluxDB (at most 24 h). The console's login is made
// for each run: a random password, printed, and its hash in the generated
// collector config in the state directory (.deps/demo).
//
// Run it from the repository root with `make demo`, which builds bin/ and
// .deps/bin/influxd first.
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/boilerwatch/boilerwatch/collector/console/password"
	"github.com/boilerwatch/boilerwatch/collector/energy"
	"github.com/boilerwatch/boilerwatch/collector/store"
)

var (
	//go:embed collector.yaml
	collectorTmpl string
	//go:embed gateway.yaml
	gatewayTmpl string
	//go:embed influxdb.conf
	influxTmpl string
)

const (
	site   = "demo-plant"
	user   = "auditor"
	bucket = "boilerwatch/autogen"
	zone   = "Asia/Shanghai"
	// pollEvery is the gateway's poll interval while history is filled
	// (its shortest): rate × pollEvery of simulated time between samples.
	pollEvery = 100 * time.Millisecond
)

// Ports are the demo's loopback ports; -port-offset shifts them all (the
// test runs a demo beside one that may be running).
type Ports struct{ Influx, InfluxRPC, MQTT, HTTP, Modbus int }

type options struct {
	every, duration, backfill time.Duration
	rate                      float64
	dir, bin, influxd         string
	portOffset                int
}

func main() {
	var o options
	flag.DurationVar(&o.every, "every", 5*time.Second, "how often to print the summary line")
	flag.DurationVar(&o.duration, "duration", 0, "stop by itself after this long (0: run until Ctrl-C)")
	flag.DurationVar(&o.backfill, "backfill", 24*time.Hour, "history to fill before now on the first start (0: none); a rerun fills the time since its last sample, at most this long")
	flag.Float64Var(&o.rate, "rate", 360, "simulated seconds per real second while filling history (the gateway polls every 100 ms: rate/10 s of simulated time between samples, at most 55)")
	flag.StringVar(&o.dir, "dir", ".deps/demo", "state `directory`: InfluxDB data, queue, generated configs, logs")
	flag.StringVar(&o.bin, "bin", "bin", "`directory` of the gateway, collector and simulator binaries")
	flag.StringVar(&o.influxd, "influxd", ".deps/bin/influxd", "InfluxDB 1.8 `binary`")
	flag.IntVar(&o.portOffset, "port-offset", 0, "add this to every port (InfluxDB 18086/18088, MQTT 11883, console 18080, Modbus 5020)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func start(name, logName, logDir string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(logDir, logName+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches us, and we stop the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: logName, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	fmt.Printf("started %-17s pid %d, log %s\n", p.name, cmd.Process.Pid, logf.Name())
	return p, nil
}

func (p *proc) stop() {
	select {
	case err := <-p.done:
		p.done <- err
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		p.done <- <-p.done
	}
	fmt.Printf("stopped %s\n", p.name)
}

func (p *proc) exited() (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	default:
		return nil, false
	}
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
}

// newPassword is 16 random letters and digits in groups of four, easy to
// type from the terminal.
func newPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 16)
	rand.Read(b)
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return s.String()
}

// tmplData fills the config templates.
type tmplData struct {
	Dir, Site, User, Hash, Since, MeterInterval string
	Ports                                       Ports
	Backfill                                    bool
}

func render(tmpl, path string, d tmplData) error {
	t, err := template.New(filepath.Base(path)).Parse(tmpl)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func run(o options) error {
	// SIGHUP (terminal closed) and SIGPIPE (output piped to a program that
	// quit) also stop the demo cleanly instead of killing it mid-way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if o.rate < 1 || o.rate*pollEvery.Seconds() > 55 {
		return fmt.Errorf("-rate %g: want 1..550 (the gateway polls every 100 ms; samples must be less than a simulated minute apart)", o.rate)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, "logs")
	for _, d := range []string{logDir, filepath.Join(dir, "collector")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ports := Ports{18086 + o.portOffset, 18088 + o.portOffset, 11883 + o.portOffset, 18080 + o.portOffset, 5020 + o.portOffset}
	began := time.Now()

	var procs []*proc
	defer func() {
		// Stop in reverse: the gateway first, InfluxDB last.
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}()
	launch := func(bin, name string, addr string, args ...string) (*proc, error) {
		p, err := start(bin, name, logDir, args...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		if addr != "" {
			if err := waitTCP(ctx, addr, 60*time.Second); err != nil {
				return nil, fmt.Errorf("%s: %w (see %s/%s.log)", p.name, err, logDir, p.name)
			}
		}
		return p, nil
	}

	// InfluxDB first: what it holds decides how much history to fill.
	d := tmplData{Dir: dir, Site: site, User: user, Ports: ports}
	if err := render(influxTmpl, filepath.Join(dir, "influxdb.conf"), d); err != nil {
		return err
	}
	if _, err := launch(o.influxd, "influxd", fmt.Sprintf("127.0.0.1:%d", ports.Influx), "-config", filepath.Join(dir, "influxdb.conf")); err != nil {
		return err
	}
	influxURL := fmt.Sprintf("http://127.0.0.1:%d", ports.Influx)
	st := store.Open(store.Config{URL: influxURL, Bucket: bucket})
	defer st.Close()
	now := time.Now()
	from := now.Add(-o.backfill).Truncate(time.Second)
	last, haveLast := lastSample(ctx, st, now.Add(-o.backfill))
	if haveLast && last.After(from) {
		from = last.Add(time.Second).Truncate(time.Second)
	}
	fill := o.backfill > 0 && now.Sub(from) > 2*time.Minute
	switch {
	case fill && haveLast:
		fmt.Printf("\nHistory in InfluxDB ends %s: filling the %s since then.\n", last.In(loc).Format("2006-01-02 15:04 MST"), now.Sub(from).Round(time.Minute))
	case haveLast:
		fmt.Printf("\nHistory in InfluxDB ends %s: nothing to fill.\n", last.In(loc).Format("2006-01-02 15:04:05 MST"))
	}

	// The console login of this run.
	pw := newPassword()
	hash, err := password.Hash(pw, 0)
	if err != nil {
		return err
	}
	d.Hash = hash
	d.Since = energy.Floor(from, energy.Hour, loc).Format(time.RFC3339)
	d.MeterInterval = (time.Duration(o.rate * float64(pollEvery))).Round(time.Second).String()
	collectorCfg := filepath.Join(dir, "collector.yaml")
	if err := render(collectorTmpl, collectorCfg, d); err != nil {
		return err
	}
	if _, err := launch(filepath.Join(o.bin, "collector"), "collector", fmt.Sprintf("127.0.0.1:%d", ports.MQTT), "-config", collectorCfg); err != nil {
		return err
	}
	if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", ports.HTTP), 30*time.Second); err != nil {
		return fmt.Errorf("collector console: %w (see %s/collector.log)", err, logDir)
	}

	// The simulator: accelerated from the history's start until it
	// reaches real time, then real time.
	rate := o.rate
	if !fill {
		rate, from = 1, now
	}
	anchor := time.Now().Add(2 * time.Second).Truncate(pollEvery)
	event, haveEvent := eventHour(from, now, loc)
	if !fill {
		haveEvent = false
	}
	scenario := filepath.Join(dir, "scenario.yaml")
	if err := writeScenario("simulator/scenarios/demo.yaml", scenario, from.In(loc), rate, ports.Modbus, event, haveEvent); err != nil {
		return err
	}
	if _, err := launch(filepath.Join(o.bin, "simulator"), "simulator", fmt.Sprintf("127.0.0.1:%d", ports.Modbus),
		"-config", scenario, "-anchor", anchor.Format(time.RFC3339Nano), "-catch-up"); err != nil {
		return err
	}

	consoleURL := fmt.Sprintf("http://127.0.0.1:%d/", ports.HTTP)
	fmt.Printf("\nPipeline up. Console: %s  user %s  password %s  (made for this run)\n", consoleURL, user, pw)
	fmt.Printf("Data: InfluxDB %s, bucket %s. Ctrl-C stops everything.\n", influxURL, bucket)
	printGrafana(influxURL)

	gwArgs := func(backfill bool) ([]string, error) {
		d.Backfill = backfill
		name := "gateway.yaml"
		if backfill {
			name = "gateway-history.yaml"
		}
		cfg := filepath.Join(dir, name)
		if err := render(gatewayTmpl, cfg, d); err != nil {
			return nil, err
		}
		args := []string{"-config", cfg}
		if backfill {
			args = append(args, "-clock", fmt.Sprintf("anchor=%s,start=%s,rate=%g,catch_up=true",
				anchor.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano), rate))
		}
		return args, nil
	}
	if fill {
		// Polls before the anchor would be stamped before the history's
		// start, inside what a rerun already has.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(anchor)):
		}
		args, err := gwArgs(true)
		if err != nil {
			return err
		}
		gw, err := launch(filepath.Join(o.bin, "gateway"), "gateway", "", args...)
		if err != nil {
			return err
		}
		// Simulated time reaches real time when
		// from + (t − anchor)·rate = t.
		caught := anchor.Add(time.Duration(float64(anchor.Sub(from)) / (rate - 1)))
		fmt.Printf("\nFilling history: %s of simulated time from %s at ×%g, until about %s (%s).",
			now.Sub(from).Round(time.Minute), from.In(loc).Format("2006-01-02 15:04 MST"), rate,
			caught.Format("15:04:05"), time.Until(caught).Round(time.Second))
		if haveEvent {
			fmt.Printf("\nThe boiler will run with excess air %s–%s: watch for the alert.", event.Format("01-02 15:04"), event.Add(time.Hour).Format("15:04 MST"))
		}
		fmt.Println()
		if err := progress(ctx, procs, st, from, anchor, caught, rate, loc); err != nil {
			return err
		}
		if ctx.Err() != nil {
			fmt.Println("\nstopping...")
			return nil
		}
		// Real time from here: the gateway polls at its normal intervals.
		gw.stop()
		procs = procs[:len(procs)-1]
		fmt.Printf("History filled in %s (demo started %s ago); going on in real time.\n",
			time.Since(anchor).Round(time.Second), time.Since(began).Round(time.Second))
	}
	args, err := gwArgs(false)
	if err != nil {
		return err
	}
	if _, err := launch(filepath.Join(o.bin, "gateway"), "gateway", "", args...); err != nil {
		return err
	}
	fmt.Printf("\nPipeline running. Console: %s  user %s  password %s\n", consoleURL, user, pw)
	fmt.Printf("Look at: 锅炉 Boiler (efficiency by both methods against the 80 %% limit, the alert's red marker), 能源 Energy, 数据质量 Data quality, 月报 Report.\n\n")
	t := time.NewTicker(o.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping...")
			return nil
		case <-t.C:
		}
		for _, p := range procs {
			if err, gone := p.exited(); gone {
				return fmt.Errorf("%s exited (%v); see %s/%s.log", p.name, err, logDir, p.name)
			}
		}
		line, err := summary(ctx, st, loc)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			line = "InfluxDB query failed: " + err.Error()
		}
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), line)
	}
}

// progress shows the simulated time reached until it catches up with real
// time: one line rewritten on a terminal, a line every 10 s otherwise.
func progress(ctx context.Context, procs []*proc, st *store.Store, from, anchor, caught time.Time, rate float64, loc *time.Location) error {
	tty := false
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	every := 10 * time.Second
	if tty {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	total := caught.Sub(from)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, p := range procs {
			if err, gone := p.exited(); gone {
				return fmt.Errorf("%s exited while filling history (%v); see its log", p.name, err)
			}
		}
		now := time.Now()
		sim := from.Add(time.Duration(float64(now.Sub(anchor)) * rate))
		done := !sim.Before(now)
		if done {
			sim = now
		}
		pct := 100 * float64(sim.Sub(from)) / float64(total)
		n := countSince(ctx, st, from)
		line := fmt.Sprintf("history: simulated %s reached, %3.0f %%, %s left; %d samples stored",
			sim.In(loc).Format("2006-01-02 15:04 MST"), min(pct, 100), max(time.Until(caught), 0).Round(time.Second), n)
		if tty {
			fmt.Printf("\r%s   ", line)
		} else {
			fmt.Println(line)
		}
		if done {
			if tty {
				fmt.Println()
			}
			return nil
		}
	}
}

// lastSample is the time of the demo boiler's newest sample after since.
func lastSample(ctx context.Context, st *store.Store, since time.Time) (time.Time, bool) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := st.Query(qctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s)
  |> filter(fn: (r) => %s) |> last()`,
		store.FluxString(bucket), store.FluxTime(since), store.And(store.Eq("_measurement", "boiler"), store.Eq("site", site), store.Eq("_field", "_seq"))))
	if err != nil {
		return time.Time{}, false // a first run: no database yet
	}
	defer res.Close()
	var last time.Time
	for res.Next() {
		if t := res.Record().Time(); t.After(last) {
			last = t
		}
	}
	return last, !last.IsZero()
}

func countSince(ctx context.Context, st *store.Store, since time.Time) int64 {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := st.Query(qctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s)
  |> filter(fn: (r) => %s) |> group() |> count()`, store.FluxString(bucket), store.FluxTime(since), store.And(store.Eq("site", site), store.Eq("_field", "_seq"))))
	if err != nil {
		return 0
	}
	defer res.Close()
	var n int64
	for res.Next() {
		v, _ := res.Record().Value().(int64)
		n += v
	}
	return n
}

// eventHour picks the hour of the demo's upset within the history: 14:00
// local when a whole one lies inside, else the latest whole hour that
// does, at least 30 min after the start and 45 min before now (for the
// engine's grace and the alert).
func eventHour(from, now time.Time, loc *time.Location) (time.Time, bool) {
	lo, hi := from.Add(30*time.Minute), now.Add(-45*time.Minute)
	var best time.Time
	for h := energy.Floor(hi, energy.Hour, loc).Add(-time.Hour); !h.Before(lo); h = h.Add(-time.Hour) {
		if h.Add(time.Hour).After(hi) {
			continue
		}
		if best.IsZero() {
			best = h
		}
		if h.In(loc).Hour() == 14 {
			return h.In(loc), true
		}
	}
	return best.In(loc), !best.IsZero()
}

// writeScenario copies the demo scenario with this run's start,
// acceleration, Modbus port and upset.
func writeScenario(src, dst string, start time.Time, rate float64, port int, event time.Time, haveEvent bool) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("%w (run the demo from the repository root)", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	root := doc.Content[0]
	set(root, "start", start.Format(time.RFC3339))
	set(root, "acceleration", fmt.Sprint(rate))
	servers := get(root, "servers")
	set(servers.Content[0], "listen", fmt.Sprintf("127.0.0.1:%d", port))
	boiler := get(root, "boilers").Content[0]
	if haveEvent {
		u := get(boiler, "upsets").Content[0]
		set(u, "from", event.Format(time.RFC3339))
		set(u, "to", event.Add(time.Hour).Format(time.RFC3339))
	} else {
		// No whole hour of this run's history for it: leave it out.
		for i := 0; i < len(boiler.Content); i += 2 {
			if boiler.Content[i].Value == "upsets" {
				boiler.Content = append(boiler.Content[:i], boiler.Content[i+2:]...)
				break
			}
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	header := "# Generated by deploy/demo from simulator/scenarios/demo.yaml for this run.\n"
	return os.WriteFile(dst, append([]byte(header), out...), 0o644)
}

func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	panic("demo scenario: no " + key)
}

func set(m *yaml.Node, key, value string) {
	n := get(m, key)
	n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "", value, 0
}

// printGrafana says how to use the dashboards in deploy/grafana when
// Grafana is installed (Debian's package; not needed for the demo).
func printGrafana(influxURL string) {
	found := ""
	for _, p := range []string{"grafana-server", "grafana"} {
		if path, err := exec.LookPath(p); err == nil {
			found = path
			break
		}
	}
	if found == "" {
		if _, err := os.Stat("/usr/share/grafana"); err != nil {
			return
		}
		found = "/usr/share/grafana"
	}
	abs, _ := filepath.Abs("deploy/grafana")
	fmt.Printf(`Grafana is installed (%s). To see this data in its dashboards:
  sudo cp %[2]s/provisioning/datasources/boilerwatch.yaml /etc/grafana/provisioning/datasources/
  sudo cp %[2]s/provisioning/dashboards/boilerwatch.yaml /etc/grafana/provisioning/dashboards/
  sudo mkdir -p /var/lib/grafana/dashboards/boilerwatch && sudo cp %[2]s/dashboards/*.json /var/lib/grafana/dashboards/boilerwatch/
  set in Grafana's environment (e.g. /etc/default/grafana-server): BW_INFLUX_URL=%[3]s BW_INFLUX_ORG=demo BW_INFLUX_TOKEN=:
  sudo systemctl restart grafana-server
`, found, abs, influxURL)
}

// summary counts the samples of the last minute, shows the latest boiler
// reading, the last hour's efficiency by both methods and
// today's energy in kgce, straight from InfluxDB with Flux.
func summary(ctx context.Context, st *store.Store, loc *time.Location) (string, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	flux := fmt.Sprintf(`from(bucket: %s)
  |> range(start: -1m)
  |> filter(fn: (r) => %s)
  |> group(columns: ["_measurement", "device"])
  |> count()`, store.FluxString(bucket), store.And(store.Eq("_field", "_seq"), store.Eq("site", site)))
	res, err := st.Query(qctx, flux)
	if err != nil {
		return "", err
	}
	counts := map[string]int64{}
	total := int64(0)
	for res.Next() {
		n, _ := res.Record().Value().(int64)
		counts[fmt.Sprint(res.Record().ValueByKey("device"))] += n
		total += n
	}
	res.Close()
	var parts []string
	for d, n := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", d, n))
	}
	sort.Strings(parts)
	line := fmt.Sprintf("%d samples in the last minute (%s)", total, strings.Join(parts, ", "))
	if v := lastValues(qctx, st, "-1m", store.And(store.Eq("_measurement", "boiler"), store.Eq("site", site),
		store.OneOf("_field", "steam_flow", "o2", "exhaust_temp", "coal_feed"))); len(v) > 0 {
		line += fmt.Sprintf("; boiler1 now: steam %.2f t/h, coal %.3f t/h, O2 %.1f %%, exhaust %.0f °C", v["steam_flow"].v, v["coal_feed"].v, v["o2"].v, v["exhaust_temp"].v)
	}
	if v := lastValues(qctx, st, "-3h", store.And(store.Eq("_measurement", "boiler_efficiency"), store.Eq("site", site), store.Eq("period", "1h"),
		store.OneOf("_field", "direct", "indirect"))); len(v) > 0 {
		line += fmt.Sprintf("; η %s–%s direct %.1f %%, indirect %.1f %% (limit 80 %%)",
			v["direct"].t.In(loc).Format("15:04"), v["direct"].t.Add(time.Hour).In(loc).Format("15:04"), v["direct"].v, v["indirect"].v)
	}
	midnight := energy.Floor(time.Now(), energy.Day, loc)
	res, err = st.Query(qctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s)
  |> filter(fn: (r) => %s)
  |> group(columns: ["meter"]) |> sum()`, store.FluxString(bucket), store.FluxTime(midnight),
		store.And(store.Eq("_measurement", "energy"), store.Eq("site", site), store.Eq("period", "15m"), store.Eq("_field", "kgce"))))
	if err == nil {
		kgce := map[string]float64{}
		for res.Next() {
			v, _ := res.Record().Value().(float64)
			kgce[fmt.Sprint(res.Record().ValueByKey("meter"))] = v
		}
		res.Close()
		if len(kgce) > 0 {
			line += fmt.Sprintf("; today %.0f kgce used (coal %.0f, power %.0f), steam out %.0f kgce",
				kgce["coal-b1"]+kgce["power-b1"], kgce["coal-b1"], kgce["power-b1"], kgce["steam-b1"])
		}
	}
	return line, nil
}

type point struct {
	t time.Time
	v float64
}

// lastValues is the last value of each field the Flux predicate pred
// selects since start (a Flux duration back from now).
func lastValues(ctx context.Context, st *store.Store, start, pred string) map[string]point {
	res, err := st.Query(ctx, fmt.Sprintf(`from(bucket: %s) |> range(start: %s) |> filter(fn: (r) => %s) |> last()`,
		store.FluxString(bucket), start, pred))
	if err != nil {
		return nil
	}
	defer res.Close()
	out := map[string]point{}
	for res.Next() {
		if v, ok := res.Record().Value().(float64); ok {
			out[res.Record().Field()] = point{res.Record().Time(), v}
		}
	}
	return out
}
