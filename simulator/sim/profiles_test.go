package sim

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	fwconfig "github.com/boilerwatch/boilerwatch/firmware-config"
	"github.com/boilerwatch/boilerwatch/firmware-config/profile"
	"github.com/boilerwatch/boilerwatch/gateway/bus"
)

// testProfiles are extra profiles (every device class, scale_from, bits,
// holes) beside the built-in library.
const testProfiles = "testdata/profiles"

// profileScenario serves one device of the profile, frozen (update: 1h)
// so what is read is what the models held at the start.
func profileScenario(pr *profile.Profile, holes string) string {
	boiler := "boiler: b1, "
	if ownModel[pr.Class] {
		boiler = ""
	}
	return fmt.Sprintf(`seed: 11
update: 1h
profile_dirs: [%s]
boilers: [{name: b1}]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: dev, unit_id: 7, profile: %s, %sholes: %s}
`, testProfiles, pr.Name, boiler, holes)
}

// readDecoded reads a point as the gateway would, scale_from included.
func readDecoded(t *testing.T, b *bus.Bus, pr *profile.Profile, p *profile.Point) (any, []uint16) {
	t.Helper()
	w, err := read(b, 7, p.Register, p.Address, p.Words())
	if err != nil {
		t.Fatalf("point %s: %v", p.Name, err)
	}
	factor, err := p.ScaleFrom.Factor(func(name string) (float64, error) {
		v, _ := readDecoded(t, b, pr, pr.Point(name))
		return v.(float64), nil
	})
	if err != nil {
		t.Fatalf("point %s: scale_from: %v", p.Name, err)
	}
	v, err := p.DecodeWith(w, factor)
	if err != nil {
		t.Fatalf("point %s: decode % x: %v", p.Name, w, err)
	}
	return v.Any(), w
}

