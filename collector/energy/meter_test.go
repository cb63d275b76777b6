package energy

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/steam"
)

func TestCounter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name     string
		readings [][2]float64 // seconds, value
		minute   int
		want     Bucket
	}{
		{"even spread", [][2]float64{{0, 100}, {60, 106}}, 0, Bucket{Delta: 6, Covered: 1}},
		{"split across minutes", [][2]float64{{30, 100}, {90, 106}}, 0, Bucket{Delta: 3, Covered: 0.5}},
		{"split, second minute", [][2]float64{{30, 100}, {90, 106}}, 1, Bucket{Delta: 3, Covered: 0.5}},
		{"reset counts from the new value", [][2]float64{{0, 100}, {30, 101}, {60, 2}, {90, 5}}, 1, Bucket{Delta: 3, Covered: 0.5, Resets: 1}},
		{"gap booked at its end", [][2]float64{{0, 100}, {3600, 160}}, 60, Bucket{Delta: 60, Gaps: 1}},
		{"nothing spread into a gap", [][2]float64{{0, 100}, {3600, 160}}, 30, Bucket{}},
		{"duplicates and old readings ignored", [][2]float64{{0, 100}, {30, 103}, {30, 103}, {20, 50}, {60, 106}}, 0, Bucket{Delta: 6, Covered: 1}},
		// 100000 → 99999.99 → 100000 used nothing: the baseline stays at
		// the higher reading, so the rebound is not booked.
		{"float32 jitter is not a reset", [][2]float64{{0, 100000}, {30, 99999.99}, {60, 100000}}, 0, Bucket{Covered: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Counter{MaxGap: 5 * time.Minute}
			for _, r := range tc.readings {
				c.Add(Sample{T: at(int(r[0])), V: r[1]})
			}
			got := c.Take(t0.Add(time.Duration(tc.minute) * time.Minute))
			if math.Abs(got.Delta-tc.want.Delta) > 1e-9 || math.Abs(got.Covered-tc.want.Covered) > 1e-9 || got.Resets != tc.want.Resets || got.Gaps != tc.want.Gaps {
				t.Errorf("minute %d: %+v, want %+v", tc.minute, got, tc.want)
			}
		})
	}
}

const metersYAML = `
    - {name: coal, site: plant-t, device: b1, point: coal_total, energy_type: coal, unit: t, interval: 1m, lhv_from: b1}
    - {name: coal-noassay, site: plant-t, device: b1, point: coal_total, energy_type: coal, unit: t, interval: 1m}
    - {name: power, site: plant-t, device: m1, point: ep, energy_type: electricity, unit: kWh, interval: 1m}
    - {name: water, site: plant-t, device: m1, point: water, energy_type: water, unit: m3, interval: 1m}
    - {name: steam, site: plant-t, device: b1, point: steam_total, energy_type: steam, unit: t, interval: 1m,
       steam: {pressure: {device: b1, point: steam_pressure}, reference_c: 20}}
    - {name: steam-ref, site: plant-t, device: b1, point: steam_total, energy_type: steam, unit: t, interval: 1m}
`

