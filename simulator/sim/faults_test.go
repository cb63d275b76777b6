package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
)

const faultScenario = `seed: 3
acceleration: 600     # ten simulated minutes per second: counters move visibly
update: 50ms
boilers: [{name: b1}]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: plc, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter, unit_id: 2, profile: chint-dtsu666, boiler: b1}
  - listen: 127.0.0.1:0
    protocol: rtu-over-tcp
    devices:
      - {name: plc-rtu, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
`

// faultFixture is a running fault scenario and a gateway bus per server.
type faultFixture struct {
	sim      *running
	tcp, rtu *bus.Bus
}

const busTimeout = 300 * time.Millisecond

// plc reads the PLC's measurements (input registers 0..8) on b.
func (f *faultFixture) plc(b *bus.Bus) ([]uint16, error) {
	return read(b, 1, profile.Input, 0, 9)
}

// energy reads the meter's imported energy, kWh.
func (f *faultFixture) energy(t *testing.T) (float64, error) {
	t.Helper()
	v, _, err := readPoint(f.tcp, 2, point(t, f.sim.Simulator, "chint-dtsu666", "ep_import"))
	if err != nil {
		return 0, err
	}
	return v.(float64), nil
}

// mustOK fails unless the read succeeds.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantFailThenRecover checks what the gateway sees with a one-shot fault:
// the read fails as check says, and the next read succeeds — on a new
// connection when redial is set.
func wantFailThenRecover(t *testing.T, b *bus.Bus, readFn func(*bus.Bus) ([]uint16, error), check func(error) string, redial bool) {
	t.Helper()
	before := b.Stats().Connects
	_, err := readFn(b)
	if err == nil {
		t.Fatal("read succeeded despite the fault")
	}
	if msg := check(err); msg != "" {
		t.Fatalf("read error %v: %s", err, msg)
	}
	t.Logf("gateway saw: %v", err)
	_, err = readFn(b)
	mustOK(t, "next read", err)
	if got := b.Stats().Connects - before; redial && got < 1 {
		t.Errorf("next read did not redial (connects +%d)", got)
	} else if !redial && got != 0 {
		t.Errorf("an exception made the bus redial (connects +%d)", got)
	}
}

func exceptionCode(code byte) func(error) string {
	return func(err error) string {
		if c, ok := bus.ExceptionCode(err); !ok || c != code {
			return fmt.Sprintf("want exception %d", code)
		}
		return ""
	}
}

func noAnswer(err error) string {
	if !bus.NoAnswer(err) {
		return "want no answer (timeout)"
	}
	return ""
}

func notException(err error) string {
	if _, ok := bus.ExceptionCode(err); ok {
		return "want a broken reply, got an exception"
	}
	return ""
}

func errContains(s string) func(error) string {
	return func(err error) string {
		if !strings.Contains(err.Error(), s) {
			return fmt.Sprintf("want %q in the error", s)
		}
		return ""
	}
}

