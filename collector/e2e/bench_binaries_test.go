package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/ingest"
	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// The benchmarks of the shipped binaries (make bench): bin/collector and
// bin/gateway run as processes against real Mosquitto and InfluxDB 1.8, and
// each prints a table with TARGET MET/MISSED lines. They run only with
// BW_BENCH_BINARIES=1; BW_BENCH_BIN is the folder of the binaries (make
// bench passes bin/ after make build; unset, they are built here), and
// BW_BENCH_DURATION (default 60s) how long each gateway case polls.
// BW_BENCH_TELEGRAF, the path of a telegraf binary, adds Telegraf's rows
// beside the collector's and beside the gateway's 20 meters.
// See docs/performance.md.

func benchBinaries(t *testing.T, pkgs ...string) map[string]string {
	t.Helper()
	if os.Getenv("BW_BENCH_BINARIES") == "" {
		t.Skip("set BW_BENCH_BINARIES=1 (make bench) to benchmark the binaries as processes")
	}
	dir := os.Getenv("BW_BENCH_BIN")
	if dir == "" {
		return servicetest.Build(t, pkgs...)
	}
	out := map[string]string{}
	for _, p := range pkgs {
		name := filepath.Base(p)
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("BW_BENCH_BIN: %v (make build first)", err)
		}
		out[name] = path
	}
	return out
}

// The drain backlog: 50,000 messages of 20 values from 20 gateways, as
// collector/ingest's BenchmarkDrain queues it.
const (
	drainN        = 50000
	drainValues   = 20
	drainGateways = 20
	drainClass    = "bench"
)

func drainMsg(i int) telemetry.Message {
	gw := fmt.Sprintf("gw-%02d", i%drainGateways)
	n := i / drainGateways
	vals := make(map[string]telemetry.Value, drainValues)
	for v := range drainValues {
		vals[fmt.Sprintf("p%02d", v)] = telemetry.Number(float64(n%1000) + float64(v)/100)
	}
	return telemetry.Message{V: telemetry.Version, Site: "bench", Gateway: gw, Seq: uint64(n + 1), Boot: "b00700000000000a",
		Samples: []telemetry.Sample{{Device: "dev", Profile: "bench-profile", Class: drainClass, TS: 1767225600000 + int64(n)*1000, Values: vals}}}
}

const clkTck = 100 // USER_HZ on Linux: the unit of /proc's CPU times

// procCPU is utime+stime of pid from /proc/PID/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	d, err := readProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// settle waits, up to 15 s, until the services are idle (less than 5 % of
// a core over half a second): InfluxDB snapshots and compacts what the
// previous phase wrote, Mosquitto saves its database, and a phase timed
// meanwhile would pay for the one before.
func settle(t *testing.T, pids ...int) {
	t.Helper()
	cpu := func() time.Duration {
		var d time.Duration
		for _, p := range pids {
			d += procCPU(t, p)
		}
		return d
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		c0 := cpu()
		time.Sleep(500 * time.Millisecond)
		if cpu()-c0 < 25*time.Millisecond {
			return
		}
	}
}

// machineBusy is the CPU time of every process on the machine (the
// first line of /proc/stat, all but idle and iowait).
func machineBusy(t *testing.T) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	var busy int64
	for i, f := range strings.Fields(string(line))[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user already
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clkTck
}

func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	st, err := servicetest.ProcStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st["VmHWM"]
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// influxQuery runs an InfluxQL query and returns the first value of the
// first series' first row (0 when there is none).
func influxQuery(t *testing.T, base, db, q string) float64 {
	t.Helper()
	rows := influxRows(t, base, db, q)
	if len(rows) == 0 {
		return 0
	}
	v, _ := rows[0].value.(float64)
	return v
}

func mqttClient(t *testing.T, broker, id string, clean bool, h mqtt.MessageHandler, manualAck bool) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(clean).SetAutoReconnect(false).SetAutoAckDisabled(manualAck)
	if h != nil {
		o.SetDefaultPublishHandler(h)
	}
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

