package poll

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
)

var quiet = slog.New(slog.DiscardHandler)

// loadSite parses a gateway config whose profile_dirs holds the given
// profiles; devices is the YAML of the devices list.
func loadSite(t testing.TB, profiles map[string]string, devices string) *fwconfig.Gateway {
	t.Helper()
	dir := t.TempDir()
	for name, y := range profiles {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	y := "site: s\ngateway: g\nmqtt: {broker: 'tcp://127.0.0.1:1883'}\nqueue: {dir: /tmp/q}\nprofile_dirs: [.]\ndevices:\n" + devices
	g, err := fwconfig.ParseGateway(filepath.Join(dir, "gateway.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// runSite runs a site until the test ends.
func runSite(t testing.TB, s *Site, out func(telemetry.Sample)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx, out) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// runBuses starts only the buses, for tests that call Poll themselves.
func runBuses(t testing.TB, s *Site) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, b := range s.buses {
		wg.Go(func() { b.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func values(s telemetry.Sample) string {
	keys := make([]string, 0, len(s.Values))
	for k := range s.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := s.Values[k]
		switch {
		case v.Q != telemetry.Good:
			fmt.Fprintf(&b, "%s=%s ", k, v.Q)
		case v.Reset:
			fmt.Fprintf(&b, "%s=%v(reset) ", k, v)
		default:
			fmt.Fprintf(&b, "%s=%v ", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}

const meterProfile = `name: test-meter
class: electricity_meter
source: test
groups: {fast: 1s, totals: 1m}
points:
  - {name: dp, register: holding, address: 0, type: uint16, offset: -3}
  - {name: ua, register: holding, address: 1, type: uint16, scale_from: {point: dp, map: power10}, group: fast}
  - {name: ia, register: holding, address: 2, type: int16, scale: 0.01, group: fast}
  - {name: pf, register: holding, address: 4, type: int16, scale: 0.001}
  - {name: ep, register: holding, address: 20, type: uint32, scale: 0.1, counter: true, group: totals}
  - {name: run, register: coil, address: 0, type: bool}
`

func meterBank() *mbserver.Bank {
	b := mbserver.NewBank(mbserver.BankSize{HoldingRegisters: 100, Coils: 10})
	// dp 2 means U = raw × 10^(2-3): raw 2305 is 230.5 V.
	b.SetRegisters(mbserver.HoldingRegisters, 0, []uint16{2, 2305, 1234, 0, 0xFC18})
	b.SetRegisters(mbserver.HoldingRegisters, 20, []uint16{1, 33229}) // 98765 = 0x1_81CD
	b.SetBits(mbserver.Coils, 0, []bool{true})
	return b
}

// Each group's poll is one sample with the group's points only; a value
// scaled by a decimal-point register is read with it in the same cycle.
func TestGroupsAndScaleFrom(t *testing.T) {
	t.Parallel()
	addr := mbservertest.Start(t, mbservertest.Options{Devices: mbservertest.Units(meterBank(), 1)}).Addr
	cfg := loadSite(t, map[string]string{"m": meterProfile}, fmt.Sprintf("  - {name: m1, profile: test-meter, address: %q, unit_id: 1}\n", addr))
	site := NewSite(cfg, SiteOptions{}, quiet)
	runBuses(t, site)
	d := site.Devices[0]
	want := []string{
		"dp=-1 pf=-1 run=true",
		"ia=12.34 ua=230.5",
		"ep=9876.5",
	}
	if d.Groups() != len(want) {
		t.Fatalf("%d groups", d.Groups())
	}
	for i, w := range want {
		s := d.PollGroup(context.Background(), i)
		if got := values(s); got != w {
			t.Errorf("group %d: %s, want %s", i, got, w)
		}
		if s.Device != "m1" || s.Class != "electricity_meter" || s.Profile != "test-meter" || s.TS == 0 {
			t.Errorf("sample header %+v", s)
		}
	}
	if got := values(d.Poll(context.Background())); got != "dp=-1 ep=9876.5 ia=12.34 pf=-1 run=true ua=230.5" {
		t.Errorf("Poll: %s", got)
	}
}

// holeDevice refuses, with exception 2, any register read that covers one
// of its holes, like a meter whose map has gaps.
type holeDevice struct {
	*mbserver.Bank
	holes []uint16
	reads atomic.Int64
	log   chan string
}

func (h *holeDevice) ReadRegisters(t mbserver.Table, addr, qty uint16) ([]uint16, error) {
	h.reads.Add(1)
	if h.log != nil {
		h.log <- fmt.Sprintf("%d+%d", addr, qty)
	}
	for _, a := range h.holes {
		if a >= addr && a < addr+qty {
			return nil, mbserver.IllegalDataAddress
		}
	}
	return h.Bank.ReadRegisters(t, addr, qty)
}

// A device that refuses a merged read costs only the point it refuses:
// the read is split until the refused address is alone, every other point
// is read in the same cycle, and the new plan is kept.
func TestExceptionIsolatesPoint(t *testing.T) {
	t.Parallel()
	const profile = `name: holey
class: heat_meter
source: test
points:
  - {name: a, register: input, address: 0, type: uint16}
  - {name: b, register: input, address: 1, type: uint16}
  - {name: c, register: input, address: 2, type: uint16}
  - {name: d, register: input, address: 3, type: uint16}
  - {name: e, register: input, address: 4, type: uint16}
  - {name: f, register: input, address: 8, type: uint16}
  - {name: g, register: input, address: 9, type: uint16}
  - {name: h, register: input, address: 10, type: uint16}
`
	tests := []struct {
		name     string
		holes    []uint16
		want     string
		wantPlan string
	}{
		// Point d's own register is refused: only d is bad.
		{"refused point", []uint16{3}, "a=100 b=101 c=102 d=bad e=104 f=108 g=109 h=110",
			"0+3 3+1 4+7"},
		// Unmapped registers 5..7 between e and f: every point is good, and
		// the plan no longer bridges the hole.
		{"hole in the map", []uint16{6}, "a=100 b=101 c=102 d=103 e=104 f=108 g=109 h=110",
			"0+5 8+3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bank := mbserver.NewBank(mbserver.BankSize{InputRegisters: 20})
			for i := range 20 {
				bank.SetRegisters(mbserver.InputRegisters, uint16(i), []uint16{uint16(100 + i)})
			}
			dev := &holeDevice{Bank: bank, holes: tt.holes}
			addr := mbservertest.Start(t, mbservertest.Options{Devices: mbservertest.Units(dev, 1)}).Addr
			cfg := loadSite(t, map[string]string{"p": profile}, fmt.Sprintf("  - {name: x, profile: holey, address: %q, unit_id: 1}\n", addr))
			site := NewSite(cfg, SiteOptions{}, quiet)
			runBuses(t, site)
			d := site.Devices[0]
			if n := len(d.Plan()); n != 1 {
				t.Fatalf("initial plan: %d requests, want 1 merged", n)
			}
			s := d.PollGroup(context.Background(), 0)
			if got := values(s); got != tt.want {
				t.Errorf("first poll: %s\nwant        %s", got, tt.want)
			}
			if v := s.Values["d"]; v.Q == telemetry.Bad && !strings.Contains(v.Err, "exception '2'") {
				t.Errorf("bad value's reason %q does not name the exception", v.Err)
			}
			var plan []string
			for _, r := range d.Plan() {
				plan = append(plan, fmt.Sprintf("%d+%d", r.Start, r.Count))
			}
			if got := strings.Join(plan, " "); got != tt.wantPlan {
				t.Errorf("remembered plan %s, want %s", got, tt.wantPlan)
			}
			// The next poll uses the new plan: one read per request, no splitting.
			before := dev.reads.Load()
			if got := values(d.PollGroup(context.Background(), 0)); got != tt.want {
				t.Errorf("second poll: %s", got)
			}
			if n := dev.reads.Load() - before; n != int64(len(plan)) {
				t.Errorf("second poll sent %d reads, want %d", n, len(plan))
			}
			if st := d.State().State; st != Online && tt.holes[0] == 6 || st != Degraded && tt.holes[0] == 3 {
				t.Errorf("state %s", st)
			}
		})
	}
}

// A busy device (exception 6) is asked again with backoff; the value is
// good if it answers within the retries, bad with exception 6 otherwise.
func TestBusyRetried(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		busy int64
		want string
	}{{2, "dp=2 pf=-1 run=true"}, {10, "dp=bad pf=bad run=true"}} {
		t.Run(fmt.Sprintf("busy %d times", tt.busy), func(t *testing.T) {
			var n atomic.Int64
			addr := mbservertest.Start(t, mbservertest.Options{
				Devices: mbservertest.Units(meterBank(), 1),
				Hook: func(r mbserver.Request) mbserver.Action {
					if r.Function == 3 && n.Add(1) <= tt.busy {
						return mbserver.Action{Exception: 6}
					}
					return mbserver.Action{}
				},
			}).Addr
			cfg := loadSite(t, map[string]string{"m": strings.Replace(meterProfile, "offset: -3", "offset: 0", 1)},
				fmt.Sprintf("  - {name: m1, profile: test-meter, address: %q, unit_id: 1}\n", addr))
			site := NewSite(cfg, SiteOptions{}, quiet)
			runBuses(t, site)
			s := site.Devices[0].PollGroup(context.Background(), 0)
			if got := values(s); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if tt.busy > busyRetries && !strings.Contains(s.Values["dp"].Err, "exception '6'") {
				t.Errorf("reason %q", s.Values["dp"].Err)
			}
		})
	}
}

// A counter that goes down is flagged as a reset, good and unaltered, never
// turned into negative consumption; a bad poll in between changes nothing.
func TestCounterReset(t *testing.T) {
	t.Parallel()
	bank := meterBank()
	var fail atomic.Bool
	addr := mbservertest.Start(t, mbservertest.Options{
		Devices: mbservertest.Units(bank, 1),
		Hook: func(mbserver.Request) mbserver.Action {
			if fail.Load() {
				return mbserver.Action{Exception: 4}
			}
			return mbserver.Action{}
		},
	}).Addr
	cfg := loadSite(t, map[string]string{"m": meterProfile}, fmt.Sprintf("  - {name: m1, profile: test-meter, address: %q, unit_id: 1}\n", addr))
	site := NewSite(cfg, SiteOptions{}, quiet)
	runBuses(t, site)
	d := site.Devices[0]
	var got []string
	for _, step := range []struct {
		raw  uint32
		fail bool
	}{{100, false}, {150, false}, {0, true}, {20, false}, {25, false}} {
		bank.SetRegisters(mbserver.HoldingRegisters, 20, []uint16{uint16(step.raw >> 16), uint16(step.raw)})
		fail.Store(step.fail)
		got = append(got, values(d.PollGroup(context.Background(), 2)))
	}
	want := "ep=10 | ep=15 | ep=bad | ep=2(reset) | ep=2.5"
	if g := strings.Join(got, " | "); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
}

// States: a device that stops answering goes degraded, then offline after
// three silent polls, is probed less and less often, and is read again at
// its next interval once a probe answers. Every change reaches
// OnStateChange. Fake time: the device is away from 350 ms to 2.85 s.
func TestStatesAndOfflineBackoff(t *testing.T) {
	t.Parallel()
	cfg := loadSite(t, map[string]string{"p": "name: one\nclass: o2_analyzer\nsource: test\npoints:\n  - {name: o2, register: input, address: 0, type: uint16}\n  - {name: t, register: input, address: 9, type: uint16}\n"},
		"  - {name: o2a, profile: one, address: '127.0.0.1:1', unit_id: 1, interval: 100ms, timeout: 30ms, offline_backoff: 800ms, max_gap: 0}\n")
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		r := &awayReader{gone: start.Add(350 * time.Millisecond), back: start.Add(2850 * time.Millisecond), fail: timedOut, cost: 30 * time.Millisecond}
		d := NewDevice(cfg.Devices[0], r, quiet)
		if n := len(d.Plan()); n != 2 {
			t.Fatalf("setup: %d requests per poll, want 2", n)
		}
		var mu sync.Mutex
		var changes []string
		var awayPolls int
		var firstGood time.Time
		d.onState = func(dev string, st telemetry.DeviceState) {
			mu.Lock()
			changes = append(changes, dev+":"+st.State)
			mu.Unlock()
		}
		stop := runDevice(d, func(s telemetry.Sample) {
			mu.Lock()
			defer mu.Unlock()
			at := time.UnixMilli(s.TS)
			switch {
			case at.After(r.gone) && at.Before(r.back):
				awayPolls++
			case !at.Before(r.back) && s.Values["o2"].Q == telemetry.Good && firstGood.IsZero():
				firstGood = at
			}
		})
		time.Sleep(r.back.Sub(start))
		// Without backoff: 25 polls. With it: 3 polls to go offline, then
		// probes 100, 200, 400, 800 ms apart (at 0.4, 0.5, 0.6, 0.8, 1.1,
		// 1.6 and 2.5 s).
		r.mu.Lock()
		awayRequests := 0
		for _, at := range r.asked {
			if !at.Before(r.gone) {
				awayRequests++
			}
		}
		r.mu.Unlock()
		if awayRequests != 7 {
			t.Errorf("%d requests in 2.5 s away, want 7 (backoff)", awayRequests)
		}
		mu.Lock()
		// Only the first request of a silent poll is sent: the second one
		// would cost another timeout.
		if awayPolls != awayRequests {
			t.Errorf("%d requests in %d polls while away, want one per poll", awayRequests, awayPolls)
		}
		mu.Unlock()
		if st := d.State(); st.State != Offline || !strings.Contains(st.LastError, "no reply within the timeout") {
			t.Errorf("state %+v, want offline with the timeout", st)
		}
		time.Sleep(2 * time.Second)
		stop()
		mu.Lock()
		defer mu.Unlock()
		// The longest wait is one probe backoff (800 ms) plus one interval.
		if d := firstGood.Sub(r.back); firstGood.IsZero() || d > 900*time.Millisecond {
			t.Errorf("good value %s after the device answered again (at %s)", d, firstGood)
		}
		if got := strings.Join(slices.Compact(changes), " "); got != "o2a:online o2a:degraded o2a:offline o2a:online" {
			t.Errorf("state changes %q", got)
		}
	})
}

// fakeBus is a Modbus bus in fake time (synctest): it serializes requests
// as bus.Bus does, answers for its live units after one round trip, and
// lets a request to any other unit cost its whole timeout, as a unit that
// does not answer does. Make it inside the bubble.
type fakeBus struct {
	live map[byte]bool
	rtt  time.Duration
	// turn holds the bus; a channel, because a goroutine waiting on a
	// mutex would keep the fake clock from advancing.
	turn chan struct{}

	mu    sync.Mutex
	asked map[byte]int
}

func newFakeBus(rtt time.Duration, live ...byte) *fakeBus {
	b := &fakeBus{live: map[byte]bool{}, rtt: rtt, turn: make(chan struct{}, 1), asked: map[byte]int{}}
	for _, u := range live {
		b.live[u] = true
	}
	return b
}

func (b *fakeBus) Read(ctx context.Context, unit byte, register profile.RegisterType, start, count int, timeout time.Duration) ([]uint16, time.Time, error) {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	defer func() { <-b.turn }()
	b.mu.Lock()
	b.asked[unit]++
	b.mu.Unlock()
	if !b.live[unit] {
		if err := sleep(ctx, timeout); err != nil {
			return nil, time.Time{}, err
		}
		return nil, time.Time{}, fmt.Errorf("unit %d %s %d+%d: no reply within the timeout: %w", unit, register, start, count, os.ErrDeadlineExceeded)
	}
	if err := sleep(ctx, b.rtt); err != nil {
		return nil, time.Time{}, err
	}
	return make([]uint16, count), time.Now(), nil
}

// Asked is the number of requests unit was sent.
func (b *fakeBus) Asked(unit byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.asked[unit]
}

// fakeSite is the site of cfg with each device on the reader of its name.
func fakeSite(cfg *fwconfig.Gateway, readers map[string]Reader) *Site {
	s := &Site{}
	for _, d := range cfg.Devices {
		s.Devices = append(s.Devices, NewDevice(d, readers[d.Name], quiet))
	}
	return s
}

// Buses are independent: a device that never answers slows only its own
// bus; a device on another bus keeps its interval. Fake time.
func TestDeadBusDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	p := strings.ReplaceAll(meterProfile, "group: fast", "")
	p = strings.ReplaceAll(p, "group: totals", "")
	cfg := loadSite(t, map[string]string{"m": p}, `  - {name: dead, profile: test-meter, address: '127.0.0.1:1', unit_id: 1, interval: 100ms, timeout: 900ms}
  - {name: alive, profile: test-meter, address: '127.0.0.1:2', unit_id: 1, interval: 100ms, timeout: 100ms}
`)
	if n := NewSite(cfg, SiteOptions{}, quiet).Buses(); n != 2 {
		t.Fatalf("%d buses for two addresses, want 2", n)
	}
	synctest.Test(t, func(t *testing.T) {
		site := fakeSite(cfg, map[string]Reader{"dead": newFakeBus(5 * time.Millisecond), "alive": newFakeBus(5*time.Millisecond, 1)})
		var mu sync.Mutex
		var ts []int64
		runSite(t, site, func(s telemetry.Sample) {
			if s.Device == "alive" && s.Values["pf"].Q == telemetry.Good {
				mu.Lock()
				ts = append(ts, s.TS)
				mu.Unlock()
			}
		})
		time.Sleep(1550 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(ts) != 15 {
			t.Fatalf("alive device: %d good samples in 1.55 s at 100 ms, want 15", len(ts))
		}
		for i := 1; i < len(ts); i++ {
			if gap := ts[i] - ts[i-1]; gap != 100 {
				t.Errorf("alive device: %d ms between samples %d and %d, want 100", gap, i-1, i)
			}
		}
	})
}

// On a shared bus, a dead device costs one timeout per poll, not one per
// request, so its neighbour keeps its interval as long as the timeout
// leaves room. Fake time: deterministic where real time on a loaded
// machine was not.
func TestDeadDeviceOnSharedBus(t *testing.T) {
	t.Parallel()
	p := strings.ReplaceAll(meterProfile, "group: fast", "")
	p = strings.ReplaceAll(p, "group: totals", "")
	cfg := loadSite(t, map[string]string{"m": p}, `  - {name: dead, profile: test-meter, address: '127.0.0.1:1', unit_id: 1, interval: 500ms, timeout: 150ms, max_gap: 0}
  - {name: alive, profile: test-meter, address: '127.0.0.1:1', unit_id: 2, interval: 100ms}
`)
	if n := NewSite(cfg, SiteOptions{}, quiet).Buses(); n != 1 {
		t.Fatalf("%d buses for one address, want 1 shared", n)
	}
	synctest.Test(t, func(t *testing.T) {
		// Unit 1 does not answer, as a dead unit on RS-485.
		shared := newFakeBus(5*time.Millisecond, 2)
		site := fakeSite(cfg, map[string]Reader{"dead": shared, "alive": shared})
		if n := len(site.Devices[0].Plan()); n < 3 {
			t.Fatalf("setup: dead device has %d requests, want several", n)
		}
		var mu sync.Mutex
		alive, deadPolls := 0, 0
		var deadErr string
		runSite(t, site, func(s telemetry.Sample) {
			mu.Lock()
			defer mu.Unlock()
			switch s.Device {
			case "alive":
				if s.Values["pf"].Q == telemetry.Good {
					alive++
				}
			case "dead":
				deadPolls++
				deadErr = s.Values["run"].Err
			}
		})
		// Before the dead device's fourth poll (2 s) begins.
		time.Sleep(1950 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		// 19 polls; each of the dead device's 3 polls may hold the bus
		// when the alive device's poll is due, which then misses the next.
		if alive < 16 {
			t.Errorf("alive device: %d good samples in 1.95 s at 100 ms, want at least 16", alive)
		}
		if deadPolls != 3 || shared.Asked(1) != deadPolls {
			t.Errorf("dead device: %d requests in %d polls, want one in each of 3", shared.Asked(1), deadPolls)
		}
		if !strings.Contains(deadErr, "not read") && !strings.Contains(deadErr, "no reply") {
			t.Errorf("dead device's reason: %q", deadErr)
		}
	})
}
