package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"
	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
)

// The reference boiler room (docs/reference-site.md): 2 boilers, 2 O2
// analyzers and 12 meters, 395 points, on a Modbus TCP bus and an RTU over
// TCP bus.
const referenceSite = "../testdata/reference-site.yaml"

// serveSite serves every device of cfg from an in-process mbserver on
// loopback, one server per bus, and points the config at them. It returns
// the points per cycle.
func serveSite(tb testing.TB, cfg *fwconfig.Gateway) (addrs map[string]string) {
	tb.Helper()
	servers := map[string]*mbservertest.Server{}
	addrs = map[string]string{}
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		s := servers[d.Bus.Key]
		if s == nil {
			framing := mbservertest.TCP
			if d.Bus.Transport == fwconfig.RTUOverTCP {
				framing = mbservertest.RTUOverTCP
			}
			s = mbservertest.Start(tb, mbservertest.Options{Framing: framing})
			servers[d.Bus.Key] = s
			addrs[d.Bus.Address] = s.Addr
		}
		bank, _ := profileDevice(tb, d.Spec)
		s.SetDevice(uint8(d.UnitID), bank)
	}
	retarget(cfg, addrs)
	return addrs
}

// retarget points every device's bus at the address serving it.
func retarget(cfg *fwconfig.Gateway, addrs map[string]string) {
	for i := range cfg.Devices {
		d := &cfg.Devices[i]
		if a, ok := addrs[d.Bus.Address]; ok {
			d.Bus.Address, d.Address = a, a
			d.Bus.Key = string(d.Bus.Transport) + "://" + a
		}
	}
}

func loadConfig(tb testing.TB, path string) *fwconfig.Gateway {
	tb.Helper()
	cfg, err := fwconfig.LoadGateway(path)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// cycle polls every group of every device once, as a gateway does over
// its longest interval, and handles each sample as the gateway does:
// encodes it into its wire message and recycles it. It returns the points
// read.
func cycle(ctx context.Context, site *Site, enc *telemetry.Encoder) (good int) {
	msg := telemetry.Message{V: telemetry.Version, Site: "s", Gateway: "g", Boot: "b", Samples: make([]telemetry.Sample, 1)}
	for _, d := range site.Devices {
		for g := range d.Groups() {
			s := d.PollGroup(ctx, g)
			for _, v := range s.Values {
				if v.Q == telemetry.Good {
					good++
				}
			}
			msg.Seq++
			msg.Samples[0] = s
			enc.Encode(&msg)
			Recycle(s)
		}
	}
	return good
}

func siteTotals(site *Site) (points, planned int) {
	for _, d := range site.Devices {
		planned += len(d.Plan())
		for _, g := range d.groups {
			points += len(g.points)
		}
	}
	return points, planned
}

func busTotals(site *Site) (requests, bytes uint64) {
	for _, s := range site.BusStats() {
		requests += s.Requests
		bytes += s.BytesIn + s.BytesOut
	}
	return requests, bytes
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReferenceSite polls the reference site against in-process
// mbservers: round trips and bytes per cycle, and CPU time and allocations
// of the whole process, servers included (BenchmarkReferenceSiteGateway
// separates the gateway's share).
func BenchmarkReferenceSite(b *testing.B) {
	cfg := loadConfig(b, referenceSite)
	serveSite(b, cfg)
	site := NewSite(cfg, SiteOptions{}, quiet)
	runBuses(b, site)
	ctx := context.Background()
	var enc telemetry.Encoder
	points, planned := siteTotals(site)
	if got := cycle(ctx, site, &enc); got != points {
		b.Fatalf("warm-up cycle: %d good values of %d", got, points)
	}
	req0, bytes0 := busTotals(site)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		cycle(ctx, site, &enc)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	req, bytes := busTotals(site)
	n := float64(b.N)
	rt := float64(req-req0) / n
	if int(rt+0.5) != planned {
		b.Fatalf("%.1f round trips per cycle, the plan has %d", rt, planned)
	}
	b.ReportMetric(rt, "round_trips/cycle")
	b.ReportMetric(float64(points), "points/cycle")
	b.ReportMetric(float64(bytes-bytes0)/n, "wire_bytes/cycle")
	b.ReportMetric(float64(cpu.Milliseconds())*1000/n, "cpu_ms/1000cycles")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n/float64(points), "allocs/point")
}

// childEnv carries a gateway-only benchmark to the child process.
const childEnv = "BW_POLL_BENCH_CHILD"

type childReport struct {
	Cycles    int     `json:"cycles"`
	Points    int     `json:"points"`
	CPUms     float64 `json:"cpu_ms"`
	Mallocs   uint64  `json:"mallocs"`
	PeakRSSkB int     `json:"peak_rss_kb"`
	HeapMB    float64 `json:"heap_mb"`
	Requests  uint64  `json:"requests"`
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(benchChild())
	}
	os.Exit(m.Run())
}