// TestCollectorDrainBench: 50,000 QoS 1 messages × 20 values queued in
// Mosquitto (deploy/mosquitto's settings) for the collector's persistent
// session; bin/collector is started and timed from its start until
// InfluxDB holds every point, and its peak RSS (VmHWM) is read. In the
// same run, the two limits: a bare QoS 1 subscriber draining the same
// backlog (a Go paho client acknowledging on receipt, and mosquitto_sub
// -c -q 1 when installed; the faster counts), and InfluxDB taking the same
// 50,000 points as line protocol, 5000 a write. Targets: drain ≤ 2× the
// larger limit, peak RSS ≤ 64 MB.
func TestCollectorDrainBench(t *testing.T) {
	// Serial, no t.Parallel: it measures drain time, CPU and RSS, which tests running beside it would falsify.
	bins := benchBinaries(t, "collector/cmd/collector")
	telegraf := os.Getenv("BW_BENCH_TELEGRAF")
	influx := servicetest.StartInflux(t)
	conf, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "deploy", "mosquitto", "conf.d", "boilerwatch.conf"))
	if err != nil {
		t.Fatal(err)
	}
	mq := servicetest.StartMosquitto(t, string(conf)+"persistence_location {{dir}}/\n")
	dir := t.TempDir()
	mosquittoSub, _ := exec.LookPath("mosquitto_sub")
	// BW_BENCH_PPROF=DIR: profile the collector through metrics.pprof.
	profDir := os.Getenv("BW_BENCH_PPROF")

	// Persistent sessions for every consumer, then the backlog.
	sessions := []string{"bw-bench-collector", "bench-bare-go"}
	if mosquittoSub != "" {
		sessions = append(sessions, "bench-bare-sub")
	}
	if telegraf != "" {
		sessions = append(sessions, "bench-telegraf")
	}
	for _, id := range sessions {
		c := mqttClient(t, mq.URL, id, false, nil, false)
		if tok := c.Subscribe(telemetry.SamplesFilter, 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		c.Disconnect(250)
	}
	var lines bytes.Buffer
	var lineBatches [][]byte
	pub := mqttClient(t, mq.URL, "bench-publisher", true, nil, false)
	start := time.Now()
	toks := make([]mqtt.Token, drainN)
	for i := range drainN {
		m := drainMsg(i)
		payload, _ := json.Marshal(m)
		toks[i] = pub.Publish(telemetry.SamplesTopic(m.Site, m.Gateway), 1, false, payload)
		lines.Write(ingest.AppendLines(nil, &m))
		if (i+1)%5000 == 0 {
			lineBatches = append(lineBatches, bytes.Clone(lines.Bytes()))
			lines.Reset()
		}
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	pub.Disconnect(250)
	t.Logf("backlog of %d messages queued for %d sessions in %s", drainN, len(sessions), time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	services := []int{influx.Pid(), mq.Pid()}
	settle(t, services...)
	// The services' CPU during each phase: the three processes share the
	// machine's cores, so a drain can be bound by their sum.
	type cpus struct{ mq, influx time.Duration }
	svcCPU := func() cpus { return cpus{procCPU(t, mq.Pid()), procCPU(t, influx.Pid())} }
	since := func(c0 cpus) cpus { c := svcCPU(); return cpus{c.mq - c0.mq, c.influx - c0.influx} }

	// 1. Bare subscribers.
	var got atomic.Int64
	done := make(chan struct{})
	start = time.Now()
	c0 := svcCPU()
	bare := mqttClient(t, mq.URL, "bench-bare-go", false, func(_ mqtt.Client, m mqtt.Message) {
		m.Ack()
		if got.Add(1) == drainN {
			close(done)
		}
	}, true)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("bare subscriber got %d of %d", got.Load(), drainN)
	}
	bareGo := time.Since(start)
	bareGoSvc := since(c0)
	bare.Disconnect(250)
	var bareSub time.Duration
	var bareSubSvc cpus
	if mosquittoSub != "" {
		settle(t, services...)
		host, port, _ := strings.Cut(mq.Addr, ":")
		cmd := exec.CommandContext(ctx, mosquittoSub, "-h", host, "-p", port, "-i", "bench-bare-sub", "-c", "-q", "1",
			"-t", telemetry.SamplesFilter, "-C", strconv.Itoa(drainN))
		start = time.Now()
		c0 = svcCPU()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_sub: %v\n%s", err, out)
		}
		bareSub = time.Since(start)
		bareSubSvc = since(c0)
	}
	bareLimit := bareGo
	if bareSub > 0 && bareSub < bareLimit {
		bareLimit = bareSub
	}

	// 2. InfluxDB alone: the same points as line protocol, 5000 per write,
	// through the API the collector writes to.
	influxQuery(t, influx.URL, "", "CREATE DATABASE direct")
	settle(t, services...)
	start = time.Now()
	c0 = svcCPU()
	for _, batch := range lineBatches {
		influx.WriteLines(t, "direct/autogen", batch)
	}
	influxTime := time.Since(start)
	influxSvc := since(c0)
	limit := max(bareLimit, influxTime)

	// 3. The collector, as a process, from its start.
	metricsAddr := freeAddr(t)
	colCfg := write(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`mqtt:
  broker: %s
  client_id: bw-bench-collector
influxdb:
  url: %s
  bucket: %s
  create_database: true
ingest:
  data_dir: data
  classes: [%s]
metrics:
  listen: %s
  pprof: %t
`, mq.URL, influx.URL, influx.Bucket, drainClass, metricsAddr, profDir != ""))
	// BW_BENCH_COLLECTOR_ENV: extra NAME=VALUE words for the collector's
	// environment (GODEBUG=gctrace=1, GOGC=...), for experiments.
	// Its progress line every 50 ms tells when every sample is written
	// (a Prometheus scrape that often cost the collector 6 % of its CPU).
	col := &servicetest.Process{Name: bins["collector"], Args: []string{"-config", colCfg, "-report", "50ms"},
		Env: strings.Fields(os.Getenv("BW_BENCH_COLLECTOR_ENV")), Log: filepath.Join(dir, "collector.log")}
	settle(t, services...)
	start = time.Now()
	c0 = svcCPU()
	busy0 := machineBusy(t)
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Stop(10 * time.Second) })
	profiled := make(chan struct{})
	if profDir != "" {
		// A CPU profile of the drain's first seconds, then the heap.
		go func() {
			defer close(profiled)
			servicetest.WaitTCP(t, metricsAddr, 10*time.Second)
			fetch(t, "http://"+metricsAddr+"/debug/pprof/profile?seconds=2", filepath.Join(profDir, "collector-cpu.pprof"))
			fetch(t, "http://"+metricsAddr+"/debug/pprof/heap", filepath.Join(profDir, "collector-heap.pprof"))
			fetch(t, "http://"+metricsAddr+"/debug/pprof/allocs", filepath.Join(profDir, "collector-allocs.pprof"))
		}()
	} else {
		close(profiled)
	}
	var written float64
	for written < drainN {
		if ctx.Err() != nil || !col.Running() {
			t.Fatalf("collector wrote %.0f of %d messages\n%s", written, drainN, col.LogText())
		}
		time.Sleep(10 * time.Millisecond)
		written = samplesWritten(col.Log)
	}
	// A sample is counted once InfluxDB accepted its point.
	colTime := time.Since(start)
	colSvc := since(c0)
	colBusy := machineBusy(t) - busy0
	colRSS := peakRSS(t, col.Pid())
	colCPU := procCPU(t, col.Pid())
	<-profiled
	if n := influxQuery(t, influx.URL, "boilerwatch", "SELECT count(_seq) FROM "+drainClass); n != drainN {
		t.Errorf("InfluxDB holds %.0f points, want %d", n, drainN)
	}
	col.Stop(10 * time.Second)
	if profDir != "" {
		os.WriteFile(filepath.Join(profDir, "collector.log"), []byte(col.LogText()), 0o644)
	}
	// Every message was acknowledged: the session holds nothing more.
	time.Sleep(time.Second)
	var left atomic.Int64
	after := mqttClient(t, mq.URL, "bw-bench-collector", false, func(mqtt.Client, mqtt.Message) { left.Add(1) }, false)
	time.Sleep(2 * time.Second)
	after.Disconnect(250)
	if left.Load() != 0 {
		t.Errorf("%d messages redelivered after the collector's drain: acknowledged too late or not at all", left.Load())
	}

	// 4. Telegraf, optionally: mqtt_consumer (persistent session, QoS 1)
	// into InfluxDB through outputs.influxdb_v2.
	var tgTime time.Duration
	var tgRSS int64
	var tgCPU time.Duration
	var tgSvc cpus
	if telegraf != "" {
		settle(t, services...)
		c0 = svcCPU()
		tgTime, tgRSS, tgCPU = telegrafDrain(t, ctx, telegraf, mq.URL, influx.URL, dir)
		tgSvc = since(c0)
	}

	ratio := colTime.Seconds() / limit.Seconds()
	fmt.Printf("\ncollector drain: %d queued QoS 1 messages × %d values, Mosquitto (deploy/mosquitto) → InfluxDB 1.8, one run\n", drainN, drainValues)
	// CPU s: the consumer's own (utime+stime), then Mosquitto's and
	// InfluxDB's during the same phase.
	fmt.Printf("  %-52s %8s %11s %9s %8s %13s %12s\n", "", "seconds", "messages/s", "peak RSS", "CPU s", "Mosquitto s", "InfluxDB s")
	row := func(name string, d time.Duration, rss int64, cpu time.Duration, svc cpus) {
		r, c := "", ""
		if rss > 0 {
			r = fmt.Sprintf("%.1f MB", mb(rss))
			c = fmt.Sprintf("%.2f", cpu.Seconds())
		}
		fmt.Printf("  %-52s %8.2f %11.0f %9s %8s %13.2f %12.2f\n", name, d.Seconds(), drainN/d.Seconds(), r, c, svc.mq.Seconds(), svc.influx.Seconds())
	}
	row("limit: bare QoS 1 subscriber, Go paho, manual ack", bareGo, 0, 0, bareGoSvc)
	if bareSub > 0 {
		row("limit: bare QoS 1 subscriber, mosquitto_sub -c -q 1", bareSub, 0, 0, bareSubSvc)
	}
	row("limit: InfluxDB direct write, line protocol, 5000/write", influxTime, 0, 0, influxSvc)
	row("bin/collector, from process start to last point", colTime, colRSS, colCPU, colSvc)
	if telegraf != "" {
		row("Telegraf (mqtt_consumer → influxdb_v2), from start", tgTime, tgRSS, tgCPU, tgSvc)
	}
	fmt.Printf("  during the collector's drain the machine's %d cores were busy %.2f s (%.0f %%), the three processes %.2f s of it\n",
		runtime.NumCPU(), colBusy.Seconds(), 100*colBusy.Seconds()/colTime.Seconds()/float64(runtime.NumCPU()), (colCPU + colSvc.mq + colSvc.influx).Seconds())
	fmt.Printf("  collector / max(fastest bare subscriber, InfluxDB direct) = %.2f / %.2f = %.2f\n", colTime.Seconds(), limit.Seconds(), ratio)
	verdict := func(ok bool) string {
		if ok {
			return "TARGET MET"
		}
		return "TARGET MISSED"
	}
	fmt.Printf("%s: collector drain %.2f s ≤ 2 × larger limit %.2f s (ratio %.2f)\n", verdict(ratio <= 2), colTime.Seconds(), limit.Seconds(), ratio)
	fmt.Printf("%s: collector peak RSS %.1f MB ≤ 64 MB\n\n", verdict(colRSS <= 64<<20), mb(colRSS))
}

