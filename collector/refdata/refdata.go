// Package refdata is the reference data the efficiency and energy engine
// classifies and converts with: the GB 24500-2020 efficiency limits, the
// GB/T 2589 standard-coal coefficients and the q5 surface-loss table.
//
// None of these numbers is verified against the published standards (the
// domain reference tags them [S] or [R]), so they live in versioned YAML
// files next to this package, each with its source and status, and are
// compiled in with go:embed. Correcting a row is a data change with a
// reviewable diff, not a code change.
package refdata

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"sort"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var files embed.FS

// Limits is the GB 24500-2020 table.
type Limits struct {
	Standard string     `yaml:"standard"`
	Title    string     `yaml:"title"`
	Status   string     `yaml:"status"`
	Source   string     `yaml:"source"`
	Rows     []LimitRow `yaml:"rows"`
}

// LimitRow is one line of the limits table.
type LimitRow struct {
	Firing string `yaml:"firing"`
	Fuel   string `yaml:"fuel"`
	// OverTPH and UptoTPH bound the rated capacity: OverTPH < rated ≤
	// UptoTPH; nil is open.
	OverTPH *float64   `yaml:"over_tph"`
	UptoTPH *float64   `yaml:"upto_tph"`
	Grades  [3]float64 `yaml:"grades"` // grade 1, 2, 3 in %
	Note    string     `yaml:"note"`
}

// Grade3 is the minimum allowable efficiency (限定值), %.
func (r LimitRow) Grade3() float64 { return r.Grades[2] }

// Grade classifies an efficiency: 1, 2 or 3, or 0 below the grade-3 limit.
func (r LimitRow) Grade(eta float64) int {
	for i, g := range r.Grades {
		if eta >= g {
			return i + 1
		}
	}
	return 0
}

func (r LimitRow) contains(ratedTPH float64) bool {
	if r.OverTPH != nil && ratedTPH <= *r.OverTPH {
		return false
	}
	if r.UptoTPH != nil && ratedTPH > *r.UptoTPH {
		return false
	}
	return true
}

// Lookup finds the row for a boiler.
func (l *Limits) Lookup(firing, fuel string, ratedTPH float64) (LimitRow, error) {
	known := false
	for _, r := range l.Rows {
		if r.Firing != firing || r.Fuel != fuel {
			continue
		}
		known = true
		if r.contains(ratedTPH) {
			return r, nil
		}
	}
	if !known {
		return LimitRow{}, fmt.Errorf("%s has no row for firing %q with fuel %q (known: %v)", l.Standard, firing, fuel, l.Combinations())
	}
	return LimitRow{}, fmt.Errorf("%s: no row for %s/%s covers %g t/h", l.Standard, firing, fuel, ratedTPH)
}

// Combinations lists the "firing/fuel" pairs of the table.
func (l *Limits) Combinations() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range l.Rows {
		k := r.Firing + "/" + r.Fuel
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Coal is the GB/T 2589 conversion data.
type Coal struct {
	Standard     string                 `yaml:"standard"`
	Title        string                 `yaml:"title"`
	Source       string                 `yaml:"source"`
	KgceKJ       float64                `yaml:"kgce_kj"` // kJ per kgce
	Coefficients map[string]Coefficient `yaml:"coefficients"`
	// Defaults names the coefficient used per energy type when nothing
	// better (a measured LHV, metered enthalpy) is configured.
	Defaults map[string]string `yaml:"defaults"`
}

// Coefficient converts one unit of an energy carrier to kgce.
type Coefficient struct {
	Unit    string  `yaml:"unit"`
	Kgce    float64 `yaml:"kgce"` // kgce per Unit
	LHVkJ   float64 `yaml:"lhv_kj"`
	LHVkcal float64 `yaml:"lhv_kcal"`
	Status  string  `yaml:"status"`
}

// Q5Table is the rated surface loss by capacity.
type Q5Table struct {
	Status string  `yaml:"status"`
	Source string  `yaml:"source"`
	Rows   []Q5Row `yaml:"rows"`
}

// Q5Row is one capacity of the q5 table.
type Q5Row struct {
	RatedTPH float64 `yaml:"rated_tph"`
	Q5       float64 `yaml:"q5"`
}

// Q5 interpolates the rated surface loss for a capacity in t/h.
func (t *Q5Table) Q5(ratedTPH float64) (float64, error) {
	rs := t.Rows
	if len(rs) == 0 || math.IsNaN(ratedTPH) || ratedTPH < rs[0].RatedTPH || ratedTPH > rs[len(rs)-1].RatedTPH {
		return math.NaN(), fmt.Errorf("q5 table covers %g–%g t/h, not %g t/h: configure q5_rated from the boiler's test report",
			rs[0].RatedTPH, rs[len(rs)-1].RatedTPH, ratedTPH)
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].RatedTPH >= ratedTPH })
	if rs[i].RatedTPH == ratedTPH {
		return rs[i].Q5, nil
	}
	a, b := rs[i-1], rs[i]
	f := (ratedTPH - a.RatedTPH) / (b.RatedTPH - a.RatedTPH)
	return a.Q5 + f*(b.Q5-a.Q5), nil
}

// Data is all reference data.
type Data struct {
	Limits Limits
	Coal   Coal
	Q5     Q5Table
}

// Load parses and checks the embedded files.
func Load() (*Data, error) {
	var d Data
	for _, f := range []struct {
		name string
		out  any
	}{{"gb24500-2020.yaml", &d.Limits}, {"gbt2589-2020.yaml", &d.Coal}, {"q5.yaml", &d.Q5}} {
		data, err := files.ReadFile(f.name)
		if err != nil {
			return nil, fmt.Errorf("refdata: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(f.out); err != nil {
			return nil, fmt.Errorf("refdata %s: %w", f.name, err)
		}
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// check guards against a data edit that would silently break a lookup.
func (d *Data) check() error {
	if d.Limits.Source == "" || d.Coal.Source == "" || d.Q5.Source == "" {
		return fmt.Errorf("refdata: every file must name its source")
	}
	for i, r := range d.Limits.Rows {
		if r.Firing == "" || r.Fuel == "" || !(r.Grades[0] >= r.Grades[1] && r.Grades[1] >= r.Grades[2] && r.Grades[2] > 0) {
			return fmt.Errorf("refdata gb24500 row %d: firing, fuel and descending positive grades required", i)
		}
	}
	if d.Coal.KgceKJ <= 0 {
		return fmt.Errorf("refdata gbt2589: kgce_kj missing")
	}
	for k, c := range d.Coal.Coefficients {
		if c.Kgce <= 0 || c.Unit == "" || c.Status == "" {
			return fmt.Errorf("refdata gbt2589: coefficient %s needs unit, kgce > 0 and status", k)
		}
	}
	for t, k := range d.Coal.Defaults {
		if _, ok := d.Coal.Coefficients[k]; !ok {
			return fmt.Errorf("refdata gbt2589: default for %s names unknown coefficient %s", t, k)
		}
	}
	for i := 1; i < len(d.Q5.Rows); i++ {
		if d.Q5.Rows[i].RatedTPH <= d.Q5.Rows[i-1].RatedTPH {
			return fmt.Errorf("refdata q5: rows must ascend by rated_tph")
		}
	}
	if len(d.Q5.Rows) == 0 {
		return fmt.Errorf("refdata q5: no rows")
	}
	return nil
}
