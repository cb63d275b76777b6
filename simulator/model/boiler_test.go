package model

import (
	"math"
	"testing"
	"time"
)

// TestTruthIndependentOfSteps: the boiler's day is the same whether the
// simulator steps it every 100 ms of real time at ×1 or every 36 s of
// simulated time at ×360, because its physics run on a fixed grid; and the
// ground truth adds up to its totals.
func TestTruthIndependentOfSteps(t *testing.T) {
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