// TestFaultsSeenByGateway injects each fault and shows what the gateway's
// bus makes of it.
func TestFaultsSeenByGateway(t *testing.T) {
	t.Parallel()
	s := startText(t, faultScenario)
	addrs := s.Addrs()
	f := &faultFixture{sim: s, tcp: newBus(t, fwconfig.TCP, addrs[0], busTimeout), rtu: newBus(t, fwconfig.RTUOverTCP, addrs[1], busTimeout)}
	plc := f.plc

	tests := []struct {
		name   string
		device string
		fault  FaultSpec
		check  func(t *testing.T)
	}{
		{"exception 2", "plc", FaultSpec{Kind: FaultException, Code: 2, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, exceptionCode(2), false)
		}},
		{"exception 3", "plc", FaultSpec{Kind: FaultException, Code: 3, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, exceptionCode(3), false)
		}},
		{"exception 4", "plc", FaultSpec{Kind: FaultException, Code: 4, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, exceptionCode(4), false)
		}},
		{"exception 6 on rtu-over-tcp", "plc-rtu", FaultSpec{Kind: FaultException, Code: 6, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.rtu, plc, exceptionCode(6), false)
		}},
		{"delay beyond the timeout", "plc", FaultSpec{Kind: FaultDelay, Delay: conf.D(600 * time.Millisecond), Count: 1}, func(t *testing.T) {
			start := time.Now()
			wantFailThenRecover(t, f.tcp, plc, noAnswer, true)
			if d := time.Since(start); d > 3*busTimeout+600*time.Millisecond {
				t.Errorf("timeout and recovery took %v", d)
			}
		}},
		{"delay within the timeout", "plc", FaultSpec{Kind: FaultDelay, Delay: conf.D(120 * time.Millisecond)}, func(t *testing.T) {
			start := time.Now()
			_, err := plc(f.tcp)
			mustOK(t, "slow read", err)
			if d := time.Since(start); d < 120*time.Millisecond {
				t.Errorf("delayed answer came after %v", d)
			}
		}},
		{"no response", "plc", FaultSpec{Kind: FaultNoResponse, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, noAnswer, true)
		}},
		{"no response on rtu-over-tcp", "plc-rtu", FaultSpec{Kind: FaultNoResponse, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.rtu, plc, noAnswer, true)
		}},
		{"garbled", "plc", FaultSpec{Kind: FaultGarbled, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, notException, true)
		}},
		{"garbled on rtu-over-tcp", "plc-rtu", FaultSpec{Kind: FaultGarbled, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.rtu, plc, notException, true)
		}},
		{"wrong transaction id", "plc", FaultSpec{Kind: FaultWrongTID, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, errContains("transaction id"), true)
		}},
		{"wrong unit id on rtu-over-tcp", "plc-rtu", FaultSpec{Kind: FaultWrongTID, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.rtu, plc, errContains("slave id"), true)
		}},
		{"bad CRC", "plc-rtu", FaultSpec{Kind: FaultBadCRC, Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.rtu, plc, errContains("crc"), true)
		}},
		{"reply split in pieces", "plc", FaultSpec{Kind: FaultSplit, Pieces: 4, Gap: conf.D(40 * time.Millisecond)}, func(t *testing.T) {
			start := time.Now()
			w, err := plc(f.tcp)
			mustOK(t, "split read", err)
			if d := time.Since(start); d < 120*time.Millisecond || len(w) != 9 {
				t.Errorf("answer in 4 pieces 40 ms apart: %d words after %v", len(w), d)
			}
		}},
		{"reply split in pieces on rtu-over-tcp", "plc-rtu", FaultSpec{Kind: FaultSplit, Pieces: 5, Gap: conf.D(20 * time.Millisecond)}, func(t *testing.T) {
			_, err := plc(f.rtu)
			mustOK(t, "split read", err)
		}},
		{"reply split slower than the timeout", "plc", FaultSpec{Kind: FaultSplit, Pieces: 3, Gap: conf.D(250 * time.Millisecond), Count: 1}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, noAnswer, true)
		}},
		// A reused connection reset before any byte of the reply is taken
		// for one the device closed while idle: the read is sent once
		// more on a new connection and costs no error.
		{"connection reset once", "plc", FaultSpec{Kind: FaultReset, Count: 1}, func(t *testing.T) {
			before := f.tcp.Stats()
			_, err := plc(f.tcp)
			mustOK(t, "read resent after one reset", err)
			if s := f.tcp.Stats(); s.Connects != before.Connects+1 || s.Errors != before.Errors {
				t.Errorf("stats %+v after %+v: want one more connect, no error", s, before)
			}
		}},
		{"connection reset twice", "plc", FaultSpec{Kind: FaultReset, Count: 2}, func(t *testing.T) {
			wantFailThenRecover(t, f.tcp, plc, notException, true)
		}},
		{"connections refused", "meter", FaultSpec{Kind: FaultRefuse, Stop: conf.D(500 * time.Millisecond)}, func(t *testing.T) {
			// The port refuses: the other unit behind it fails too. Reads
			// until one fails, within the fault's 500 ms (a loaded CI run
			// once saw the first read succeed; this asks that the fault
			// shows, not which read shows it first).
			var err error
			for deadline := time.Now().Add(400 * time.Millisecond); err == nil && time.Now().Before(deadline); {
				_, err = plc(f.tcp)
			}
			if err == nil {
				t.Fatal("every read succeeded on a refusing port")
			}
			t.Logf("gateway saw: %v", err)
			waitOK(t, func() error { _, err := plc(f.tcp); return err })
		}},
		{"power cycle", "meter", FaultSpec{Kind: FaultPowerCycle, Duration: conf.D(800 * time.Millisecond), Start: conf.D(100 * time.Millisecond)}, func(t *testing.T) {
			e0, err := f.energy(t)
			mustOK(t, "read before the power cut", err)
			m0 := f.model("meter", "energy_import")
			time.Sleep(150 * time.Millisecond)
			if _, err := f.energy(t); !bus.NoAnswer(err) {
				t.Fatalf("read while off: %v, want no answer", err)
			} else {
				t.Logf("gateway saw: %v", err)
			}
			var e1 float64
			waitOK(t, func() (err error) { e1, err = f.energy(t); return err })
			m1 := f.model("meter", "energy_import")
			// The model counted on while the meter was off; the meter did not.
			if e1 < e0 || e1-e0 > 0.5*(m1-m0) {
				t.Errorf("energy %.3f kWh before, %.3f after the power cycle; the model counted %.3f kWh meanwhile", e0, e1, m1-m0)
			}
			t.Logf("energy %.3f → %.3f kWh across the cycle; model +%.3f kWh", e0, e1, m1-m0)
		}},
		{"meter replacement", "meter", FaultSpec{Kind: FaultMeterReplacement, Start: conf.D(200 * time.Millisecond)}, func(t *testing.T) {
			e0, err := f.energy(t)
			mustOK(t, "read before", err)
			time.Sleep(300 * time.Millisecond)
			e1, err := f.energy(t)
			mustOK(t, "read after", err)
			if e0 < 1000 || e1 > 10 {
				t.Errorf("energy %.3f kWh before the replacement, %.3f after: want a drop to near zero", e0, e1)
			}
			time.Sleep(200 * time.Millisecond)
			if e2, err := f.energy(t); err != nil || e2 <= e1 {
				t.Errorf("new meter does not count: %.3f then %.3f kWh (%v)", e1, e2, err)
			}
			t.Logf("energy %.3f kWh → %.3f kWh: the raw drop reaches the gateway", e0, e1)
		}},
		{"stuck registers", "plc", FaultSpec{Kind: FaultStuck}, func(t *testing.T) {
			w0, err := plc(f.tcp)
			mustOK(t, "first read", err)
			time.Sleep(300 * time.Millisecond) // six updates, an hour of simulated time
			w1, err := plc(f.tcp)
			mustOK(t, "second read", err)
			if !slices.Equal(w0, w1) {
				t.Errorf("stuck registers changed: %04x then %04x", w0, w1)
			}
			if _, err := s.ClearFaults("plc", FaultStuck); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			w2, err := plc(f.tcp)
			mustOK(t, "read after clearing", err)
			if slices.Equal(w1, w2) {
				t.Errorf("registers still frozen after the fault was cleared: %04x", w2)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Connected before the fault, so a redial shows in the stats.
			_, err := f.plc(f.tcp)
			mustOK(t, "warm-up read", err)
			_, err = f.plc(f.rtu)
			mustOK(t, "warm-up read", err)
			if _, err := s.SetFault(tt.device, tt.fault); err != nil {
				t.Fatal(err)
			}
			defer s.ClearFaults(tt.device, "")
			tt.check(t)
			// Every fault is logged with its device and kind.
			pat := regexp.MustCompile(`msg="fault injected[^"]*" device=` + regexp.QuoteMeta(tt.device) + `\b.*fault=` + tt.fault.Kind + `\b`)
			if !pat.MatchString(s.log.String()) {
				t.Errorf("no log line matching %s", pat)
			}
		})
	}
}

