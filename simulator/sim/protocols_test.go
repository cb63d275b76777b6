package sim

import (
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/servicetest"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
)

// TestProtocols serves the same devices over Modbus TCP, RTU over TCP and
// RTU on a pseudo-terminal, and reads them with the gateway's buses.
func TestProtocols(t *testing.T) {
	t.Parallel()
	simEnd, gwEnd := servicetest.PtyPair(t)
	s := startText(t, fmt.Sprintf(`seed: 2
update: 1h
boilers: [{name: b1}]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: plc-tcp, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter-tcp, unit_id: 2, profile: chint-dtsu666, boiler: b1}
  - listen: 127.0.0.1:0
    protocol: rtu-over-tcp
    devices:
      - {name: plc-rot, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter-rot, unit_id: 2, profile: chint-dtsu666, boiler: b1}
  - protocol: rtu
    device: %s
    baud: 9600
    parity: none
    frame_gap: 2ms     # a pseudo-terminal delivers each write at once
    devices:
      - {name: plc-rtu, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter-rtu, unit_id: 2, profile: chint-dtsu666, boiler: b1}
`, simEnd))
	addrs := s.Addrs()
	buses := []struct {
		name string
		b    *bus.Bus
	}{
		{"tcp", newBus(t, fwconfig.TCP, addrs[0], 500*time.Millisecond)},
		{"rtu-over-tcp", newBus(t, fwconfig.RTUOverTCP, addrs[1], 500*time.Millisecond)},
		{"rtu", newBus(t, fwconfig.RTU, gwEnd, 500*time.Millisecond)},
	}
	steam := point(t, s.Simulator, "szl-chain-grate-plc", "steam_flow")
	energy := point(t, s.Simulator, "chint-dtsu666", "ep_import")
	for _, bb := range buses {
		t.Run(bb.name, func(t *testing.T) {
			b := bb.b
			// Frozen models: every server holds the same boiler's values.
			v, _, err := readPoint(b, 1, steam)
			if err != nil || math.Abs(v.(float64)-s.boilerValue("b1", "steam_flow")) > 0.01 {
				t.Errorf("steam flow %v (%v), boiler %v", v, err, s.boilerValue("b1", "steam_flow"))
			}
			if e, _, err := readPoint(b, 2, energy); err != nil || e.(float64) < 1000 {
				t.Errorf("energy %v, %v", e, err)
			}
			if _, err := read(b, 1, profile.Coil, 0, 1); err != nil {
				t.Errorf("coil: %v", err)
			}
			// A conforming device: exception 2 past the map, 3 for an
			// oversized read, and silence for a unit that is not there.
			if _, err := read(b, 1, profile.Input, 9, 1); exceptionCode(2)(err) != "" {
				t.Errorf("past the map: %v, want exception 2", err)
			}
			if _, err := read(b, 9, profile.Input, 0, 1); noAnswer(err) != "" {
				t.Errorf("absent unit: %v, want no answer", err)
			}
			if _, _, err := readPoint(b, 1, steam); err != nil {
				t.Errorf("after the silent unit: %v", err)
			}
		})
	}
	out := &strings.Builder{}
	s.Describe(out)
	for _, want := range []string{
		"modbus tcp 127.0.0.1:", "modbus rtu-over-tcp 127.0.0.1:", "modbus rtu " + simEnd + ", 9600 baud, 8N1, frame gap 2ms",
		"unit   1  plc-rtu      profile szl-chain-grate-plc (boiler, ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, out)
		}
	}
}

func (s *Simulator) boilerValue(name, q string) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return number(s.boilers[name].Quantities()[q])
}

// TestLoad500 starts the shipped 500-device scenario (on ephemeral ports)
// and reads one register of every device.
func TestLoad500(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("500 devices")
	}
	sc, err := LoadScenario("../scenarios/load-500.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range sc.Servers {
		sc.Servers[i].Listen = "127.0.0.1:0"
	}
	start := time.Now()
	s := startScenario(t, sc, nil)
	if n := len(s.devices); n < 500 {
		t.Fatalf("%d devices, want at least 500", n)
	}
	t.Logf("%d devices on %d ports started in %v", len(s.devices), len(s.servers), time.Since(start))
	start = time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, srv := range s.servers {
		b := newBus(t, fwconfig.TCP, srv.address(), 2*time.Second)
		wg.Go(func() {
			for _, d := range srv.devices {
				p := d.cfg.Spec.Points[0]
				if _, err := read(b, byte(d.cfg.UnitID), p.Register, p.Address, 1); err != nil {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %v", d.cfg.Name, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d of %d reads failed, e.g. %s", len(failed), len(s.devices), failed[0])
	}
	t.Logf("read one register of each of %d devices in %v", len(s.devices), time.Since(start))
}

// BenchmarkSimulator measures Modbus TCP requests served by the simulator
// with profile-backed devices (strict maps, fault hooks, models stepping
// every 200 ms) and recording off: FC 4 reads of the PLC's 9 measurements
// from parallel connections that each wait for their answer.
func BenchmarkSimulator(b *testing.B) {
	var devs strings.Builder
	for u := 1; u <= 20; u++ {
		fmt.Fprintf(&devs, "      - {name: plc%d, unit_id: %d, profile: szl-chain-grate-plc, boiler: b1}\n", u, u)
		fmt.Fprintf(&devs, "      - {name: meter%d, unit_id: %d, profile: chint-dtsu666, boiler: b1}\n", u, 100+u)
	}
	sc, err := loadText(b, "boilers: [{name: b1}]\nservers:\n  - listen: 127.0.0.1:0\n    devices:\n"+devs.String())
	if err != nil {
		b.Fatal(err)
	}
	s := startScenario(b, sc, nil)
	addr := s.Addrs()[0]
	b.SetParallelism(4) // 4 × GOMAXPROCS connections
	b.ReportAllocs()
	start := time.Now()
	var unit sync.Mutex
	next := byte(0)
	b.RunParallel(func(pb *testing.PB) {
		unit.Lock()
		next = next%20 + 1
		u := next
		unit.Unlock()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		req := []byte{0, 1, 0, 0, 0, 6, u, 4, 0, 0, 0, 9}
		var buf [7 + 2 + 18]byte
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if _, err := readFull(c, buf[:]); err != nil {
				b.Error(err)
				return
			}
			if buf[7] != 4 || buf[8] != 18 {
				b.Errorf("answer % x", buf)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

func readFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
