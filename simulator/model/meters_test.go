package model

import (
	"math"
	"testing"
	"time"
)

var day0 = time.Date(2026, 1, 15, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

// vocabulary is the quantity vocabulary agreed with the profile library,
// per device class.
var vocabulary = map[string][]string{
	"boiler": {"steam_flow", "steam_pressure", "steam_temp", "feedwater_temp", "feedwater_flow", "coal_feed", "exhaust_temp",
		"o2", "co_ppm", "load_pct", "steam_total", "coal_total", "drum_level", "furnace_pressure", "running", "alarm"},
	"electricity_meter": {"voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c", "active_power",
		"reactive_power", "power_factor", "frequency", "energy_import", "energy_export"},
	"steam_meter": {"steam_flow", "steam_pressure", "steam_temp", "steam_total", "heat_flow", "heat_total"},
	"heat_meter":  {"supply_temp", "return_temp", "water_flow", "heat_power", "heat_total", "water_total"},
	"gas_meter":   {"gas_flow_std", "gas_flow_work", "gas_pressure", "gas_temp", "gas_total_std", "gas_total_work"},
	"water_meter": {"water_flow", "water_total"},
	"o2_analyzer": {"o2", "cell_temp"},
}

// models builds every model, on a boiler and on its own.
func models(t *testing.T) (*Boiler, map[string]Source) {
	t.Helper()
	b, err := NewBoiler(DefaultBoiler(), 1, day0)
	if err != nil {
		t.Fatal(err)
	}
	on := MeterParams{Boiler: b, Seed: 2, Start: day0}
	own := MeterParams{Seed: 3, Start: day0}
	return b, map[string]Source{
		"boiler":                  NewBoilerInstruments(b, 4, day0),
		"electricity_meter":       NewElectricityMeter(on),
		"electricity_meter (own)": NewElectricityMeter(own),
		"steam_meter":             NewSteamMeter(on),
		"steam_meter (own)":       NewSteamMeter(own),
		"heat_meter":              NewHeatMeter(own),
		"gas_meter":               NewGasMeter(own),
		"water_meter":             NewWaterMeter(on),
		"water_meter (own)":       NewWaterMeter(own),
		"o2_analyzer":             NewO2Analyzer(b, 5, day0),
	}
}

func classOf(name string) string {
	if i := len(name) - len(" (own)"); i > 0 && name[i:] == " (own)" {
		return name[:i]
	}
	return name
}

// TestVocabulary: every model serves every quantity of its class, as a
// finite number or a bool.
func TestVocabulary(t *testing.T) {
	t.Parallel()
	_, ms := models(t)
	for name, m := range ms {
		q := m.Quantities()
		for _, want := range vocabulary[classOf(name)] {
			switch v := q[want].(type) {
			case float64:
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s: %s = %v", name, want, v)
				}
			case bool:
			default:
				t.Errorf("%s: quantity %s missing or %T", name, want, q[want])
			}
		}
	}
}

// TestADay steps every model through a simulated day: counters only grow,
// and values stay in plausible ranges.
func TestADay(t *testing.T) {
	t.Parallel()
	b, ms := models(t)
	ranges := map[string][2]float64{
		"voltage_a": {200, 260}, "power_factor": {0.7, 1}, "frequency": {49.8, 50.2},
		"steam_pressure": {0.3, 1.6}, "steam_temp": {140, 205},
		"supply_temp": {40, 100}, "return_temp": {30, 90}, "gas_pressure": {250, 350}, "gas_temp": {0, 30},
		"o2": {3, 14}, "cell_temp": {690, 710}, "drum_level": {-100, 100}, "furnace_pressure": {-80, 20},
	}
	counters := []string{"steam_total", "coal_total", "energy_import", "heat_total", "water_total", "gas_total_std", "gas_total_work"}
	last := map[string]float64{}
	for at := day0; !at.After(day0.Add(24 * time.Hour)); at = at.Add(time.Minute) {
		b.Step(at)
		for name, m := range ms {
			m.Step(at)
			q := m.Quantities()
			for k, r := range ranges {
				if v, ok := q[k].(float64); ok && (v < r[0] || v > r[1]) {
					t.Fatalf("%s at %s: %s = %v, outside %v", name, at.Format("15:04"), k, v, r)
				}
			}
			for _, c := range counters {
				v, ok := q[c].(float64)
				if !ok {
					continue
				}
				key := name + "/" + c
				if prev, seen := last[key]; seen && v < prev {
					t.Fatalf("%s at %s: %s fell from %v to %v", name, at.Format("15:04"), c, prev, v)
				}
				last[key] = v
			}
		}
	}
	// The heat meter's energy balance: power = flow × ρ × cp × ΔT.
	q := ms["heat_meter"].Quantities()
	dT := q["supply_temp"].(float64) - q["return_temp"].(float64)
	if p, want := q["heat_power"].(float64), q["water_flow"].(float64)*hotWaterDensity/3600*waterCp*dT; math.Abs(p-want) > 1e-9*want {
		t.Errorf("heat power %v kW, flow and ΔT give %v", p, want)
	}
	// The corrector: reference volume from line volume, pressure and temperature.
	q = ms["gas_meter"].Quantities()
	if std, want := q["gas_flow_std"].(float64), q["gas_flow_work"].(float64)*q["gas_pressure"].(float64)/101.325*293.15/(273.15+q["gas_temp"].(float64)); math.Abs(std-want) > 1e-9*want {
		t.Errorf("std flow %v, want %v", std, want)
	}
}

