package energy

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// TestSteamPressureOutage: a steam meter read every minute whose pressure
// is missing from 10:00 to 12:00. Up to max_gap (10 min) the last pressure
// holds as measured; then, up to estimate_within (1h) after the last
// pressure, the minute is converted with the last known enthalpy
// difference and counted as estimated; after that by the reference
// coefficient (0.1286 kgce/kg), counted as such. Before issue 13 every
// minute from 10:10 on jumped to the coefficient, ~40 % above the
// enthalpy-based value.
func TestSteamPressureOutage(t *testing.T) {
	t.Parallel()
	meters := `
    - {name: steam, site: plant-t, device: b1, point: steam_total, energy_type: steam, unit: t, interval: 1m,
       steam: {pressure: {device: b1, point: steam_pressure}, reference_c: 20}}
`
	cfg := testConfig(t, "", fmt.Sprintf(boilerYAML, "b1"), meters)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := e.Meters[0]
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	out0, out1 := day.Add(10*time.Hour), day.Add(12*time.Hour)
	d := Data{}
	for ts := day.Add(-time.Minute); !ts.After(day.Add(24 * time.Hour)); ts = ts.Add(time.Minute) {
		d[Key{"b1", "steam_total"}] = append(d[Key{"b1", "steam_total"}], Sample{T: ts, V: 1000 + 8*ts.Sub(day).Hours()})
		if ts.Before(out0) || !ts.Before(out1) {
			d[Key{"b1", "steam_pressure"}] = append(d[Key{"b1", "steam_pressure"}], Sample{T: ts, V: 1.0})
		}
	}
	pAbs := steam.GaugeToAbsoluteMPa(1.0)
	hs, _ := steam.SaturatedSteamEnthalpy(pAbs)
	hw, _ := steam.WaterEnthalpy(pAbs, 20)
	perKg := (hs - hw) / 29307.6 // ≈ 0.092 kgce/kg
	if perKg < 0.09 || perKg > 0.095 {
		t.Fatalf("enthalpy-based %.4f kgce/kg, want ≈ 0.092", perKg)
	}
	const native = 8.0 / 60 // t per minute
	for _, tc := range []struct {
		at   time.Duration // after 10:00
		want float64       // kgce/kg
		est  estimate
	}{
		{-time.Minute, perKg, measured},
		{5 * time.Minute, perKg, measured},   // held within max_gap
		{20 * time.Minute, perKg, lastKnown}, // was 0.1286: the ~40 % jump
		{59 * time.Minute, perKg, lastKnown}, // 09:59's pressure is 1h old
		{60 * time.Minute, 0.1286, byCoefficient},
		{119 * time.Minute, 0.1286, byCoefficient},
		{120 * time.Minute, perKg, measured},
	} {
		at := out0.Add(tc.at)
		kg, est := m.kgce(d, at, native)
		if got := kg / (native * 1000); math.Abs(got-tc.want) > 1e-9 || est != tc.est {
			t.Errorf("%s: %.4f kgce/kg (%v), want %.4f (%v)", at.Format("15:04"), got, est, tc.want, tc.est)
		}
	}

	var out Output
	m.Start(day)
	m.Advance(day.Add(24*time.Hour), d, &out)
	var dayR *MeterResult
	for i, r := range out.Energy {
		if r.Period == Day {
			dayR = &out.Energy[i]
		}
	}
	if dayR == nil {
		t.Fatal("no day result")
	}
	// 10:10–10:59 by the last known enthalpy, 11:00–11:59 by the
	// coefficient: 110 estimated minutes of 1440, 60 of them by the
	// coefficient.
	if dayR.Fallback != 110 || dayR.FallbackCoef != 60 || dayR.LastKnown() != 50 {
		t.Errorf("day: %d estimated minutes, %d by coefficient, %d by last known enthalpy; want 110, 60, 50", dayR.Fallback, dayR.FallbackCoef, dayR.LastKnown())
	}
	if s := dayR.EstimatedShare(); math.Abs(s-100*110.0/1440) > 1e-9 {
		t.Errorf("day: estimated share %.3f %%, want %.3f", s, 100*110.0/1440)
	}
	want := 192 * 1000 * perKg
	want += 8 * 1000 * (0.1286 - perKg) // the coefficient hour
	if math.Abs(dayR.Kgce-want) > 1e-6*want {
		t.Errorf("day: %.3f kgce, want %.3f", dayR.Kgce, want)
	}
}

