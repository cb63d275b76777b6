package console

import (
	"slices"
	"testing"
	"time"

	"github.com/boilerwatch/boilerwatch/collector/derived"
	"github.com/boilerwatch/boilerwatch/collector/energy"
)

// TestDerivedFieldsMatchEngine holds the console's list of derived fields
// (which the API and the Grafana dashboards read) against what the
// engine's writer actually writes, with every optional field present.
func TestDerivedFieldsMatchEngine(t *testing.T) {
	start := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	sums := energy.Sums{Minutes: 60, Direct: 60, Indirect: 60, LoadN: 60, ExhN: 60, AlphaN: 60}
	out := &energy.Output{
		Efficiency: []energy.Result{
			{Site: "s", Boiler: "b", Period: energy.Hour, Start: start, Sums: sums, Expected: 60,
				HasDirect: true, HasIndirect: true, HasGrade: true, Reasons: []string{"coverage"}},
			{Site: "s", Boiler: "b", Period: energy.Hour, Start: start, Sums: energy.Sums{Minutes: 60, Standby: 60}, Expected: 60},
			{Site: "s", Boiler: "b", Period: energy.Day, Start: start, Sums: energy.Sums{Minutes: 1440, Direct: 1440, RatedHours: 9, RatedOut: 8e6, RatedIn: 1e7},
				Expected: 1440, HasDirect: true, HasRated: true, RatedPct: 80},
		},
		Energy: []energy.MeterResult{
			{Site: "s", Meter: "m", EnergyType: "electricity", Unit: "kWh", Period: energy.Day, Start: start,
				Covered: 1, HasPrimary: true, Fallback: 1, Minutes: 1440, Expected: 1440},
		},
		Intensity: []energy.Intensity{{Site: "s", Boiler: "b", Period: energy.Day, Start: start, HasValue: true}},
	}
	written := map[string][]string{}
	for _, p := range derived.Points(out) {
		for _, f := range p.FieldList() {
			if !slices.Contains(written[p.Name()], f.Key) {
				written[p.Name()] = append(written[p.Name()], f.Key)
			}
		}
	}
	known := DerivedFields()
	for m, fields := range written {
		for _, f := range fields {
			if !slices.Contains(known[m], f) {
				t.Errorf("the engine writes %s.%s, which the console does not know", m, f)
			}
		}
	}
	for m, fields := range known {
		if m == "events" {
			continue // written by the engine's alert path, checked in docs/efficiency.md
		}
		for _, f := range fields {
			if !slices.Contains(written[m], f) {
				t.Errorf("the console reads %s.%s, which the engine never writes", m, f)
			}
		}
	}
}
