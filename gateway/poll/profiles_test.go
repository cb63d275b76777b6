package poll

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/telemetry"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver"
	"github.com/boilerwatch/boilerwatch/simulator/mbserver/mbservertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// knownValues are plausible readings per quantity, so that a golden file
// reads like a boiler room and every value fits its register.
var knownValues = map[string]any{
	"voltage_a": 230.1, "voltage_b": 229.8, "voltage_c": 231.2,
	"current_a": 12.34, "current_b": 11.9, "current_c": 12.01,
	"active_power": 8.25, "reactive_power": 2.1, "power_factor": 0.95, "frequency": 50.01,
	"energy_import": 123456.7, "energy_export": 12.5,
	"steam_flow": 7.04, "steam_pressure": 1.05, "steam_temp": 185.3, "steam_total": 12345.6,
	"feedwater_temp": 20.5, "coal_feed": 1.188, "exhaust_temp": 159.2, "o2": 7.82,
	"co_ppm": 120.0, "load_pct": 75.5, "coal_total": 2345.6, "running": true, "alarm": false,
	"water_flow": 35.2, "supply_temp": 95.5, "return_temp": 70.25, "heat_power": 1032.5,
	"water_total": 4567.891, "heat_total": 987.654,
	"gas_total_work": 123456.7, "gas_total_std": 98765.4, "gas_flow_std": 152.3, "gas_flow_work": 45.6,
	"gas_temp": 21.7, "gas_pressure": 102.2,
	// Scale registers: PT ratio 10, CT ratio 20.
	"pt": 10.0, "ct": 20.0, "dp": 2.0,
	"status": 2.0, "pressure": 1013.0, "sensor_temp": 35.0, "density": 5.8, "vortex_freq": 123.4, "temp_diff": 25.25,
}

// valueFor is the engineering value a point is served with.
func valueFor(p *profile.Point, i int) any {
	numeric := p.Type != profile.Bool && p.Type != profile.String && !p.Register.IsBit()
	if v, ok := knownValues[p.QuantityName()]; ok {
		if _, isBool := v.(bool); !isBool || !numeric {
			return v
		}
	}
	switch {
	case p.Type == profile.Bool || p.Register.IsBit():
		return i%2 == 0
	case p.Type == profile.String:
		return "BW"
	}
	return 10 + float64(i)
}

// profileDevice serves one profile from a Bank filled through Encode.
func profileDevice(t testing.TB, prof *profile.Profile) (*mbserver.Bank, map[string]profile.Value) {
	t.Helper()
	var size mbserver.BankSize
	for _, p := range prof.Points {
		end := p.Address + p.Words()
		switch p.Register {
		case profile.Coil:
			size.Coils = max(size.Coils, end)
		case profile.Discrete:
			size.DiscreteInputs = max(size.DiscreteInputs, end)
		case profile.Holding:
			size.HoldingRegisters = max(size.HoldingRegisters, end)
		case profile.Input:
			size.InputRegisters = max(size.InputRegisters, end)
		}
	}
	bank := mbserver.NewBank(size)
	values := map[string]any{}
	for i := range prof.Points {
		values[prof.Points[i].Name] = valueFor(&prof.Points[i], i)
	}
	// What a correct poller must report: the served value as the registers
	// can hold it (rounded to a raw step), scaled by the served factors.
	want := map[string]profile.Value{}
	for i := range prof.Points {
		p := &prof.Points[i]
		factor, err := p.ScaleFrom.Factor(func(name string) (float64, error) {
			return values[name].(float64), nil
		})
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		words, err := p.EncodeWith(values[p.Name], factor)
		if err != nil {
			t.Fatalf("%s: encode %v: %v", p.Name, values[p.Name], err)
		}
		if want[p.Name], err = p.DecodeWith(words, factor); err != nil {
			t.Fatalf("%s: decode: %v", p.Name, err)
		}
		table := map[profile.RegisterType]mbserver.Table{profile.Coil: mbserver.Coils, profile.Discrete: mbserver.DiscreteInputs,
			profile.Holding: mbserver.HoldingRegisters, profile.Input: mbserver.InputRegisters}[p.Register]
		switch {
		case p.Register.IsBit():
			err = bank.SetBits(table, uint16(p.Address), []bool{words[0] != 0})
		case p.Type == profile.Bool:
			// Bits of one register share it.
			cur, _ := bank.Registers(table, uint16(p.Address), 1)
			err = bank.SetRegisters(table, uint16(p.Address), []uint16{cur[0] | words[0]})
		default:
			err = bank.SetRegisters(table, uint16(p.Address), words)
		}
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	return bank, want
}

// Every profile of the library, end to end: served by an mbserver over a
// real socket, polled by poll.Device with its own plan, every value equal to
// what was served, and the whole sample as in testdata/profiles/<name>.txt.
func TestProfileLibraryEndToEnd(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range lib.Names() {
		t.Run(name, func(t *testing.T) {
			prof := lib[name]
			bank, want := profileDevice(t, prof)
			addr := mbservertest.Start(t, mbservertest.Options{Devices: mbservertest.Units(bank, 7)}).Addr
			cfg := loadSite(t, nil, fmt.Sprintf("  - {name: dev, profile: %s, address: %q, unit_id: 7, timeout: 2s}\n", name, addr))
			site := NewSite(cfg, SiteOptions{}, quiet)
			runBuses(t, site)
			d := site.Devices[0]
			s := d.Poll(context.Background())
			if len(s.Values) != len(prof.Points) {
				t.Errorf("%d values, want %d", len(s.Values), len(prof.Points))
			}
			for _, p := range prof.Points {
				v := s.Values[p.Name]
				if v.Q != telemetry.Good || v.Any() != want[p.Name].Any() || v.Reset {
					t.Errorf("%s: got %+v, want %v", p.Name, v, want[p.Name])
				}
			}
			if st := d.State().State; st != Online {
				t.Errorf("state %s", st)
			}
			golden(t, filepath.Join("testdata", "profiles", name+".txt"), describeSample(d, s))
		})
	}
}

func describeSample(d *Device, s telemetry.Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s class %s: %d groups, %d requests\n", s.Profile, s.Class, d.Groups(), len(d.Plan()))
	for _, r := range d.Plan() {
		var names []string
		for _, p := range r.Points {
			names = append(names, p.Name)
		}
		fmt.Fprintf(&b, "  read %s %d+%d: %s\n", r.Register, r.Start, r.Count, strings.Join(names, " "))
	}
	keys := make([]string, 0, len(s.Values))
	for k := range s.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s.Values[k]
		fmt.Fprintf(&b, "%s = %v (%s)\n", k, v, v.Q)
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./gateway/poll -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