// TestSteamEstimateOff: estimate_within 0s goes straight to the
// coefficient once the held pressure is older than max_gap.
func TestSteamEstimateOff(t *testing.T) {
	t.Parallel()
	meters := `
    - {name: steam, site: plant-t, device: b1, point: steam_total, energy_type: steam, unit: t, interval: 1m,
       steam: {pressure: {device: b1, point: steam_pressure}, reference_c: 20, estimate_within: 0s}}
`
	e, err := New(testConfig(t, "", fmt.Sprintf(boilerYAML, "b1"), meters))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 15, 10, 0, 0, 0, shanghai)
	d := Data{{"b1", "steam_pressure"}: {{T: t0, V: 1.0}}}
	if _, est := e.Meters[0].kgce(d, t0.Add(20*time.Minute), 1); est != byCoefficient {
		t.Errorf("20 min after the last pressure: %v, want by coefficient", est)
	}
	if _, est := e.Meters[0].kgce(d, t0.Add(5*time.Minute), 1); est != measured {
		t.Errorf("5 min after the last pressure: %v, want measured (held within max_gap)", est)
	}
}

// TestLHVNotInForce: a coal meter whose first assay is dated after the
// minute is converted by the coefficient and counted as such.
func TestLHVNotInForce(t *testing.T) {
	t.Parallel()
	meters := `
    - {name: coal, site: plant-t, device: b1, point: coal_total, energy_type: coal, unit: t, interval: 1m,
       lhv: [{from: 2026-02-01, lhv: 20000}]}
`
	e, err := New(testConfig(t, "", fmt.Sprintf(boilerYAML, "b1"), meters))
	if err != nil {
		t.Fatal(err)
	}
	m := e.Meters[0]
	kg, est := m.kgce(Data{}, time.Date(2026, 1, 15, 10, 0, 0, 0, shanghai), 1)
	if est != byCoefficient || math.Abs(kg-714.3) > 1e-9 {
		t.Errorf("before the assay: %.1f kgce (%v), want 714.3 by coefficient", kg, est)
	}
	kg, est = m.kgce(Data{}, time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai), 1)
	if est != measured || math.Abs(kg-1000*20000/29307.6) > 1e-9 {
		t.Errorf("with the assay: %.1f kgce (%v)", kg, est)
	}
}

// TestSteamEstimateRestart: the last known enthalpy is read from the data,
// not remembered, so a meter started in the middle of a pressure outage
// (a restart) converts each quarter as an uninterrupted run does.
func TestSteamEstimateRestart(t *testing.T) {
	t.Parallel()
	meters := `
    - {name: steam, site: plant-t, device: b1, point: steam_total, energy_type: steam, unit: t, interval: 1m,
       steam: {pressure: {device: b1, point: steam_pressure}, reference_c: 20}}
`
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	out0, out1 := day.Add(10*time.Hour), day.Add(12*time.Hour)
	d := Data{}
	for ts := day.Add(-time.Minute); !ts.After(day.Add(13 * time.Hour)); ts = ts.Add(time.Minute) {
		d[Key{"b1", "steam_total"}] = append(d[Key{"b1", "steam_total"}], Sample{T: ts, V: 1000 + 8*ts.Sub(day).Hours()})
		if ts.Before(out0) || !ts.Before(out1) {
			d[Key{"b1", "steam_pressure"}] = append(d[Key{"b1", "steam_pressure"}], Sample{T: ts, V: 1.0})
		}
	}
	quarters := func(start time.Time) map[int64]MeterResult {
		e, err := New(testConfig(t, "", fmt.Sprintf(boilerYAML, "b1"), meters))
		if err != nil {
			t.Fatal(err)
		}
		m := e.Meters[0]
		m.Start(start)
		for _, s := range d[Key{"b1", "steam_total"}] {
			if s.T.Before(start) {
				m.Baseline(s)
			}
		}
		var out Output
		m.Advance(day.Add(13*time.Hour), d, &out)
		q := map[int64]MeterResult{} // Unix seconds: each config has its own *Location
		for _, r := range out.Energy {
			if r.Period == Quarter {
				q[r.Start.Unix()] = r
			}
		}
		return q
	}
	whole, restarted := quarters(day), quarters(out0.Add(30*time.Minute))
	n := 0
	for at, r := range restarted {
		w := whole[at]
		if r.Kgce != w.Kgce || r.Fallback != w.Fallback || r.FallbackCoef != w.FallbackCoef {
			t.Errorf("%s: restarted %.6f kgce (%d estimated, %d by coefficient), uninterrupted %.6f (%d, %d)",
				time.Unix(at, 0).In(shanghai).Format("15:04"), r.Kgce, r.Fallback, r.FallbackCoef, w.Kgce, w.Fallback, w.FallbackCoef)
		}
		if r.Fallback > 0 {
			n++
		}
	}
	if n != 6 { // 10:30–11:59
		t.Errorf("%d estimated quarters after the restart, want 6", n)
	}
}