// TestEveryProfile serves every profile of the library (and the test
// profiles) from the profile alone and checks each point against the model
// behind it: what the gateway decodes is what the model holds.
func TestEveryProfile(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary(testProfiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range lib.Names() {
		pr := lib[name]
		t.Run(name, func(t *testing.T) {
			s := startText(t, profileScenario(pr, HolesStrict))
			b := newBus(t, fwconfig.TCP, s.Addrs()[0], time.Second)
			d := s.byName["dev"]
			s.mu.Lock()
			q := d.source.Quantities()
			s.mu.Unlock()
			modelled := 0
			for i := range pr.Points {
				p := &pr.Points[i]
				got, words := readDecoded(t, b, pr, p)
				want, ok := q[p.QuantityName()]
				if !ok {
					if _, isScale := d.scaleDefault[p.Name]; isScale {
						continue // a neutral scale; checked through its target
					}
					// Unwired: the registers read zero.
					for _, w := range words {
						if w != 0 {
							t.Errorf("%s (quantity %s, not modelled): registers % x, want zeros", p.Name, p.QuantityName(), words)
						}
					}
					continue
				}
				modelled++
				switch want := want.(type) {
				case bool:
					if got != want {
						t.Errorf("%s: %v, model %v", p.Name, got, want)
					}
				case float64:
					// Within the raw step, float32 precision, and the
					// per-read noise of a few quantities (frequency).
					tol := math.Abs(p.ScaleFactor()) + 1e-6*math.Abs(want) + 0.1
					if g, ok := got.(float64); !ok || math.Abs(g-want) > tol {
						t.Errorf("%s (quantity %s): read %v, model %v", p.Name, p.QuantityName(), got, want)
					}
				}
			}
			if modelled == 0 {
				t.Errorf("none of the quantities of %s (class %s) is modelled: check the quantity names", name, pr.Class)
			}
		})
	}
}

// TestStrictMap: a read touching an address no point or area covers
// answers exception 2 by default, and zeros with holes: zero; a profile's
// areas are served whole.
func TestStrictMap(t *testing.T) {
	t.Parallel()
	lib, err := profile.LoadLibrary(testProfiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range lib.Names() {
		pr := lib[name]
		t.Run(name, func(t *testing.T) {
			strict := startText(t, profileScenario(pr, HolesStrict))
			zero := startText(t, profileScenario(pr, HolesZero))
			bs := newBus(t, fwconfig.TCP, strict.Addrs()[0], time.Second)
			bz := newBus(t, fwconfig.TCP, zero.Addrs()[0], time.Second)
			cover := strict.byName["dev"].cover
			checked := 0
			for ti, spans := range cover {
				if len(spans) == 0 {
					continue
				}
				reg := registerOf(mbserverTable(ti))
				// Just past the last point: outside the map either way.
				if end := spans[len(spans)-1].hi; end < 1<<16 {
					if _, err := read(bs, 7, reg, end, 1); exceptionCode(2)(err) != "" {
						t.Errorf("%s %d (past the map): %v, want exception 2", reg, end, err)
					}
					checked++
				}
				// Across each hole: exception 2 when strict, zeros when not.
				for i := 0; i+1 < len(spans); i++ {
					lo, n := spans[i].hi-1, 2
					if _, err := read(bs, 7, reg, lo, n); exceptionCode(2)(err) != "" {
						t.Errorf("%s %d+%d (into a hole): %v, want exception 2", reg, lo, n, err)
					}
					w, err := read(bz, 7, reg, lo, n)
					if err != nil || w[1] != 0 {
						t.Errorf("holes: zero, %s %d+%d: % x, %v; want the hole to read 0", reg, lo, n, w, err)
					}
					checked++
				}
				// A read exactly covering a span is served.
				sp := spans[0]
				if n := min(sp.hi-sp.lo, 125); n > 0 {
					if _, err := read(bs, 7, reg, sp.lo, n); err != nil {
						t.Errorf("%s %d+%d (mapped): %v", reg, sp.lo, n, err)
					}
				}
			}
			// The areas the manual says the device answers are served whole
			// on a strict map, registers no point names included.
			for _, a := range pr.Areas {
				for lo := a.From; lo < a.End(); lo += 125 {
					n := min(a.End()-lo, 125)
					if _, err := read(bs, 7, a.Register, lo, n); err != nil {
						t.Errorf("area %s %d+%d: %v, want it served", a.Register, lo, n, err)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("nothing checked")
			}
		})
	}
}

// TestDevicesAgree: meters on a boiler read that boiler.
func TestDevicesAgree(t *testing.T) {
	t.Parallel()
	s := startText(t, `seed: 5
update: 1h
profile_dirs: [`+testProfiles+`]
boilers: [{name: b1, rated_steam: 20}]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: plc, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: steam, unit_id: 2, profile: simtest-steam-meter, boiler: b1}
      - {name: o2, unit_id: 3, profile: simtest-o2, boiler: b1}
      - {name: feed, unit_id: 4, profile: simtest-water-meter, boiler: b1}
      - {name: fans, unit_id: 5, profile: chint-dtsu666, boiler: b1}
`)
	b := newBus(t, fwconfig.TCP, s.Addrs()[0], time.Second)
	get := func(unit byte, profile, pt string) float64 {
		t.Helper()
		p := point(t, s.Simulator, profile, pt)
		v, _, err := readPoint(b, unit, p)
		if err != nil {
			t.Fatalf("%s.%s: %v", profile, pt, err)
		}
		return v.(float64)
	}
	plcFlow := get(1, "szl-chain-grate-plc", "steam_flow")
	tests := []struct {
		what      string
		got, want float64
		tol       float64
	}{
		{"steam meter flow = boiler steam output", get(2, "simtest-steam-meter", "flow"), plcFlow, 0.01},
		{"steam meter pressure = boiler pressure", get(2, "simtest-steam-meter", "pressure"), get(1, "szl-chain-grate-plc", "steam_pressure"), 0.001},
		{"O2 analyzer = boiler O2", get(3, "simtest-o2", "o2"), get(1, "szl-chain-grate-plc", "o2"), 0.01},
		{"feedwater = steam + 2 % blowdown, in m³", get(4, "simtest-water-meter", "flow"), plcFlow * 1.02 * 1000 / 998, 0.02},
		{"fan power follows the load (6.5 kWh/t)", get(5, "chint-dtsu666", "p_total"), 6.5 * plcFlow, 3},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want) > tt.tol {
			t.Errorf("%s: %v, want %v ± %v", tt.what, tt.got, tt.want, tt.tol)
		}
	}
	if plcFlow < 5 || plcFlow > 22 {
		t.Errorf("boiler steam flow %v t/h for a 20 t/h boiler", plcFlow)
	}
}

// TestRecordFormat: the record file keeps the fields the end-to-end tests
// read (t, device, values, raw).
func TestRecordFormat(t *testing.T) {
	t.Parallel()
	sc, err := loadText(t, `boilers: [{name: b1}]
servers:
  - listen: 127.0.0.1:0
    devices: [{name: plc, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}]
`)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/served.jsonl"
	rec, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	s := startScenario(t, sc, rec)
	b := newBus(t, fwconfig.TCP, s.Addrs()[0], time.Second)
	w, err := read(b, 1, profile.Holding, 100, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(strings.TrimSpace(data), "\n", 2)[0]
	for _, key := range []string{`"t":`, `"device":"plc"`, `"values":{`, `"raw":{`, `"steam_total":[`} {
		if !strings.Contains(line, key) {
			t.Errorf("record line lacks %s: %s", key, line)
		}
	}
	recs, err := ReadRecords(strings.NewReader(data))
	if err != nil || len(recs) != 1 {
		t.Fatalf("ReadRecords: %d records, %v", len(recs), err)
	}
	if got := recs[0].Raw["steam_total"]; len(got) != 2 || got[0] != w[0] || got[1] != w[1] {
		t.Errorf("recorded raw %v, served %v", got, w[:2])
	}
}
