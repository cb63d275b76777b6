package refdata

import (
	"math"
	"strings"
	"testing"
)

func load(t *testing.T) *Data {
	t.Helper()
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLimitsLookup(t *testing.T) {
	d := load(t)
	tests := []struct {
		firing, fuel string
		rated        float64
		grade3       float64
	}{
		{"layered", "bituminous_ii", 10, 80},
		{"layered", "bituminous_ii", 20, 80}, // ≤ 20 t/h is the small column
		{"layered", "bituminous_ii", 35, 81},
		{"layered", "lignite", 35, 82},
		{"fluidized_bed", "bituminous_iii", 75, 88},
		{"biomass", "biomass", 4, 80},
		{"chamber", "gas_condensing", 10, 98},
	}
	for _, tc := range tests {
		t.Run(tc.firing+"/"+tc.fuel, func(t *testing.T) {
			r, err := d.Limits.Lookup(tc.firing, tc.fuel, tc.rated)
			if err != nil {
				t.Fatal(err)
			}
			if r.Grade3() != tc.grade3 {
				t.Errorf("grade 3 at %g t/h = %g, want %g", tc.rated, r.Grade3(), tc.grade3)
			}
		})
	}
	if _, err := d.Limits.Lookup("layered", "peat", 10); err == nil || !strings.Contains(err.Error(), "layered/bituminous_ii") {
		t.Errorf("unknown fuel: error %v should list the known combinations", err)
	}
}

func TestGrade(t *testing.T) {
	r := LimitRow{Grades: [3]float64{85, 82, 80}}
	for _, tc := range []struct {
		eta  float64
		want int
	}{{86, 1}, {85, 1}, {84.9, 2}, {82, 2}, {81, 3}, {80, 3}, {79.99, 0}} {
		if got := r.Grade(tc.eta); got != tc.want {
			t.Errorf("Grade(%g) = %d, want %d", tc.eta, got, tc.want)
		}
	}
}

func TestCoalCoefficients(t *testing.T) {
	d := load(t)
	// Each coefficient with an LHV must equal kcal / 7,000 to the four
	// decimals the standard prints: a typo in either column shows here.
	for name, c := range d.Coal.Coefficients {
		if c.LHVkcal == 0 {
			continue
		}
		if got := c.LHVkcal / 7000; math.Abs(got-c.Kgce) > 0.00005 {
			t.Errorf("%s: %g kcal/%s / 7000 = %.5f kgce, file says %g", name, c.LHVkcal, c.Unit, got, c.Kgce)
		}
	}
	for typ, want := range map[string]float64{"electricity": 0.1229, "heat": 0.03412, "water": 0.0857} {
		if got := d.Coal.Coefficients[d.Coal.Defaults[typ]].Kgce; got != want {
			t.Errorf("default %s = %g, want %g", typ, got, want)
		}
	}
}

func TestQ5(t *testing.T) {
	d := load(t)
	for _, tc := range []struct{ rated, want float64 }{{10, 1.7}, {15, 1.5}, {65, 0.8}, {4, 2.7}} {
		got, err := d.Q5.Q5(tc.rated)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Q5(%g) = %g, %v; want %g", tc.rated, got, err, tc.want)
		}
	}
	for _, rated := range []float64{2, 100, math.NaN()} {
		if _, err := d.Q5.Q5(rated); err == nil {
			t.Errorf("Q5(%g): want an error outside the table", rated)
		}
	}
}
