package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// scrape reads a Prometheus text page into series → value, the series
// written as the page writes it (name{labels}).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: line %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func status(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually retries check until it returns "" or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMetrics runs the real gateway against the simulator and a real
// collector with InfluxDB, and checks what their /metrics, /readyz and
// /loglevel endpoints say.
func TestMetrics(t *testing.T) {
	t.Parallel()
	bins := servicetest.Build(t, "simulator/cmd/simulator", "gateway/cmd/gateway", "collector/cmd/collector")
	influx := servicetest.StartInflux(t)
	dir := t.TempDir()
	simAddr := freeAddr(t)
	startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr})

	embedded := freeAddr(t)
	colMetrics := freeAddr(t)
	colCfg := collectorConfig{embedded: embedded, clientID: "bw-collector-metrics", influx: influx, extra: fmt.Sprintf("metrics: {listen: %s}\n", colMetrics)}
	col := servicetest.StartProcess(t, bins["collector"], "-config", write(t, filepath.Join(dir, "collector.yaml"), colCfg.yaml()))
	col.WaitLog(t, "mqtt connected", 20*time.Second)

	gw := gatewayConfig{site: site, id: "gw-metrics", broker: "tcp://" + embedded, queueDir: filepath.Join(dir, "queue"), devices: gwDevices(simAddr, time.Second)}
	gwCfg := write(t, filepath.Join(dir, "gateway.yaml"), gw.yaml())
	// The plan as the operator sees it: the round-trips gauge must agree.
	planOut, err := exec.Command(bins["gateway"], "-config", gwCfg, "-plan").CombinedOutput()
	if err != nil {
		t.Fatalf("gateway -plan: %v\n%s", err, planOut)
	}
	want := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^device (\S+) .*: (\d+) round trips per cycle$`).FindAllStringSubmatch(string(planOut), -1) {
		n, _ := strconv.Atoi(m[2])
		want[m[1]] = float64(n)
	}
	if len(want) != 2 || want["boiler1"] < 1 {
		t.Fatalf("gateway -plan: want 2 devices, got %v from\n%s", want, planOut)
	}

	gwMetrics := freeAddr(t)
	gwProc := servicetest.StartProcess(t, bins["gateway"], "-config", gwCfg, "-metrics", gwMetrics, "-log-json")
	servicetest.WaitTCP(t, gwMetrics, 10*time.Second)
	if code, body := status(t, "GET", "http://"+gwMetrics+"/healthz", ""); code != 200 {
		t.Errorf("gateway /healthz: %d %s", code, body)
	}
	eventually(t, 20*time.Second, func() string {
		if code, body := status(t, "GET", "http://"+gwMetrics+"/readyz", ""); code != 200 {
			return fmt.Sprintf("gateway /readyz: %d %s", code, body)
		}
		return ""
	})
	eventually(t, 20*time.Second, func() string {
		m := scrape(t, "http://"+gwMetrics+"/metrics")
		for dev, n := range want {
			if c := m[`bw_gateway_poll_duration_seconds_count{device="`+dev+`"}`]; c < 2 {
				return fmt.Sprintf("poll histogram of %s has %v samples", dev, c)
			}
			if got := m[`bw_gateway_planned_round_trips_per_cycle{device="`+dev+`"}`]; got != n {
				return fmt.Sprintf("planned round trips of %s = %v, gateway -plan says %v", dev, got, n)
			}
			// The simulated meter refuses some merged reads (gaps in its
			// map), so it may poll with more requests than planned.
			if got := m[`bw_gateway_round_trips_per_cycle{device="`+dev+`"}`]; got < n {
				return fmt.Sprintf("round trips of %s = %v, fewer than the %v planned", dev, got, n)
			}
			if m[`bw_gateway_device_state{device="`+dev+`",state="online"}`] != 1 {
				return fmt.Sprintf("%s is not online in bw_gateway_device_state", dev)
			}
		}
		for _, s := range []string{"bw_gateway_mqtt_connected", `bw_gateway_published_total{kind="live"}`, `bw_gateway_publish_ack_seconds_count{kind="live"}`} {
			if m[s] < 1 {
				return fmt.Sprintf("%s = %v, want ≥ 1", s, m[s])
			}
		}
		for _, s := range []string{"bw_gateway_queue_pending", "bw_gateway_queue_oldest_age_seconds", "bw_gateway_samples_dropped_total", "bw_gateway_queue_dropped_total", "process_resident_memory_bytes"} {
			if _, ok := m[s]; !ok {
				return "missing " + s
			}
		}
		return ""
	})

	// Debug lines appear only after PUT /loglevel debug.
	if strings.Contains(gwProc.LogText(), `"level":"DEBUG"`) {
		t.Fatal("debug lines before the level was changed")
	}
	if code, body := status(t, "PUT", "http://"+gwMetrics+"/loglevel", "debug"); code != 200 || strings.TrimSpace(body) != "debug" {
		t.Fatalf("PUT /loglevel debug: %d %q", code, body)
	}
	gwProc.WaitLog(t, `"level":"DEBUG","msg":"queued"`, 10*time.Second)

	// The collector: its own metrics address, no login, after some writes.
	eventually(t, 20*time.Second, func() string {
		m := scrape(t, "http://"+colMetrics+"/metrics")
		if m["bw_collector_samples_total"] < 4 || m["bw_collector_messages_total"] < 4 {
			return fmt.Sprintf("collector wrote %v samples, %v messages", m["bw_collector_samples_total"], m["bw_collector_messages_total"])
		}
		if m[`bw_collector_influxdb_write_seconds_count{result="ok"}`] < 1 {
			return "no successful write in bw_collector_influxdb_write_seconds"
		}
		for _, s := range []string{"bw_collector_values_total", "bw_collector_write_failures_total", "bw_collector_seq_gaps_total",
			"bw_collector_duplicates_total", "bw_collector_redelivered_total", "go_goroutines"} {
			if _, ok := m[s]; !ok {
				return "missing " + s
			}
		}
		return ""
	})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := status(t, "GET", "http://"+colMetrics+p, ""); code != 200 {
			t.Errorf("collector %s: %d %s", p, code, body)
		}
	}
}
