package refdata

import (
	"fmt"
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

// TestCoalCoefficients checks every row's kgce coefficient against its
// heating value, both ways, with the file's one calorie: kgce = kcal/7,000
// and kgce = kJ/29,307.6 to the four decimals the standard prints, and
// kJ = kcal × 4.1868. The 2008 table's own kJ figures (4.1816 kJ/kcal) fail
// that check, which is why they are kept only as printed_kj_2008.
func TestCoalCoefficients(t *testing.T) {
	d := load(t)
	if d.Coal.KJPerKcal != 4.1868 || d.Coal.KgceKJ != 29307.6 {
		t.Fatalf("kj_per_kcal %g, kgce_kj %g: want 4.1868 and 7,000 × 4.1868", d.Coal.KJPerKcal, d.Coal.KgceKJ)
	}
	n := 0
	for name, c := range d.Coal.Coefficients {
		if c.Edition == "" {
			t.Errorf("%s: no source/edition", name)
		}
		if !strings.Contains(c.Edition, "2008") || !strings.Contains(c.Edition, "2020") {
			t.Errorf("%s: edition %q should say what the 2008 and the 2020 edition give", name, c.Edition)
		}
		if c.LHVkJ == 0 {
			if c.NoLHV == "" {
				t.Errorf("%s: neither a heating value nor why not", name)
			}
			continue
		}
		n++
		if got := c.LHVkJ / d.Coal.KgceKJ; math.Abs(got-c.Kgce) > 0.00005 {
			t.Errorf("%s: %g kJ/%s / 29,307.6 = %.5f kgce, file says %g", name, c.LHVkJ, c.Unit, got, c.Kgce)
		}
		if c.LHVkcal == 0 {
			continue
		}
		if got := c.LHVkcal / 7000; math.Abs(got-c.Kgce) > 0.00005 {
			t.Errorf("%s: %g kcal/%s / 7000 = %.5f kgce, file says %g", name, c.LHVkcal, c.Unit, got, c.Kgce)
		}
		if got := c.LHVkcal * 4.1868; math.Abs(got-c.LHVkJ) > 0.05+1e-9 {
			t.Errorf("%s: %g kcal × 4.1868 = %.2f kJ, file says %g", name, c.LHVkcal, got, c.LHVkJ)
		}
		if c.PrintedKJ2008 != 0 && math.Abs(c.LHVkcal*4.1816-c.PrintedKJ2008) > 0.5 {
			t.Errorf("%s: printed 2008 figure %g is not %g kcal × 4.1816", name, c.PrintedKJ2008, c.LHVkcal)
		}
	}
	if n < 10 {
		t.Errorf("only %d rows with a heating value were checked", n)
	}
	// The defect this guards against: 20,908 kJ (5,000 × 4.1816) / 29,307.6.
	if raw := d.Coal.Coefficients["raw_coal"]; raw.LHVkJ != 20934 || math.Abs(20908/d.Coal.KgceKJ-raw.Kgce) < 0.00005 {
		t.Errorf("raw coal: lhv_kj %g; 20,908/29,307.6 = %.5f must not pass for %g", raw.LHVkJ, 20908/d.Coal.KgceKJ, raw.Kgce)
	}
	for typ, want := range map[string]float64{"electricity": 0.1229, "heat": 0.03412, "water": 0.0857} {
		if got := d.Coal.Coefficients[d.Coal.Defaults[typ]].Kgce; got != want {
			t.Errorf("default %s = %g, want %g", typ, got, want)
		}
	}
}

// TestCoalRowCheck: Load refuses a file whose kJ figure disagrees with its
// coefficient, as the 2008 table's 20,908 kJ does with 0.7143.
func TestCoalRowCheck(t *testing.T) {
	c := Coal{KJPerKcal: 4.1868, KgceKJ: 29307.6}
	if err := c.checkRow("raw_coal", Coefficient{Unit: "kg", Kgce: 0.7143, LHVkcal: 5000, LHVkJ: 20908}); err == nil {
		t.Error("20,908 kJ with 5,000 kcal × 4.1868: want an error")
	}
	if err := c.checkRow("x", Coefficient{Unit: "kg", Kgce: 0.7143}); err == nil {
		t.Error("a row without heating value or reason: want an error")
	}
	if err := c.checkRow("raw_coal", Coefficient{Unit: "kg", Kgce: 0.7143, LHVkcal: 5000, LHVkJ: 20934}); err != nil {
		t.Error(err)
	}
}

// TestQ5 checks the table's rows and that nothing is made up where the
// reference material has no value: the standard's 6 and 15 t/h rows are
// there without a value, 4 t/h has only the quoted range, and capacities
// next to them need the boiler's own q5_rated.
func TestQ5(t *testing.T) {
	d := load(t)
	var caps []float64
	for _, r := range d.Q5.Rows {
		caps = append(caps, r.RatedTPH)
	}
	if want := []float64{4, 6, 10, 15, 20, 35, 65}; fmt.Sprint(caps) != fmt.Sprint(want) {
		t.Errorf("rows %v, want the standard's %v", caps, want)
	}
	if !strings.Contains(d.Q5.Source, "GB/T 10180") || !strings.Contains(d.Q5.Source, "unconfirmed") {
		t.Errorf("source %q should name the standard and say what is unconfirmed", d.Q5.Source)
	}
	for _, tc := range []struct{ rated, want float64 }{{10, 1.7}, {20, 1.3}, {27.5, 1.2}, {65, 0.8}} {
		got, err := d.Q5.Q5(tc.rated)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Q5(%g) = %g, %v; want %g", tc.rated, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		rated float64
		want  string
	}{
		{4, "only 2.5–2.9 %"},
		{5, "only 2.5–2.9 %"},
		{6, "6 t/h value is not confirmed"},
		{15, "15 t/h value is not confirmed"},
		{12, "15 t/h value is not confirmed"},
		{2, "covers 4–65 t/h"},
		{100, "covers 4–65 t/h"},
		{math.NaN(), "covers"},
	} {
		if _, err := d.Q5.Q5(tc.rated); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "q5_rated") {
			t.Errorf("Q5(%g): error %v, want one saying %q and asking for q5_rated", tc.rated, err, tc.want)
		}
	}
}

// TestFuelClass: the LHV of the coal decides between bituminous II and III.
func TestFuelClass(t *testing.T) {
	d := load(t)
	for _, tc := range []struct {
		fuel string
		lhv  float64
		want string // "" ok
	}{
		{"bituminous_ii", 20000, ""},
		{"bituminous_ii", 21000, ""},
		{"bituminous_ii", 17700, ""},
		{"bituminous_iii", 22000, ""},
		{"bituminous_ii", 22000, "22,000 kJ/kg is outside bituminous_ii (17,700 ≤ Q ≤ 21,000 kJ/kg, GB 24500-2020 [S]): by its LHV it is bituminous_iii (Q > 21,000 kJ/kg)"},
		{"bituminous_iii", 21000, "by its LHV it is bituminous_ii (17,700 ≤ Q ≤ 21,000 kJ/kg)"},
		{"bituminous_ii", 16000, "by its LHV it can be lignite (Q ≥ 11,500 kJ/kg, V_daf > 37 %); the volatile matter decides"},
		{"anthracite_ii", 19000, "can be bituminous_ii"},
		{"lignite", 9000, "no coal class of the table has it"},
		{"bituminous_i", 15000, ""}, // no range in the reference: not checked
		{"gas", 35000, ""},
	} {
		err := d.Limits.CheckFuelLHV(tc.fuel, tc.lhv)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s at %g: %v, want %q", tc.fuel, tc.lhv, err, tc.want)
		}
	}
}