// benchChild is the gateway side of a gateway-only benchmark: it polls the
// servers of its parent and reports its own CPU time, allocations and peak
// RSS, which then include no server.
func benchChild() int {
	var job struct {
		Config string            `json:"config"`
		Addrs  map[string]string `json:"addrs"`
		Cycles int               `json:"cycles"`
	}
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, err := fwconfig.LoadGateway(job.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	retarget(cfg, job.Addrs)
	site := NewSite(cfg, SiteOptions{}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, b := range site.buses {
		wg.Go(func() { b.Run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()
	points, _ := siteTotals(site)
	var enc telemetry.Encoder
	if got := cycle(ctx, site, &enc); got != points {
		fmt.Fprintf(os.Stderr, "warm-up cycle: %d good values of %d\n", got, points)
		return 1
	}
	req0, _ := busTotals(site)
	if path := os.Getenv("BW_POLL_BENCH_MEMPROFILE"); path != "" {
		// Every allocation of the measured cycles, for go tool pprof.
		runtime.MemProfileRate = 1
		defer func() {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	for range job.Cycles {
		cycle(ctx, site, &enc)
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	req, _ := busTotals(site)
	rep := childReport{Cycles: job.Cycles, Points: points, CPUms: float64(cpu.Microseconds()) / 1000,
		Mallocs: m1.Mallocs - m0.Mallocs, PeakRSSkB: peakRSS(), HeapMB: float64(m1.HeapInuse) / (1 << 20), Requests: req - req0}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// peakRSS is this process's VmHWM in kB (0 where unavailable).
func peakRSS() int {
	st, err := servicetest.ProcStatus(0)
	if err != nil {
		return 0
	}
	return int(st["VmHWM"] >> 10)
}

// runChild serves cfgPath in this process and polls it from a child.
func runChild(b *testing.B, cfgPath string, cycles int) childReport {
	b.Helper()
	cfg := loadConfig(b, cfgPath)
	addrs := serveSite(b, cfg)
	job, _ := json.Marshal(map[string]any{"config": cfgPath, "addrs": addrs, "cycles": cycles})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(job))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child: %v", err)
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		b.Fatalf("child report %q: %v", out, err)
	}
	return rep
}

// BenchmarkReferenceSiteGateway is the gateway's own share of
// BenchmarkReferenceSite: the servers run in this process, the gateway in a
// child whose CPU time, allocations and peak RSS are measured alone.
func BenchmarkReferenceSiteGateway(b *testing.B) {
	abs, _ := filepath.Abs(referenceSite)
	rep := runChild(b, abs, max(b.N, 1))
	n := float64(rep.Cycles)
	b.ReportMetric(float64(rep.Requests)/n, "round_trips/cycle")
	b.ReportMetric(rep.CPUms*1000/n, "cpu_ms/1000cycles")
	b.ReportMetric(float64(rep.Mallocs)/n/float64(rep.Points), "allocs/point")
	b.ReportMetric(float64(rep.PeakRSSkB)/1024, "peak_rss_MB")
}

// BenchmarkSite50Devices measures the gateway's peak RSS with 50 devices
// (a mix of the library's profiles on five buses), gateway alone in a
// child process.
func BenchmarkSite50Devices(b *testing.B) {
	lib, err := profile.LoadLibrary()
	if err != nil {
		b.Fatal(err)
	}
	names := lib.Names()
	var y strings.Builder
	y.WriteString("site: s\ngateway: g\nmqtt: {broker: 'tcp://127.0.0.1:1883'}\nqueue: {dir: /tmp/q}\ndevices:\n")
	for i := range 50 {
		bus := i % 5
		transport := "tcp"
		if bus >= 3 {
			transport = "rtu-over-tcp"
		}
		fmt.Fprintf(&y, "  - {name: d%02d, profile: %s, transport: %s, address: \"127.0.0.1:%d\", unit_id: %d, interval: 5s}\n",
			i, names[i%len(names)], transport, 16000+bus, i/5+1)
	}
	path := filepath.Join(b.TempDir(), "gw50.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	rep := runChild(b, path, max(b.N, 1))
	n := float64(rep.Cycles)
	b.ReportMetric(float64(rep.Points), "points/cycle")
	b.ReportMetric(float64(rep.Requests)/n, "round_trips/cycle")
	b.ReportMetric(rep.CPUms*1000/n, "cpu_ms/1000cycles")
	b.ReportMetric(float64(rep.Mallocs)/n/float64(rep.Points), "allocs/point")
	b.ReportMetric(float64(rep.PeakRSSkB)/1024, "peak_rss_MB")
	b.ReportMetric(rep.HeapMB, "heap_inuse_MB")
}
