package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
)

// Flash budget of the 20-meter case (issue 19): the gateway wrote 1,372 kB
// per minute before write-behind, about 2 GB a day; online it must stay at
// 1 % of that, and an outage must cost about the records' own size.
const (
	flashBaselinePerDay = 1372e3 * 60 * 24 // bytes a day, measured before write-behind
	flashOnlineTarget   = 20e6             // bytes a day online
	flashOutageMaxAmp   = 2.0              // bytes written per byte of record polled during an outage
)

// TestGatewayFlash measures what a gateway writes to the block device
// (write_bytes of /proc/PID/io: pages the process dirtied in the page cache
// of a disk-backed file system) while it polls 20 simulated DTSU666 meters
// (12 float32 points each, units 1-20 on one Modbus TCP port) every second:
// first with the broker up and acknowledging (BW_FLASH_ONLINE, default
// 5m), then through a broker outage (BW_FLASH_OUTAGE, default 10m) until
// the backlog is delivered. It prints bytes per day and TARGET MET/MISSED
// lines. It runs only with BW_FLASH=1 (make bench sets it).
//
// The queue must be on a disk: on tmpfs write_bytes stays 0. The test puts
// it under BW_FLASH_DIR, else the test's temporary directory, else
// /var/tmp, whichever is first on a block-device file system; the gateway's
// log goes to /dev/shm when there is one, so only the queue is measured.
func TestGatewayFlash(t *testing.T) {
	// Serial, no t.Parallel: it measures bytes written to the block device, which tests running beside it would falsify.
	if os.Getenv("BW_FLASH") == "" {
		t.Skip("set BW_FLASH=1 (make bench) to measure the gateway's flash writes")
	}
	online := envDuration(t, "BW_FLASH_ONLINE", 5*time.Minute)
	outage := envDuration(t, "BW_FLASH_OUTAGE", 10*time.Minute)
	bins := servicetest.Build(t, "simulator/cmd/simulator")
	bins["gateway"] = servicetest.BuildRelease(t, "gateway/cmd/gateway")["gateway"]
	mq := servicetest.StartMosquitto(t, "")
	dir := t.TempDir()
	qdir := filepath.Join(diskDir(t), "queue")

	simAddr := freeAddr(t)
	simDevs, gwDevs := meters(20, simAddr)
	startSim(t, bins["simulator"], filepath.Join(dir, "scenario.yaml"), scenarioConfig{listen: simAddr, update: 500 * time.Millisecond, devices: simDevs})

	// A subscriber measures the messages' size (and that they arrive).
	var msgs, msgBytes atomic.Int64
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL).SetClientID("flash-sub").SetAutoReconnect(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe(telemetry.SamplesTopic(site, "gw-flash"), 1, func(_ mqtt.Client, m mqtt.Message) {
		if !strings.Contains(string(m.Payload()), `"historical":true`) {
			msgs.Add(1)
			msgBytes.Add(int64(len(m.Payload())))
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	gwCfg := write(t, filepath.Join(dir, "gateway.yaml"), gatewayConfig{site: site, id: "gw-flash", broker: mq.URL, mqtt: "keepalive: 5s",
		queueDir: qdir, queue: "wait_for_collector: false" + os.Getenv("BW_FLASH_QUEUE_EXTRA"), devices: gwDevs}.yaml())
	metricsAddr := freeAddr(t)
	logDir := dir
	if isTmpfs("/dev/shm") {
		logDir = shmDir(t)
	}
	gw := &servicetest.Process{Name: bins["gateway"], Args: []string{"-config", gwCfg, "-metrics", metricsAddr, "-log-level", "warn"},
		Env: unitEnv(t, "GOMEMLIMIT"), Log: filepath.Join(logDir, "gateway.log")}
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop(20 * time.Second)
		if t.Failed() {
			t.Logf("gateway log:\n%s", tail(gw.LogText(), 4000))
		}
	})
	servicetest.WaitTCP(t, metricsAddr, 10*time.Second)
	metrics := "http://" + metricsAddr + "/metrics"
	// Warm up: the connection, the first sequence block, the first polls.
	time.Sleep(15 * time.Second)
	pid := gw.Pid()

	// Online.
	m0, w0, at0 := scrape(t, metrics), procWriteBytes(t, pid), time.Now()
	n0, b0 := msgs.Load(), msgBytes.Load()
	time.Sleep(online)
	m1, w1, at1 := scrape(t, metrics), procWriteBytes(t, pid), time.Now()
	n1, b1 := msgs.Load(), msgBytes.Load()
	appended := m1["bw_gateway_queue_appended_total"] - m0["bw_gateway_queue_appended_total"]
	live := m1[`bw_gateway_published_total{kind="live"}`] - m0[`bw_gateway_published_total{kind="live"}`]
	if appended < 0.9*20*online.Seconds() {
		t.Errorf("online: %.0f messages queued in %s, want about %.0f (20 meters at 1 s)", appended, online, 20*online.Seconds())
	}
	if live < appended-200 {
		t.Errorf("online: %.0f of %.0f messages acknowledged by the broker", live, appended)
	}
	if n1-n0 == 0 {
		t.Fatal("the subscriber received nothing")
	}
	avgMsg := float64(b1-b0) / float64(n1-n0)
	onlineDay := float64(w1-w0) / at1.Sub(at0).Seconds() * 86400
	recordsDay := appended * avgMsg / at1.Sub(at0).Seconds() * 86400

	// Outage: the broker stops; the gateway keeps polling into its queue.
	mq.Stop(10 * time.Second)
	m2, w2, at2 := scrape(t, metrics), procWriteBytes(t, pid), time.Now()
	time.Sleep(outage)
	m3 := scrape(t, metrics)
	if err := mq.Start(); err != nil {
		t.Fatal(err)
	}
	servicetest.WaitTCP(t, mq.Addr, 10*time.Second)
	// Until the backlog is delivered: replay acknowledgements move the
	// cursor, which is part of the outage's cost.
	deadline := time.Now().Add(outage + 2*time.Minute)
	for {
		time.Sleep(2 * time.Second)
		if m := scrape(t, metrics); m["bw_gateway_queue_pending"] < 100 && m[`bw_gateway_published_total{kind="historical"}`] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("backlog not delivered within the outage + 2 min")
		}
	}
	m4, w4, at4 := scrape(t, metrics), procWriteBytes(t, pid), time.Now()
	outageRecs := m3["bw_gateway_queue_appended_total"] - m2["bw_gateway_queue_appended_total"]
	outageRecBytes := outageRecs * avgMsg
	// What the whole stretch wrote, less what being online wrote meanwhile.
	outageWritten := float64(w4-w2) - onlineDay/86400*at4.Sub(at2.Add(outage)).Seconds()
	amp := outageWritten / outageRecBytes

	fmt.Printf("\ngateway flash writes: 20 DTSU666 meters (12 float32 points), one Modbus TCP port, 1 s; queue on %s (%s)\n", qdir, fsType(qdir))
	fmt.Printf("%-44s %14s\n", "measure", "value")
	fmt.Printf("%-44s %14.0f\n", "message size (JSON bytes, average)", avgMsg)
	fmt.Printf("%-44s %14s\n", "online: measured over", at1.Sub(at0).Round(time.Second))
	fmt.Printf("%-44s %14.0f\n", "online: messages queued", appended)
	fmt.Printf("%-44s %14.0f\n", "online: acknowledged by the broker", live)
	fmt.Printf("%-44s %11.1f kB\n", "online: write_bytes", float64(w1-w0)/1e3)
	fmt.Printf("%-44s %11.1f kB\n", "online: write_bytes per minute", float64(w1-w0)/at1.Sub(at0).Minutes()/1e3)
	fmt.Printf("%-44s %11.2f MB\n", "online: write_bytes per day", onlineDay/1e6)
	fmt.Printf("%-44s %11.2f MB\n", "online: the records' own size per day", recordsDay/1e6)
	fmt.Printf("%-44s %14s\n", "outage: broker down for", outage)
	fmt.Printf("%-44s %14.0f\n", "outage: messages queued", outageRecs)
	fmt.Printf("%-44s %11.1f kB\n", "outage: the records' own size", outageRecBytes/1e3)
	fmt.Printf("%-44s %11.1f kB\n", "outage: write_bytes, to backlog delivered", outageWritten/1e3)
	fmt.Printf("%-44s %11.2f ×\n", "outage: amplification", amp)
	fmt.Printf("%-44s %11.2f MB\n", "outage: write_bytes per day of outage", outageWritten/outage.Seconds()*86400/1e6)
	fmt.Printf("%-44s %14s\n", "outage: backlog delivered after", at4.Sub(at2).Round(time.Second)-outage)
	fmt.Printf("%-44s %14.0f\n", "outage: historical messages acknowledged", m4[`bw_gateway_published_total{kind="historical"}`])
	fmt.Printf("%-44s %14.0f\n", "queue dropped / lost", m4["bw_gateway_queue_dropped_total"]+m4["bw_gateway_queue_lost_total"])
	verdict := func(ok bool) string {
		if ok {
			return "TARGET MET"
		}
		return "TARGET MISSED"
	}
	fmt.Printf("%s: online %.2f MB/day ≤ %.0f MB/day (1 %% of the %.0f MB/day before write-behind: %.2f %%)\n",
		verdict(onlineDay <= flashOnlineTarget), onlineDay/1e6, flashOnlineTarget/1e6, flashBaselinePerDay/1e6, 100*onlineDay/flashBaselinePerDay)
	fmt.Printf("%s: outage amplification %.2f× ≤ %.0f× the records' own size\n", verdict(amp <= flashOutageMaxAmp), amp, flashOutageMaxAmp)
	if m4["bw_gateway_queue_dropped_total"]+m4["bw_gateway_queue_lost_total"] > 0 {
		t.Errorf("records dropped or lost")
	}
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return d
}

