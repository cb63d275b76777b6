package energy

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/steam"
)

// TestWetSteamAndBlowdown: a boiler configured with ω = 3 % and 2 %
// blowdown gets the GB/T 10180 direct method with both; before, the engine
// took the steam as dry and ignored a configured blowdown, which put η
// ≈ 1.8 pp too high at ω = 3 %.
//
// At 1.25 MPa(g): h″ − h′ = r ≈ 1,965 kJ/kg, h″ − h_fw(20 °C) ≈ 2,703 kJ/kg;
// ω = 3 % takes r·ω/100 ≈ 59 kJ/kg, 2.18 % of Δh: about 1.78 pp of 81.6 %.
func TestWetSteamAndBlowdown(t *testing.T) {
	t.Parallel()
	coal, eta := workedInputs(t)
	start := time.Date(2026, 1, 15, 10, 0, 0, 0, shanghai)
	pAbs := steam.GaugeToAbsoluteMPa(1.25)
	hs, _ := steam.SaturatedSteamEnthalpy(pAbs)
	hw, _ := steam.SaturatedWaterEnthalpy(pAbs)
	hf, _ := steam.WaterEnthalpy(pAbs, 20)
	run := func(extra string) Result {
		t.Helper()
		y := strings.Replace(fmt.Sprintf(boilerYAML, "b1"), "      cold_air_c: 20\n", "      cold_air_c: 20\n"+extra, 1)
		e := testConfig(t, "", y, "")
		b, err := newBoiler(e, &e.Boilers[0])
		if err != nil {
			t.Fatal(err)
		}
		d := Data{}
		feed(d, "b1", start, start.Add(time.Hour), 10*time.Second, workedValues(coal))
		b.Start(start)
		var out Output
		b.Advance(start.Add(time.Hour), d, &out)
		h := find(out.Efficiency, Hour)
		if len(h) != 1 || !h[0].HasDirect {
			t.Fatalf("%q: no hourly direct value: %+v", extra, h)
		}
		return h[0]
	}
	dry := run("")
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f ± %g", name, got, want, tol)
		}
	}
	near("dry", dry.DirectPct, eta, 1e-6)
	wet := run("      steam_wetness: 3\n")
	want := eta * (hs - hf - (hs-hw)*0.03) / (hs - hf)
	near("ω = 3 %", wet.DirectPct, want, 1e-6)
	near("ω = 3 % lowers η by", dry.DirectPct-wet.DirectPct, 1.78, 0.03)
	bd := run("      steam_wetness: 3\n      blowdown_rate: 2\n")
	want = eta * (hs - hf - (hs-hw)*0.03 + 0.02*(hw-hf)) / (hs - hf)
	near("ω = 3 %, blowdown 2 %", bd.DirectPct, want, 1e-6)
	// The hour's output heat is what the minutes' formula gives.
	near("heat out", bd.HeatOut, 10*1000*(hs-hf-(hs-hw)*0.03+0.02*(hw-hf)), 1e-3)
}

// TestRatedLoadEfficiency: the day's rated-load efficiency is taken over
// the hours whose mean load is at least rated_load_share (default 70 %),
// and the below-limit alert counts only those hours by default.
func TestRatedLoadEfficiency(t *testing.T) {
	t.Parallel()
	coal, _ := workedInputs(t)
	day := time.Date(2026, 1, 15, 0, 0, 0, 0, shanghai)
	// Load 50 % before noon, 100 % after; the coal per t of steam is 5 %
	// higher at half load (η lower) and, from 14:00, 4 % higher again
	// (η ≈ 78.5 %, below the 80 % limit).
	vals := workedValues(coal)
	loadAt := func(t time.Time) float64 {
		if t.Hour() < 12 {
			return 0.5
		}
		return 1
	}
	vals["steam_flow"] = func(t time.Time) float64 { return 10 * loadAt(t) }
	vals["coal_feed"] = func(t time.Time) float64 {
		c := coal * loadAt(t)
		if t.Hour() < 12 {
			c *= 1.05
		}
		if t.Hour() >= 14 {
			c *= 1.04
		}
		return c
	}
	run := func(alerts string) Output {
		e := testConfig(t, alerts, fmt.Sprintf(boilerYAML, "b1"), "")
		b, err := newBoiler(e, &e.Boilers[0])
		if err != nil {
			t.Fatal(err)
		}
		d := Data{}
		feed(d, "b1", day, day.Add(24*time.Hour), 20*time.Second, vals)
		b.Start(day)
		var out Output
		b.Advance(day.Add(24*time.Hour), d, &out)
		return out
	}
	out := run("")
	days := find(out.Efficiency, Day)
	if len(days) != 1 {
		t.Fatalf("%d days", len(days))
	}
	var ratedOut, ratedIn float64
	for _, h := range find(out.Efficiency, Hour) {
		if h.Start.Hour() >= 12 {
			ratedOut += h.HeatOut
			ratedIn += h.HeatIn
		}
	}
	d := days[0]
	if !d.HasRated || d.RatedHours != 12 || math.Abs(d.RatedPct-100*ratedOut/ratedIn) > 1e-9 {
		t.Errorf("day: rated %v over %d h = %.4f %%, want 12 h at %.4f %%", d.HasRated, d.RatedHours, d.RatedPct, 100*ratedOut/ratedIn)
	}
	if d.RatedPct-d.DirectPct < 0.3 {
		t.Errorf("day: all hours %.3f %%, rated-load hours %.3f %%: the half-load morning should make them differ", d.DirectPct, d.RatedPct)
	}
	// Default basis: the half-load morning (η ≈ 77.7 %, below the limit)
	// raises nothing; 14:00 and 15:00 at full load do.
	var since []string
	for _, e := range out.Events {
		if e.Kind == KindBelowLimit {
			since = append(since, e.Since.Format("15:04"))
			if !strings.Contains(e.Message, "operating indication") || !strings.Contains(e.Message, "≥ 70 % load") {
				t.Errorf("message %q should say it is an operating indication over hours at ≥ 70 %% load", e.Message)
			}
		}
	}
	if fmt.Sprint(since) != "[14:00]" {
		t.Errorf("rated_load basis: below-limit alerts since %v, want [14:00]", since)
	}
	since = nil
	for _, e := range run("  alerts: {below_limit_basis: all_hours}\n").Events {
		if e.Kind == KindBelowLimit {
			since = append(since, e.Since.Format("15:04"))
		}
	}
	if fmt.Sprint(since) != "[00:00 14:00]" {
		t.Errorf("all_hours basis: below-limit alerts since %v, want [00:00 14:00]", since)
	}
}
