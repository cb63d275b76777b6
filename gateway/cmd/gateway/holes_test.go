package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/gateway/plan"
	"github.com/boilerwatch/boilerwatch/gateway/poll"
	"github.com/boilerwatch/boilerwatch/gateway/promtext"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/sim"
)

// holeyProfile has a gap of 16 unmapped registers (4..19) between b and c,
// which the default max_gap bridges. The simulator serves only the
// profile's registers (holes: strict), so the bridged read is refused with
// exception 2, as a real meter refuses a read across a hole in its map.
const holeyProfile = `name: holey-meter
class: electricity_meter
source: test
points:
  - {name: ua, quantity: voltage_a, register: holding, address: 0, type: float32, unit: V}
  - {name: ub, quantity: voltage_b, register: holding, address: 2, type: float32, unit: V}
  - {name: freq, quantity: frequency, register: holding, address: 20, type: float32, unit: Hz}
`

// startSimulator serves one holey-meter at unit 1 until the test ends.
func startSimulator(t *testing.T, dir string) string {
	t.Helper()
	scenario := filepath.Join(dir, "sim.yaml")
	os.WriteFile(scenario, []byte(`seed: 1
update: 1h
profile_dirs: [`+filepath.Join(dir, "profiles")+`]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: m, unit_id: 1, profile: holey-meter, holes: strict, rated: 100}
`), 0o644)
	sc, err := sim.LoadScenario(scenario)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addrs()[0]
}

// gatewayRun is one start of the gateway's polling side: its site, run
// until stop, with the learned holes read from the file at start.
type gatewayRun struct {
	site       *poll.Site
	refused    atomic.Int64 // exception 2 answers
	samples    chan telemetry.Sample
	stop       func()
	planOutput string
}

func startGateway(t *testing.T, cfg *fwconfig.Gateway) *gatewayRun {
	t.Helper()
	learned, err := plan.LoadLearned(plan.LearnedPath(cfg.Queue.Dir))
	if err != nil {
		t.Fatal(err)
	}
	r := &gatewayRun{samples: make(chan telemetry.Sample, 100)}
	var b strings.Builder
	plan.PrintSiteLearned(&b, cfg, learned) // what gateway -plan prints now
	r.planOutput = b.String()
	r.site = poll.NewSite(cfg, poll.SiteOptions{Learned: learned, OnReadError: func(_ string, err error) {
		if strings.Contains(err.Error(), "exception '2'") {
			r.refused.Add(1)
		}
	}}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		r.site.Run(ctx, func(s telemetry.Sample) {
			select {
			case r.samples <- s:
			default:
			}
		})
	})
	r.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(r.stop)
	return r
}

// next waits for the next sample and checks every value is good.
func (r *gatewayRun) next(t *testing.T) {
	t.Helper()
	select {
	case s := <-r.samples:
		for k, v := range s.Values {
			if v.Q == telemetry.Bad {
				t.Errorf("%s bad: %s", k, v.Err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no sample within 5 s")
	}
}

// roundTripsMetric is bw_gateway_round_trips_per_cycle of device m as the
// metrics endpoint renders it.
func roundTripsMetric(t *testing.T, site *poll.Site) string {
	t.Helper()
	reg := promtext.NewRegistry()
	reg.MustRegister(devicesCollector(func() []*poll.Device { return site.Devices }))
	out, err := reg.Render()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^bw_gateway_round_trips_per_cycle\{device="m"\} (\S+)$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no round trips metric in\n%s", out)
	}
	return m[1]
}

// A device that refuses a bridged read: the first cycle splits it and
// learns the hole, which is saved; the next start plans around it from
// the first poll (no exception), and -plan, the plan polled and the
// round-trips metric agree.
func TestHoleLearnedAndRemembered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "profiles"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles", "holey-meter.yaml"), []byte(holeyProfile), 0o644)
	addr := startSimulator(t, dir)
	gw := filepath.Join(dir, "gateway.yaml")
	cfg, err := fwconfig.ParseGateway(gw, []byte(fmt.Sprintf(`site: s
gateway: g
mqtt: {broker: 'tcp://127.0.0.1:1883'}
queue: {dir: %s}
profile_dirs: [%s]
devices:
  - {name: m, profile: holey-meter, address: %q, unit_id: 1, interval: 100ms, timeout: 1s}
`, filepath.Join(dir, "queue"), filepath.Join(dir, "profiles"), addr)))
	if err != nil {
		t.Fatal(err)
	}
	holes := filepath.Join(dir, "queue.holes.json")

	first := startGateway(t, cfg)
	if !strings.Contains(first.planOutput, "1 round trips per cycle\n  holding  start     0 count  22: ua ub freq\n") {
		t.Fatalf("first start's -plan should bridge the gap:\n%s", first.planOutput)
	}
	first.next(t)
	if n := first.refused.Load(); n == 0 {
		t.Error("the bridged read was not refused: the simulator does not serve the hole")
	}
	data, err := os.ReadFile(holes)
	if err != nil {
		t.Fatalf("learned hole not saved: %v", err)
	}
	if !strings.Contains(string(data), `"register": "holding",`) || !strings.Contains(string(data), `"start": 4,`) || !strings.Contains(string(data), `"count": 16`) {
		t.Errorf("saved holes:\n%s\nwant holding 4..19", data)
	}
	first.next(t)
	first.stop()
	st, _ := os.Stat(holes)

	second := startGateway(t, cfg)
	want := "device m (holey-meter, tcp://" + addr + " unit 1): 2 round trips per cycle\n" +
		"  never bridged: holding 4..19 (learned)\n" +
		"  holding  start     0 count   4: ua ub\n" +
		"  holding  start    20 count   2: freq\n"
	if !strings.HasPrefix(second.planOutput, want) {
		t.Errorf("-plan after the restart:\n%s\nwant\n%s", second.planOutput, want)
	}
	for range 3 {
		second.next(t)
	}
	if n := second.refused.Load(); n != 0 {
		t.Errorf("after the restart the device refused %d reads: the learned hole was not planned around", n)
	}
	d := second.site.Devices[0]
	if got := roundTripsMetric(t, second.site); got != "2" || len(d.Plan()) != 2 || d.PlannedRoundTrips() != 2 {
		t.Errorf("round trips: metric %s, polled %d, planned %d; -plan says 2", got, len(d.Plan()), d.PlannedRoundTrips())
	}
	if st2, _ := os.Stat(holes); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the holes file was rewritten though nothing new was learned")
	}
}
