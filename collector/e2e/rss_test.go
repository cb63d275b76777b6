package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// rssLimit is the peak resident memory a gateway polling 50 devices may
// use: edge boxes have 64–128 MB for everything (the unit sets MemoryMax=64M).
// 16 MB since write-behind (issue 19): records wait in memory, within the
// queue's 256 KiB tail, and the bound must show it costs nothing.
const rssLimit = 16 << 20

// TestGatewayRSS measures a gateway polling 50 simulated devices (5 buses
// of 10 units, boilers and meters, every second) for BW_RSS_DURATION
// (default 10m): peak RSS (VmHWM) must stay ≤ 16 MB; CPU per poll is
// printed. It runs only with BW_RSS=1 (make bench sets it), since it takes
// minutes.
func TestGatewayRSS(t *testing.T) {
	// Serial, no t.Parallel: it measures RSS and CPU per poll, which tests running beside it would falsify.
	if os.Getenv("BW_RSS") == "" {
		t.Skip("set BW_RSS=1 (make bench) to measure the gateway's memory and CPU")
	}
	dur := 10 * time.Minute
	if s := os.Getenv("BW_RSS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BW_RSS_DURATION=%q: %v", s, err)
		}
		dur = d
	}
	bins := servicetest.Build(t, "simulator/cmd/simulator")
	// The gateway as make release builds it: static and stripped.
	bins["gateway"] = servicetest.BuildRelease(t, "gateway/cmd/gateway")["gateway"]
	// No collector: the broker's acknowledgement is the end of the
	// gateway's work, so wait_for_collector is off.
	mq := servicetest.StartMosquitto(t, "")
	dir := t.TempDir()

	var scen strings.Builder
	var devs []string
	scen.WriteString("update: 500ms\nboilers: [{name: b1}]\nservers:\n")
	var addrs []string
	for bus := range 5 {
		addr := freeAddr(t)
		addrs = append(addrs, addr)
		fmt.Fprintf(&scen, "  - listen: %s\n    devices:\n", addr)
		for u := 1; u <= 10; u++ {
			profile := "szl-chain-grate-plc"
			if u%2 == 0 {
				profile = "chint-dtsu666"
			}
			name := fmt.Sprintf("d%d-%d", bus, u)
			fmt.Fprintf(&scen, "      - %s\n", simDevice(name, u, profile, ""))
			devs = append(devs, gwDevice(name, profile, addr, u, time.Second, ""))
		}
	}
	scenario := write(t, filepath.Join(dir, "scenario.yaml"), scen.String())
	servicetest.StartProcess(t, bins["simulator"], "-config", scenario)
	for _, a := range addrs {
		servicetest.WaitTCP(t, a, 10*time.Second)
	}
	gwCfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: site, id: "gw-rss", broker: mq.URL,
		queueDir: filepath.Join(dir, "queue"), queue: "wait_for_collector: false", devices: devs}.yaml())
	metricsAddr := freeAddr(t)
	// Run it as the systemd unit does, with the unit's Go memory limit.
	gw := &servicetest.Process{Name: bins["gateway"], Args: []string{"-config", gwCfg, "-metrics", metricsAddr, "-log-level", "warn"},
		Env: unitEnv(t, "GOMEMLIMIT"), Log: filepath.Join(dir, "gateway.log")}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Stop(10 * time.Second) })
	servicetest.WaitTCP(t, metricsAddr, 10*time.Second)

	pid := gw.Pid()
	start := time.Now()
	m0 := scrape(t, "http://"+metricsAddr+"/metrics")
	var hwm, anon, file int64
	var hwmAt time.Duration // when the peak last grew, to the sampling period
	for time.Since(start) < dur {
		time.Sleep(min(10*time.Second, dur-time.Since(start)+time.Millisecond))
		if !gw.Running() {
			t.Fatal("gateway exited")
		}
		st, err := servicetest.ProcStatus(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st["VmHWM"] > hwm {
			hwmAt = time.Since(start)
		}
		hwm, anon, file = max(hwm, st["VmHWM"]), max(anon, st["RssAnon"]), max(file, st["RssFile"])
	}
	elapsed := time.Since(start)
	m := scrape(t, "http://"+metricsAddr+"/metrics")
	// utime+stime, as the gateway reads them from /proc/self/stat.
	cpu := time.Duration((m["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]) * float64(time.Second))
	n := polls(m) - polls(m0)
	if n == 0 {
		t.Fatal("no polls counted")
	}
	fmt.Printf("\ngateway, 50 devices on 5 buses, 1 s interval, %s, env %v\n", elapsed.Round(time.Second), gw.Env)
	fmt.Printf("%-28s %12s\n", "measure", "value")
	fmt.Printf("%-28s %9.1f MB\n", "peak RSS (VmHWM)", float64(hwm)/(1<<20))
	fmt.Printf("%-28s %12s\n", "peak last grew before", hwmAt.Round(time.Second))
	fmt.Printf("%-28s %9.1f MB\n", "largest anonymous RSS", float64(anon)/(1<<20))
	fmt.Printf("%-28s %9.1f MB\n", "largest file RSS (binary)", float64(file)/(1<<20))
	fmt.Printf("%-28s %12.0f\n", "polls", n)
	fmt.Printf("%-28s %9.1f µs\n", "CPU per poll (utime+stime)", float64(cpu.Microseconds())/n)
	fmt.Printf("%-28s %10.2f %%\n", "CPU share of one core", 100*cpu.Seconds()/elapsed.Seconds())
	// Every allocation of the process, MQTT and queue included.
	fmt.Printf("%-28s %12.0f\n", "allocations per poll", (m["go_memstats_mallocs_total"]-m0["go_memstats_mallocs_total"])/n)
	fmt.Printf("%-28s %12.0f\n", "published (live)", m[`bw_gateway_published_total{kind="live"}`])
	fmt.Printf("%-28s %12.0f\n", "queue pending at end", m["bw_gateway_queue_pending"])
	if hwm > rssLimit {
		t.Errorf("peak RSS %.1f MB > %d MB", float64(hwm)/(1<<20), rssLimit>>20)
	}
}

// unitEnv returns the Environment=NAME=... lines of the gateway's
// systemd unit for the given names, so the benchmark runs as deployed.
func unitEnv(t *testing.T, names ...string) []string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join(servicetest.RepoRoot(t), "deploy", "systemd", "boilerwatch-gateway.service"))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, line := range strings.Split(string(unit), "\n") {
		kv, ok := strings.CutPrefix(line, "Environment=")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				env = append(env, kv)
			}
		}
	}
	return env
}

// polls sums the poll histogram's counts over every device of a scrape.
func polls(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "bw_gateway_poll_duration_seconds_count{") {
			n += v
		}
	}
	return n
}