// model is a device model's current value of a quantity.
func (f *faultFixture) model(device, quantity string) float64 {
	f.sim.mu.Lock()
	defer f.sim.mu.Unlock()
	return number(f.sim.byName[device].source.Quantities()[quantity])
}

// waitOK retries fn until it succeeds, for at most 5 s.
func waitOK(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 5 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScenarioFaultWindow: a fault from the scenario applies between its
// start and stop only.
func TestScenarioFaultWindow(t *testing.T) {
	t.Parallel()
	s := startText(t, `boilers: [{name: b1}]
update: 20ms
servers:
  - listen: 127.0.0.1:0
    devices:
      - name: plc
        unit_id: 1
        profile: szl-chain-grate-plc
        boiler: b1
        faults:
          - {kind: exception, code: 6, start: 300ms, stop: 700ms}
`)
	b := newBus(t, fwconfig.TCP, s.Addrs()[0], busTimeout)
	f := &faultFixture{}
	if _, err := f.plc(b); err != nil {
		t.Fatalf("before the window: %v", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := f.plc(b); exceptionCode(6)(err) != "" {
		t.Fatalf("inside the window: %v, want exception 6", err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := f.plc(b); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	for _, want := range []string{`msg="fault injected" device=plc fault=exception code=6`, `msg="fault ended" device=plc fault=exception`} {
		if !strings.Contains(s.log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// wrapProfile is a meter whose 5-digit energy register rolls over at
// 100000 kWh (raw 0.01 kWh in a uint32).
const wrapProfile = `name: meter-5digit
class: electricity_meter
source: test fixture
points:
  - {name: ep_import, quantity: energy_import, register: holding, address: 0, type: uint32, scale: 0.01, unit: kWh, counter: true, modulus: 100000}
  - {name: power, quantity: power_total, register: holding, address: 2, type: float32, unit: kW}
`

// TestCounterFaults: counter_wrap puts a counter with a modulus just under
// it, so it rolls over to 0 on the next increments, as a 5-digit register
// does; counter_reset restarts the counters from 0 (or a given reading).
// Both are device faults, applied once.
func TestCounterFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "meter-5digit.yaml"), []byte(wrapProfile), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startText(t, `seed: 3
acceleration: 600
update: 50ms
profile_dirs: [`+dir+`]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: m5, unit_id: 1, profile: meter-5digit, rated: 2000, load: {base: 0.9, amplitude: 0}}
      - {name: plain, unit_id: 2, profile: chint-dtsu666, rated: 100}
`)
	b := newBus(t, fwconfig.TCP, s.Addrs()[0], time.Second)
	ep := point(t, s.Simulator, "meter-5digit", "ep_import")
	energy := func() float64 {
		t.Helper()
		v, _, err := readPoint(b, 1, ep)
		mustOK(t, "read ep_import", err)
		return v.(float64)
	}
	// settle waits for the fault to be applied and spent (the next update).
	settle := func(device, kind string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			d, err := s.Device(device)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(d.Faults, func(f FaultStatus) bool { return f.Kind == kind }) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still pending: %+v", kind, d.Faults)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tests := []struct {
		name  string
		fault FaultSpec
		check func(t *testing.T, before float64)
	}{
		{"counter_wrap rolls over at the modulus", FaultSpec{Kind: FaultCounterWrap, Below: 50}, func(t *testing.T, before float64) {
			// 1800 kW at ×600: 15 kWh per 50 ms update.
			e1 := energy()
			if e1 < 99900 || e1 >= 100000 {
				t.Fatalf("after counter_wrap: %.2f kWh, want just under 100000", e1)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				e2 := energy()
				if e2 < e1 {
					if e2 > 1000 {
						t.Errorf("%.2f → %.2f kWh: want a roll-over to a small value", e1, e2)
					}
					t.Logf("%.2f kWh → %.2f kWh: the register wrapped (new + 100000 − previous = %.2f)", e1, e2, e2+100000-e1)
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no wrap within 5 s: %.2f then %.2f kWh", e1, e2)
				}
				e1 = e2
				time.Sleep(20 * time.Millisecond)
			}
		}},
		{"counter_reset restarts from 0", FaultSpec{Kind: FaultCounterReset}, func(t *testing.T, before float64) {
			e1 := energy()
			if e1 > 100 {
				t.Errorf("after counter_reset: %.2f kWh (before %.2f), want near 0", e1, before)
			}
			time.Sleep(200 * time.Millisecond)
			if e2 := energy(); e2 <= e1 {
				t.Errorf("reset meter does not count: %.2f then %.2f kWh", e1, e2)
			}
		}},
		{"counter_reset from a given reading", FaultSpec{Kind: FaultCounterReset, Value: ptr(5000.0)}, func(t *testing.T, before float64) {
			if e1 := energy(); e1 < 5000 || e1 > 5100 {
				t.Errorf("after counter_reset to 5000: %.2f kWh", e1)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := energy()
			if _, err := s.SetFault("m5", tt.fault); err != nil {
				t.Fatal(err)
			}
			settle("m5", tt.fault.Kind)
			tt.check(t, before)
			pat := regexp.MustCompile(`msg="fault injected[^"]*" device=m5\b.*fault=` + tt.fault.Kind + `\b`)
			if !pat.MatchString(s.log.String()) {
				t.Errorf("no log line matching %s", pat)
			}
		})
	}
	t.Run("counter_wrap without a modulus is not applied", func(t *testing.T) {
		st, err := s.SetFault("plain", FaultSpec{Kind: FaultCounterWrap})
		if err != nil {
			t.Fatal(err)
		}
		settle("plain", FaultCounterWrap)
		if !strings.Contains(s.log.String(), "no counter of the profile declares a modulus") {
			t.Errorf("no warning for %+v", st)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestCounterFaultSpecs: what counter_wrap and counter_reset accept.
func TestCounterFaultSpecs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec FaultSpec
		err  string
	}{
		{FaultSpec{Kind: FaultCounterWrap}, ""},
		{FaultSpec{Kind: FaultCounterWrap, Below: 10, Start: conf.D(1 * time.Second)}, ""},
		{FaultSpec{Kind: FaultCounterReset, Value: ptr(0.0)}, ""},
		{FaultSpec{Kind: FaultCounterWrap, Stop: conf.D(1 * time.Minute)}, "stop does not apply to kind counter_wrap"},
		{FaultSpec{Kind: FaultCounterReset, Stop: conf.D(1 * time.Minute)}, "stop does not apply to kind counter_reset"},
		{FaultSpec{Kind: FaultCounterWrap, Below: -1}, "below -1"},
		{FaultSpec{Kind: FaultCounterReset, Value: ptr(-5.0)}, "value -5"},
		{FaultSpec{Kind: FaultCounterWrap, Value: ptr(5.0)}, "value does not apply to kind counter_wrap"},
		{FaultSpec{Kind: FaultCounterReset, Below: 5}, "below does not apply to kind counter_reset"},
		{FaultSpec{Kind: FaultCounterReset, Count: 2}, "count does not apply to kind counter_reset"},
		{FaultSpec{Kind: FaultDelay, Delay: conf.D(1 * time.Second), Below: 5}, "below does not apply to kind delay"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s below %g stop %q count %d", tt.spec.Kind, tt.spec.Below, tt.spec.Stop, tt.spec.Count)
		if tt.spec.Value != nil {
			name += fmt.Sprintf(" value %g", *tt.spec.Value)
		}
		t.Run(name, func(t *testing.T) {
			_, err := tt.spec.parse(ProtocolTCP)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}
