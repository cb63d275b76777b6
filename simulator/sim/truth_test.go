package sim

import (
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTruth steps a boiler and its fan meter through ten simulated minutes
// in uneven steps and checks the ground truth: one record per minute per
// boiler and counter, counter deltas adding up to the model's total.
func TestTruth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte(`seed: 3
start: 2026-01-15T00:00:00+08:00
boilers: [{name: b1}]
servers:
  - listen: 127.0.0.1:0
    devices:
      - {name: boiler1, unit_id: 1, profile: szl-chain-grate-plc, boiler: b1}
      - {name: meter1, unit_id: 2, profile: chint-dtsu666, boiler: b1}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(sc, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTruth(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetTruth(tr)
	e0 := s.byName["meter1"].source.Quantities()["energy_import"].(float64)
	for at := sc.Start.Time; !at.After(sc.Start.Add(10 * time.Minute)); at = at.Add(37 * time.Second) {
		s.step(at, time.Now())
	}
	s.step(sc.Start.Add(10*time.Minute), time.Now())
	e1 := s.byName["meter1"].source.Quantities()["energy_import"].(float64)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "truth.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := ReadTruth(f)
	if err != nil {
		t.Fatal(err)
	}
	var boiler, counter int
	var delta float64
	for _, r := range recs {
		switch r.Kind {
		case "boiler":
			boiler++
			if r.Seconds != 60 || r.Efficiency < 70 || r.Efficiency > 90 || r.CoalT <= 0 {
				t.Errorf("boiler minute %s: %+v", r.T, r)
			}
		case "counter":
			if r.Device != "meter1" {
				t.Errorf("counter record %+v", r)
			}
			if r.Quantity == "energy_import" {
				counter++
				delta += r.Delta
			}
		}
	}
	if boiler != 10 || counter != 10 {
		t.Errorf("%d boiler and %d energy_import minutes, want 10 each", boiler, counter)
	}
	if math.Abs(delta-(e1-e0)) > 1e-9 {
		t.Errorf("counter deltas add up to %g kWh, the meter counted %g", delta, e1-e0)
	}
}
