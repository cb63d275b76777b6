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
	"embed"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/boilerwatch/boilerwatch/firmware-config/conf"
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
	// FuelClasses bound each coal class by its design coal's heating
	// value, as the rows' notes give them ([S] like the rows).
	FuelClasses map[string]FuelClass `yaml:"fuel_classes"`
}

// FuelClass is a GB 24500 coal class's heating-value range, kJ/kg:
// LHVMin ≤ Q (or LHVOver < Q), Q ≤ LHVMax; nil is open. VDaf is the
// volatile-matter range (dry ash-free) that tells classes with overlapping
// LHV ranges apart; it is not configured per boiler, so only the LHV is
// checked.
type FuelClass struct {
	LHVMin  *float64 `yaml:"lhv_min"`
	LHVOver *float64 `yaml:"lhv_over"`
	LHVMax  *float64 `yaml:"lhv_max"`
	VDaf    string   `yaml:"v_daf"`
}

// Contains says whether a coal of this LHV (kJ/kg) can be of the class.
func (c FuelClass) Contains(lhv float64) bool {
	return !(c.LHVMin != nil && lhv < *c.LHVMin || c.LHVOver != nil && lhv <= *c.LHVOver || c.LHVMax != nil && lhv > *c.LHVMax)
}

// Range is the class's LHV range as the standard writes it.
func (c FuelClass) Range() string {
	if c.LHVOver != nil && c.LHVMax == nil {
		return fmt.Sprintf("Q > %s kJ/kg", thousands(*c.LHVOver))
	}
	if c.LHVMin != nil && c.LHVMax == nil {
		return fmt.Sprintf("Q ≥ %s kJ/kg", thousands(*c.LHVMin))
	}
	var lo, hi string
	switch {
	case c.LHVMin != nil:
		lo = fmt.Sprintf("%s ≤ ", thousands(*c.LHVMin))
	case c.LHVOver != nil:
		lo = fmt.Sprintf("%s < ", thousands(*c.LHVOver))
	}
	if c.LHVMax != nil {
		hi = " ≤ " + thousands(*c.LHVMax)
	}
	return lo + "Q" + hi + " kJ/kg"
}

func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// CheckFuelLHV checks a configured coal class against a coal's LHV
// (kJ/kg). A class without bounds in the table is not checked. The error
// names the class(es) the LHV belongs to: those with the same volatile
// range (only the LHV tells them apart), else every class whose LHV range
// contains it (the volatiles decide among them).
func (l *Limits) CheckFuelLHV(fuel string, lhv float64) error {
	c, ok := l.FuelClasses[fuel]
	if !ok || c.Contains(lhv) {
		return nil
	}
	var same, any []string
	for _, name := range slices.Sorted(maps.Keys(l.FuelClasses)) {
		o := l.FuelClasses[name]
		if !o.Contains(lhv) {
			continue
		}
		any = append(any, fmt.Sprintf("%s (%s, V_daf %s)", name, o.Range(), o.VDaf))
		if o.VDaf == c.VDaf {
			same = append(same, fmt.Sprintf("%s (%s)", name, o.Range()))
		}
	}
	head := fmt.Sprintf("%s kJ/kg is outside %s (%s, %s %s)", thousands(lhv), fuel, c.Range(), l.Standard, l.Status)
	switch {
	case len(same) > 0:
		return fmt.Errorf("%s: by its LHV it is %s", head, strings.Join(same, " or "))
	case len(any) > 0:
		return fmt.Errorf("%s: by its LHV it can be %s; the volatile matter decides", head, strings.Join(any, ", "))
	}
	return fmt.Errorf("%s: no coal class of the table has it", head)
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
	KJPerKcal    float64                `yaml:"kj_per_kcal"` // the one calorie of the file
	KgceKJ       float64                `yaml:"kgce_kj"`     // kJ per kgce
	Coefficients map[string]Coefficient `yaml:"coefficients"`
	// Defaults names the coefficient used per energy type when nothing
	// better (a measured LHV, metered enthalpy) is configured.
	Defaults map[string]string `yaml:"defaults"`
}

// Coefficient converts one unit of an energy carrier to kgce.
type Coefficient struct {
	Unit string  `yaml:"unit"`
	Kgce float64 `yaml:"kgce"` // kgce per Unit
	// LHVkcal defines the row (kgce = LHVkcal / 7,000); LHVkJ is
	// LHVkcal × KJPerKcal (or a kJ value by definition, e.g. 1 MJ).
	LHVkJ   float64 `yaml:"lhv_kj"`
	LHVkcal float64 `yaml:"lhv_kcal"`
	// PrintedKJ2008 is the 2008 table's own kJ figure, for tracing only.
	PrintedKJ2008 float64 `yaml:"printed_kj_2008"`
	// NoLHV says why a row has no heating value.
	NoLHV string `yaml:"no_lhv"`
	// Edition is the row's source and edition, with its status.
	Edition string `yaml:"edition"`
}

// kgcePrinted is how far a coefficient may be from its heating value's
// exact ratio: half a unit of the fourth decimal the standard prints.
const kgcePrinted = 0.00005