// procWriteBytes reads write_bytes of /proc/PID/io: bytes the process
// caused to be sent to the storage layer (page-cache pages it dirtied on a
// disk-backed file system, counted when they are dirtied).
func procWriteBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/io: no write_bytes", pid)
	return 0
}

const tmpfsMagic = 0x01021994

func isTmpfs(path string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(path, &st) == nil && st.Type == tmpfsMagic
}

func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return "?"
	}
	switch st.Type {
	case tmpfsMagic:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	}
	return fmt.Sprintf("fs 0x%x", st.Type)
}

// diskDir returns a new directory on a block-device file system, removed
// at the end of the test.
func diskDir(t *testing.T) string {
	t.Helper()
	for _, base := range []string{os.Getenv("BW_FLASH_DIR"), "", "/var/tmp"} {
		var dir string
		var err error
		if base == "" && os.Getenv("BW_FLASH_DIR") == "" {
			dir = t.TempDir()
		} else if base != "" {
			dir, err = os.MkdirTemp(base, "bw-flash-")
			if err != nil {
				continue
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
		} else {
			continue
		}
		if !isTmpfs(dir) {
			return dir
		}
	}
	t.Fatal("no block-device file system for the queue (set BW_FLASH_DIR)")
	return ""
}

var shmOnce sync.Mutex

// shmDir is a directory on /dev/shm (tmpfs), removed at the end of the test.
func shmDir(t *testing.T) string {
	t.Helper()
	shmOnce.Lock()
	defer shmOnce.Unlock()
	dir, err := os.MkdirTemp("/dev/shm", "bw-e2e-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
