package model

import (
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"
)

// TestTruthIndependentOfSteps: the boiler's day is the same whether the
// simulator steps it every 100 ms of real time at ×1 or every 36 s of
// simulated time at ×360, because its physics run on a fixed grid; and the
// ground truth adds up to its totals.
func TestTruthIndependentOfSteps(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	p := DefaultBoiler()
	p.FoulingKPerDay = 40
	run := func(step time.Duration) ([]MinuteTruth, *Boiler) {
		b, err := NewBoiler(p, 7, start)
		if err != nil {
			t.Fatal(err)
		}
		b.RecordTruth()
		var out []MinuteTruth
		end := start.Add(6 * time.Hour)
		for at := start; ; at = at.Add(step) {
			b.Step(minT(at, end))
			out = append(out, b.TakeTruth()...)
			if !at.Before(end) {
				break
			}
		}
		return out, b
	}
	fine, bf := run(7 * time.Second)
	coarse, bc := run(36 * time.Second)
	if len(fine) != 360 || len(coarse) != 360 {
		t.Fatalf("%d and %d minutes, want 360", len(fine), len(coarse))
	}
	var steam float64
	for i := range fine {
		f, c := fine[i], coarse[i]
		if !f.Start.Equal(c.Start) || math.Abs(f.Efficiency()-c.Efficiency()) > 1e-9 || math.Abs(f.CoalT-c.CoalT) > 1e-12 {
			t.Fatalf("minute %d differs: %+v vs %+v", i, f, c)
		}
		steam += f.SteamT
	}
	if got := bf.Quantities()["steam_total"].(float64); math.Abs(got-steam) > 1e-9 || math.Abs(got-bc.Quantities()["steam_total"].(float64)) > 1e-9 {
		t.Errorf("steam_total %g, truth sums to %g", got, steam)
	}
	if e := fine[0].Efficiency(); e < 75 || e > 85 {
		t.Errorf("first minute efficiency %.2f %%, want a chain grate's 75–85", e)
	}
}

func minT(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// TestOwnHeatBalance: the model's ground truth is its own: no package of
// the collector is imported (the simulated-day test then checks the
// collector's formulas and steam properties, not just its pipeline), and
// its heat balance closes: fuel heat = useful heat + surface loss + the
// per-kg losses.
func TestOwnHeatBalance(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for name, f := range p.Files {
			for _, imp := range f.Imports {
				if strings.Contains(imp.Path.Value, "boilerwatch/collector/") {
					t.Errorf("%s imports %s", name, imp.Path.Value)
				}
			}
		}
	}
	p := DefaultBoiler()
	b, err := NewBoiler(p, 3, time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	perKg := heatBalance(p.Coal, p, b.o2, b.co, b.exhaust)
	fuel := b.coalFeed * 1000 * b.lhv // kJ/h
	useful := b.steamFlow * 1000 * b.usefulPerT
	if d := fuel - useful - p.SurfaceLossKW*3600 - fuel*perKg/100; math.Abs(d) > 1e-6*fuel {
		t.Errorf("heat balance off by %g kJ/h of %g", d, fuel)
	}
	// 1.0 MPa(g) is 1.101 MPa: steam tables give 184.1 °C, h′ 781.2,
	// h″ 2,780.7 kJ/kg.
	ts, hw, hs := saturation(1.0)
	if math.Abs(ts-184.1) > 0.1 || math.Abs(hs-2780.7) > 0.5 || math.Abs(hw-781.2) > 0.5 {
		t.Errorf("saturation at 1.0 MPa(g): %.2f °C, h′ %.1f, h″ %.1f", ts, hw, hs)
	}
	if e := b.Efficiency(); e < 75 || e > 85 {
		t.Errorf("efficiency %.2f %%, want a chain grate's 75–85", e)
	}
}

// TestUpset: an upset of excess air raises the flue O2 only within its
// window and costs efficiency there; outside it the day is unchanged.
func TestUpset(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CST", 8*3600)
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, loc)
	hourly := func(p BoilerParams) (eta, o2 [24]float64) {
		b, err := NewBoiler(p, 3, start)
		if err != nil {
			t.Fatal(err)
		}
		b.RecordTruth()
		var out, in, ox, n [24]float64
		for at := start; !at.After(start.Add(24 * time.Hour)); at = at.Add(30 * time.Second) {
			b.Step(at)
			for _, m := range b.TakeTruth() {
				h := int(m.Start.Sub(start) / time.Hour)
				if h < 24 {
					out[h] += m.HeatOutKJ
					in[h] += m.FuelHeatKJ
					ox[h] += m.O2Pct
					n[h]++
				}
			}
		}
		for h := range eta {
			eta[h], o2[h] = 100*out[h]/in[h], ox[h]/n[h]
		}
		return eta, o2
	}
	p := DefaultBoiler()
	p.Load = DailyLoad{Base: 0.85, Amplitude: 0.07, PeakHour: 15}
	base, baseO2 := hourly(p)
	p.Upsets = []Upset{{From: start.Add(14 * time.Hour), To: start.Add(15 * time.Hour), O2Pct: 4, ExhaustK: 10}}
	up, upO2 := hourly(p)
	for h := range 24 {
		t.Logf("%02d:00 η %.2f %% O2 %.2f %%  upset: η %.2f %% O2 %.2f %%", h, base[h], baseO2[h], up[h], upO2[h])
		if h != 14 && (up[h] != base[h] || upO2[h] != baseO2[h]) {
			t.Errorf("hour %02d changed outside the upset", h)
		}
	}
	if d := upO2[14] - baseO2[14]; math.Abs(d-4) > 1e-9 {
		t.Errorf("upset hour: O2 +%.2f, want +4", d)
	}
	if d := base[14] - up[14]; d < 2 {
		t.Errorf("upset hour: efficiency %.2f %% → %.2f %%, want a drop of at least 2 pp", base[14], up[14])
	}
}
