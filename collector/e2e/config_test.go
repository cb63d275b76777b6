package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
)

// The configurations the tests give the simulator, the gateway and the
// collector, written in one place: most tests run the same two devices —
// boiler1, a chain-grate boiler's PLC (unit 1), and meter1, the DTSU666
// meter of its fans (unit 2), both of boiler b1 on one Modbus TCP port —
// and differ only in a few settings.

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// scenarioConfig is a simulator scenario with one Modbus TCP server.
type scenarioConfig struct {
	listen string
	seed   int           // 0: the simulator's default
	update time.Duration // 0: the simulator's default
	// devices are the server's device lines (simDevice); none: boiler1
	// and meter1.
	devices []string
}

// simDevice is one device of a scenario; extra adds entries to its map
// (e.g. "holes: zero").
func simDevice(name string, unit int, profile, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("{name: %s, unit_id: %d, profile: %s, boiler: b1%s}", name, unit, profile, extra)
}

// simBoiler and simMeter are the two devices.
var (
	simBoiler = simDevice("boiler1", 1, "szl-chain-grate-plc", "")
	simMeter  = simDevice("meter1", 2, "chint-dtsu666", "")
)

func (c scenarioConfig) yaml() string {
	var b strings.Builder
	if c.seed != 0 {
		fmt.Fprintf(&b, "seed: %d\n", c.seed)
	}
	if c.update != 0 {
		fmt.Fprintf(&b, "update: %s\n", c.update)
	}
	fmt.Fprintf(&b, "boilers: [{name: b1}]\nservers:\n  - listen: %s\n    devices:\n", c.listen)
	devices := c.devices
	if len(devices) == 0 {
		devices = []string{simBoiler, simMeter}
	}
	for _, d := range devices {
		fmt.Fprintf(&b, "      - %s\n", d)
	}
	return b.String()
}

// gatewayConfig is a gateway's configuration.
type gatewayConfig struct {
	version  int // 0: none
	site, id string
	broker   string // URL
	mqtt     string // more entries of the mqtt map (keepalive, TLS files)
	queueDir string
	queue    string // more entries of the queue map
	extra    string // more top-level lines (remote_config)
	// devices are the device lines (gwDevice, gwDevices).
	devices []string
}

// gwDevice is one device a gateway polls at addr; extra adds entries to
// its map (e.g. "timeout: 200ms").
func gwDevice(name, profile, addr string, unit int, interval time.Duration, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("{name: %s, profile: %s, address: %q, unit_id: %d, interval: %s%s}", name, profile, addr, unit, interval, extra)
}

// gwDevices are boiler1 and meter1 at addr, polled every interval.
func gwDevices(addr string, interval time.Duration) []string {
	return []string{gwBoiler(addr, interval), gwMeter(addr, interval)}
}

func gwBoiler(addr string, interval time.Duration) string {
	return gwDevice("boiler1", "szl-chain-grate-plc", addr, 1, interval, "")
}

func gwMeter(addr string, interval time.Duration) string {
	return gwDevice("meter1", "chint-dtsu666", addr, 2, interval, "")
}

func (c gatewayConfig) yaml() string {
	var b strings.Builder
	if c.version != 0 {
		fmt.Fprintf(&b, "version: %d\n", c.version)
	}
	fmt.Fprintf(&b, "site: %s\ngateway: %s\nmqtt: {broker: %q%s}\nqueue: {dir: %s%s}\n", c.site, c.id, c.broker, entries(c.mqtt), c.queueDir, entries(c.queue))
	b.WriteString(c.extra)
	b.WriteString("devices:\n")
	for _, d := range c.devices {
		fmt.Fprintf(&b, "  - %s\n", d)
	}
	return b.String()
}

// collectorConfig is a collector's configuration. Its dead-letter store
// and learned types are in data/ beside the file, in the test's directory.
type collectorConfig struct {
	embedded string // the embedded broker's address, or
	broker   string // an external broker's URL
	clientID string
	mqtt     string // more entries of the mqtt map (TLS files, share_group, users)
	influx   *servicetest.Influx
	bucket   string // "": the Influx's
	token    string // more entries of the influxdb map (token_env, org)
	noCreate bool   // create_database: false; the bucket must exist, as on InfluxDB 2.x
	// influxYAML is the whole influxdb section instead of the one the
	// fields above make (a documented example).
	influxYAML string
	flush      time.Duration // 0: 100ms
	extra      string        // more sections (gaps, metrics, http, console, energy, gateways)
}

func (c collectorConfig) yaml() string {
	var b strings.Builder
	b.WriteString("mqtt: {")
	if c.embedded != "" {
		fmt.Fprintf(&b, "embedded: %q", c.embedded)
	} else {
		fmt.Fprintf(&b, "broker: %q", c.broker)
	}
	fmt.Fprintf(&b, ", client_id: %s%s}\n", c.clientID, entries(c.mqtt))
	bucket := c.bucket
	if bucket == "" {
		bucket = c.influx.Bucket
	}
	if c.influxYAML != "" {
		b.WriteString(c.influxYAML)
	} else {
		fmt.Fprintf(&b, "influxdb: {url: %q, bucket: %q, create_database: %t%s}\n", c.influx.URL, bucket, !c.noCreate, entries(c.token))
	}
	flush := c.flush
	if flush == 0 {
		flush = 100 * time.Millisecond
	}
	fmt.Fprintf(&b, "ingest: {data_dir: data}\nbatch: {flush: %s}\n", flush)
	b.WriteString(c.extra)
	return b.String()
}

// entries continues a flow map with s ("" adds nothing).
func entries(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}

// startSim writes the scenario to path and runs the simulator on it with
// args (e.g. -record), until its port accepts connections.
func startSim(t *testing.T, bin, path string, c scenarioConfig, args ...string) *servicetest.Process {
	t.Helper()
	scenario := write(t, path, c.yaml())
	p := servicetest.StartProcess(t, bin, append([]string{"-config", scenario}, args...)...)
	servicetest.WaitTCP(t, c.listen, 10*time.Second)
	return p
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", servicetest.FreePort(t))
}

// meters are n DTSU666 meters m1…mn (units 1…n, reads of their map's
// holes answered with zeros) on one server at addr: the scenario's device
// lines and the gateway's, polled every second.
func meters(n int, addr string) (sim, gw []string) {
	for u := 1; u <= n; u++ {
		name := fmt.Sprintf("m%d", u)
		sim = append(sim, simDevice(name, u, "chint-dtsu666", "holes: zero"))
		gw = append(gw, gwDevice(name, "chint-dtsu666", addr, u, time.Second, ""))
	}
	return sim, gw
}