// TestMeterDay accounts one local day of constant consumption read every
// minute, with one missing hour of readings, and checks the kgce of each
// conversion and the day's completeness.
func TestMeterDay(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "", fmt.Sprintf(boilerYAML, "b1"), metersYAML)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	// Rates per hour: 1.2 t coal, 60 kWh, 2 m³ water, 8 t steam at 1.0 MPa(g).
	rates := map[Key]float64{{"b1", "coal_total"}: 1.2, {"m1", "ep"}: 60, {"m1", "water"}: 2, {"b1", "steam_total"}: 8}
	d := Data{}
	for t := day.Add(-time.Minute); !t.After(day.Add(24 * time.Hour)); t = t.Add(time.Minute) {
		if h := t.Sub(day).Hours(); h >= 10 && h < 11 {
			continue // an hour without readings: its consumption lands at 11:00
		}
		for k, r := range rates {
			d[k] = append(d[k], Sample{T: t, V: 1000 + r*t.Sub(day).Hours()})
		}
		d[Key{"b1", "steam_pressure"}] = append(d[Key{"b1", "steam_pressure"}], Sample{T: t, V: 1.0})
	}
	var out Output
	for _, m := range e.Meters {
		m.Start(day)
		m.Advance(day.Add(24*time.Hour), d, &out)
	}
	e.Relate(&out)
	days := map[string]MeterResult{}
	quarters := 0
	for _, r := range out.Energy {
		switch r.Period {
		case Day:
			days[r.Meter] = r
		case Quarter:
			quarters++
		}
	}
	if quarters != 96*len(e.Meters) {
		t.Errorf("%d quarter-hour results, want %d", quarters, 96*len(e.Meters))
	}
	pAbs := steam.GaugeToAbsoluteMPa(1.0)
	hs, _ := steam.SaturatedSteamEnthalpy(pAbs)
	hw, _ := steam.WaterEnthalpy(pAbs, 20)
	steamDH := hs - hw
	tests := []struct {
		meter            string
		native, kgce     float64
		primary          float64
		resets, gaps     int
		completenessOver float64
	}{
		{"coal", 28.8, 28.8 * 1000 * 20000 / 29307.6, 0, 0, 1, 95},
		{"coal-noassay", 28.8, 28.8 * 1000 * 0.7143, 0, 0, 1, 95},
		{"power", 1440, 1440 * 0.1229, 1440 * 0.3, 0, 1, 95},
		{"water", 48, 48 * 0.0857, 0, 0, 1, 95},
		{"steam", 192, 192 * 1000 * steamDH / 29307.6, 0, 0, 1, 95},
		{"steam-ref", 192, 192 * 1000 * 0.1286, 0, 0, 1, 95},
	}
	for _, tc := range tests {
		r, ok := days[tc.meter]
		if !ok {
			t.Errorf("%s: no day result", tc.meter)
			continue
		}
		if !r.Start.Equal(day) {
			t.Errorf("%s: day starts %s, want local midnight", tc.meter, r.Start)
		}
		if math.Abs(r.Native-tc.native) > 1e-6*tc.native || math.Abs(r.Kgce-tc.kgce) > 2e-4*tc.kgce {
			t.Errorf("%s: native %.4f kgce %.3f, want %.4f and %.3f", tc.meter, r.Native, r.Kgce, tc.native, tc.kgce)
		}
		if tc.primary > 0 && (!r.HasPrimary || math.Abs(r.KgcePrimary-tc.primary) > 1e-6) {
			t.Errorf("%s: primary %.3f (%v), want %.3f", tc.meter, r.KgcePrimary, r.HasPrimary, tc.primary)
		}
		if r.Resets != tc.resets || r.Gaps != tc.gaps {
			t.Errorf("%s: resets %d gaps %d, want %d %d", tc.meter, r.Resets, r.Gaps, tc.resets, tc.gaps)
		}
		// 1440 expected, 60 missing: 95.8 %.
		if c := r.Completeness(); c < tc.completenessOver || c > 96 {
			t.Errorf("%s: completeness %.1f %%", tc.meter, c)
		}
	}
	if len(out.Intensity) != 0 {
		t.Errorf("no boiler has unit_consumption, got %d intensities", len(out.Intensity))
	}
}

// TestUnitConsumption relates coal and steam meters: kgce per t of steam.
func TestUnitConsumption(t *testing.T) {
	t.Parallel()
	b := fmt.Sprintf(boilerYAML, "b1") + "      unit_consumption: {energy: [coal], product: steam-ref}\n"
	e, err := New(testConfig(t, "", b, metersYAML))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	d := Data{}
	for t := day.Add(-time.Minute); !t.After(day.Add(time.Hour)); t = t.Add(30 * time.Second) {
		h := t.Sub(day).Hours()
		d[Key{"b1", "coal_total"}] = append(d[Key{"b1", "coal_total"}], Sample{T: t, V: 1.2 * h})
		d[Key{"b1", "steam_total"}] = append(d[Key{"b1", "steam_total"}], Sample{T: t, V: 8 * h})
	}
	var out Output
	for _, m := range e.Meters {
		m.Start(day)
		m.Advance(day.Add(time.Hour), d, &out)
	}
	e.Relate(&out)
	if len(out.Intensity) != 4 {
		t.Fatalf("%d intensities, want 4 quarters", len(out.Intensity))
	}
	want := 1.2 * 20000 / 29.3076 / 8 // kgce per t steam
	for _, in := range out.Intensity {
		if !in.HasValue || math.Abs(in.KgcePerProductUnit-want) > 1e-6*want || in.ProductUnit != "t" {
			t.Errorf("%s: %+v, want %.3f kgce/t", in.Start, in, want)
		}
	}
}