// fetch saves what GET u answers in path.
func fetch(t *testing.T, u, path string) {
	resp, err := http.Get(u)
	if err != nil {
		t.Errorf("GET %s: %v", u, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", u, resp.Status)
		return
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Error(err)
	}
}

var samplesTotal = regexp.MustCompile(`samples_total=(\d+)`)

// samplesWritten is the last samples_total of the collector's progress
// lines in its log.
func samplesWritten(log string) float64 {
	data, _ := os.ReadFile(log)
	if i := bytes.LastIndex(data, []byte("samples_total=")); i >= 0 {
		if m := samplesTotal.FindSubmatch(data[i:]); m != nil {
			n, _ := strconv.ParseFloat(string(m[1]), 64)
			return n
		}
	}
	return 0
}

// telegrafDrain runs Telegraf on the backlog of session bench-telegraf and
// times it until InfluxDB (database telegraf) holds every point.
func telegrafDrain(t *testing.T, ctx context.Context, bin, broker, influxURL, dir string) (time.Duration, int64, time.Duration) {
	t.Helper()
	influxQuery(t, influxURL, "", "CREATE DATABASE telegraf")
	cfg := write(t, filepath.Join(dir, "telegraf.conf"), fmt.Sprintf(`[agent]
  interval = "1s"
  flush_interval = "100ms"
  metric_batch_size = 5000
  metric_buffer_limit = 100000
  omit_hostname = true
[[inputs.mqtt_consumer]]
  servers = [%q]
  topics = [%q]
  qos = 1
  client_id = "bench-telegraf"
  persistent_session = true
  max_undelivered_messages = 1000
  data_format = "json"
  json_query = "samples"
  tag_keys = ["device", "profile"]
  json_name_key = "class"
  json_time_key = "ts"
  json_time_format = "unix_ms"
[[outputs.influxdb_v2]]
  urls = [%q]
  bucket = "telegraf/autogen"
  organization = ""
  token = ""
`, broker, telemetry.SamplesFilter, influxURL))
	p := &servicetest.Process{Name: bin, Args: []string{"--config", cfg}, Log: filepath.Join(dir, "telegraf.log")}
	start := time.Now()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	// Its JSON parser names the fields by path: values_p00_v.
	for n := 0.0; n < drainN; {
		if ctx.Err() != nil || !p.Running() || time.Since(start) > 2*time.Minute {
			t.Fatalf("telegraf wrote %.0f of %d points\n%s", n, drainN, p.LogText())
		}
		time.Sleep(100 * time.Millisecond)
		n = influxQuery(t, influxURL, "telegraf", "SELECT count(values_p00_v) FROM "+drainClass)
	}
	d := time.Since(start)
	rss, cpu := peakRSS(t, p.Pid()), procCPU(t, p.Pid())
	p.Stop(10 * time.Second)
	return d, rss, cpu
}

// TestGatewayCPUBench: bin/gateway polling 20 simulated Chint DTSU666
// meters (units 1–20 on one Modbus TCP port of the simulator) every
// second, and the reference site (docs/reference-site.md), each for
// BW_BENCH_DURATION, publishing QoS 1 to Mosquitto with the disk queue on
// (defaults: write-behind) and the systemd unit's GOMEMLIMIT: CPU seconds
// per minute (utime+stime from /proc/PID/stat), peak RSS (VmHWM) and the
// Modbus requests of one cycle (bw_gateway_round_trips_per_cycle, summed).
func TestGatewayCPUBench(t *testing.T) {
	// Serial, no t.Parallel: it measures CPU and RSS, which tests running beside it would falsify.
	bins := benchBinaries(t, "gateway/cmd/gateway", "simulator/cmd/simulator")
	dur := time.Minute
	if s := os.Getenv("BW_BENCH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BW_BENCH_DURATION=%q: %v", s, err)
		}
		dur = d
	}
	mq := servicetest.StartMosquitto(t, "")
	root := servicetest.RepoRoot(t)

	type result struct {
		name         string
		cpuPerMin    time.Duration
		rss          int64
		requests     float64 // per cycle, as the gateway counts them
		planned      float64
		simRequests  float64 // per cycle, as the simulator counts them
		polls, pubs  float64
		pendingAtEnd float64
		measuredOver time.Duration
		devices      int
	}
	// simulator starts the scenario with its control API, whose request
	// counters count what a poller asks (requestsAt); the caller stops it.
	simulator := func(dir, scenario string) (string, *servicetest.Process) {
		ctl := freeAddr(t)
		sim := servicetest.StartProcess(t, bins["simulator"], "-config", write(t, filepath.Join(dir, "scenario.yaml"), scenario), "-control", ctl)
		for _, m := range regexp.MustCompile(`listen: (\S+)`).FindAllStringSubmatch(scenario, -1) {
			servicetest.WaitTCP(t, m[1], 10*time.Second)
		}
		servicetest.WaitTCP(t, ctl, 10*time.Second)
		return ctl, sim
	}
	// run measures the gateway on a scenario; interval is its devices' one
	// poll interval (0: mixed, no requests per cycle on the simulator side).
	run := func(name, scenario string, interval time.Duration, gwCfg func(dir string) string) result {
		dir := t.TempDir()
		ctl, sim := simulator(dir, scenario)
		defer sim.Stop(10 * time.Second)
		metricsAddr := freeAddr(t)
		gw := &servicetest.Process{Name: bins["gateway"], Args: []string{"-config", gwCfg(dir), "-metrics", metricsAddr, "-log-level", "warn"},
			Env: unitEnv(t, "GOMEMLIMIT"), Log: filepath.Join(dir, "gateway.log")}
		if err := gw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gw.Stop(10 * time.Second) })
		servicetest.WaitTCP(t, metricsAddr, 10*time.Second)
		// Past the start: connections made, holes learned.
		time.Sleep(3 * time.Second)
		pid := gw.Pid()
		m0 := scrape(t, "http://"+metricsAddr+"/metrics")
		q0 := requestsAt(t, ctl)
		c0, t0 := procCPU(t, pid), time.Now()
		time.Sleep(dur)
		if !gw.Running() {
			t.Fatalf("%s: gateway exited\n%s", name, gw.LogText())
		}
		c1, el := procCPU(t, pid), time.Since(t0)
		q1 := requestsAt(t, ctl)
		m := scrape(t, "http://"+metricsAddr+"/metrics")
		r := result{name: name, rss: peakRSS(t, pid), measuredOver: el, simRequests: math.NaN(),
			cpuPerMin:    time.Duration(float64(c1-c0) * float64(time.Minute) / float64(el)),
			polls:        polls(m) - polls(m0),
			pubs:         m[`bw_gateway_published_total{kind="live"}`] - m0[`bw_gateway_published_total{kind="live"}`],
			pendingAtEnd: m["bw_gateway_queue_pending"]}
		for k, v := range m {
			if strings.HasPrefix(k, "bw_gateway_round_trips_per_cycle{") {
				r.requests += v
				r.devices++
			}
			if strings.HasPrefix(k, "bw_gateway_planned_round_trips_per_cycle{") {
				r.planned += v
			}
		}
		if r.polls == 0 || r.pubs == 0 {
			t.Errorf("%s: %0.f polls, %.0f published", name, r.polls, r.pubs)
		}
		if interval > 0 {
			r.simRequests = (q1 - q0) / (float64(el) / float64(interval))
		}
		gw.Stop(10 * time.Second)
		return r
	}
	var results []result

	// 20 DTSU666 meters on one port.
	addr := freeAddr(t)
	var scen, devs strings.Builder
	fmt.Fprintf(&scen, "update: 500ms\nboilers: [{name: b1}]\nservers:\n  - listen: %s\n    devices:\n", addr)
	for u := 1; u <= 20; u++ {
		fmt.Fprintf(&scen, "      - {name: m%d, unit_id: %d, profile: chint-dtsu666, boiler: b1}\n", u, u)
		fmt.Fprintf(&devs, "  - {name: m%d, profile: chint-dtsu666, address: %q, unit_id: %d, interval: 1s}\n", u, addr, u)
	}
	meters := run("20 × Chint DTSU666, 1 s, one TCP port", scen.String(), time.Second, func(dir string) string {
		return write(t, filepath.Join(dir, "gateway.yaml"), fmt.Sprintf("site: %s\ngateway: gw-bench\nmqtt: {broker: %q}\nqueue: {dir: %s, wait_for_collector: false}\ndevices:\n%s",
			site, mq.URL, filepath.Join(dir, "queue"), devs.String()))
	})
	results = append(results, meters)
	var tele *result
	if bin := os.Getenv("BW_BENCH_TELEGRAF"); bin != "" {
		dir := t.TempDir()
		ctl, sim := simulator(dir, scen.String())
		r := result{name: "Telegraf 1.37.2, the same 20 meters", devices: 20}
		r.cpuPerMin, r.rss, r.simRequests, r.pubs, r.measuredOver = telegrafPoll(t, bin, dir, addr, ctl, mq.URL, dur)
		r.requests, r.planned, r.polls = math.NaN(), math.NaN(), math.NaN()
		sim.Stop(10 * time.Second)
		tele = &r
		results = append(results, r)
	}

	// The reference site, its two buses served by the simulator.
	ref, err := os.ReadFile(filepath.Join(root, "gateway", "testdata", "reference-site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(root, "gateway", "testdata", "profiles")
	tcpAddr := freeAddr(t)
	rtuAddr := freeAddr(t)
	var tcpDevs, rtuDevs strings.Builder
	devRe := regexp.MustCompile(`\{name: (\S+), profile: (\S+), transport: (\S+), address: "127\.0\.0\.1:(\d+)", unit_id: (\d+)`)
	for _, m := range devRe.FindAllStringSubmatch(string(ref), -1) {
		boiler := ""
		if m[2] == "reference-boiler-plc" || m[2] == "sst-oxy-lc-o2" || m[2] == "bell-vfm60-steam" {
			boiler = ", boiler: b1"
		}
		// Every register served, as in docs/reference-site.md.
		line := fmt.Sprintf("      - {name: %s, unit_id: %s, profile: %s, holes: zero%s}\n", m[1], m[5], m[2], boiler)
		if m[3] == "tcp" {
			tcpDevs.WriteString(line)
		} else {
			rtuDevs.WriteString(line)
		}
	}
	refScen := fmt.Sprintf("update: 500ms\nprofile_dirs: [%s]\nboilers: [{name: b1}]\nservers:\n  - listen: %s\n    devices:\n%s  - listen: %s\n    protocol: rtu-over-tcp\n    devices:\n%s",
		profiles, tcpAddr, tcpDevs.String(), rtuAddr, rtuDevs.String())
	results = append(results, run("reference site (16 devices, 2 buses)", refScen, 0, func(dir string) string {
		cfg := strings.NewReplacer("127.0.0.1:15020", tcpAddr, "127.0.0.1:15021", rtuAddr,
			`"tcp://127.0.0.1:1883"`, strconv.Quote(mq.URL),
			"/tmp/boilerwatch-reference-queue", filepath.Join(dir, "queue")+", wait_for_collector: false",
			"profile_dirs: [profiles]", "profile_dirs: ["+profiles+"]").Replace(string(ref))
		return write(t, filepath.Join(dir, "gateway.yaml"), cfg)
	}))

	fmt.Printf("\ngateway: bin/gateway as a process, QoS 1 to Mosquitto, disk queue on (write-behind default), GOMEMLIMIT of the unit, %s each\n", dur)
	fmt.Printf("  %-40s %13s %9s %9s %9s %9s %8s %10s\n", "case", "CPU s/min", "peak RSS", "requests", "requests", "planned", "polls", "published")
	fmt.Printf("  %-40s %13s %9s %9s %9s %9s %8s %10s\n", "", "(utime+stime)", "(VmHWM)", "/cycle", "/cycle sim", "/cycle", "", "(live)")
	for _, r := range results {
		fmt.Printf("  %-40s %13.3f %6.1f MB %9s %9s %9s %8s %10.0f\n", r.name, r.cpuPerMin.Seconds(), mb(r.rss), count(r.requests), count(r.simRequests), count(r.planned), count(r.polls), r.pubs)
	}
	fmt.Println("  requests/cycle: bw_gateway_round_trips_per_cycle summed over devices, as the gateway polls at the end (after refused")
	fmt.Println("  merged reads taught it the devices' holes); /cycle sim: the simulator's request count over the measurement, per")
	fmt.Println("  second (one cycle; the reference site's groups poll at different intervals);")
	fmt.Println("  planned: -plan from the config and the holes learned before this start")
	if tele != nil {
		ratio := meters.cpuPerMin.Seconds() / tele.cpuPerMin.Seconds()
		verdict := "TARGET MET"
		if ratio > 0.5 {
			verdict = "TARGET MISSED"
		}
		fmt.Printf("  gateway CPU / Telegraf CPU, 20 meters: %.3f / %.3f = %.2f: %s (≤ 0.5)\n", meters.cpuPerMin.Seconds(), tele.cpuPerMin.Seconds(), ratio, verdict)
		verdict = "TARGET MET"
		if meters.simRequests > tele.simRequests+0.5 {
			verdict = "TARGET MISSED"
		}
		fmt.Printf("  requests per cycle, 20 meters, as the simulator counts them: gateway %.0f, Telegraf max_insert %.0f: %s (≤ Telegraf's)\n", meters.simRequests, tele.simRequests, verdict)
	}
	fmt.Println()
}

// count prints a figure, or "-" for one a row does not have.
func count(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// requestsAt sums the simulator's request counters (control API at ctl).
func requestsAt(t *testing.T, ctl string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ctl + "/devices")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var devs []struct {
		Requests float64 `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&devs); err != nil {
		t.Fatalf("simulator /devices: %v", err)
	}
	var n float64
	for _, d := range devs {
		n += d.Requests
	}
	return n
}

// telegrafPoll runs Telegraf polling the 20 DTSU666 meters at addr (units
// 1–20) every second, as the gateway does: inputs.modbus in request style
// with optimization max_insert (fill 50, its documented default), the fields of the
// chint-dtsu666 profile, into outputs.mqtt at QoS 1 on broker, flushed every
// second as the gateway sends each poll at once. After 3 s it measures, over
// dur, CPU per minute, peak RSS, the simulator's requests per cycle (ctl,
// one cycle a second) and the messages a subscriber received.
func telegrafPoll(t *testing.T, bin, dir, addr, ctl, broker string, dur time.Duration) (time.Duration, int64, float64, float64, time.Duration) {
	t.Helper()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	pr := lib["chint-dtsu666"]
	types := map[profile.DataType]string{profile.Float32: "FLOAT32", profile.Int16: "INT16", profile.Uint16: "UINT16", profile.Int32: "INT32", profile.Uint32: "UINT32"}
	var fields strings.Builder
	for _, p := range pr.Points {
		typ, ok := types[p.Type]
		if !ok || p.Register != profile.Holding {
			t.Fatalf("telegraf config: point %s: %s %s not mapped", p.Name, p.Register, p.Type)
		}
		scale := 1.0
		if p.Scale != nil {
			scale = *p.Scale
		}
		// A TOML float: 1 would be an integer, which Telegraf refuses.
		sc := strconv.FormatFloat(scale, 'f', -1, 64)
		if !strings.Contains(sc, ".") {
			sc += ".0"
		}
		fmt.Fprintf(&fields, "      { address=%d, name=%q, type=%q, scale=%s },\n", p.Address, p.Name, typ, sc)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `[agent]
  interval = "1s"
  round_interval = true
  flush_interval = "1s"
  omit_hostname = true
[[outputs.mqtt]]
  servers = [%q]
  topic = "telegraf-bench/{{ .PluginName }}"
  qos = 1
  client_id = "bench-telegraf-poll"
  data_format = "json"
[[inputs.modbus]]
  name = "dtsu666"
  controller = "tcp://%s"
  configuration_type = "request"
  timeout = "1s"
`, broker, addr)
	for u := 1; u <= 20; u++ {
		fmt.Fprintf(&cfg, `  [[inputs.modbus.request]]
    slave_id = %d
    byte_order = %q
    register = "holding"
    measurement = %q
    optimization = "max_insert"
    optimization_max_register_fill = 50
    fields = [
%s    ]
    [inputs.modbus.request.tags]
      device = "m%d"
`, u, pr.ByteOrder, pr.Class, fields.String(), u)
	}
	var got atomic.Int64
	sub := mqttClient(t, broker, "bench-telegraf-sub", true, func(mqtt.Client, mqtt.Message) { got.Add(1) }, false)
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("telegraf-bench/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	p := &servicetest.Process{Name: bin, Args: []string{"--config", write(t, filepath.Join(dir, "telegraf.conf"), cfg.String())}, Log: filepath.Join(dir, "telegraf.log")}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(10 * time.Second)
	time.Sleep(3 * time.Second)
	if !p.Running() {
		t.Fatalf("telegraf exited\n%s", p.LogText())
	}
	pid := p.Pid()
	q0, g0 := requestsAt(t, ctl), got.Load()
	c0, t0 := procCPU(t, pid), time.Now()
	time.Sleep(dur)
	if !p.Running() {
		t.Fatalf("telegraf exited\n%s", p.LogText())
	}
	c1, el := procCPU(t, pid), time.Since(t0)
	q1, g1 := requestsAt(t, ctl), got.Load()
	rss := peakRSS(t, pid)
	if g1 == g0 {
		t.Errorf("telegraf published nothing in %s\n%s", el, p.LogText())
	}
	cycles := el.Seconds() // interval 1 s
	return time.Duration(float64(c1-c0) * float64(time.Minute) / float64(el)), rss, (q1 - q0) / cycles, float64(g1 - g0), el
}