// checkRow checks a coefficient against its heating values.
func (c *Coal) checkRow(name string, r Coefficient) error {
	if r.LHVkJ == 0 {
		if r.NoLHV == "" {
			return fmt.Errorf("refdata gbt2589: coefficient %s has neither lhv_kj nor no_lhv", name)
		}
		return nil
	}
	if r.LHVkcal != 0 {
		if kj := r.LHVkcal * c.KJPerKcal; math.Abs(kj-r.LHVkJ) > 0.05+1e-9 {
			return fmt.Errorf("refdata gbt2589: %s: lhv_kj %g ≠ %g kcal × %g = %.2f", name, r.LHVkJ, r.LHVkcal, c.KJPerKcal, kj)
		}
		if k := r.LHVkcal / 7000; math.Abs(k-r.Kgce) > kgcePrinted {
			return fmt.Errorf("refdata gbt2589: %s: kgce %g ≠ %g kcal / 7,000 = %.5f", name, r.Kgce, r.LHVkcal, k)
		}
	}
	if k := r.LHVkJ / c.KgceKJ; math.Abs(k-r.Kgce) > kgcePrinted {
		return fmt.Errorf("refdata gbt2589: %s: kgce %g ≠ %g kJ / %g = %.5f", name, r.Kgce, r.LHVkJ, c.KgceKJ, k)
	}
	return nil
}

// Q5Table is the rated surface loss by capacity.
type Q5Table struct {
	Status string  `yaml:"status"`
	Source string  `yaml:"source"`
	Rows   []Q5Row `yaml:"rows"`
}

// Q5Row is one capacity of the q5 table. Q5 is its value, nil when the
// reference material does not confirm one: then Q5Min and Q5Max give the
// range it does quote, if any.
type Q5Row struct {
	RatedTPH float64  `yaml:"rated_tph"`
	Q5       *float64 `yaml:"q5"`
	Q5Min    *float64 `yaml:"q5_min"`
	Q5Max    *float64 `yaml:"q5_max"`
	Note     string   `yaml:"note"`
}

func (r Q5Row) why() string {
	if r.Q5Min != nil && r.Q5Max != nil {
		return fmt.Sprintf("the reference gives only %g–%g %% for %g t/h", *r.Q5Min, *r.Q5Max, r.RatedTPH)
	}
	return fmt.Sprintf("the %g t/h value is not confirmed from the reference material", r.RatedTPH)
}

// Q5 is the rated surface loss for a capacity in t/h: a row's value, or
// linear interpolation between two rows with values. Where the table has
// no confirmed value (a range-only or unconfirmed row at or next to the
// capacity, or outside the table) it returns an error asking for the
// boiler's own q5_rated.
func (t *Q5Table) Q5(ratedTPH float64) (float64, error) {
	rs := t.Rows
	if len(rs) == 0 || math.IsNaN(ratedTPH) || ratedTPH < rs[0].RatedTPH || ratedTPH > rs[len(rs)-1].RatedTPH {
		return math.NaN(), fmt.Errorf("q5 table covers %g–%g t/h, not %g t/h: configure q5_rated from the boiler's test report",
			rs[0].RatedTPH, rs[len(rs)-1].RatedTPH, ratedTPH)
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].RatedTPH >= ratedTPH })
	if rs[i].RatedTPH == ratedTPH {
		if rs[i].Q5 == nil {
			return math.NaN(), fmt.Errorf("q5 table: %s: configure q5_rated from the boiler's test report", rs[i].why())
		}
		return *rs[i].Q5, nil
	}
	a, b := rs[i-1], rs[i]
	for _, r := range []Q5Row{a, b} {
		if r.Q5 == nil {
			return math.NaN(), fmt.Errorf("q5 table: %g t/h lies next to the %g t/h row and %s: configure q5_rated from the boiler's test report",
				ratedTPH, r.RatedTPH, r.why())
		}
	}
	f := (ratedTPH - a.RatedTPH) / (b.RatedTPH - a.RatedTPH)
	return *a.Q5 + f*(*b.Q5-*a.Q5), nil
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
		doc, err := conf.Decode("refdata/"+f.name, data, f.out)
		if err == nil {
			err = doc.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("refdata: %w", err)
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
	if d.Coal.KJPerKcal <= 0 || math.Abs(d.Coal.KgceKJ-7000*d.Coal.KJPerKcal) > 0.05 {
		return fmt.Errorf("refdata gbt2589: kgce_kj must be 7,000 kcal × kj_per_kcal")
	}
	for _, k := range slices.Sorted(maps.Keys(d.Coal.Coefficients)) {
		c := d.Coal.Coefficients[k]
		if c.Kgce <= 0 || c.Unit == "" || c.Edition == "" {
			return fmt.Errorf("refdata gbt2589: coefficient %s needs unit, kgce > 0 and edition", k)
		}
		if err := d.Coal.checkRow(k, c); err != nil {
			return err
		}
	}
	for name, c := range d.Limits.FuelClasses {
		if c.LHVMin != nil && c.LHVOver != nil || c.VDaf == "" {
			return fmt.Errorf("refdata gb24500: fuel class %s: one lower bound at most, and v_daf", name)
		}
	}
	for t, k := range d.Coal.Defaults {
		if _, ok := d.Coal.Coefficients[k]; !ok {
			return fmt.Errorf("refdata gbt2589: default for %s names unknown coefficient %s", t, k)
		}
	}
	for i, r := range d.Q5.Rows {
		if i > 0 && r.RatedTPH <= d.Q5.Rows[i-1].RatedTPH {
			return fmt.Errorf("refdata q5: rows must ascend by rated_tph")
		}
		if r.Q5 == nil && r.Note == "" {
			return fmt.Errorf("refdata q5: the %g t/h row has no value and no note saying why", r.RatedTPH)
		}
	}
	if len(d.Q5.Rows) == 0 {
		return fmt.Errorf("refdata q5: no rows")
	}
	return nil
}