// TestMetersOnABoiler: meters placed on a boiler read that boiler.
func TestMetersOnABoiler(t *testing.T) {
	t.Parallel()
	b, ms := models(t)
	for at := day0; at.Before(day0.Add(3 * time.Hour)); at = at.Add(10 * time.Minute) {
		b.Step(at)
		for _, m := range ms {
			m.Step(at)
		}
		bq := b.Quantities()
		flow := bq["steam_flow"].(float64)
		if got := ms["steam_meter"].Quantities()["steam_flow"]; got != flow {
			t.Fatalf("steam meter %v t/h, boiler %v", got, flow)
		}
		if got := ms["o2_analyzer"].Quantities()["o2"]; got != bq["o2"] {
			t.Fatalf("O2 analyzer %v %%, boiler %v", got, bq["o2"])
		}
		if got, want := ms["water_meter"].Quantities()["water_flow"].(float64), flow*(1+blowdown)*1000/coldDensity; math.Abs(got-want) > 1e-9 {
			t.Fatalf("feedwater meter %v m³/h, want %v", got, want)
		}
		if got := ms["boiler"].Quantities()["feedwater_flow"].(float64); math.Abs(got-flow*(1+blowdown)) > 1e-9 {
			t.Fatalf("PLC feedwater %v t/h for %v t/h of steam", got, flow)
		}
	}
}

func TestDailyLoad(t *testing.T) {
	t.Parallel()
	l := DailyLoad{Base: 0.6, Amplitude: 0.3, PeakHour: 14}
	tests := []struct {
		hour float64
		want float64
	}{{14, 0.9}, {2, 0.3}, {8, 0.6}, {20, 0.6}}
	for _, tt := range tests {
		at := day0.Add(time.Duration(tt.hour * float64(time.Hour)))
		if got := l.At(at); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("At(%v h) = %v, want %v", tt.hour, got, tt.want)
		}
	}
}

// TestCoalChange: from a delivery of poorer coal on, the same steam costs
// more coal.
func TestCoalChange(t *testing.T) {
	t.Parallel()
	p := DefaultBoiler()
	q := p
	q.CoalChanges = []CoalChange{{From: day0.Add(time.Hour), LHV: 16000}}
	a, err := NewBoiler(p, 9, day0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBoiler(q, 9, day0)
	if err != nil {
		t.Fatal(err)
	}
	at := day0.Add(30 * time.Minute)
	a.Step(at)
	b.Step(at)
	if fa, fb := a.Quantities()["coal_feed"], b.Quantities()["coal_feed"]; fa != fb {
		t.Errorf("before the delivery: coal feed %v and %v, want equal", fa, fb)
	}
	at = day0.Add(2 * time.Hour)
	a.Step(at)
	b.Step(at)
	fa, fb := a.Quantities()["coal_feed"].(float64), b.Quantities()["coal_feed"].(float64)
	if ratio := fb / fa; ratio < 1.15 || ratio > 1.4 {
		t.Errorf("after LHV 20000 → 16000 kJ/kg: coal feed ×%.3f, want about ×1.25", ratio)
	}
	if sa, sb := a.Quantities()["steam_flow"], b.Quantities()["steam_flow"]; sa != sb {
		t.Errorf("steam %v and %v: the coal must not change the load", sa, sb)
	}
}

// TestBoilerLoadProfile: a scenario's load profile drives the boiler.
func TestBoilerLoadProfile(t *testing.T) {
	t.Parallel()
	p := DefaultBoiler()
	p.Load = DailyLoad{Base: 0.5, Amplitude: 0.3, PeakHour: 3}
	b, err := NewBoiler(p, 1, day0)
	if err != nil {
		t.Fatal(err)
	}
	var night, day float64
	for at := day0; at.Before(day0.Add(24 * time.Hour)); at = at.Add(10 * time.Minute) {
		b.Step(at)
		switch h := at.Hour(); {
		case h >= 1 && h < 5:
			night += b.Load()
		case h >= 13 && h < 17:
			day += b.Load()
		}
	}
	if night <= day {
		t.Errorf("load peaking at 03:00: night sum %v <= afternoon sum %v", night, day)
	}
}
