package derived

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/boilerwatch/boilerwatch/collector/config"
	"github.com/boilerwatch/boilerwatch/collector/energy"
)

func lines(pts []*write.Point) []string {
	out := make([]string, len(pts))
	for i, p := range pts {
		out[i] = write.PointToLineProtocol(p, time.Millisecond)
	}
	return out
}

func TestPoints(t *testing.T) {
	at := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	ok := energy.Result{Site: "s", Boiler: "b1", Period: energy.Minute, Start: at, Expected: 1, Limit: 80,
		HasDirect: true, DirectPct: 81.5, HasGrade: true, Grade: 3}
	ok.Minutes, ok.Direct, ok.HeatOut, ok.HeatIn = 1, 1, 815, 1000
	missing := energy.Result{Site: "s", Boiler: "b1", Period: energy.Minute, Start: at.Add(time.Minute), Expected: 1, Limit: 80,
		Reasons: []string{"steam_flow: no good sample"}}
	missing.Minutes = 1
	tests := []struct {
		name      string
		out       energy.Output
		want      []string // substrings, one per point, in order
		forbidden string
	}{
		{"a minute with a value", energy.Output{Efficiency: []energy.Result{ok}},
			[]string{"boiler_efficiency,site=s,boiler=b1,period=1m ", "direct=81.5,", "grade=3i"}, "indirect="},
		{"a minute without one: no zero, a reason", energy.Output{Efficiency: []energy.Result{missing}},
			[]string{`data_quality,site=s,boiler=b1,period=1m,kind=efficiency_inputs reason="steam_flow: no good sample",direct_ok=false,indirect_ok=false`}, "direct=0"},
		{"a quarter nobody read: no energy point", energy.Output{Energy: []energy.MeterResult{{Site: "s", Meter: "m", EnergyType: "coal", Unit: "t", Period: energy.Quarter, Start: at, Minutes: 15}}},
			nil, ""},
		{"a day short of 90 %: flagged", energy.Output{Energy: []energy.MeterResult{{Site: "s", Meter: "m", EnergyType: "coal", Unit: "t", Period: energy.Day, Start: at,
			Minutes: 1440, Native: 20, Kgce: 14000, Covered: 1200, Received: 1200, Expected: 1440}}},
			[]string{"energy,site=s,meter=m,energy_type=coal,period=1d native=20,", "completeness=83.33", "flagged=true"}, ""},
		{"a quarter whose only event is a suspect drop: written, flagged", energy.Output{Energy: []energy.MeterResult{{Site: "s", Meter: "m", EnergyType: "electricity", Unit: "kWh",
			Period: energy.Quarter, Start: at, Minutes: 15, Suspect: 1}}},
			[]string{"energy,site=s,meter=m,energy_type=electricity,period=15m ", "wraps=0i,suspect=1i"}, ""},
		{"a wrap booked", energy.Output{Energy: []energy.MeterResult{{Site: "s", Meter: "m", EnergyType: "electricity", Unit: "kWh",
			Period: energy.Quarter, Start: at, Minutes: 15, Native: 40, Covered: 15, Wraps: 1}}},
			[]string{"native=40,", "wraps=1i,suspect=0i"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(lines(Points(&tc.out)), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("points:\n%s\nwant %q", got, w)
				}
			}
			if tc.want == nil && got != "" {
				t.Errorf("want no points, got:\n%s", got)
			}
			if tc.forbidden != "" && strings.Contains(got, tc.forbidden) {
				t.Errorf("points:\n%s\nmust not contain %q", got, tc.forbidden)
			}
		})
	}
	// The same window is the same point: computing it again gives the
	// same line.
	a, b := lines(Points(&energy.Output{Efficiency: []energy.Result{ok}})), lines(Points(&energy.Output{Efficiency: []energy.Result{ok}}))
	if a[0] != b[0] {
		t.Errorf("recomputed window differs:\n%s\n%s", a[0], b[0])
	}
}

// TestOwnMeasurementsReserved: no gateway sample can land in a measurement
// the engine writes (config.ReservedClasses), where it would change
// restored sums, progress or late markers.
func TestOwnMeasurementsReserved(t *testing.T) {
	for _, m := range []string{MeasEfficiency, MeasEnergy, MeasIntensity, MeasQuality, MeasEvents, MeasProgress, MeasSums, MeasLate} {
		if !slices.Contains(config.ReservedClasses, m) {
			t.Errorf("%s is not in config.ReservedClasses %v", m, config.ReservedClasses)
		}
	}
}
